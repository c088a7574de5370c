using System.Diagnostics;
using System.Globalization;
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Training;

/// <summary>
/// Runs a training session into a run folder:
///   config.json, metrics.csv, samples/step-NNNNNN.png, curves.png,
///   checkpoints/last.safetensors (G, D, optimisers, counters, RNG state), generator.safetensors.
/// Resume continues exactly: the data order, the noise stream, BN statistics and optimiser state
/// are all restored, so on the cpu set with the same thread count the steps are bit-identical.
/// </summary>
public static class Trainer
{
    public const string ConfigFile = "config.json";
    public const string MetricsFile = "metrics.csv";
    public const string CheckpointFile = "checkpoints/last.safetensors";
    public const string GeneratorFile = "generator.safetensors";

    /// <summary>Default length of a run when neither --steps nor --epochs is given.</summary>
    public static int DefaultSteps(string model, string data) => (model, data) switch
    {
        ("gan", "sines") => 3000,
        ("dcgan", "petri") => 1200,
        _ => 1000,
    };

    public static string Run(TrainOptions options, bool resume, ITrainingObserver observer, CancellationToken cancel)
    {
        options.Validate();
        string folder = options.Out ?? Path.Combine("runs", $"{options.Model}-{SafeName(options.Data)}-{DateTime.Now:yyyyMMdd-HHmmss}");
        string configPath = Path.Combine(folder, ConfigFile);
        string checkpointPath = Path.Combine(folder, CheckpointFile);

        if (resume)
        {
            if (options.Out is null) throw new ArgumentException("--resume needs --out naming the run folder to continue");
            if (!File.Exists(configPath)) throw new ArgumentException($"--resume: {configPath} does not exist (not a run folder)");
            if (!File.Exists(checkpointPath)) throw new ArgumentException($"--resume: {checkpointPath} does not exist (the run saved no checkpoint)");
            var saved = TrainOptions.FromJson(File.ReadAllText(configPath), configPath);
            // The saved configuration wins, except for how long to run and where.
            options = saved with { Steps = options.Steps ?? saved.Steps, Epochs = options.Steps is null ? options.Epochs ?? saved.Epochs : null, Out = options.Out, Device = options.Device };
        }
        else if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
        {
            throw new ArgumentException($"--out: {folder} already holds a run; use --resume to continue it or choose another folder (nothing was overwritten)");
        }

        var device = Device.Open(DeviceKindOf(options.Device), options.Threads > 0 ? new CpuKernelOptions { Threads = options.Threads } : null);
        var dataset = DatasetFactory.Create(options.Data, options.ImageSize, options.Channels, options.Limit, options.SyntheticCount, options.Seed);
        if (dataset is ImageFolderDataset folderSet && folderSet.Skipped.Count > 0)
        {
            foreach (var s in folderSet.Skipped.Take(10)) observer.Warning($"skipped {s.Path}: {s.Reason}");
            observer.Warning($"{folderSet.Skipped.Count} unreadable file(s) skipped in {options.Data}");
        }
        if (dataset.Count < options.Batch)
            throw new ArgumentException($"--batch {options.Batch} is larger than the data set ({dataset.Count} samples)");
        if (options.Model == "cdcgan" && dataset.ClassCount < 2)
            throw new ArgumentException($"--model cdcgan needs labelled data; {dataset.Name} has no classes");

        var model = GanModel.Create(options.Model, dataset.Channels, dataset.Height, dataset.Width, dataset.ClassCount,
            options.LatentDim, options.Width, options.Lr, options.Seed, device);
        var noise = NoiseStream(options);
        using var loader = new DataLoader(dataset, options.Batch, options.Seed);
        int stepsPerEpoch = Math.Max(1, loader.BatchesPerEpoch / model.CriticSteps);
        long total = options.Steps ?? (options.Epochs is { } e ? (long)e * stepsPerEpoch : DefaultSteps(options.Model, options.Data));

        var state = BuildState(model, noise);

        long step = 0;
        Directory.CreateDirectory(Path.Combine(folder, "samples"));
        Directory.CreateDirectory(Path.Combine(folder, "checkpoints"));
        if (resume)
        {
            Checkpoint.Load(checkpointPath, state);
            step = state.Step;
            int batchIndex = int.Parse(state.Metadata.GetValueOrDefault("batch-index", "0"), CultureInfo.InvariantCulture);
            loader.Seek((int)state.Epoch, batchIndex);
            observer.Info($"resumed {folder} at step {step} (epoch {state.Epoch}, batch {batchIndex})");
            if (step >= total) observer.Warning($"the run is already at step {step} of {total}: nothing to do (pass a larger --steps)");
        }
        else
        {
            AtomicFile.WriteAllBytes(configPath, System.Text.Encoding.UTF8.GetBytes(options.ToJson()));
        }

        using var metrics = new MetricsLog(Path.Combine(folder, MetricsFile), resume ? step : 0);
        observer.Started(folder, device.Name, step, total, stepsPerEpoch);

        // A fixed latent batch (its own stream, never advanced) so sample grids are comparable across steps.
        int gridCount = Math.Min(64, Math.Max(16, options.Batch));
        var fixedZ = Tensor.RandN(model.LatentShape(gridCount), new RandomStream(unchecked((ulong)options.Seed + 0xABCDEF)), device).KeepAlive();
        int[]? fixedLabels = model.IsConditional ? Enumerable.Range(0, gridCount).Select(i => i % model.ClassCount).ToArray() : null;

        int sampleLength = dataset.Channels * dataset.Height * dataset.Width;
        var realShape = new Shape(options.Batch, dataset.Channels, dataset.Height, dataset.Width);
        var labels = new int[options.Batch];
        int currentEpoch = loader.Epoch;
        (Tensor, int[]) NextBatch()
        {
            var batch = loader.Next();
            currentEpoch = batch.Epoch;
            Array.Copy(batch.Labels, labels, options.Batch);
            return (Tensor.FromArray(batch.Data.AsSpan(0, options.Batch * sampleLength), realShape, device), labels);
        }

        double dataDiversity = PixelSpread(dataset.CopySamples(0, Math.Min(dataset.Count, 256)), Math.Min(dataset.Count, 256));
        var clock = Stopwatch.StartNew();
        int collapseStreak = 0;
        bool interrupted = false;
        while (step < total)
        {
            if (cancel.IsCancellationRequested) { interrupted = true; break; }
            var t0 = clock.Elapsed.TotalSeconds;
            StepMetrics m;
            using (var scope = TensorScope.Begin())
            {
                m = model.TrainStep(NextBatch, noise);
            }
            step++;
            double dt = clock.Elapsed.TotalSeconds - t0;
            m = m with { Step = step, Epoch = currentEpoch, ImagesPerSecond = options.Batch * model.CriticSteps / Math.Max(dt, 1e-9) };

            if (!double.IsFinite(m.DLoss) || !double.IsFinite(m.GLoss) || (!double.IsNaN(m.GradientPenalty) && !double.IsFinite(m.GradientPenalty)))
            {
                string kept = File.Exists(checkpointPath) ? $"the last good checkpoint is kept at {checkpointPath}" : "no checkpoint had been written yet";
                throw new TrainingDivergedException($"training diverged at step {step}: d_loss {m.DLoss}, g_loss {m.GLoss}; {kept}. Try a lower --lr or another --seed.");
            }
            metrics.Append(m);
            observer.Step(m, total);

            // Mode-collapse watch: D wins outright for many steps in a row (BCE models).
            if (!model.IsWasserstein && m.DFake < 0.01 && m.DReal > 0.99) collapseStreak++;
            else collapseStreak = 0;
            if (collapseStreak == 50) observer.Warning($"step {step}: D(G(z)) has stayed below 0.01 for 50 steps — the generator may have collapsed");

            bool last = step == total;
            if (step % options.SampleEvery == 0 || last)
            {
                double diversity = SaveSamples(model, fixedZ, fixedLabels, Path.Combine(folder, "samples", $"step-{step:D6}.png"));
                // An untrained G is nearly constant, so only judge once training is under way.
                if (step >= Math.Min(500, total / 4) && diversity < 0.1 * dataDiversity)
                    observer.Warning($"step {step}: generated samples are nearly identical (pixel std across samples {diversity:F4}, data {dataDiversity:F4}) — mode collapse?");
                CurvesPlot.Save(Path.Combine(folder, "curves.png"), metrics.Rows, $"{options.Model} on {dataset.Name}");
            }
            if (step % options.CheckpointEvery == 0 || last)
                SaveCheckpoint(state, model, step, loader, options, checkpointPath, folder);
        }

        if (interrupted)
        {
            SaveCheckpoint(state, model, step, loader, options, checkpointPath, folder);
            CurvesPlot.Save(Path.Combine(folder, "curves.png"), metrics.Rows, $"{options.Model} on {dataset.Name}");
            return $"interrupted at step {step}: checkpoint saved; continue with: gpugan train --out {folder} --resume";
        }
        return $"done: {step} steps in {clock.Elapsed.TotalSeconds:F0} s; run folder {folder}";
    }

    /// <summary>The noise stream of a run: its own seed derived from --seed.</summary>
    /// <summary>The device names TrainOptions and SampleRequest carry (validated there): "auto" is null, the best present.</summary>
    internal static DeviceKind? DeviceKindOf(string name) => name switch
    {
        "auto" => null,
        "cpu" => DeviceKind.Cpu,
        "ilgpu-cpu" => DeviceKind.IlgpuCpu,
        "cuda" => DeviceKind.Cuda,
        "opencl" => DeviceKind.OpenCL,
        _ => throw new ArgumentException($"unknown device '{name}': expected auto, cpu, ilgpu-cpu, cuda or opencl"),
    };

    internal static RandomStream NoiseStream(TrainOptions options) => new(unchecked((ulong)options.Seed * 0xD1B54A32D192ED03UL + 29));

    /// <summary>What a checkpoint holds: G, D, both optimisers and the noise stream.</summary>
    internal static TrainingState BuildState(GanModel model, RandomStream noise)
    {
        var state = new TrainingState();
        state.Modules["G"] = model.G;
        state.Modules["D"] = model.D;
        state.Optimizers["optG"] = model.OptG;
        state.Optimizers["optD"] = model.OptD;
        state.RandomStreams["noise"] = noise;
        return state;
    }

    private static void SaveCheckpoint(TrainingState state, GanModel model, long step, DataLoader loader, TrainOptions options, string checkpointPath, string folder)
    {
        foreach (var (name, p) in model.G.NamedParameters().Concat(model.D.NamedParameters()))
        {
            var values = p.ToArray();
            foreach (var v in values)
                if (!float.IsFinite(v))
                    throw new TrainingDivergedException($"training diverged before step {step}: weight {name} holds {v}; " +
                        (File.Exists(checkpointPath) ? $"the last good checkpoint is kept at {checkpointPath}" : "no checkpoint was written"));
        }
        state.Step = step;
        state.Epoch = loader.Epoch;
        state.Metadata["batch-index"] = loader.BatchIndex.ToString(CultureInfo.InvariantCulture);
        state.Metadata["config"] = options.ToJson();
        Checkpoint.Save(checkpointPath, state);
        Checkpoint.SaveModule(Path.Combine(folder, GeneratorFile), model.G, new Dictionary<string, string> { ["model"] = options.Model, ["step"] = step.ToString(CultureInfo.InvariantCulture) });
    }

    /// <summary>Writes a grid of G(fixed z) in eval mode; returns the mean per-pixel std across samples (a diversity measure).</summary>
    internal static double SaveSamples(GanModel model, Tensor z, int[]? labels, string path)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        model.G.Eval();
        var images = model.Generate(z, labels).ToArray();
        model.G.Train();
        int n = z.Shape[0];
        var shape = model.SampleShape;
        if (shape[1] == 1) CurvesPlot.SaveCurves(path, images, n, shape[2]);   // 1-D data: plot the curves
        else ImageGrid.Save(path, images, n, shape[0], shape[1], shape[2]);
        return PixelSpread(images, n);
    }

    /// <summary>Mean over pixels of the standard deviation across samples: ~0 when all samples are alike.</summary>
    internal static double PixelSpread(float[] images, int n)
    {
        int len = images.Length / n;
        double std = 0;
        for (int j = 0; j < len; j++)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; i++) { double v = images[i * len + j]; s += v; s2 += v * v; }
            double mean = s / n;
            std += Math.Sqrt(Math.Max(0, s2 / n - mean * mean));
        }
        return std / len;
    }

    private static string SafeName(string s) => new(s.Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_').ToArray());
}
