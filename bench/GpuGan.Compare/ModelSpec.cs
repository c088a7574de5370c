namespace GpuGan.Compare;

internal enum Act { None, Relu, Leaky, Tanh }

/// <summary>One conv (D) or transposed conv (G) stage: no bias, optional BatchNorm, then the activation.</summary>
internal sealed record Stage(int In, int Out, int Kernel, int Stride, int Padding, bool Norm, Act Act);

/// <summary>
/// One benchmarked model. Kind and sizes are what GanModel.Create takes; the stages mirror
/// src/Gan/Models/Networks.cs so the TorchSharp side builds the identical architecture.
/// </summary>
internal sealed record ModelSpec(string Id, string Title, string Kind, int Channels, int Size, int Batch, int LatentDim,
    Stage[] Generator, Stage[] Discriminator)
{
    public const int Nz = 100;
    public const int Width = 64;

    public static readonly string[] Ids = ["dcgan64", "dcgan28", "wgangp28", "pix2pix64", "cyclegan64"];

    /// <summary>True for the image-to-image ids: Channels is each domain's, a batch is (Batch, 2·Channels, Size, Size) of stacked A and B, no stages.</summary>
    public bool IsTranslation => Kind is "pix2pix" or "cyclegan";

    public static ModelSpec Get(string id) => id switch
    {
        // Canonical DCGAN: G nz→512→256→128→64→nc, D nc→64→128→256→512→1.
        "dcgan64" => new("dcgan64", "DCGAN 64×64×3, batch 64", "dcgan", 3, 64, 64, Nz,
            [
                new(Nz, 8 * Width, 4, 1, 0, true, Act.Relu),
                new(8 * Width, 4 * Width, 4, 2, 1, true, Act.Relu),
                new(4 * Width, 2 * Width, 4, 2, 1, true, Act.Relu),
                new(2 * Width, Width, 4, 2, 1, true, Act.Relu),
                new(Width, 3, 4, 2, 1, false, Act.Tanh),
            ],
            [
                new(3, Width, 4, 2, 1, false, Act.Leaky),
                new(Width, 2 * Width, 4, 2, 1, true, Act.Leaky),
                new(2 * Width, 4 * Width, 4, 2, 1, true, Act.Leaky),
                new(4 * Width, 8 * Width, 4, 2, 1, true, Act.Leaky),
                new(8 * Width, 1, 4, 1, 0, false, Act.None),
            ]),
        // 28×28: G ConvT(nz→256, k7) → 7×7, then two k4 s2 p1 up to 28×28.
        "dcgan28" => Small("dcgan28", "DCGAN 28×28×1, batch 64", "dcgan", criticNorm: true),
        "wgangp28" => Small("wgangp28", "WGAN-GP 28×28×1, batch 64 (5 critic steps + 1 G step)", "wgan-gp", criticNorm: false),
        // The image-to-image families at 64×64×3, ngf = ndf = 64, batch 1 as the references train them;
        // the networks are the ones our code picks for 64 pixels (TranslationNetworks.UnetDowns / PatchLayers / ResnetBlocks).
        "pix2pix64" => new("pix2pix64", "pix2pix 64×64×3 (U-Net 6 levels, PatchGAN 1 layer), batch 1", "pix2pix", 3, 64, 1, 0, [], []),
        "cyclegan64" => new("cyclegan64", "CycleGAN 64×64×3 (ResNet 6 blocks, PatchGAN 1 layer), batch 1", "cyclegan", 3, 64, 1, 0, [], []),
        _ => throw new ArgumentException($"unknown model '{id}' (known: {string.Join(", ", Ids)})"),
    };

    private static ModelSpec Small(string id, string title, string kind, bool criticNorm) => new(id, title, kind, 1, 28, 64, Nz,
        [
            new(Nz, 4 * Width, 7, 1, 0, true, Act.Relu),
            new(4 * Width, 2 * Width, 4, 2, 1, true, Act.Relu),
            new(2 * Width, 1, 4, 2, 1, false, Act.Tanh),
        ],
        [
            new(1, Width, 4, 2, 1, false, Act.Leaky),
            new(Width, 2 * Width, 4, 2, 1, criticNorm, Act.Leaky),
            new(2 * Width, 1, 7, 1, 0, false, Act.None),
        ]);
}

/// <summary>One engine's training iteration on one model.</summary>
internal interface IEngine : IDisposable
{
    string Name { get; }
    void Step();
}
