using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// The fused WGAN-GP penalty P(G) = λ/N·Σ_n (√(Σ_i G_ni² + ε) − 1)² and its backward op
// B(u, G) = u·(2λ/N)(1 − 1/s_n)·G_ni, whose rule (composed ops) is what a double backward through the
// penalty uses. Oracles: PenaltyKernels.Reference / BackwardReference; VJPs: P's is B itself in double,
// B's the header's formulas (BackwardVjpReference). Inputs: N(0, 0.5²), so per-sample norms sit around 1 and
// the penalty's kink-free region is exercised on both sides of ‖g‖ = 1; shapes with an odd sample length,
// batch 1, and rank 2. λ = 10 as in the paper, ε = 1e-12 as the objective. Tolerance: float32 sums of ≤ 75
// squares and a square root, relative ~1e-6; the gradients through 1/s_n and 1/s_n³ near s ~ 0.5 to 2.
public static partial class OpCases
{
    private const float PenaltyWeight = 10f, PenaltyEps = 1e-12f;

    private static OpCase PenaltyRow(string name, int[] shape) => new()
    {
        Name = name, InputShapes = [shape],
        Forward = x => Losses.GradientPenalty(x[0], PenaltyWeight, PenaltyEps),
        Reference = r => [PenaltyKernels.Reference(r[0], shape[0], PenaltyWeight, PenaltyEps)],
        Vjp = (r, u) => [PenaltyKernels.BackwardReference(u[0], r[0], shape[0], PenaltyWeight, PenaltyEps)],
        Inputs = (g, i, n) => Scaled(g, n, 0.5f),
        Atol = 1e-5, Rtol = 1e-5,
    };

    private static OpCase PenaltyBackwardRow(string name, int[] shape) => new()
    {
        Name = name, InputShapes = [[1], shape],
        Forward = x =>
        {
            // The saved norms come from the forward op, unrecorded.
            Tensor norms;
            using (Autograd.NoGrad()) norms = PenaltyKernels.ForwardRaw(x[1], PenaltyWeight, PenaltyEps).Norms;
            return Losses.GradientPenaltyBackward(x[0], x[1], norms, PenaltyWeight, PenaltyEps);
        },
        Reference = r => PenaltyKernels.BackwardReference(r[0][0], r[1], shape[0], PenaltyWeight, PenaltyEps),
        Vjp = (r, v) =>
        {
            var (du, dg) = PenaltyKernels.BackwardVjpReference(r[0][0], r[1], v, shape[0], PenaltyWeight, PenaltyEps);
            return [[du], dg];
        },
        Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, 0.5f, 2f) : Scaled(g, n, 0.5f),
        Atol = 1e-5, Rtol = 1e-5,
    };

    private static float[] Scaled(RandomStream g, int n, float scale)
    {
        var v = new float[n];
        g.FillNormal(v, 0f, scale);
        return v;
    }

    public static IEnumerable<OpCase> GradientPenaltyCases()
    {
        yield return PenaltyRow("GradientPenalty[3x1x5x5]", [3, 1, 5, 5]);
        yield return PenaltyRow("GradientPenalty[batch1,2x3x3]", [1, 2, 3, 3]);
        yield return PenaltyRow("GradientPenalty[5x7]", [5, 7]);
        yield return PenaltyBackwardRow("GradientPenaltyBackward[3x1x5x5]", [3, 1, 5, 5]);
        yield return PenaltyBackwardRow("GradientPenaltyBackward[batch1,7]", [1, 7]);
    }
}

// The fused Wasserstein critic loss W(s) = mean(s[R:]) − mean(s[:R]) over a joint batch (real first) and its
// backward op B(u) = u·∂W/∂s; each one's rule is the other, so gradgrad is exact. Oracles:
// WassersteinKernels.Reference / BackwardReference. Shapes: (N) and (N, 1), batch of one real sample, uneven parts.
public static partial class OpCases
{
    private static OpCase CriticRow(string name, int[] shape, int realCount) => new()
    {
        Name = name, InputShapes = [shape],
        Forward = x => Losses.WassersteinCritic(x[0], realCount, out _, out _),
        Reference = r => [WassersteinKernels.Reference(r[0], realCount).Loss],
        Vjp = (r, u) => [WassersteinKernels.BackwardReference(u[0], r[0].Length, realCount)],
        Atol = 1e-6, Rtol = 1e-5,
    };

    private static OpCase CriticBackwardRow(string name, int[] shape, int realCount) => new()
    {
        Name = name, InputShapes = [[]],
        Forward = x => Losses.WassersteinCriticBackward(x[0], new Shape(shape), realCount),
        Reference = r => WassersteinKernels.BackwardReference(r[0][0], shape.Aggregate(1, (a, b) => a * b), realCount),
        Vjp = (r, v) => [[WassersteinKernels.Reference(v, realCount).Loss]],
        Atol = 1e-6, Rtol = 1e-5,
    };

    public static IEnumerable<OpCase> WassersteinCriticCases()
    {
        yield return CriticRow("WassersteinCritic[6+6]", [12], 6);
        yield return CriticRow("WassersteinCritic[1+4,column]", [5, 1], 1);
        yield return CriticRow("WassersteinCritic[300+7]", [307], 300);
        yield return CriticBackwardRow("WassersteinCriticBackward[3+4]", [7], 3);
        yield return CriticBackwardRow("WassersteinCriticBackward[1+1,column]", [2, 1], 1);
    }
}

// The penalty's interpolates x̂ = x·α + f·(1 − α), one α per sample: linear in x and f, bilinear with α.
// Oracle: InterpolateKernels.Reference; the VJP in double (g·α, g·(1 − α), Σ_i g·(x − f) per sample).
public static partial class OpCases
{
    private static OpCase InterpolateRow(string name, int[] shape, int[] alphaShape) => new()
    {
        Name = name, InputShapes = [shape, shape, alphaShape],
        Forward = x => Losses.Interpolate(x[0], x[1], x[2]),
        Reference = r => InterpolateKernels.Reference(r[0], r[1], r[2]),
        Vjp = (r, u) =>
        {
            int l = r[0].Length / r[2].Length;
            var da = new double[r[2].Length];
            for (int i = 0; i < u.Length; i++) da[i / l] += u[i] * (r[0][i] - r[1][i]);
            return [u.Select((v, i) => v * r[2][i / l]).ToArray(), u.Select((v, i) => v * (1 - r[2][i / l])).ToArray(), da];
        },
        Inputs = (g, i, n) => i == 2 ? Ref.Uniform(g, n, 0f, 1f) : Scaled(g, n, 1f),
    };

    public static IEnumerable<OpCase> InterpolateCases()
    {
        yield return InterpolateRow("Interpolate[3x2x3x5]", [3, 2, 3, 5], [3, 1, 1, 1]);
        yield return InterpolateRow("Interpolate[batch1,9]", [1, 9], [1]);
        yield return InterpolateRow("Interpolate[4x3,flat alpha]", [4, 3], [4]);
    }
}

// The critic loss with a scalar addend (the penalty): W(s) + p, ∂/∂p = u.
public static partial class OpCases
{
    public static IEnumerable<OpCase> WassersteinCriticAddendCases()
    {
        foreach (var (name, shape, realCount) in new[] { ("WassersteinCritic[3+5,+penalty]", new[] { 8 }, 3), ("WassersteinCritic[1+1,+penalty]", new[] { 2, 1 }, 1) })
        {
            yield return new OpCase
            {
                Name = name, InputShapes = [shape, []],
                Forward = x => Losses.WassersteinCritic(x[0], realCount, out _, out _, x[1]),
                Reference = r => [WassersteinKernels.Reference(r[0], realCount).Loss + r[1][0]],
                Vjp = (r, u) => [WassersteinKernels.BackwardReference(u[0], r[0].Length, realCount), [u[0]]],
                Atol = 1e-6, Rtol = 1e-5,
            };
        }
    }
}
