// Module weights and whole training states as safetensors files.
//
// Weights file: the module's state dict under PyTorch names ("main.0.weight",
// "main.1.running_mean"), all F32 — torch's safetensors.torch.load_file + load_state_dict reads it
// (num_batches_tracked is written as an F32 scalar; torch's copy_ converts it to int64). On load,
// an I64 num_batches_tracked, as PyTorch writes it, is accepted too.
//
// Training file, one safetensors file written atomically:
//   "<module>.<key>"           F32   weights and buffers of each module ("G.main.0.weight")
//   "<opt>.<param>.<state>"    F32   optimiser state ("optG.main.0.weight.exp_avg")
//   "<opt>.<param>.step"       I64   per-parameter step count, rank 0
//   "rng.<name>.seed|offset"   I64   generator state (the ulong bits, reinterpreted)
//   "train.step", "train.epoch" I64  counters, rank 0
//   metadata: format, format_version, "<opt>.type", "<opt>.<hyperparameter>" (round-trip text)
// Everything is validated against the target objects before anything is changed, so a refused
// file leaves the model, optimisers and generators as they were.
using System.Globalization;
using GpuGan.Layers.Optim;
using GpuGan.Tensors;

namespace GpuGan.Layers.Serialization;

/// <summary>Everything a training run needs to resume: modules, optimisers, generators, counters.</summary>
public sealed class TrainingState
{
    /// <summary>Modules by prefix ("G", "D"); their keys are saved as "G.&lt;name&gt;".</summary>
    public OrderedDictionary<string, Module> Modules { get; } = new();

    /// <summary>Optimisers by prefix ("optG", "optD").</summary>
    public OrderedDictionary<string, Optimizer> Optimizers { get; } = new();

    /// <summary>Random generators by name ("data", "noise"); loading restores the offset and requires the same seed.</summary>
    public OrderedDictionary<string, RandomStream> RandomStreams { get; } = new();

    /// <summary>Training steps done.</summary>
    public long Step { get; set; }
    /// <summary>Epochs started.</summary>
    public long Epoch { get; set; }

    /// <summary>Extra free-form metadata (for example the run configuration); saved and loaded back.</summary>
    public Dictionary<string, string> Metadata { get; } = new();
}

/// <summary>Saves and loads module weights and training states (safetensors).</summary>
public static class Checkpoint
{
    /// <summary>Version of the checkpoint layout written (metadata key format_version).</summary>
    public const string FormatVersion = "1";
    /// <summary>Metadata "format" of a weights file (SaveModule).</summary>
    public const string WeightsFormat = "gpugan.weights";
    /// <summary>Metadata "format" of a training checkpoint (Save).</summary>
    public const string TrainingFormat = "gpugan.training";

    private const string FormatKey = "format", VersionKey = "format_version";

    // ------------------------------------------------------------ module weights

    /// <summary>Writes <paramref name="module"/>'s state dict (F32, PyTorch names) atomically.</summary>
    public static void SaveModule(string path, Module module, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            [FormatKey] = WeightsFormat,
            [VersionKey] = FormatVersion,
        };
        SafeTensors.Write(path, ModuleEntries(module, prefix: ""), meta);
    }

    /// <summary>
    /// Loads weights into <paramref name="module"/>, strictly: every key present, none unexpected, shapes and
    /// dtypes exact. Files written by PyTorch (no GpuGan metadata) are accepted.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The file is truncated or corrupt.</exception>
    /// <exception cref="StateDictException">The file does not fit the module; it names the file, and each problem its key and both shapes.</exception>
    public static void LoadModule(string path, Module module)
    {
        var file = SafeTensors.Read(path);
        CheckVersion(path, file, WeightsFormat);
        LoadModuleEntries(path, file, module, prefix: "");
    }

    /// <summary>
    /// Loads the module saved under <paramref name="prefix"/> ("G") in a training checkpoint into
    /// <paramref name="module"/>, strictly; the file's other modules, optimisers and counters are ignored.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The file is truncated or corrupt.</exception>
    /// <exception cref="StateDictException">The file is not a training checkpoint or does not fit the module.</exception>
    public static void LoadModule(string path, Module module, string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var file = SafeTensors.Read(path);
        CheckVersion(path, file, TrainingFormat, required: true);
        LoadModuleEntries(path, file, module, prefix + ".");
    }

    private static void LoadModuleEntries(string path, SafeTensorFile file, Module module, string prefix)
    {
        var problems = new List<StateDictProblem>();
        var values = new Dictionary<string, (Shape, Func<float[]>)>();
        foreach (var (key, entry) in file.Tensors)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            AddFloat(values, problems, key, key[prefix.Length..], entry);
        }
        CompareModule(module, prefix, values, file, problems);
        Throw(path, problems);
        module.LoadStateDict(values, strict: true, source: $"'{path}'");
    }

    // ------------------------------------------------------------ training state

    /// <summary>Writes a whole training state to one file, atomically.</summary>
    public static void Save(string path, TrainingState state)
    {
        CheckNames(state);
        var entries = new List<SafeTensorEntry>();
        var meta = new Dictionary<string, string>(state.Metadata);
        meta[FormatKey] = TrainingFormat;
        meta[VersionKey] = FormatVersion;
        foreach (var (prefix, module) in state.Modules) entries.AddRange(ModuleEntries(module, prefix + "."));
        foreach (var (prefix, opt) in state.Optimizers)
        {
            var s = opt.StateDict();
            try
            {
                foreach (var (key, t) in s.Tensors) entries.Add(SafeTensorEntry.FromFloat32($"{prefix}.{key}", t.Shape.Dims, t.ToArray()));
                foreach (var (key, n) in s.Counters) entries.Add(SafeTensorEntry.FromInt64($"{prefix}.{key}", [], [n]));
            }
            finally
            {
                foreach (var t in s.Tensors.Values) t.Dispose();
            }
            meta[$"{prefix}.type"] = opt.GetType().Name;
            foreach (var (k, v) in s.Hyperparameters) meta[$"{prefix}.{k}"] = v.ToString("R", CultureInfo.InvariantCulture);
        }
        foreach (var (name, gen) in state.RandomStreams)
        {
            entries.Add(SafeTensorEntry.FromInt64($"rng.{name}.seed", [], [unchecked((long)gen.Seed)]));
            entries.Add(SafeTensorEntry.FromInt64($"rng.{name}.offset", [], [unchecked((long)gen.Offset)]));
        }
        entries.Add(SafeTensorEntry.FromInt64("train.step", [], [state.Step]));
        entries.Add(SafeTensorEntry.FromInt64("train.epoch", [], [state.Epoch]));
        SafeTensors.Write(path, entries, meta);
    }

    /// <summary>
    /// Restores a training state into existing objects (fresh ones built with the same configuration).
    /// Validates every key, shape, dtype, optimiser type and generator seed before changing anything.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The file is truncated or corrupt.</exception>
    /// <exception cref="StateDictException">The file does not fit; the message names the file and the keys.</exception>
    public static void Load(string path, TrainingState state)
    {
        CheckNames(state);
        var file = SafeTensors.Read(path);
        CheckVersion(path, file, TrainingFormat, required: true);
        var problems = new List<StateDictProblem>();
        var used = new HashSet<string>();

        // Modules: every key of each module, in the module's order, then the file's extra keys under its prefix.
        var moduleValues = new List<(Module Module, Dictionary<string, (Shape, Func<float[]>)> Values)>();
        foreach (var (prefix, module) in state.Modules)
        {
            var values = new Dictionary<string, (Shape, Func<float[]>)>();
            foreach (var (key, entry) in file.Tensors)
                if (key.StartsWith(prefix + ".", StringComparison.Ordinal) && used.Add(key))
                    AddFloat(values, problems, key, key[(prefix.Length + 1)..], entry);
            CompareModule(module, prefix + ".", values, file, problems);
            moduleValues.Add((module, values));
        }

        // Optimisers.
        var optStates = new List<(Optimizer Optimizer, OptimizerState State, string Prefix)>();
        foreach (var (prefix, opt) in state.Optimizers)
        {
            var s = new OptimizerState();
            if (!file.Metadata.TryGetValue($"{prefix}.type", out var type))
                problems.Add(new StateDictProblem(StateDictProblemKind.OptimizerMismatch, $"{prefix}.type", null, null,
                    $"no optimiser '{prefix}' in the file (metadata '{prefix}.type' is missing)"));
            else if (type != opt.GetType().Name)
                problems.Add(new StateDictProblem(StateDictProblemKind.OptimizerMismatch, $"{prefix}.type", null, null,
                    $"'{prefix}' holds {type} state but the optimiser is {opt.GetType().Name}"));
            if (file.Metadata.TryGetValue($"{prefix}.lr", out var lrText) && double.TryParse(lrText, NumberStyles.Float, CultureInfo.InvariantCulture, out var lr))
                s.Hyperparameters["lr"] = lr;
            foreach (var (key, entry) in file.Tensors)
            {
                if (!key.StartsWith(prefix + ".", StringComparison.Ordinal) || !used.Add(key)) continue;
                var local = key[(prefix.Length + 1)..];
                if (local.EndsWith(".step", StringComparison.Ordinal))
                {
                    if (entry.Dtype != SafeTensorDtype.I64 || entry.ElementCount != 1)
                        problems.Add(new StateDictProblem(StateDictProblemKind.Invalid, key, [], entry.ShapeToArray(),
                            $"'{key}': expected an I64 scalar step count, found {entry.Dtype.WireName()} {Shape.Format(entry.ShapeToArray())}"));
                    else s.Counters[local] = entry.ToInt64Array()[0];
                }
                else if (entry.Dtype != SafeTensorDtype.F32)
                    problems.Add(new StateDictProblem(StateDictProblemKind.WrongDtype, key, null, entry.ShapeToArray(), $"'{key}': dtype {entry.Dtype.WireName()}, expected F32"));
                else if (TryShape(entry, out var shape, out var problem))
                    s.Tensors[local] = Tensor.FromArray(entry.ToFloat32Array(), shape).KeepAlive();
                else problems.Add(new StateDictProblem(StateDictProblemKind.Invalid, key, null, entry.ShapeToArray(), $"'{key}': {problem}"));
            }
            optStates.Add((opt, s, prefix));
        }

        try
        {
            // Random streams and counters.
            var offsets = new List<(RandomStream Gen, ulong Offset)>();
            foreach (var (name, gen) in state.RandomStreams)
            {
                var seed = ReadI64(file, $"rng.{name}.seed", problems, used);
                var offset = ReadI64(file, $"rng.{name}.offset", problems, used);
                if (seed is { } sd && unchecked((ulong)sd) != gen.Seed)
                    problems.Add(new StateDictProblem(StateDictProblemKind.SeedMismatch, $"rng.{name}.seed", null, null,
                        $"generator '{name}' has seed {gen.Seed}, the file was saved with seed {unchecked((ulong)sd)}: build it with the run's seed before loading"));
                if (offset is { } off) offsets.Add((gen, unchecked((ulong)off)));
            }
            var step = ReadI64(file, "train.step", problems, used);
            var epoch = ReadI64(file, "train.epoch", problems, used);

            foreach (var (key, entry) in file.Tensors)
                if (!used.Contains(key))
                    problems.Add(new StateDictProblem(StateDictProblemKind.UnexpectedKey, key, null, entry.ShapeToArray(),
                        $"unexpected key '{key}' (no module, optimiser or generator of this training state claims it)"));
            Throw(path, problems);

            // Validate the optimisers completely (their own rules: step counts, state per parameter), then apply.
            foreach (var (opt, s, prefix) in optStates)
            {
                try
                {
                    opt.LoadStateDict(s, $"'{path}' (optimiser '{prefix}')", apply: false);
                }
                catch (StateDictException e)
                {
                    var lines = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    Throw(path, lines.Skip(1).Select(l => new StateDictProblem(StateDictProblemKind.OptimizerMismatch, prefix, null, null, $"optimiser '{prefix}': {l}")).ToList());
                }
            }
            foreach (var (module, values) in moduleValues) module.LoadStateDict(values, strict: true, $"'{path}'", apply: true);
            foreach (var (opt, s, prefix) in optStates) opt.LoadStateDict(s, $"'{path}' (optimiser '{prefix}')", apply: true);
            foreach (var (gen, offset) in offsets) gen.Offset = offset;
            state.Step = step!.Value;
            state.Epoch = epoch!.Value;
            foreach (var (k, v) in file.Metadata)
                if (k != FormatKey && k != VersionKey && !state.Optimizers.Keys.Any(p => k.StartsWith(p + ".", StringComparison.Ordinal)))
                    state.Metadata[k] = v;
        }
        finally
        {
            foreach (var (_, s, _) in optStates)
                foreach (var t in s.Tensors.Values) t.Dispose();
        }
    }

    // ------------------------------------------------------------ helpers

    private static IEnumerable<SafeTensorEntry> ModuleEntries(Module module, string prefix)
    {
        foreach (var (key, t) in module.StateDict())
            yield return SafeTensorEntry.FromFloat32(prefix + key, t.Shape.Dims, t.ToArray());
    }

    private static void AddFloat(Dictionary<string, (Shape, Func<float[]>)> values, List<StateDictProblem> problems, string fileKey, string key, SafeTensorEntry entry)
    {
        if (!TryShape(entry, out var shape, out var problem))
        {
            problems.Add(new StateDictProblem(StateDictProblemKind.Invalid, fileKey, null, entry.ShapeToArray(), $"'{fileKey}': {problem}"));
            return;
        }
        if (entry.Dtype == SafeTensorDtype.F32)
            values[key] = (shape, entry.ToFloat32Array);
        else if (entry.Dtype == SafeTensorDtype.I64 && key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            values[key] = (shape, () => entry.ToInt64Array().Select(v => (float)v).ToArray());
        else
            problems.Add(new StateDictProblem(StateDictProblemKind.WrongDtype, fileKey, null, entry.ShapeToArray(), $"'{fileKey}': dtype {entry.Dtype.WireName()}, expected F32"));
    }

    /// <summary>
    /// Module keys against the file's (prefixed) keys, in the module's order: shape mismatches and
    /// missing keys, then the file's keys under the prefix that the module does not have.
    /// </summary>
    private static void CompareModule(Module module, string prefix, Dictionary<string, (Shape Shape, Func<float[]> Data)> values, SafeTensorFile file,
        List<StateDictProblem> problems)
    {
        var own = module.StateDict();
        foreach (var (key, target) in own)
        {
            string fileKey = prefix + key;
            if (values.TryGetValue(key, out var v))
            {
                if (v.Shape != target.Shape)
                    problems.Add(new StateDictProblem(StateDictProblemKind.ShapeMismatch, fileKey, target.Shape.Dims.ToArray(), v.Shape.Dims.ToArray(),
                        $"size mismatch for '{fileKey}': the file has shape {v.Shape}, the module ({module.GetType().Name}) has {target.Shape}"));
            }
            else if (!file.Tensors.ContainsKey(fileKey))
            {
                problems.Add(new StateDictProblem(StateDictProblemKind.MissingKey, fileKey, target.Shape.Dims.ToArray(), null,
                    $"missing key '{fileKey}' (the module has it with shape {target.Shape}, the file does not)"));
            }
        }
        foreach (var key in values.Keys)
            if (!own.ContainsKey(key))
                problems.Add(new StateDictProblem(StateDictProblemKind.UnexpectedKey, prefix + key, null, values[key].Shape.Dims.ToArray(),
                    $"unexpected key '{prefix + key}' with shape {values[key].Shape} in the file (the module has no such entry)"));
    }

    private static bool TryShape(SafeTensorEntry entry, out Shape shape, out string problem)
    {
        shape = null!;
        problem = "";
        if (entry.Shape.Count > Shape.MaxRank)
        {
            problem = $"rank {entry.Shape.Count} shape {Shape.Format(entry.ShapeToArray())}: tensors have at most {Shape.MaxRank} dimensions";
            return false;
        }
        try
        {
            shape = new Shape(entry.ShapeToArray());
            return true;
        }
        catch (ArgumentException e)
        {
            problem = e.Message;
            return false;
        }
    }

    private static long? ReadI64(SafeTensorFile file, string key, List<StateDictProblem> problems, HashSet<string> used)
    {
        if (!file.Tensors.TryGetValue(key, out var entry))
        {
            problems.Add(new StateDictProblem(StateDictProblemKind.MissingKey, key, [], null, $"missing key '{key}'"));
            return null;
        }
        used.Add(key);
        if (entry.Dtype != SafeTensorDtype.I64 || entry.ElementCount != 1)
        {
            problems.Add(new StateDictProblem(StateDictProblemKind.Invalid, key, [], entry.ShapeToArray(),
                $"'{key}': expected an I64 scalar, found {entry.Dtype.WireName()} {Shape.Format(entry.ShapeToArray())}"));
            return null;
        }
        return entry.ToInt64Array()[0];
    }

    private static void CheckVersion(string path, SafeTensorFile file, string format, bool required = false)
    {
        file.Metadata.TryGetValue(FormatKey, out var f);
        file.Metadata.TryGetValue(VersionKey, out var v);
        string? problem = null;
        if (required && f != format)
            problem = $"'{path}': not a GpuGan training checkpoint (metadata format is '{f ?? "(none)"}', expected '{format}')";
        else if (f is not null && f != format && f is WeightsFormat or TrainingFormat)
            problem = $"'{path}': is a '{f}' file, expected '{format}'";
        else if (v is not null && f is WeightsFormat or TrainingFormat && v != FormatVersion)
            problem = $"'{path}': format version {v} is not supported (this build reads version {FormatVersion})";
        if (problem is not null)
            throw new StateDictException(path, problem, [new StateDictProblem(StateDictProblemKind.WrongFormat, FormatKey, null, null, problem)]);
    }

    private static void CheckNames(TrainingState state)
    {
        var all = state.Modules.Keys.Concat(state.Optimizers.Keys).ToList();
        foreach (var n in all)
            if (string.IsNullOrEmpty(n) || n.Contains('.') || n is "rng" or "train")
                throw new ArgumentException($"training state: invalid prefix '{n}' (non-empty, no '.', not 'rng' or 'train')");
        var dup = all.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"training state: prefix '{dup.Key}' is used twice");
        foreach (var n in state.RandomStreams.Keys)
            if (string.IsNullOrEmpty(n) || n.Contains('.')) throw new ArgumentException($"training state: invalid generator name '{n}'");
    }

    private static void Throw(string path, List<StateDictProblem> problems)
    {
        if (problems.Count > 0) throw new StateDictException(path, $"cannot load '{path}'", problems);
    }
}
