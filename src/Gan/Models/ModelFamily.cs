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
    /// <summary>pix2pix (Isola et al. 2017): U-Net A → B on paired data, PatchGAN on (A, B); BCE with logits + 100·L1; Adam 2e-4 β (0.5, 0.999).</summary>
    Pix2pix,
    /// <summary>CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs, least squares + 10·cycle + 5·identity, a pool of 50 fakes.</summary>
    Cyclegan,
    /// <summary>Adversarial autoencoder (Makhzani et al. 2016): MLP encoder/decoder, a discriminator on codes against the prior.</summary>
    Aae,
}

/// <summary>The kind of training a family needs: latent-noise GANs, image-to-image translation, or an autoencoder.</summary>
public enum ModelKind
{
    /// <summary>G(z) from latent noise against real samples (gan, dcgan, wgan, wgan-gp, cdcgan).</summary>
    Generative,
    /// <summary>Image-to-image translation between domains A and B (pix2pix: paired, cyclegan: unpaired).</summary>
    Translation,
    /// <summary>An autoencoder whose codes are matched to a prior (aae).</summary>
    Autoencoder,
}

/// <summary>The prior an adversarial autoencoder pushes its codes towards.</summary>
public enum LatentPrior
{
    /// <summary>N(0, I).</summary>
    Gaussian,
    /// <summary>A mixture of 10 Gaussians, equally likely, means on a circle of radius 2 in the first two code dimensions, std 0.5 there, N(0, 1) in the others.</summary>
    Mixture10,
}

/// <summary>How the class enters a conditional generator (the architecture record's "class-input").</summary>
public enum ClassInput
{
    /// <summary>No class input: the unconditional families, and (read from a file) a cdcgan of the earlier design, which multiplied z by a learned class embedding and is refused.</summary>
    None,
    /// <summary>A learned class embedding (classes → nz) joins z as extra input channels of the first layer.</summary>
    Embedding,
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
    /// <summary>InstanceNorm2d without affine parameters (CycleGAN).</summary>
    Instance,
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
    /// <summary>The family's name in files: "gan", "dcgan", "wgan", "wgan-gp", "cdcgan", "pix2pix", "cyclegan", "aae".</summary>
    public static string FileName(this ModelFamily family) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(family.ToString());

    /// <summary>Which kind of training the family needs.</summary>
    public static ModelKind Kind(this ModelFamily family) => family switch
    {
        ModelFamily.Pix2pix or ModelFamily.Cyclegan => ModelKind.Translation,
        ModelFamily.Aae => ModelKind.Autoencoder,
        _ => ModelKind.Generative,
    };
}
