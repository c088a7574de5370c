namespace GpuGan.Gan.Training;

/// <summary>The files of a run folder, relative to it.</summary>
public static class RunLayout
{
    /// <summary>Every option of the run (<see cref="TrainOptions"/> as JSON).</summary>
    public const string ConfigFile = "config.json";

    /// <summary>One row per step (<see cref="StepMetrics"/>).</summary>
    public const string MetricsFile = "metrics.csv";

    /// <summary>G, D, optimisers, counters, random streams, the architecture record.</summary>
    public const string CheckpointFile = "checkpoints/last.safetensors";

    /// <summary>G's weights (PyTorch names) and the architecture record.</summary>
    public const string GeneratorFile = "generator.safetensors";

    /// <summary>Sample grids, step-NNNNNN.png.</summary>
    public const string SamplesFolder = "samples";

    /// <summary>Losses and D outputs over steps.</summary>
    public const string CurvesFile = "curves.png";

    /// <summary>The folders that hold the run's files: the run folder itself (""), checkpoints/ and samples/.</summary>
    public static IReadOnlyList<string> Folders { get; } = ["", Path.GetDirectoryName(CheckpointFile)!, SamplesFolder];
}
