using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Elementwise rows; each row's oracle is its op struct's float64 reference (ElementwiseKernels.
// UnaryReference / BinaryReference run TOp.Reference with NumPy broadcasting), and its VJP the op
// struct's float64 derivative (UnaryVjpReference / BinaryVjpReference, summed back over broadcasting).
// The fused activation backward ops (LeakyBackward, TanhBackward, SigmoidBackward) have rows of their
// own: WGAN-GP's penalty gradient flows through their ∂/∂g rules. Forward tolerances: the SIMD and ILGPU kernels compute in float32, so a
// correctly rounded result is within 6e-8 relative; exp/log/tanh use vectorised approximations
// accurate to a few ulp, hence rtol 2e-6 (atol 1e-6 for tanh's 1 − 2/(e^2x + 1) near 0).
public static partial class OpCases
{
    private static readonly (string Name, int[] A, int[] B)[] BroadcastPatterns =
    [
        ("same", [3, 5, 7], [3, 5, 7]),
        ("scalar", [2, 3, 5], []),
        ("per-channel", [2, 3, 4, 5], [1, 3, 1, 1]),
        ("per-sample", [3, 2, 3, 3], [3, 1, 1, 1]),
        ("rank-mix", [3, 4, 9], [9]),
        ("both-sides", [3, 1, 5], [1, 4, 1]),
        ("batch1", [1, 5, 3, 3], [1, 5, 1, 1]),
    ];

    private static double[] Bin<TOp>(double[][] r, int[] a, int[] b, double alpha = 0) where TOp : IBinaryOp
        => ElementwiseKernels.BinaryReference<TOp>(r[0], a, r[1], b, alpha);

    private static double[]?[] BinVjp<TOp>(double[][] r, double[] u, int[] a, int[] b, double alpha = 0) where TOp : IDifferentiableBinaryOp
    {
        var (ga, gb) = ElementwiseKernels.BinaryVjpReference<TOp>(r[0], a, r[1], b, u, alpha);
        return [ga, gb];
    }

    public static IEnumerable<OpCase> BinaryCases()
    {
        foreach (var (p, a, b) in BroadcastPatterns)
        {
            yield return new OpCase
            {
                Name = $"Add[{p}]", InputShapes = [a, b], Forward = x => x[0].Add(x[1]), Reference = r => Bin<AddOp>(r, a, b), Vjp = (r, u) => BinVjp<AddOp>(r, u, a, b),
            };
            yield return new OpCase
            {
                Name = $"Sub[{p}]", InputShapes = [a, b], Forward = x => x[0].Sub(x[1]), Reference = r => Bin<SubOp>(r, a, b), Vjp = (r, u) => BinVjp<SubOp>(r, u, a, b),
            };
            yield return new OpCase
            {
                Name = $"Mul[{p}]", InputShapes = [a, b], Forward = x => x[0].Mul(x[1]), Reference = r => Bin<MulOp>(r, a, b), Vjp = (r, u) => BinVjp<MulOp>(r, u, a, b),
            };
            yield return new OpCase
            {
                Name = $"Div[{p}]", InputShapes = [a, b], Forward = x => x[0].Div(x[1]),
                Reference = r => Bin<DivOp>(r, a, b), Vjp = (r, u) => BinVjp<DivOp>(r, u, a, b),
                Inputs = (g, i, n) => i == 1 ? Ref.AwayFromZero(g, n, 0.5f, 2f) : Ref.AwayFromZero(g, n),
                Rtol = 2e-6,
            };
        }
        yield return new OpCase
        {
            Name = "Maximum[per-channel]", InputShapes = [[2, 3, 4, 5], [1, 3, 1, 1]], Forward = x => x[0].Maximum(x[1]),
            Reference = r => Bin<MaximumOp>(r, [2, 3, 4, 5], [1, 3, 1, 1]),
            Vjp = (r, u) => BinVjp<MaximumOp>(r, u, [2, 3, 4, 5], [1, 3, 1, 1]),
            // Inputs on a 0.1 grid offset from each other: no pair is within 0.05, far beyond any difference step.
            Inputs = (g, i, n) => Ref.Uniform(g, n, -2f, 2f).Select(v => MathF.Round(v * 10f) / 10f + (i == 0 ? 0.05f : 0f)).ToArray(),
        };
        yield return new OpCase
        {
            Name = "Where[mask]", InputShapes = [[3, 4, 5], [3, 4, 5], [3, 4, 5]],
            Forward = x => Tensor.Where(x[0].GreaterMask(0f), x[1], x[2]),
            Reference = r => r[0].Select((m, i) => m > 0 ? r[1][i] : r[2][i]).ToArray(),
            Vjp = (r, u) => [null, u.Select((v, i) => r[0][i] > 0 ? v : 0).ToArray(), u.Select((v, i) => r[0][i] > 0 ? 0 : v).ToArray()],
            Differentiable = [false, true, true],
        };
        yield return new OpCase
        {
            Name = "GreaterEqualMask", InputShapes = [[4, 7], [7]], Forward = x => x[0].GreaterEqualMask(x[1]),
            Reference = r => Bin<GreaterEqualMaskOp>(r, [4, 7], [7]),
            Differentiable = [false, false], SupportsGradGrad = false,
        };
    }

    /// <summary>The fused activation backward ops (g, y or x): linear in g, so their ∂/∂g rule is what carries a penalty gradient.</summary>
    public static IEnumerable<OpCase> ActivationBackwardCases()
    {
        int[] s = [2, 3, 5, 7];
        OpCase Row<TOp>(string name, Func<Tensor, Tensor, Tensor> f, Func<RandomStream, int, float[]> second, int[]? b = null, double alpha = 0)
            where TOp : IDifferentiableBinaryOp
        {
            int[] sb = b ?? s;
            return new OpCase
            {
                Name = name, InputShapes = [s, sb], Forward = x => f(x[0], x[1]),
                Reference = r => Bin<TOp>(r, s, sb, alpha), Vjp = (r, u) => BinVjp<TOp>(r, u, s, sb, alpha),
                Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, -2f, 2f) : second(g, n),
                Atol = 1e-6, Rtol = 2e-6,
            };
        }
        // y = tanh x ∈ (−1, 1); y = σ(x) ∈ (0, 1); x of LeakyBackward ≥ 0.2 away from the kink at 0.
        yield return Row<TanhBackwardOp>("TanhBackward[same]", Tensor.TanhBackward, (g, n) => Ref.Uniform(g, n, -0.99f, 0.99f));
        yield return Row<TanhBackwardOp>("TanhBackward[per-channel y]", Tensor.TanhBackward, (g, n) => Ref.Uniform(g, n, -0.99f, 0.99f), [1, 3, 1, 1]);
        yield return Row<SigmoidBackwardOp>("SigmoidBackward[same]", Tensor.SigmoidBackward, (g, n) => Ref.Uniform(g, n, 0.01f, 0.99f));
        yield return Row<LeakyBackwardOp>("LeakyBackward[0.2]", (g, x) => Tensor.LeakyBackward(g, x, 0.2f), (g, n) => Ref.AwayFromZero(g, n), alpha: (double)0.2f);
        yield return Row<LeakyBackwardOp>("LeakyBackward[relu]", (g, x) => Tensor.LeakyBackward(g, x, 0f), (g, n) => Ref.AwayFromZero(g, n));
    }

    public static IEnumerable<OpCase> UnaryCases()
    {
        int[] s = [2, 3, 5, 7];
        OpCase U<TOp>(string name, Func<Tensor, Tensor> f, double alpha = 0, double beta = 0, Func<RandomStream, int, float[]>? inputs = null,
            double atol = 1e-6, double rtol = 2e-6) where TOp : IDifferentiableUnaryOp => new()
        {
            Name = name, InputShapes = [s], Forward = x => f(x[0]), Reference = x => ElementwiseKernels.UnaryReference<TOp>(x[0], alpha, beta),
            Vjp = (x, u) => [ElementwiseKernels.UnaryVjpReference<TOp>(x[0], u, alpha, beta)],
            Inputs = inputs is null ? null : (g, _, n) => inputs(g, n), Atol = atol, Rtol = rtol,
        };
        yield return U<NegOp>("Neg", x => x.Neg());
        yield return U<AffineOp>("Affine", x => x.Affine(-1.5f, 0.25f), -1.5, 0.25);
        yield return U<ExpOp>("Exp", x => x.Exp());
        yield return U<LogOp>("Log", x => x.Log(), inputs: (g, n) => Ref.Uniform(g, n, 0.3f, 3f));
        yield return U<SqrtOp>("Sqrt", x => x.Sqrt(), inputs: (g, n) => Ref.Uniform(g, n, 0.3f, 3f));
        yield return U<SquareOp>("Square", x => x.Square());
        yield return U<PowOp>("Pow[1.5]", x => x.Pow(1.5f), 1.5, inputs: (g, n) => Ref.Uniform(g, n, 0.3f, 3f));
        yield return U<PowOp>("Pow[-2]", x => x.Pow(-2f), -2, inputs: (g, n) => Ref.Uniform(g, n, 0.5f, 2f));
        yield return U<AbsOp>("Abs", x => x.Abs(), inputs: (g, n) => Ref.AwayFromZero(g, n));
        yield return U<ClampOp>("Clamp", x => x.Clamp(-0.5f, 0.75f), -0.5, 0.75,
            (g, n) => Ref.AwayFromZero(g, n).Select(v => MathF.Abs(v + 0.5f) < 0.05f || MathF.Abs(v - 0.75f) < 0.05f ? v + 0.2f : v).ToArray());
        yield return U<ReluOp>("Relu", x => x.Relu(), inputs: (g, n) => Ref.AwayFromZero(g, n));
        yield return U<LeakyReluOp>("LeakyRelu[0.2]", x => x.LeakyRelu(0.2f), (double)0.2f, inputs: (g, n) => Ref.AwayFromZero(g, n));
        yield return U<TanhOp>("Tanh", x => x.Tanh());
        yield return U<SigmoidOp>("Sigmoid", x => x.Sigmoid());
        yield return U<TanhOp>("Tanh[large]", x => x.Tanh(), inputs: (g, n) => Ref.Uniform(g, n, -30f, 30f));
        yield return new OpCase
        {
            Name = "GreaterMask", InputShapes = [s], Forward = x => x[0].GreaterMask(0.1f),
            Reference = x => ElementwiseKernels.UnaryReference<GreaterMaskOp>(x[0], (double)0.1f),
            Differentiable = [false], SupportsGradGrad = false,
        };
    }
}
