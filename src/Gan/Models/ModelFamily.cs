namespace GpuGan.Gan.Models;

/// <summary>
/// The GAN models this library builds. A family fixes the networks (<see cref="Generator"/> and
/// <see cref="Discriminator"/> classes), the objective (<see cref="IGanObjective"/>) and the
/// optimiser recipe of its paper; a <see cref="GanSpec"/> adds the sizes.
/// </summary>
public enum ModelFamily
{
    /// <summary>MLP generator and discriminator (curves, flattened small images); non-saturating BCE; Adam 2e-4 β (0.5, 0.999).</summary>
    Gan,
    /// <summary>pytorch/examples DCGAN (ConvT/Conv k4 s2 p1, batch norm); non-saturating BCE; Adam 2e-4 β (0.5, 0.999).</summary>
    Dcgan,
    /// <summary>DCGAN networks as a Wasserstein critic with weights clipped to ±0.01, 5 critic steps, RMSprop 5e-5.</summary>
    Wgan,
    /// <summary>DCGAN networks, critic without batch norm, Wasserstein loss + gradient penalty (λ 10), 5 critic steps, Adam 1e-4 β (0.5, 0.9).</summary>
    WganGp,
    /// <summary>Class-conditional DCGAN: G(z ⊙ E(y)) and a projection discriminator; non-saturating BCE.</summary>
    Cdcgan,
}

/// <summary>Normalisation between the discriminator's convolutions.</summary>
public enum NormKind
{
    /// <summary>No normalisation (the WGAN-GP critic: the penalty is per sample, batch norm would mix samples).</summary>
    None,
    /// <summary>BatchNorm2d (DCGAN).</summary>
    Batch,
    /// <summary>LayerNorm over (C, H, W) of each sample (a WGAN-GP option).</summary>
    Layer,
}

/// <summary>(C, H, W) of one sample; curves are (1, 1, N).</summary>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>Floats in one sample.</summary>
    public int Length => Channels * Height * Width;

    /// <summary>"3x32x32".</summary>
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}

/// <summary>Names of the families in files (config.json, file metadata, plot titles).</summary>
public static class ModelFamilyNames
{
    /// <summary>The family's name in files: "gan", "dcgan", "wgan", "wgan-gp", "cdcgan".</summary>
    public static string FileName(this ModelFamily family) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(family.ToString());
}
