// Every default of the command line, once. The library has none: it is given every value.
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;

namespace GpuGan.Cli;

/// <summary>The command line's defaults.</summary>
internal static class Defaults
{
    public const string Model = "dcgan";
    public const string Data = Words.Petri;
    public const int Batch = 64;

    /// <summary>Data-parallel: seconds one collective may wait before the job is aborted (the first also waits for the slowest rank's start-up).</summary>
    public const int CollectiveTimeout = 300;
    public const long Seed = 1;
    public const string TrainDevice = "auto";
    public const int SampleEvery = 100;
    public const int CheckpointEvery = 200;
    /// <summary>Steps between metric read-backs: a GPU step then never waits for the host in between.</summary>
    public const int LogEvery = 10;
    /// <summary>0: every core.</summary>
    public const int Threads = 0;
    /// <summary>Samples in the synthetic sets (petri, sines).</summary>
    public const int SyntheticCount = 6000;
    /// <summary>Latent size (nz) and feature width (ngf = ndf) of pytorch/examples' DCGAN (and of the translation references' ngf = ndf).</summary>
    public const int LatentDim = 100, Width = 64;

    /// <summary>The adversarial autoencoder's code size and hidden width (PyTorch-GAN's aae.py: 10 and 512).</summary>
    public const int AaeLatentDim = 10, AaeWidth = 512;

    /// <summary>Code size (nz) of a family.</summary>
    public static int LatentDimOf(ModelFamily model) => model == ModelFamily.Aae ? AaeLatentDim : LatentDim;

    /// <summary>Feature or hidden width of a family.</summary>
    public static int WidthOf(ModelFamily model) => model == ModelFamily.Aae ? AaeWidth : Width;

    /// <summary>Batch size of a family when --batch is not given: 1 for pix2pix and CycleGAN (their papers'), else <see cref="Batch"/>.</summary>
    public static int BatchOf(ModelFamily model) => model is ModelFamily.Pix2pix or ModelFamily.Cyclegan ? 1 : Batch;

    /// <summary>--direction of translate.</summary>
    public const string Direction = "a2b";

    /// <summary>--format of export.</summary>
    public const string ExportFormat = "onnx";

    /// <summary>--prior of the adversarial autoencoder.</summary>
    public const string Prior = "gaussian";

    /// <summary>The largest input image (a side, and width × height): the library's documented standard limits.</summary>
    public static int MaxImageSide => ImageLimits.Standard.MaxSide;
    public static long MaxImagePixels => ImageLimits.Standard.MaxPixels;

    public const int SampleCount = 64;
    public const string SampleFormat = Words.Png;
    public const long SampleSeed = 1;
    /// <summary>Sampling is cheap: the CPU set, unless a GPU is asked for.</summary>
    public const string SampleDevice = "cpu";

    /// <summary>Length of a run when neither --steps nor --epochs is given.</summary>
    public static int Steps(ModelFamily model, DataSourceKind data) => (model, data) switch
    {
        (ModelFamily.Gan, DataSourceKind.Sines) => 3000,
        (ModelFamily.Dcgan, DataSourceKind.Petri) => 1200,
        _ => 1000,
    };

    /// <summary>runs/&lt;model&gt;-&lt;data&gt;-&lt;time&gt;.</summary>
    public static string RunFolder(string modelWord, string dataWord, DateTime now) =>
        Path.Combine("runs", $"{modelWord}-{SafeName(dataWord)}-{now:yyyyMMdd-HHmmss}");

    private static string SafeName(string s) => new(s.Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_').ToArray());
}
