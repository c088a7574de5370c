// The options of a training run, typed. No defaults live here: the caller (the CLI) chooses every
// value; a null optional means "the natural choice" as documented on each property. The record is
// saved as the run's config.json (kebab-case keys, enums by name) and read back on resume, where it
// is validated as strictly as when it was given.
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Serialization;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Tensors;

namespace GpuGan.Gan.Training;

/// <summary>Every setting of a training run; written to config.json and read back on resume.</summary>
public sealed record TrainOptions
{
    /// <summary>The model family.</summary>
    public required ModelFamily Model { get; init; }

    /// <summary>Where the samples come from.</summary>
    public required DataSource Data { get; init; }

    /// <summary>Square image side (28, 32 or 64); null keeps the data set's natural size (petri 32, IDX 28, folders 64).</summary>
    public int? ImageSize { get; init; }

    /// <summary>1 or 3; null keeps the data set's channels.</summary>
    public int? Channels { get; init; }

    /// <summary>Train for this many epochs (exactly one of <see cref="Epochs"/> and <see cref="Steps"/>).</summary>
    public int? Epochs { get; init; }

    /// <summary>Train for this many generator steps (exactly one of <see cref="Epochs"/> and <see cref="Steps"/>).</summary>
    public int? Steps { get; init; }

    /// <summary>Samples per batch.</summary>
    public required int Batch { get; init; }

    /// <summary>Learning rate; null takes the family's canonical value.</summary>
    public float? Lr { get; init; }

    /// <summary>Seed of the weights, the data order and the noise.</summary>
    public required long Seed { get; init; }

    /// <summary>The device kind; null picks the best available (CUDA, then OpenCL, then the CPU).</summary>
    public DeviceKind? Device { get; init; }

    /// <summary>The run folder.</summary>
    public required string Out { get; init; }

    /// <summary>Write a sample grid every N steps; null writes one at the end only.</summary>
    public int? SampleEvery { get; init; }

    /// <summary>Write a checkpoint every N steps; null writes one at the end (and on interruption) only.</summary>
    public int? CheckpointEvery { get; init; }

    /// <summary>CPU kernel threads; null uses every core.</summary>
    public int? Threads { get; init; }

    /// <summary>
    /// Read the step metrics back from the device every N steps (one copy; metrics.csv still gets a row per
    /// step, and the divergence guard then names the first bad step); null reads them after every step.
    /// </summary>
    public int? LogEvery { get; init; }

    /// <summary>Use at most this many samples of the data set (the first ones, whatever the source); null uses all.</summary>
    public int? Limit { get; init; }

    /// <summary>Largest width or height of an input image (image folders, IDX files); null is <see cref="ImageLimits.Standard"/>'s.</summary>
    public int? MaxImageSide { get; init; }

    /// <summary>Largest width × height of an input image; null is <see cref="ImageLimits.Standard"/>'s.</summary>
    public long? MaxImagePixels { get; init; }

    /// <summary>The filter that resamples image files to the image size; null: bilinear (closest to torchvision's Resize(antialias=True)).</summary>
    public Imaging.ResizeFilter? Resize { get; init; }

    /// <summary>An image file that cannot be used (corrupt, above the limits, a refused format) stops the run with its name; null or false skips it with a warning.</summary>
    public bool? StrictData { get; init; }

    /// <summary>The input image limits in force.</summary>
    [JsonIgnore]
    public ImageLimits ImageLimits => new(MaxImageSide ?? ImageLimits.Standard.MaxSide, MaxImagePixels ?? ImageLimits.Standard.MaxPixels);

    /// <summary>Size of the latent vector z.</summary>
    public required int LatentDim { get; init; }

    /// <summary>Feature-map width of G and D (ngf = ndf), 64 in the canonical DCGAN and the translation families; the hidden width of the autoencoder.</summary>
    public required int Width { get; init; }

    /// <summary>Random jitter and mirroring of image pairs (translation families); null: on for them, as the references train.</summary>
    public bool? Augment { get; init; }

    /// <summary>The prior of the adversarial autoencoder's codes; null: Gaussian.</summary>
    public LatentPrior? Prior { get; init; }

    /// <summary>
    /// Decay of an exponential moving average of the generator's weights (e.g. 0.999), kept beside the trained weights and
    /// used for sampling; null keeps none. The latent-noise GANs only.
    /// </summary>
    public double? Ema { get; init; }

    /// <summary>
    /// How the average's decay starts (<see cref="EmaSchedule"/>); null: <see cref="EmaWarmup.None"/>, as runs saved before
    /// the option were trained (so they resume unchanged). Needs <see cref="Ema"/>.
    /// </summary>
    public EmaWarmup? EmaWarmup { get; init; }

    /// <summary>DiffAugment before the discriminator (latent-noise GANs); null or None: no augmentation.</summary>
    public AugmentKinds? DiffAugment { get; init; }

    /// <summary>
    /// DiffAugment applies each elementary transformation to each sample with this probability (StyleGAN2-ADA's p); with
    /// <see cref="Ada"/>, the starting p. Null: every transformation to every sample (no per-sample draws), or 0 with ADA.
    /// </summary>
    public double? AugmentProbability { get; init; }

    /// <summary>Adaptive augmentation (ADA): DiffAugment's probability follows D's mean sign on real images; null keeps p fixed.</summary>
    public AdaOptions? Ada { get; init; }

    /// <summary>Score the generator every few steps (metrics.csv, curves.png, the observer); null never does.</summary>
    public EvalOptions? Eval { get; init; }

    /// <summary>
    /// Data-parallel training: batch norm over the global batch of all ranks (synchronised statistics, forward and
    /// backward) instead of each rank's shard; null or false: per-rank statistics (as PyTorch DDP). No effect in one process.
    /// </summary>
    public bool? SyncBatchNorm { get; init; }

    /// <summary>
    /// On the SIMD CPU kernel set, run the 4×4 stride-2 convolutions as Winograd F(4×4, 2×2)
    /// (<see cref="GpuGan.Tensors.ConvLoweringOptions.Winograd"/>): fewer multiplications, about 15 % faster DCGAN-64 steps
    /// here, at ~3–16× the direct convolution's rounding error (so data-parallel ranks drift apart sooner). Saved with
    /// the run, so a resume continues with the same kernels; null or false: the direct convolution. No effect on GPUs.
    /// </summary>
    public bool? Winograd { get; init; }

    /// <summary>The library version that wrote the options.</summary>
    public string Version { get; init; } = typeof(TrainOptions).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>
    /// Checks every value; <paramref name="configFile"/> names the saved configuration the values came from (null when
    /// the caller gave them).
    /// </summary>
    /// <exception cref="InvalidOptionException">Names the property, the value and what is allowed.</exception>
    /// <exception cref="ConflictingOptionsException">Two properties that exclude each other are both set.</exception>
    public void Validate(string? configFile = null)
    {
        void Fail(string option, object? value, string requirement) => throw new InvalidOptionException(option, value, requirement, configFile);
        if (!Enum.IsDefined(Model)) Fail(nameof(Model), Model, "is not a known model family");
        if (Data is null) Fail(nameof(Data), null, "is required");
        else if (!Enum.IsDefined(Data.Kind)) Fail(nameof(Data), Data.Kind, "is not a known data source");
        else if (Data.IsSynthetic && Data.Count is not >= 1) Fail(nameof(Data), Data.Count, "needs a sample count of at least 1");
        else if (Data.IsFolder && string.IsNullOrEmpty(Data.Path)) Fail(nameof(Data), Data.Path, "needs a folder");
        if (ImageSize is { } s && Enum.IsDefined(Model) && !GanSpec.SupportedSizes(Model).Contains(s))
            Fail(nameof(ImageSize), s, $"must be one of {string.Join(", ", GanSpec.SupportedSizes(Model))} for {Model.FileName()}");
        if (Prior is { } prior && !Enum.IsDefined(prior)) Fail(nameof(Prior), prior, "is not a known prior");
        if (Prior is not null && Model != ModelFamily.Aae) Fail(nameof(Prior), Prior, "applies to the adversarial autoencoder only");
        if (Ema is { } ema && !(ema > 0 && ema < 1)) Fail(nameof(Ema), ema, "must be a decay between 0 and 1 (exclusive)");
        if (Ema is not null && Enum.IsDefined(Model) && Model.Kind() != ModelKind.Generative) Fail(nameof(Ema), Ema, $"applies to the latent-noise GANs (gan, dcgan, wgan, wgan-gp, cdcgan), not {Model.FileName()}");
        if (EmaWarmup is { } warmup && !Enum.IsDefined(warmup)) Fail(nameof(EmaWarmup), warmup, "is not a known warm-up");
        if (EmaWarmup is { } w && w != Models.EmaWarmup.None && Ema is null) Fail(nameof(EmaWarmup), w, "needs a moving average (Ema) to warm up");
        if (DiffAugment is { } da && da != AugmentKinds.None)
        {
            if ((da & ~(AugmentKinds.Color | AugmentKinds.Translation | AugmentKinds.Cutout)) != 0) Fail(nameof(DiffAugment), da, "is not a known augmentation");
            if (Enum.IsDefined(Model) && Model.Kind() != ModelKind.Generative) Fail(nameof(DiffAugment), da, $"applies to the latent-noise GANs (gan, dcgan, wgan, wgan-gp, cdcgan), not {Model.FileName()}");
        }
        if (AugmentProbability is { } ap && !(ap >= 0 && ap <= 1)) Fail(nameof(AugmentProbability), ap, "must be between 0 and 1");
        if ((AugmentProbability is not null || Ada is not null) && DiffAugment is null or AugmentKinds.None)
            Fail(Ada is not null ? nameof(Ada) : nameof(AugmentProbability), (object?)Ada ?? AugmentProbability, "needs DiffAugment transformations to apply");
        if (Ada is { } ada)
        {
            if (!(ada.Target > -1 && ada.Target < 1)) Fail("AdaTarget", ada.Target, "must be between -1 and 1 (exclusive): it is the mean sign of D on real images");
            if (!(ada.SpeedImages >= 1 && double.IsFinite(ada.SpeedImages))) Fail("AdaSpeed", ada.SpeedImages, "must be at least 1 image");
        }
        if (Eval is { } eval)
        {
            if (eval.Every < 1) Fail("EvalEvery", eval.Every, "must be at least 1");
            if (eval.Samples < eval.K + 1 || eval.K < 1) Fail("EvalSamples", eval.Samples, $"must be at least k + 1 = {eval.K + 1}");
            if (eval.KidSubsets < 1 || eval.KidSubsetSize < 2) Fail("EvalKid", eval.KidSubsets, "needs at least one subset of at least 2");
            if (string.IsNullOrWhiteSpace(eval.CacheFolder)) Fail("CacheFolder", eval.CacheFolder, "must name a folder");
            if (Enum.IsDefined(Model) && Model.Kind() == ModelKind.Translation) Fail("EvalEvery", eval.Every, $"applies to generators of images from latent codes, not {Model.FileName()}");
            eval.Features.Validate();
        }
        if (Channels is { } c && c is not (1 or 3)) Fail(nameof(Channels), c, "must be 1 or 3");
        if (Epochs is < 1) Fail(nameof(Epochs), Epochs, "must be at least 1");
        if (Steps is < 1) Fail(nameof(Steps), Steps, "must be at least 1");
        if (Epochs is not null && Steps is not null) throw new ConflictingOptionsException(nameof(Epochs), nameof(Steps), configFile);
        if (Epochs is null && Steps is null) Fail(nameof(Steps), null, "is required (or Epochs)");
        if (Batch < 1) Fail(nameof(Batch), Batch, "must be at least 1");
        if (Lr is { } lr && !(lr > 0 && float.IsFinite(lr))) Fail(nameof(Lr), lr, "must be a positive number");
        if (Device is { } d && !Enum.IsDefined(d)) Fail(nameof(Device), d, "is not a known device kind");
        if (string.IsNullOrWhiteSpace(Out)) Fail(nameof(Out), Out, "must name a folder");
        if (SampleEvery is < 1) Fail(nameof(SampleEvery), SampleEvery, "must be at least 1");
        if (CheckpointEvery is < 1) Fail(nameof(CheckpointEvery), CheckpointEvery, "must be at least 1");
        if (Threads is < 1) Fail(nameof(Threads), Threads, "must be at least 1");
        if (LogEvery is < 1) Fail(nameof(LogEvery), LogEvery, "must be at least 1");
        if (Limit is < 1) Fail(nameof(Limit), Limit, "must be at least 1");
        if (MaxImageSide is < 1) Fail(nameof(MaxImageSide), MaxImageSide, "must be at least 1");
        if (MaxImagePixels is < 1) Fail(nameof(MaxImagePixels), MaxImagePixels, "must be at least 1");
        if (Resize is { } filter && !Enum.IsDefined(filter)) Fail(nameof(Resize), filter, "is not a known resampling filter");
        if (Enum.IsDefined(Model) && Model.Kind() == ModelKind.Translation)
        {
            if (LatentDim != 0) Fail(nameof(LatentDim), LatentDim, $"must be 0 for {Model.FileName()} (it has no latent input)");
        }
        else if (LatentDim is < 1 or > GanSpec.MaxLatentDim) Fail(nameof(LatentDim), LatentDim, $"must be between 1 and {GanSpec.MaxLatentDim}");
        if (Width is < 1 or > GanSpec.MaxWidth) Fail(nameof(Width), Width, $"must be between 1 and {GanSpec.MaxWidth}");
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
    };

    /// <summary>The options as config.json holds them.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The JSON key of a property in config.json ("sample-every").</summary>
    public static string JsonKey(string property) => JsonNamingPolicy.KebabCaseLower.ConvertName(property);

    /// <summary>Reads options saved by <see cref="ToJson"/>; <paramref name="source"/> names the file in errors. Not validated.</summary>
    /// <exception cref="RunFileException">Not JSON, or not a run configuration.</exception>
    public static TrainOptions FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainOptions>(json, Json) ?? throw new RunFileException(source, null, "empty configuration");
        }
        catch (JsonException e)
        {
            // System.Text.Json's message spans lines and names .NET types: say instead which key holds what kind of value.
            string where = e.LineNumber is { } line ? $" (line {line + 1})" : "";
            throw new RunFileException(source, null, $"not a valid run configuration{where}: {Explain(e)}", e);
        }
    }

    /// <summary>A JSON error in the words of config.json: the key and what it must hold, or the syntax problem.</summary>
    private static string Explain(JsonException e)
    {
        string message = e.Message;
        int including = message.IndexOf("missing required properties including:", StringComparison.Ordinal);
        if (including >= 0)
        {
            var keys = Regex.Matches(message[including..], "'([^']+)'").Select(m => m.Groups[1].Value);
            return $"missing required keys: {string.Join(", ", keys)}";
        }
        string path = e.Path ?? "$";
        bool conversion = message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal);
        if (path == "$")
            return conversion ? "the file holds no JSON object of settings" : WithoutTypeNames(FirstSentence(message));
        // "$.data.kind" → the property it names, walked from TrainOptions.
        string key = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
        Type? type = typeof(TrainOptions);
        foreach (string part in key.Split('.'))
        {
            var property = type?.GetProperties().FirstOrDefault(p => JsonKey(p.Name) == part);
            type = property is null ? null : Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        }
        return type is not null && conversion ? $"'{key}' must be {Kind(type)}" : $"'{key}': {WithoutTypeNames(FirstSentence(message))}";
    }

    private static string Kind(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "an integer",
        _ when type == typeof(float) || type == typeof(double) => "a number",
        _ when type == typeof(string) => "a string",
        _ when type == typeof(bool) => "true or false",
        { IsEnum: true } => "one of " + string.Join(", ", Enum.GetNames(type).Select(JsonKey)),
        _ => "an object",
    };

    private static string FirstSentence(string message)
    {
        int end = message.IndexOfAny(['\n', '\r']);
        var first = end < 0 ? message : message[..end];
        int path = first.IndexOf(" Path:", StringComparison.Ordinal);
        return (path < 0 ? first : first[..path]).Trim();
    }

    private static string WithoutTypeNames(string message) => Regex.Replace(message, @"'?\b(System|GpuGan)\.[\w.`\[\]]+'?", "a value");
}

/// <summary>How to continue a run: its folder, and what may change from the saved configuration.</summary>
public sealed record ResumeOptions
{
    /// <summary>The run folder.</summary>
    public required string Folder { get; init; }

    /// <summary>Run until this step (replaces the saved length); null keeps the saved length unless <see cref="Epochs"/> is given.</summary>
    public int? Steps { get; init; }

    /// <summary>Run for this many epochs in all (replaces the saved length).</summary>
    public int? Epochs { get; init; }

    /// <summary>The device kind now; null picks the best available.</summary>
    public DeviceKind? Device { get; init; }

    /// <summary>CPU kernel threads now; null keeps the saved count (bit-identical resume needs the same count).</summary>
    public int? Threads { get; init; }

    /// <summary>A new sample interval; null keeps the saved one.</summary>
    public int? SampleEvery { get; init; }

    /// <summary>A new checkpoint interval; null keeps the saved one.</summary>
    public int? CheckpointEvery { get; init; }

    /// <summary>A new metrics read-back interval; null keeps the saved one.</summary>
    public int? LogEvery { get; init; }

    /// <summary>Checks the values given here.</summary>
    /// <exception cref="InvalidOptionException">Names the property, the value and what is allowed.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Folder)) throw new InvalidOptionException(nameof(Folder), Folder, "must name a run folder");
        if (Steps is < 1) throw new InvalidOptionException(nameof(Steps), Steps, "must be at least 1");
        if (Epochs is < 1) throw new InvalidOptionException(nameof(Epochs), Epochs, "must be at least 1");
        if (Steps is not null && Epochs is not null) throw new ConflictingOptionsException(nameof(Epochs), nameof(Steps), null);
        if (Device is { } d && !Enum.IsDefined(d)) throw new InvalidOptionException(nameof(Device), d, "is not a known device kind");
        if (Threads is < 1) throw new InvalidOptionException(nameof(Threads), Threads, "must be at least 1");
        if (SampleEvery is < 1) throw new InvalidOptionException(nameof(SampleEvery), SampleEvery, "must be at least 1");
        if (CheckpointEvery is < 1) throw new InvalidOptionException(nameof(CheckpointEvery), CheckpointEvery, "must be at least 1");
        if (LogEvery is < 1) throw new InvalidOptionException(nameof(LogEvery), LogEvery, "must be at least 1");
    }

    /// <summary>The saved options with this resume's changes applied.</summary>
    public TrainOptions ApplyTo(TrainOptions saved) => saved with
    {
        Steps = Steps ?? (Epochs is null ? saved.Steps : null),
        Epochs = Epochs ?? (Steps is null ? saved.Epochs : null),
        Out = Folder,
        Device = Device,
        Threads = Threads ?? saved.Threads,
        SampleEvery = SampleEvery ?? saved.SampleEvery,
        CheckpointEvery = CheckpointEvery ?? saved.CheckpointEvery,
        LogEvery = LogEvery ?? saved.LogEvery,
    };
}

/// <summary>What a finished (or interrupted) run reports.</summary>
/// <param name="RunFolder">The run folder.</param>
/// <param name="DeviceName">The device it ran on.</param>
/// <param name="StartStep">The step it started (or resumed) at.</param>
/// <param name="Step">The last completed step.</param>
/// <param name="TotalSteps">The step it was to run until.</param>
/// <param name="Interrupted">True when cancellation stopped it before <paramref name="TotalSteps"/>; a checkpoint was saved.</param>
/// <param name="Elapsed">Wall time of the training loop.</param>
/// <param name="CheckpointPath">The checkpoint file (absent when no step ran).</param>
public sealed record TrainResult(string RunFolder, string DeviceName, long StartStep, long Step, long TotalSteps, bool Interrupted, TimeSpan Elapsed, string CheckpointPath);

/// <summary>Scoring during training (every value from the caller).</summary>
public sealed record EvalOptions
{
    /// <summary>Score after every this many steps.</summary>
    public required int Every { get; init; }

    /// <summary>Generated images scored, and real images compared with.</summary>
    public required int Samples { get; init; }

    /// <summary>Neighbours of precision, recall, density and coverage.</summary>
    public required int K { get; init; }

    /// <summary>KID's subsets and their largest size.</summary>
    public required int KidSubsets { get; init; }

    /// <inheritdoc cref="KidSubsets"/>
    public required int KidSubsetSize { get; init; }

    /// <summary>How a feature network is trained when the cache has none for the data.</summary>
    public required Scoring.FeatureNetworkOptions Features { get; init; }

    /// <summary>The feature networks' cache folder.</summary>
    public required string CacheFolder { get; init; }
}
