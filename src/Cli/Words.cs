// The command line's words: flag names, the names of models, devices, data sets and formats, and
// how library properties map to flags. Messages are worded here and in ErrorReport, nowhere else.
using GpuGan.Gan.Models;
using GpuGan.Tensors;

namespace GpuGan.Cli;

/// <summary>Flag names and the words for typed values.</summary>
internal static class Words
{
    // ------------------------------------------------------------ flags
    public const string Model = "--model", Data = "--data", ImageSize = "--image-size", Channels = "--channels", Epochs = "--epochs",
        Steps = "--steps", Batch = "--batch", Lr = "--lr", Seed = "--seed", Device = "--device", Out = "--out", Resume = "--resume",
        SampleEvery = "--sample-every", CheckpointEvery = "--checkpoint-every", LogEvery = "--log-every", Threads = "--threads", Limit = "--limit",
        MaxImageSide = "--max-image-side", MaxImagePixels = "--max-image-pixels",
        Run = "--run", Checkpoint = "--checkpoint", Count = "--count", Format = "--format", Class = "--class", Grid = "--grid",
        NoAugment = "--no-augment", Prior = "--prior", Input = "--input", Direction = "--direction",
        Distributed = "--distributed", SyncBn = "--sync-bn", CollectiveTimeout = "--collective-timeout", Winograd = "--winograd";

    /// <summary>Image options (issue 20): the resampling filter of image files, strict data, PNG bits per channel.</summary>
    public const string Resize = "--resize", StrictData = "--strict-data", BitDepth = "--bit-depth";

    /// <summary>--resize words.</summary>
    public static readonly IReadOnlyList<(string Word, GpuGan.Gan.Imaging.ResizeFilter Filter)> ResizeFilters =
        [("area", GpuGan.Gan.Imaging.ResizeFilter.Area), ("bilinear", GpuGan.Gan.Imaging.ResizeFilter.Bilinear),
         ("bicubic", GpuGan.Gan.Imaging.ResizeFilter.Bicubic), ("lanczos", GpuGan.Gan.Imaging.ResizeFilter.Lanczos)];

    /// <summary>gpugan score's flags.</summary>
    public const string Augment = "--augment", AugmentP = "--augment-p", Ada = "--ada", AdaSpeed = "--ada-speed", EvalEvery = "--eval-every", Ema = "--ema", EmaWarmup = "--ema-warmup", Raw = "--raw", Truncation = "--truncation", Interpolate = "--interpolate";

    /// <summary>gpugan score's flags.</summary>
    public const string Nearest = "--nearest", Samples = "--samples", Json = "--json", CacheDir = "--cache-dir", FeatureSteps = "--feature-steps", FeatureWidth = "--feature-width";

    /// <summary>gpugan score --reference: where the real images compared with come from (true: the held-out part).</summary>
    public const string Reference = "--reference";
    public static readonly IReadOnlyList<(string Word, bool HeldOut)> References = [("training", false), ("held-out", true)];

    /// <summary>The flag that sets a library property (TrainOptions, ResumeOptions, the sampler's count); null when no flag does.</summary>
    public static string? FlagOf(string property) => property switch
    {
        "Model" => Model, "Data" => Data, "ImageSize" => ImageSize, "Channels" => Channels, "Epochs" => Epochs, "Steps" => Steps,
        "Batch" => Batch, "Lr" => Lr, "Seed" => Seed, "Device" => Device, "Out" or "Folder" => Out, "SampleEvery" => SampleEvery,
        "CheckpointEvery" => CheckpointEvery, "LogEvery" => LogEvery, "Threads" => Threads, "Limit" => Limit, "count" => Count,
        "MaxImageSide" => MaxImageSide, "MaxImagePixels" => MaxImagePixels, "Augment" => NoAugment, "Prior" => Prior,
        "Resize" => Resize, "StrictData" => StrictData, "Ema" => Ema, "EmaWarmup" => EmaWarmup,
        "EvalEvery" => EvalEvery, "DiffAugment" => Augment, "AugmentProbability" => AugmentP, "Ada" or "AdaTarget" => Ada, "AdaSpeed" => AdaSpeed, "Truncation" => Truncation, "Interpolate" => Interpolate, "Grid" => Grid, "SyncBatchNorm" => SyncBn,
        "Winograd" => Winograd,
        _ => null,
    };

    // ------------------------------------------------------------ values

    /// <summary>--model words.</summary>
    public static readonly IReadOnlyList<(string Word, ModelFamily Family)> Models =
        [("gan", ModelFamily.Gan), ("dcgan", ModelFamily.Dcgan), ("wgan", ModelFamily.Wgan), ("wgan-gp", ModelFamily.WganGp), ("cdcgan", ModelFamily.Cdcgan),
         ("pix2pix", ModelFamily.Pix2pix), ("cyclegan", ModelFamily.Cyclegan), ("aae", ModelFamily.Aae)];

    /// <summary>--ema-warmup words (docs/quality/experiments/EMA-WARMUP.md).</summary>
    public static readonly IReadOnlyList<(string Word, EmaWarmup Warmup)> EmaWarmups =
        [.. Enum.GetValues<EmaWarmup>().Select(w => (EmaSchedule.Word(w), w))];

    /// <summary>--augment words.</summary>
    public static readonly IReadOnlyList<(string Word, AugmentKinds Kind)> AugmentKinds =
        [("color", GpuGan.Gan.Models.AugmentKinds.Color), ("translation", GpuGan.Gan.Models.AugmentKinds.Translation), ("cutout", GpuGan.Gan.Models.AugmentKinds.Cutout)];

    /// <summary>--prior words (aae).</summary>
    public static readonly IReadOnlyList<(string Word, LatentPrior Prior)> Priors = [("gaussian", LatentPrior.Gaussian), ("mixture10", LatentPrior.Mixture10)];

    /// <summary>--direction words (translate).</summary>
    public static readonly IReadOnlyList<(string Word, GpuGan.Gan.Sampling.TranslationDirection Direction)> Directions =
        [("a2b", GpuGan.Gan.Sampling.TranslationDirection.AToB), ("b2a", GpuGan.Gan.Sampling.TranslationDirection.BToA)];

    /// <summary>--device words; "auto" is no kind (the best available).</summary>
    public static readonly IReadOnlyList<(string Word, DeviceKind? Kind)> Devices =
        [("auto", null), ("cpu", DeviceKind.Cpu), ("ilgpu-cpu", DeviceKind.IlgpuCpu), ("cuda", DeviceKind.Cuda), ("opencl", DeviceKind.OpenCL)];

    /// <summary>Built-in --data words (besides mnist:DIR and folders).</summary>
    public const string Petri = "petri", Sines = "sines", FashionMnist = "fashion-mnist", MnistPrefix = "mnist:",
        PetriPairs = "petri-pairs", PetriStyles = "petri-styles", FashionMnistEdges = "fashion-mnist-edges";

    /// <summary>--format words.</summary>
    public const string Png = "png", Idx = "idx";

    /// <summary>--format words of export.</summary>
    public static readonly IReadOnlyList<(string Word, GpuGan.Gan.Export.ExportFormat Format)> ExportFormats =
        [("onnx", GpuGan.Gan.Export.ExportFormat.Onnx), ("safetensors", GpuGan.Gan.Export.ExportFormat.Safetensors)];

    public static string Of(ModelFamily family) => Models.First(m => m.Family == family).Word;

    public static string Of(DeviceKind? kind) => Devices.First(d => d.Kind == kind).Word;

    /// <summary>"a | b | c", for option descriptions.</summary>
    public static string Alternatives(IEnumerable<string> words) => string.Join(" | ", words);

    /// <summary>"a, b or c", for messages.</summary>
    public static string OneOf(IEnumerable<string> words)
    {
        var list = words.ToList();
        return list.Count < 2 ? string.Join("", list) : string.Join(", ", list.Take(list.Count - 1)) + " or " + list[^1];
    }
}
