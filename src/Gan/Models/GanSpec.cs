// The architecture record: everything needed to rebuild a model's networks, saved as JSON in the
// metadata of every checkpoint and generator file (key "spec"), so a file describes itself and
// `sample` needs no data set. Example:
//   {"version":1,"family":"dcgan","image":{"channels":3,"height":32,"width":32},"latent-dim":100,
//    "generator-width":64,"discriminator-width":64,"class-count":0,"discriminator-norm":"batch"}
// cdcgan records add "class-input":"embedding" (how the class enters G); records without it are of the earlier cdcgan
// design (z multiplied by a class embedding) and are refused with that said, not with a list of mismatched tensors.
// Validation bounds every size, so a crafted file cannot make the builder allocate without limit.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuGan.Gan.Models;

/// <summary>A model's architecture: family, sample shape, latent size, widths, classes, norm.</summary>
public sealed record GanSpec
{
    /// <summary>Version of the record's JSON layout.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Metadata key under which checkpoint and generator files hold the record.</summary>
    public const string MetadataKey = "spec";

    /// <summary>Square sizes the convolutional families are defined for.</summary>
    public static readonly IReadOnlyList<int> ConvolutionalSizes = [28, 32, 64];

    /// <summary>Square sizes the translation families (pix2pix, cyclegan) are defined for.</summary>
    public static readonly IReadOnlyList<int> TranslationSizes = [32, 64, 128, 256];

    /// <summary>The square image sizes <paramref name="family"/> can be trained at.</summary>
    public static IReadOnlyList<int> SupportedSizes(ModelFamily family) => family.Kind() == ModelKind.Translation ? TranslationSizes : ConvolutionalSizes;

    /// <summary>Largest latent size, width and class count a record may name.</summary>
    public const int MaxLatentDim = 1 << 14, MaxWidth = 1 << 12, MaxClasses = 1 << 16;

    /// <summary>Largest sample (C·H·W) of the MLP family.</summary>
    public const int MaxMlpSampleLength = 1 << 16;

    /// <summary>Layout version (<see cref="CurrentVersion"/>).</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>The model family.</summary>
    public required ModelFamily Family { get; init; }

    /// <summary>(C, H, W) of one generated sample.</summary>
    public required ImageShape Image { get; init; }

    /// <summary>Size of the latent vector z (nz).</summary>
    public required int LatentDim { get; init; }

    /// <summary>Feature-map width of the generator (ngf); unused by the MLP family.</summary>
    public required int GeneratorWidth { get; init; }

    /// <summary>Feature-map width of the discriminator (ndf); unused by the MLP family.</summary>
    public required int DiscriminatorWidth { get; init; }

    /// <summary>Classes the model is conditioned on; 0 for unconditional families.</summary>
    public int ClassCount { get; init; }

    /// <summary>Normalisation between the discriminator's convolutions (and, for the translation families, the generator's).</summary>
    public NormKind DiscriminatorNorm { get; init; }

    /// <summary>Channels of domain A, the translation families' input (<see cref="Image"/> is domain B); 0 for the other families.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int InputChannels { get; init; }

    /// <summary>The prior of the adversarial autoencoder's codes (<see cref="LatentDim"/> of them); Gaussian for the other families (unused).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public LatentPrior Prior { get; init; }

    /// <summary>
    /// How the class enters the conditional generator (<see cref="ClassInput.Embedding"/> for cdcgan, <see cref="ClassInput.None"/> otherwise).
    /// Records of cdcgan files written before the class embedding joined z (it multiplied z) lack it, so such files are refused by name rather than
    /// failing on their tensors' shapes.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ClassInput ClassInput { get; init; }

    /// <summary>True for the class-conditional family.</summary>
    [JsonIgnore]
    public bool IsConditional => Family == ModelFamily.Cdcgan;

    /// <summary>True for the latent-noise GAN families built from convolutions (not the MLP, the translation families or the autoencoder).</summary>
    [JsonIgnore]
    public bool IsConvolutional => Family is not (ModelFamily.Gan or ModelFamily.Aae) && Family.Kind() == ModelKind.Generative;

    /// <summary>The shape of one domain-A sample (translation families): (<see cref="InputChannels"/>, H, W).</summary>
    [JsonIgnore]
    public ImageShape InputImage => new(InputChannels, Image.Height, Image.Width);

    /// <summary>
    /// The family's canonical architecture for samples of <paramref name="image"/>: one width for G and D,
    /// batch norm in the discriminator (none for WGAN-GP and the MLP), classes only for the conditional family.
    /// </summary>
    public static GanSpec Canonical(ModelFamily family, ImageShape image, int latentDim, int width, int classCount) => new()
    {
        Family = family,
        Image = image,
        LatentDim = latentDim,
        GeneratorWidth = width,
        DiscriminatorWidth = width,
        ClassCount = family == ModelFamily.Cdcgan ? classCount : 0,
        ClassInput = family == ModelFamily.Cdcgan ? ClassInput.Embedding : ClassInput.None,
        DiscriminatorNorm = family is ModelFamily.WganGp or ModelFamily.Gan ? NormKind.None : NormKind.Batch,
    };

    /// <summary>
    /// A translation family's canonical architecture: domain A of <paramref name="inputChannels"/> channels to domain B
    /// samples of <paramref name="image"/>, one width (ngf = ndf); batch norm for pix2pix, instance norm for CycleGAN.
    /// </summary>
    public static GanSpec Translation(ModelFamily family, int inputChannels, ImageShape image, int width) => new()
    {
        Family = family,
        Image = image,
        InputChannels = inputChannels,
        LatentDim = 0,
        GeneratorWidth = width,
        DiscriminatorWidth = width,
        DiscriminatorNorm = family == ModelFamily.Cyclegan ? NormKind.Instance : NormKind.Batch,
    };

    /// <summary>The adversarial autoencoder of <paramref name="image"/> samples: codes of <paramref name="latentDim"/>, hidden layers of <paramref name="width"/>.</summary>
    public static GanSpec Autoencoder(ImageShape image, int latentDim, int width, LatentPrior prior = LatentPrior.Gaussian) => new()
    {
        Family = ModelFamily.Aae,
        Image = image,
        LatentDim = latentDim,
        GeneratorWidth = width,
        DiscriminatorWidth = width,
        DiscriminatorNorm = NormKind.None,
        Prior = prior,
    };

    /// <summary>Checks that the networks of this record can be built.</summary>
    /// <exception cref="UnsupportedImageSizeException">A convolutional family and an image shape it is not defined for.</exception>
    /// <exception cref="ArchitectureRecordException">Any other value out of range.</exception>
    public void Validate()
    {
        if (Version != CurrentVersion) Fail($"version {Version} is not supported (this build reads version {CurrentVersion})");
        if (!Enum.IsDefined(Family)) Fail($"unknown model family {(int)Family}");
        if (!Enum.IsDefined(DiscriminatorNorm)) Fail($"unknown norm {(int)DiscriminatorNorm}");
        if (Image.Channels is not (1 or 3)) Fail($"{Image.Channels} channels (1 or 3 expected)");
        if (Image.Height < 1 || Image.Width < 1) Fail($"image size {Image.Height}x{Image.Width}");
        if (!Enum.IsDefined(Prior)) Fail($"unknown prior {(int)Prior}");
        if (!Enum.IsDefined(ClassInput)) Fail($"unknown class input {(int)ClassInput}");
        if (IsConditional && ClassInput == ClassInput.None)
            Fail("a cdcgan of the earlier design (its generator multiplied z by a learned class embedding); this build's cdcgan takes the class " +
                "as an input beside z (\"class-input\":\"embedding\"), so these weights do not fit it: retrain, or sample with the GpuGan version that trained it");
        if (!IsConditional && ClassInput != ClassInput.None) Fail($"class input {ClassInput} for an unconditional model (none expected)");
        if (Family != ModelFamily.Aae && Prior != LatentPrior.Gaussian) Fail($"{Family} has no code prior ({Prior} given)");
        if (Prior == LatentPrior.Mixture10 && LatentDim < 2) Fail($"the mixture prior needs codes of at least 2 dimensions ({LatentDim} given)");
        if (Family.Kind() == ModelKind.Translation)
        {
            if (Image.Height != Image.Width || !TranslationSizes.Contains(Image.Height))
                throw new UnsupportedImageSizeException(Family, Image.Height, Image.Width, TranslationSizes);
            if (InputChannels is not (1 or 3)) Fail($"{InputChannels} input channels (1 or 3 expected)");
            if (LatentDim != 0) Fail($"latent size {LatentDim} for a translation model (0 expected: it has no latent input)");
            if (GeneratorWidth < 1 || GeneratorWidth > MaxWidth || DiscriminatorWidth < 1 || DiscriminatorWidth > MaxWidth)
                Fail($"widths {GeneratorWidth} and {DiscriminatorWidth} (1 to {MaxWidth})");
            if (DiscriminatorNorm is not (NormKind.Batch or NormKind.Instance or NormKind.None)) Fail($"{DiscriminatorNorm} norm (batch, instance or none)");
            if (ClassCount != 0) Fail($"{ClassCount} classes for an unconditional model (0 expected)");
            return;
        }
        if (InputChannels != 0) Fail($"{InputChannels} input channels for a model without an input domain (0 expected)");
        if (LatentDim < 1 || LatentDim > MaxLatentDim) Fail($"latent size {LatentDim} (1 to {MaxLatentDim})");
        if (Family == ModelFamily.Aae && (GeneratorWidth < 1 || GeneratorWidth > MaxWidth || DiscriminatorWidth < 1 || DiscriminatorWidth > MaxWidth))
            Fail($"widths {GeneratorWidth} and {DiscriminatorWidth} (1 to {MaxWidth})");
        if (IsConvolutional)
        {
            if (Image.Height != Image.Width || !ConvolutionalSizes.Contains(Image.Height))
                throw new UnsupportedImageSizeException(Family, Image.Height, Image.Width, ConvolutionalSizes);
            if (GeneratorWidth < 1 || GeneratorWidth > MaxWidth || DiscriminatorWidth < 1 || DiscriminatorWidth > MaxWidth)
                Fail($"widths {GeneratorWidth} and {DiscriminatorWidth} (1 to {MaxWidth})");
            if (DiscriminatorNorm == NormKind.Instance) Fail("instance norm is for the translation families (batch, layer or none)");
        }
        else
        {
            if ((long)Image.Channels * Image.Height * Image.Width > MaxMlpSampleLength) Fail($"{Image} samples are too large for the MLP (at most {MaxMlpSampleLength} values)");
            if (DiscriminatorNorm != NormKind.None) Fail($"the MLP discriminator has no norm layers ({DiscriminatorNorm} given)");
        }
        if (IsConditional ? ClassCount < 2 || ClassCount > MaxClasses : ClassCount != 0)
            Fail(IsConditional ? $"{ClassCount} classes (2 to {MaxClasses})" : $"{ClassCount} classes for an unconditional model (0 expected)");

        void Fail(string problem) => throw new ArchitectureRecordException(null, problem);
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
    };

    /// <summary>One-line JSON, as stored in file metadata.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses and validates a record read from <paramref name="filePath"/> (named in errors).</summary>
    /// <exception cref="ArchitectureRecordException">Not valid JSON, a missing field, or an unsupported architecture.</exception>
    public static GanSpec FromJson(string json, string? filePath)
    {
        GanSpec spec;
        try
        {
            spec = JsonSerializer.Deserialize<GanSpec>(json, Json) ?? throw new ArchitectureRecordException(filePath, "empty architecture record");
        }
        catch (JsonException e)
        {
            throw new ArchitectureRecordException(filePath, $"unreadable architecture record ({FirstLine(e.Message)})", e);
        }
        try
        {
            spec.Validate();
        }
        catch (GanException e)
        {
            throw new ArchitectureRecordException(filePath, "architecture record: " + (e is ArchitectureRecordException a ? a.Problem : e.Message), e);
        }
        return spec;
    }

    /// <summary>A short description: "dcgan 3x32x32, nz 100, width 64/64, batch norm".</summary>
    public override string ToString() => Family.Kind() == ModelKind.Translation
        ? $"{Family} {InputImage} → {Image}, width {GeneratorWidth}/{DiscriminatorWidth}, {DiscriminatorNorm} norm"
        : $"{Family} {Image}, nz {LatentDim}, width {GeneratorWidth}/{DiscriminatorWidth}, {DiscriminatorNorm} norm"
            + (IsConditional ? $", {ClassCount} classes" : "") + (Family == ModelFamily.Aae ? $", {Prior} prior" : "");

    private static string FirstLine(string s)
    {
        int i = s.IndexOf('\n');
        return i < 0 ? s : s[..i];
    }
}
