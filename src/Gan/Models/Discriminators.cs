// The discriminators (critics, for the Wasserstein families), one class per family. Each returns
// one raw score per sample, shape (N): a logit for BCE objectives, a critic value otherwise.
//   MLP:        x → flatten → main (Linear stack) → (N)
//   DCGAN:      x → main (Conv stages … final conv to 1×1) → (N)
//   projection: φ = main(x) (N, F, h, w); D(x, y) = head(φ) + ⟨E(y), Σ_hw φ⟩   (Miyato & Koyama 2018)
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>A discriminator (or critic) D: samples (N, C, H, W) (and labels, for conditional models) → scores (N).</summary>
public abstract class Discriminator : Module
{
    /// <summary>A discriminator of the architecture <paramref name="spec"/>.</summary>
    protected Discriminator(GanSpec spec) => Spec = spec;

    /// <summary>The architecture record this discriminator was built from.</summary>
    public GanSpec Spec { get; }

    /// <summary>D's raw output per sample, shape (N); <paramref name="labels"/> are used by conditional discriminators only.</summary>
    public abstract Tensor Score(Tensor x, int[]? labels);
}

/// <summary>MLP discriminator (<see cref="ModelFamily.Gan"/>): C·H·W → 256 → 128 → 1.</summary>
public sealed class MlpDiscriminator : Discriminator
{
    /// <summary>Wraps <paramref name="main"/> (see <see cref="Networks.MlpDiscriminatorLayers"/>).</summary>
    public MlpDiscriminator(GanSpec spec, Sequential main) : base(spec) => Main = RegisterModule("main", main);

    /// <summary>The layer stack, registered as "main".</summary>
    public Sequential Main { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Main.Forward(input);

    /// <inheritdoc/>
    public override Tensor Score(Tensor x, int[]? labels) => Forward(x.Reshape(x.Shape[0], -1)).Reshape(x.Shape[0]);
}

/// <summary>DCGAN discriminator (dcgan, wgan, wgan-gp): Conv stages with LeakyReLU and the spec's norm, a final conv to one score.</summary>
public sealed class DcganDiscriminator : Discriminator
{
    /// <summary>Wraps <paramref name="main"/>: the body and the final conv of <see cref="Networks.DcganDiscriminatorLayers"/>, in one stack.</summary>
    public DcganDiscriminator(GanSpec spec, Sequential main) : base(spec) => Main = RegisterModule("main", main);

    /// <summary>The layer stack, registered as "main".</summary>
    public Sequential Main { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Main.Forward(input);

    /// <inheritdoc/>
    public override Tensor Score(Tensor x, int[]? labels) => Forward(x).Reshape(x.Shape[0]);
}

/// <summary>
/// Projection discriminator (cdcgan): D(x, y) = head(φ(x)) + ⟨E(y), Σ_hw φ(x)⟩, φ the DCGAN body.
/// The label enters as an inner product with pooled features rather than as an input channel.
/// </summary>
public sealed class ProjectionDiscriminator : Discriminator
{
    /// <summary>Wraps the body φ, the head (the final conv to one logit) and the label embedding (classes → F).</summary>
    public ProjectionDiscriminator(GanSpec spec, Sequential body, Module head, Embedding embedding) : base(spec)
    {
        Main = RegisterModule("main", body);
        Head = RegisterModule("head", head);
        Embed = RegisterModule("embed", embedding);
    }

    /// <summary>The feature body φ, registered as "main".</summary>
    public Sequential Main { get; }

    /// <summary>The unconditional head: φ → one logit.</summary>
    public Module Head { get; }

    /// <summary>The label embedding E: classes → F (the body's top width).</summary>
    public Embedding Embed { get; }

    /// <summary>Not available: a projection discriminator needs labels (use <see cref="Score"/>).</summary>
    public override Tensor Forward(Tensor input) => throw new InvalidOperationException("a projection discriminator needs labels: call Score(x, labels)");

    /// <inheritdoc/>
    public override Tensor Score(Tensor x, int[]? labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var e = Embed.Forward(labels);                                   // (N, F)
        var features = Main.Forward(x);                                  // (N, F, h, w)
        var logit = Head.Forward(features).Reshape(x.Shape[0]);          // (N)
        var pooled = features.Sum([2, 3]);                               // (N, F)
        return logit.Add(pooled.Mul(e).Sum([1]));                        // (N)
    }
}
