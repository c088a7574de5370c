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
/// Class-conditional DCGAN generator: G([z; onehot(y)]) — the label's one-hot code joins z as extra input channels
/// of the first transposed convolution (Mirza and Osindero's cGAN, as in the cDCGAN), so each class has its own
/// first-layer weights: a class-dependent bias map ahead of the first batch norm.
/// </summary>
public sealed class ConditionalGenerator : Generator
{
    /// <summary>Wraps <paramref name="main"/>, a DCGAN generator stack whose first layer takes nz + classes channels.</summary>
    public ConditionalGenerator(GanSpec spec, Sequential main) : base(spec) => Main = RegisterModule("main", main);

    /// <inheritdoc/>
    public override Sequential Main { get; }

    /// <inheritdoc/>
    public override Shape LatentShape(int n) => new(n, Spec.LatentDim, 1, 1);

    /// <summary>Not available: a conditional generator needs labels (use <see cref="Generate"/>).</summary>
    public override Tensor Forward(Tensor input) => throw new InvalidOperationException("a conditional generator needs labels: call Generate(z, labels)");

    /// <summary>The one-hot codes of <paramref name="labels"/>, (N, classes, 1, 1), on <paramref name="device"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A label outside [0, classes).</exception>
    public Tensor OneHot(int[] labels, Device device)
    {
        ArgumentNullException.ThrowIfNull(labels);
        int k = Spec.ClassCount;
        var values = new float[labels.Length * k];
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)k) throw new ArgumentOutOfRangeException(nameof(labels), $"label {labels[i]} at index {i} is outside [0, {k})");
            values[i * k + labels[i]] = 1f;
        }
        return Tensor.FromArray(values, new Shape(labels.Length, k, 1, 1), device);
    }

    /// <inheritdoc/>
    public override Tensor Generate(Tensor z, int[]? labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != z.Shape[0]) throw new ArgumentException($"{labels.Length} labels for a latent batch of {z.Shape[0]}", nameof(labels));
        var x = Main.Forward(Tensor.Concat([z, OneHot(labels, z.Device)], 1));   // (N, nz + classes, 1, 1)
        return x.Reshape(z.Shape[0], Spec.Image.Channels, Spec.Image.Height, Spec.Image.Width);
    }
}
