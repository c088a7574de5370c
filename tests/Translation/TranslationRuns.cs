using GpuGan.Cli;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;

namespace GpuGan.Tests.Translation;

/// <summary>Tiny runs of the translation and autoencoder families for the tests in this folder.</summary>
internal static class TranslationRuns
{
    /// <summary>A tiny run: width 2, batch 2, one thread, a checkpoint every step, augmentation on.</summary>
    public static TrainOptions Options(ModelFamily family, DataSource data, string folder, int steps, int size) => new()
    {
        Model = family, Data = data, ImageSize = size, Width = 2, LatentDim = family.Kind() == ModelKind.Translation ? 0 : 4, Batch = 2,
        Steps = steps, Seed = 11, Device = DeviceKind.Cpu, Out = folder, SampleEvery = 1000, CheckpointEvery = 1, Threads = 1,
        Augment = family.Kind() == ModelKind.Translation ? true : null,
    };

    public static TrainResult Train(TrainOptions options)
    {
        using var trainer = Trainer.Start(options);
        return trainer.Run();
    }

    /// <summary>Runs <paramref name="options"/> and stops it (as Ctrl-C does) after <paramref name="steps"/> steps: a checkpoint is saved there.</summary>
    public static TrainResult TrainUntil(TrainOptions options, int steps)
    {
        using var cancel = new CancellationTokenSource();
        using var trainer = Trainer.Start(options, new StopAfter(cancel, steps));
        return trainer.Run(cancel.Token);
    }

    private sealed class StopAfter(CancellationTokenSource cancel, int steps) : ITrainingObserver
    {
        public void Started(TrainingStarted started) { }
        public void Step(StepMetrics metrics, long totalSteps) { if (metrics.Step >= steps) cancel.Cancel(); }
        public void Notice(TrainingNotice notice) { }
    }

    public static TrainResult Resume(string folder, int steps)
    {
        using var trainer = Trainer.Resume(new ResumeOptions { Folder = folder, Steps = steps, Device = DeviceKind.Cpu });
        return trainer.Run();
    }

    /// <summary>metrics.csv without the images/s column (a timing).</summary>
    public static string[] MetricRowsWithoutSpeed(string folder) => File.ReadAllLines(Path.Combine(folder, RunLayout.MetricsFile))
        .Select(l => string.Join(",", l.Split(',')[..^1])).ToArray();

    /// <summary>Runs the CLI in this process.</summary>
    public static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = GpuGanCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>A temporary folder, deleted by <see cref="Delete"/>.</summary>
    public static string TempFolder(string prefix) => Directory.CreateTempSubdirectory(prefix).FullName;

    public static void Delete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }
}
