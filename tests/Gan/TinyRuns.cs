using GpuGan.Cli;
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;

namespace GpuGan.Tests.Gan;

/// <summary>Tiny training runs (small widths, few steps) for CLI and reliability tests.</summary>
internal static class TinyRuns
{
    /// <summary>Options of a tiny run: 28×28 (or sines for the MLP), width 4, nz 8, batch 4, checkpoint every step.</summary>
    public static TrainOptions Options(ModelFamily family, DataSource data, string folder, int steps) => new()
    {
        Model = family, Data = data, ImageSize = data.Kind == DataSourceKind.Sines ? null : 28, Width = 4, LatentDim = 8, Batch = 4,
        Steps = steps, Seed = 7, Device = DeviceKind.Cpu, Out = folder, SampleEvery = 1000, CheckpointEvery = 1, Threads = 1,
    };

    public static TrainResult Train(TrainOptions options, ITrainingObserver? observer = null)
    {
        using var trainer = Trainer.Start(options, observer);
        return trainer.Run();
    }

    /// <summary>A folder of 8 small RGB PNGs in two class subfolders (so the conditional model has labels).</summary>
    public static string ImageFolder(string root)
    {
        string dir = Path.Combine(root, "images");
        var gen = new RandomStream(11);
        for (int i = 0; i < 8; i++)
        {
            string sub = Path.Combine(dir, i % 2 == 0 ? "a" : "b");
            Directory.CreateDirectory(sub);
            var img = new float[3 * 12 * 12];
            gen.FillUniform(img, -1, 1);
            PngWriter.Save(Path.Combine(sub, $"{i}.png"), img, 3, 12, 12);
        }
        return dir;
    }

    /// <summary>Runs the CLI in this process.</summary>
    public static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = GpuGanCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>Runs the CLI in this process with test hooks.</summary>
    public static (int Code, string Out, string Err) Cli(CliHooks hooks, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = GpuGanCommand.Run(args, o, e, CancellationToken.None, hooks);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>Every file under <paramref name="folder"/> with its bytes, to check that nothing changed.</summary>
    public static Dictionary<string, byte[]> Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), File.ReadAllBytes);

    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
