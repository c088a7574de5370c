// The generators, one class per family. Each keeps its layers in a Sequential named "main" (and
// the conditional one its label embedding in "embed"), the names PyTorch's DCGAN uses.
//   MLP:         z (N, nz)       → main → (N, C·H·W) → reshaped (N, C, H, W)
//   DCGAN:       z (N, nz, 1, 1) → main → (N, C, H, W)
//   conditional: z (N, nz, 1, 1) ⊙ E(y) (N, nz) → main → (N, C, H, W)   (multiplicative embedding)
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>A generator G: latent batch (and labels, for conditional models) → samples (N, C, H, W).</summary>
public abstract class Generator : Module
{
    /// <summary>A generator of the architecture <paramref name="spec"/>.</summary>
    protected Generator(GanSpec spec) => Spec = spec;

    /// <summary>The architecture record this generator was built from.</summary>
    public GanSpec Spec { get; }

    /// <summary>Shape of a latent batch of <paramref name="n"/>: (N, nz, 1, 1) for convolutional generators, (N, nz) for the MLP.</summary>
    public abstract Shape LatentShape(int n);

    /// <summary>A latent batch of <paramref name="n"/> drawn from the prior the generator was trained with (N(0, I) unless a family says otherwise).</summary>
    public virtual Tensor SampleLatent(int n, RandomStream stream, Device device) => Tensor.RandN(LatentShape(n), stream, device);

    /// <summary>G(z) (with <paramref name="labels"/> for conditional generators; ignored otherwise), shaped (N, C, H, W).</summary>
    public abstract Tensor Generate(Tensor z, int[]? labels);

    /// <summary>The layer stack, registered as "main".</summary>
    public abstract Sequential Main { get; }
}

/// <summary>MLP generator (<see cref="ModelFamily.Gan"/>): nz → 128 → 256 → C·H·W, Tanh.</summary>
public sealed class MlpGenerator : Generator
{
    /// <summary>Wraps <paramref name="main"/> (see <see cref="Networks.MlpGeneratorLayers"/>).</summary>
    public MlpGenerator(GanSpec spec, Sequential main) : base(spec) => Main = RegisterModule("main", main);

    /// <inheritdoc/>
    public override Sequential Main { get; }

    /// <inheritdoc/>
    public override Shape LatentShape(int n) => new(n, Spec.LatentDim);

    /// <summary>The raw output, (N, C·H·W).</summary>
    public override Tensor Forward(Tensor z) => Main.Forward(z);

    /// <inheritdoc/>
    public override Tensor Generate(Tensor z, int[]? labels) =>
        Forward(z).Reshape(z.Shape[0], Spec.Image.Channels, Spec.Image.Height, Spec.Image.Width);
}

/// <summary>DCGAN generator (dcgan, wgan, wgan-gp): ConvT stages with batch norm and ReLU, Tanh.</summary>
public sealed class DcganGenerator : Generator
{
    /// <summary>Wraps <paramref name="main"/> (see <see cref="Networks.DcganGeneratorLayers"/>).</summary>
    public DcganGenerator(GanSpec spec, Sequential main) : base(spec) => Main = RegisterModule("main", main);

    /// <inheritdoc/>
    public override Sequential Main { get; }

    /// <inheritdoc/>
    public override Shape LatentShape(int n) => new(n, Spec.LatentDim, 1, 1);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor z) => Main.Forward(z);

    /// <inheritdoc/>
    public override Tensor Generate(Tensor z, int[]? labels) =>
        Forward(z).Reshape(z.Shape[0], Spec.Image.Channels, Spec.Image.Height, Spec.Image.Width);
}

/// <summary>
/// Class-conditional DCGAN generator: G([z; E(y)]) — a learned class embedding E (classes → nz, N(0, 1) at the start) joins z
/// as extra input channels of the first transposed convolution (the cGAN's label input, as in Mirza and Osindero and the cDCGAN).
/// Each class starts from its own offset in the first layer's input, as large as z's share, so the classes are apart from step 1.
/// </summary>
public sealed class ConditionalGenerator : Generator
{
    /// <summary>Wraps <paramref name="main"/>, a DCGAN generator stack whose first layer takes 2·nz channels, and the embedding (classes → nz).</summary>
    public ConditionalGenerator(GanSpec spec, Sequential main, Embedding embedding) : base(spec)
    {
        Main = RegisterModule("main", main);
        Embed = RegisterModule("embed", embedding);
    }

    /// <inheritdoc/>
    public override Sequential Main { get; }

    /// <summary>The class embedding E: classes → nz.</summary>
    public Embedding Embed { get; }

    /// <inheritdoc/>
    public override Shape LatentShape(int n) => new(n, Spec.LatentDim, 1, 1);

    /// <summary>Not available: a conditional generator needs labels (use <see cref="Generate"/>).</summary>
    public override Tensor Forward(Tensor input) => throw new InvalidOperationException("a conditional generator needs labels: call Generate(z, labels)");

    /// <inheritdoc/>
    public override Tensor Generate(Tensor z, int[]? labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != z.Shape[0]) throw new ArgumentException($"{labels.Length} labels for a latent batch of {z.Shape[0]}", nameof(labels));
        var e = Embed.Forward(labels).Reshape(z.Shape.ToArray());              // (N, nz, 1, 1)
        var x = Main.Forward(Tensor.Concat([z, e], 1));                        // (N, 2·nz, 1, 1)
        return x.Reshape(z.Shape[0], Spec.Image.Channels, Spec.Image.Height, Spec.Image.Width);
    }
}
