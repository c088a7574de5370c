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

    /// <summary>
    /// --ema-warmup: how the moving average's decay starts. StyleGAN2-ADA's ramp-up, by the rule written before the runs of
    /// docs/quality/experiments/EMA-WARMUP.md: on DCGAN-28 it beat no warm-up on every training seed (FD 4.31 against 5.63) and tied
    /// with the trained weights (4.51), where no warm-up lost to them. Runs saved before the option resume without one.
    /// </summary>
    public const string EmaWarmup = "rampup";

    /// <summary>--prior of the adversarial autoencoder.</summary>
    public const string Prior = "gaussian";

    /// <summary>The largest input image (a side, and width × height): the library's documented standard limits.</summary>
    public static int MaxImageSide => ImageLimits.Standard.MaxSide;
    public static long MaxImagePixels => ImageLimits.Standard.MaxPixels;

    /// <summary>--resize: bilinear (ImageSharp's triangle filter), the closest of the four to torchvision's Resize(antialias=True) (README, "Images").</summary>
    public const string Resize = "bilinear";

    /// <summary>--bit-depth of sample PNG files.</summary>
    public const string PngBitDepth = "8";

    public const int SampleCount = 64;
    public const string SampleFormat = Words.Png;
    public const long SampleSeed = 1;
    /// <summary>Sampling is cheap: the CPU set, unless a GPU is asked for.</summary>
    public const string SampleDevice = "cpu";

    /// <summary>gpugan score: samples scored and real images compared with (1,000 keeps KID's subsets of 500 apart and the O(n²) k-NN tables small).</summary>
    public const int ScoreCount = 1000;
    /// <summary>gpugan score --reference: the network's training part (the whole data a generator trained on).</summary>
    public const string ScoreReference = "training";
    /// <summary>k of precision, recall, density and coverage (Naeem et al. 2020 use 5).</summary>
    public const int ScoreNeighbours = 5;
    /// <summary>KID: subsets and their largest size (torch-fidelity: 100 subsets of 1,000; fewer subsets here, the kernel matrices are computed once).</summary>
    public const int KidSubsets = 50, KidSubsetSize = 1000;
    /// <summary>
    /// ADA (--ada): the target of D's mean sign on real images (StyleGAN2-ADA's 0.6), and the real images over which p can go
    /// from 0 to 1. StyleGAN2-ADA's 500k suits runs of millions of images; ours see 10k–200k, so 20k: at batch 64 p can reach
    /// 1 in about 300 steps and moves by 0.013 per adjustment (every 4 D steps).
    /// </summary>
    public const double AdaTarget = 0.6, AdaSpeedImages = 20_000;

    /// <summary>The feature network: steps, width, batch and learning rate of its one training per data set.</summary>
    public const int FeatureSteps = 2000, FeatureWidth = 32, FeatureBatch = 64;
    public const float FeatureLr = 1e-3f;

    /// <summary>
    /// The user's cache folder for GpuGan: $XDG_CACHE_HOME/gpugan, else ~/.cache/gpugan on Unix; %LOCALAPPDATA%\gpugan\cache on Windows.
    /// </summary>
    public static string CacheFolder()
    {
        if (OperatingSystem.IsWindows())
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "gpugan", "cache");
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "gpugan");
    }

    /// <summary>--eval-every: images scored at each evaluation (fewer than gpugan score's, to keep training moving).</summary>
    public const int EvalSamples = 500;

    /// <summary>The scoring settings of --eval-every N.</summary>
    public static GpuGan.Gan.Training.EvalOptions Eval(int every) => new()
    {
        Every = every, Samples = EvalSamples, K = ScoreNeighbours, KidSubsets = KidSubsets, KidSubsetSize = KidSubsetSize, CacheFolder = CacheFolder(),
        Features = new GpuGan.Gan.Scoring.FeatureNetworkOptions { Width = FeatureWidth, Steps = FeatureSteps, Batch = FeatureBatch, LearningRate = FeatureLr, Seed = Seed },
    };

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
