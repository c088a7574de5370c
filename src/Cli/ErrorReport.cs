// How failures reach the user. A user error (a bad flag, a bad file, bad data, a device that is not
// there, divergence) becomes one line on stderr naming the flag or file, with exit 1 or 2. Anything
// else is a bug: one line saying so and naming a log file that holds the stack trace, exit 70.
using System.Globalization;
using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Cli;

/// <summary>Turns exceptions into one-line messages and exit codes.</summary>
internal static class ErrorReport
{
    /// <summary>Reports <paramref name="e"/> on <paramref name="stderr"/>; returns the exit code.</summary>
    /// <param name="e">The failure.</param>
    /// <param name="stderr">Where the line goes.</param>
    /// <param name="logFolder">For internal errors: the run folder when the command has one (used if it exists), else null (the temp folder).</param>
    /// <param name="args">The command line, for the log.</param>
    public static int Handle(Exception e, TextWriter stderr, string? logFolder, IReadOnlyList<string> args)
    {
        if (Describe(e) is var (message, code))
        {
            stderr.WriteLine("gpugan: " + OneLine(message));
            return code;
        }
        string? log = WriteLog(e, logFolder, args);
        string where = log is null ? "the stack trace could not be saved" : $"the stack trace is in {log}";
        stderr.WriteLine($"gpugan: internal error ({e.GetType().Name}: {OneLine(e.Message)}); this is a bug in gpugan, not a problem with your input; {where}");
        return ExitCodes.Internal;
    }

    /// <summary>The line and exit code for a user error; null for anything else (an internal error).</summary>
    public static (string Message, int Code)? Describe(Exception e) => e switch
    {
        UsageException u => (u.Message, ExitCodes.Usage),
        InvalidOptionException o => (InvalidOption(o), ExitCodes.Usage),
        ConflictingOptionsException c => (c.ConfigFile is null
            ? $"{Flag(c.Option)} and {Flag(c.OtherOption)} cannot be given together"
            : $"{c.ConfigFile}: '{TrainOptions.JsonKey(c.Option)}' and '{TrainOptions.JsonKey(c.OtherOption)}' cannot both be set", ExitCodes.Usage),
        RunFolderExistsException r => ($"{Words.Out}: {r.Folder} already holds a run; use {Words.Resume} to continue it or choose another folder (nothing was overwritten)", ExitCodes.Usage),
        NotARunFolderException n => ($"{Words.Resume}: {n.MissingFile} does not exist (not a run folder)", ExitCodes.Usage),
        NoCheckpointException n => ($"{Words.Resume}: {n.CheckpointPath} does not exist (the run saved no checkpoint)", ExitCodes.Usage),
        BatchLargerThanDataException b => ($"{Words.Batch} {b.Batch} is larger than the data set ({b.DataName}: {b.Count} samples)", ExitCodes.Usage),
        ModelNeedsLabelsException m => ($"{Words.Model} {Words.Of(m.Family)} needs labelled data (a data set with classes); {m.DataName} has {(m.ClassCount == 0 ? "none" : m.ClassCount.ToString(CultureInfo.InvariantCulture))}", ExitCodes.Usage),
        ModelDataMismatchException m => ($"{Words.Model} {Words.Of(m.Family)} " + m.Requirement switch
        {
            DataRequirement.AlignedPairs => $"needs aligned image pairs ({Words.PetriPairs}, {Words.FashionMnistEdges}, or a folder of A|B images or of A/ and B/); {Words.Data} {m.DataName} is not",
            DataRequirement.TwoDomains => $"needs images of two domains ({Words.PetriStyles}, {Words.PetriPairs}, or a folder of trainA/ and trainB/); {Words.Data} {m.DataName} is not",
            _ => $"trains on single images; {Words.Data} {m.DataName} holds image pairs (for pix2pix and cyclegan)",
        }, ExitCodes.Usage),
        WrongModelKindException w => ($"{w.FilePath} holds a {Words.Of(w.Family)} model; " + (w.Needed == Gan.Models.ModelKind.Translation
            ? "translate needs a pix2pix or cyclegan model (use gpugan sample for it)"
            : "sample needs a model that generates from codes (use gpugan translate for it)"), ExitCodes.Usage),
        DirectionNotAvailableException d => ($"{Words.Direction} b2a: a {Words.Of(d.Family)} model translates A to B only (cyclegan translates both ways)", ExitCodes.Usage),
        Gan.UnsupportedImageSizeException u => ($"{Words.Model} {Words.Of(u.Family)} needs square images of {Words.OneOf(u.SupportedSizes.Select(s => s.ToString(CultureInfo.InvariantCulture)))} pixels; the data gives {u.Height}x{u.Width} (choose {Words.ImageSize} or another {Words.Model})", ExitCodes.Usage),
        ClassOutOfRangeException c => ($"{Words.Class}: {c.Requested} is outside [0, {c.ClassCount})", ExitCodes.Usage),
        UnknownClassException u => ($"{Words.Class}: the model has no class '{u.Requested}'; its classes are {string.Join(", ", u.Names.Select((name, i) => $"{name} ({i})"))}", ExitCodes.Usage),
        ModelNotConditionalException m => ($"{Words.Class}: the generator is a {Words.Of(m.Family)} model, not class-conditional (cdcgan is)", ExitCodes.Usage),
        SampleFormatException s => ($"{Words.Format} {Words.Idx} holds grey images; this generator makes {s.Channels}-channel images (use {Words.Png})", ExitCodes.Usage),
        DeviceUnavailableException d => ($"{Words.Device} {Words.Of(d.Kind)}: {(d.Problem is null ? "no such device here" : "the device cannot be used: " + d.Problem)}; {Words.Device} cpu always works (gpugan devices lists what is here)", ExitCodes.Failure),
        TrainingDivergedException t => (t.Message + $". Try a lower {Words.Lr} or another {Words.Seed}.", ExitCodes.Failure),
        RawWeightsNotInFileException w => ($"{Words.Raw}: {w.FilePath} holds the moving average only; sample {Words.Run} DIR {Words.Raw} or {Words.Checkpoint} with the run's {Gan.Training.RunLayout.CheckpointFile}", ExitCodes.Usage),
        StateDictException s => (Mismatch(s), ExitCodes.Failure),
        GanException g => (g.Message, ExitCodes.Failure),            // files and data: DataFormatException, RunFileException, ArchitectureRecordException
        SafeTensorsFormatException s => (s.Message, ExitCodes.Failure),
        OutOfMemoryException => ($"out of memory (try a smaller {Words.Batch} or {Words.ImageSize})", ExitCodes.Failure),
        IOException or UnauthorizedAccessException => (e.Message, ExitCodes.Failure),
        _ => null,
    };

    private static string Flag(string property) => Words.FlagOf(property) ?? property;

    private static string InvalidOption(InvalidOptionException o)
    {
        string value = InvalidOptionException.Describe(o.Value);
        if (o.ConfigFile is not null)
            return $"{o.ConfigFile}: '{TrainOptions.JsonKey(o.Option)}' {o.Requirement}, got {value} (the saved configuration is not valid)";
        if (o.Option == nameof(TrainOptions.Threads))
            return $"{Words.Threads}: must be 0 (all cores) or more, got {value}";
        return Words.FlagOf(o.Option) is { } flag
            ? $"{flag}: {o.Requirement}, got {value}"
            : $"{TrainOptions.JsonKey(o.Option)} {o.Requirement}, got {value}";
    }

    /// <summary>
    /// One line for a file that does not fit: the file, then the first mismatching key with both shapes, or the
    /// missing and unexpected keys, or the first other problem.
    /// </summary>
    private static string Mismatch(StateDictException e)
    {
        string file = e.FilePath ?? "the state dictionary";
        var problems = e.Problems;
        if (problems.Count == 0) return OneLine(e.Message);
        var first = problems[0];
        int others = problems.Count - 1;
        string more = others > 0 ? $" ({others} more problem{(others > 1 ? "s" : "")})" : "";
        switch (first.Kind)
        {
            case StateDictProblemKind.ShapeMismatch:
                return $"{file} does not fit the model: '{first.Key}' has shape {StateDictException.FormatShape(first.Actual)} in the file, the model expects {StateDictException.FormatShape(first.Expected)}{more}";
            case StateDictProblemKind.MissingKey or StateDictProblemKind.UnexpectedKey:
            {
                var missing = problems.Where(p => p.Kind == StateDictProblemKind.MissingKey).Select(p => p.Key).ToList();
                var unexpected = problems.Where(p => p.Kind == StateDictProblemKind.UnexpectedKey).Select(p => p.Key).ToList();
                var parts = new List<string>();
                if (missing.Count > 0) parts.Add($"the model needs {Keys(missing)}, which the file lacks");
                if (unexpected.Count > 0) parts.Add($"the file holds {Keys(unexpected)}, which the model lacks");
                int rest = problems.Count - missing.Count - unexpected.Count;
                return $"{file} does not fit the model: {string.Join("; ", parts)}" + (rest > 0 ? $" ({rest} more problem{(rest > 1 ? "s" : "")})" : "");
            }
            case StateDictProblemKind.WrongFormat:
                return first.Description.Contains(Checkpoint.WeightsFormat, StringComparison.Ordinal)
                    ? $"{file} is a weights-only file (generator.safetensors), not a training checkpoint: it cannot resume a run"
                    : OneLine(first.Description);
            default:
                return $"{file} does not fit this run: {OneLine(first.Description)}{more}";
        }
    }

    private static string Keys(List<string> keys)
    {
        const int shown = 3;
        string list = string.Join(", ", keys.Take(shown).Select(k => $"'{k}'"));
        return keys.Count > shown ? $"{list} and {keys.Count - shown} more" : list;
    }

    private static string OneLine(string s) => string.Join(" ", s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Writes the full report to gpugan-error-&lt;time&gt;-&lt;pid&gt;.log in the run folder (when it exists) or the temp folder.</summary>
    private static string? WriteLog(Exception e, string? logFolder, IReadOnlyList<string> args)
    {
        string name = $"gpugan-error-{DateTime.Now:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log";
        string text = $"gpugan internal error, {DateTime.Now:O}\nversion: {typeof(ErrorReport).Assembly.GetName().Version}\n" +
                      $"command line: gpugan {string.Join(" ", args)}\n\n{e}\n";
        foreach (var folder in new[] { logFolder is not null && Directory.Exists(logFolder) ? logFolder : null, Path.GetTempPath() })
        {
            if (folder is null) continue;
            try
            {
                string path = Path.GetFullPath(Path.Combine(folder, name));
                File.WriteAllText(path, text);
                return path;
            }
            catch (Exception writeError) when (writeError is IOException or UnauthorizedAccessException)
            {
                // Try the next folder.
            }
        }
        return null;
    }
}
