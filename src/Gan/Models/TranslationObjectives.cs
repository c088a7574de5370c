// Objectives of the image-to-image families (junyanz/pytorch-CycleGAN-and-pix2pix: GANLoss, and the
// models' backward_D / backward_G).
//   Adversarial terms over D's patch logits s (any shape), as mean losses:
//     BCE with logits (pix2pix, gan_mode "vanilla"):   real(s) = BCE(s, 1),  fake(s) = BCE(s, 0)
//     least squares (CycleGAN, gan_mode "lsgan"):      real(s) = mean (s − 1)²,  fake(s) = mean s²
//   pix2pix (Isola et al. 2017):
//     D:  ½·[fake(D(A, G(A))) + real(D(A, B))]        G:  real(D(A, G(A))) + λ·|G(A) − B|₁,  λ = 100
//   CycleGAN (Zhu et al. 2017), G_A: A → B judged by D_A, G_B: B → A judged by D_B:
//     G:  real(D_A(G_A(A))) + real(D_B(G_B(B))) + λ_c·(|G_B(G_A(A)) − A|₁ + |G_A(G_B(B)) − B|₁)
//         + λ_c·λ_i·(|G_A(B) − B|₁ + |G_B(A) − A|₁),   λ_c = 10, λ_i = 0.5
//     D_A:  ½·[real(D_A(B)) + fake(D_A(pool_B))],   D_B:  ½·[real(D_B(A)) + fake(D_B(pool_A))]
// A new loss is a new IAdversarialLoss or objective record.
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>The adversarial term of an image-to-image objective, over D's logits.</summary>
public interface IAdversarialLoss
{
    /// <summary>The loss of scores that should be judged real.</summary>
    Tensor Real(Tensor scores);

    /// <summary>The loss of scores that should be judged fake.</summary>
    Tensor Fake(Tensor scores);

    /// <summary>True when the mean of σ(scores) is D's probability of "real" (BCE), false for a least-squares score.</summary>
    bool ScoresAreLogits { get; }
}

/// <summary>BCE with logits against 1 (real) and 0 (fake): the reference's "vanilla" GAN loss, on logits.</summary>
public sealed class BceAdversarialLoss : IAdversarialLoss
{
    /// <inheritdoc/>
    public Tensor Real(Tensor scores) => Losses.BceWithLogits(scores, 1f);

    /// <inheritdoc/>
    public Tensor Fake(Tensor scores) => Losses.BceWithLogits(scores, 0f);

    /// <inheritdoc/>
    public bool ScoresAreLogits => true;
}

/// <summary>Least squares against 1 (real) and 0 (fake): the reference's "lsgan" loss (Mao et al. 2017).</summary>
public sealed class LeastSquaresAdversarialLoss : IAdversarialLoss
{
    /// <inheritdoc/>
    public Tensor Real(Tensor scores) => Losses.Mse(scores, 1f);

    /// <inheritdoc/>
    public Tensor Fake(Tensor scores) => Losses.Mse(scores, 0f);

    /// <inheritdoc/>
    public bool ScoresAreLogits => false;
}

/// <summary>pix2pix: the conditional GAN term plus λ·L1 to the target.</summary>
/// <param name="Adversarial">The GAN term (BCE with logits in the paper); null for the paper's "L1 alone" baseline (no discriminator is trained).</param>
/// <param name="L1Weight">λ, 100 in the paper.</param>
public sealed record Pix2PixObjective(IAdversarialLoss? Adversarial, float L1Weight = Pix2PixObjective.PaperL1Weight)
{
    /// <summary>The paper's λ.</summary>
    public const float PaperL1Weight = 100f;

    /// <summary>The paper's objective: BCE with logits + 100·L1.</summary>
    public static Pix2PixObjective Paper() => new(new BceAdversarialLoss());

    /// <summary>The paper's baseline: the U-Net trained with L1 alone (blurry where the target is uncertain).</summary>
    public static Pix2PixObjective L1Only() => new(Adversarial: null);

    /// <summary>D's loss: ½·[fake(D(A, G(A))) + real(D(A, B))].</summary>
    public Tensor DiscriminatorLoss(Tensor realScores, Tensor fakeScores)
    {
        var adversarial = Adversarial ?? throw new InvalidOperationException("the L1-only objective trains no discriminator");
        return adversarial.Fake(fakeScores).Add(adversarial.Real(realScores)).MulScalar(0.5f);
    }

    /// <summary>G's loss and its L1 term: real(D(A, G(A))) + λ·|G(A) − B|₁ (λ·|G(A) − B|₁ alone without an adversarial term).</summary>
    public (Tensor Total, Tensor L1) GeneratorLoss(Tensor? fakeScores, Tensor fake, Tensor target)
    {
        var l1 = Losses.L1(fake, target);
        var weighted = l1.MulScalar(L1Weight);
        if (Adversarial is null) return (weighted, l1);
        return (Adversarial.Real(fakeScores ?? throw new ArgumentNullException(nameof(fakeScores))).Add(weighted), l1);
    }
}

/// <summary>CycleGAN: two GAN terms, cycle consistency λ_c and identity λ_c·λ_i.</summary>
/// <param name="Adversarial">The GAN term (least squares in the paper).</param>
/// <param name="CycleWeight">λ_c, 10 in the paper.</param>
/// <param name="IdentityWeight">λ_i as a fraction of λ_c, 0.5 in the reference.</param>
public sealed record CycleGanObjective(IAdversarialLoss Adversarial, float CycleWeight = CycleGanObjective.PaperCycleWeight,
    float IdentityWeight = CycleGanObjective.PaperIdentityWeight)
{
    /// <summary>The paper's λ_c.</summary>
    public const float PaperCycleWeight = 10f;

    /// <summary>The reference's λ_identity.</summary>
    public const float PaperIdentityWeight = 0.5f;

    /// <summary>The paper's objective: least squares, λ_c 10, identity 0.5.</summary>
    public static CycleGanObjective Paper() => new(new LeastSquaresAdversarialLoss());

    /// <summary>One discriminator's loss: ½·[real(D(real)) + fake(D(fake))].</summary>
    public Tensor DiscriminatorLoss(Tensor realScores, Tensor fakeScores) => Adversarial.Real(realScores).Add(Adversarial.Fake(fakeScores)).MulScalar(0.5f);
}
