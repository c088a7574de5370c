using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Loss rows: a scalar (the mean) per row. The oracles: LossKernels.Reference for the fused BCE
// kernels; Mse and L1 are composed ops, so theirs is the composition of the elementwise references.
// The float32 kernels use vectorised exp/log accurate to a few ulps and the mean sums in double
// across runs, hence atol 1e-6, rtol 1e-5. VJPs: LossKernels.ReferenceDerivative for the fused kernels,
// the elementwise derivatives (2(x − t), sign(x − t)) for the composed ones, each divided by n (the mean).
public static partial class OpCases
{
    public static IEnumerable<OpCase> LossCases()
    {
        static double Mean(IEnumerable<double> v) => v.Average();
        static double BceLogit(double x, double t) => LossKernels.Reference(LossOp.BceWithLogits, x, t);
        static double Bce(double p, double t) => LossKernels.Reference(LossOp.Bce, p, t);
        // (x − t) with t a tensor of x's shape or a scalar label, then f elementwise: the composed ops' references.
        static double[] Diff(double[] x, double[] t) => ElementwiseKernels.BinaryReference<SubOp>(x, [x.Length], t, [t.Length]);
        static double[] Sq(double[] d) => ElementwiseKernels.UnaryReference<SquareOp>(d);
        static double[] Abs(double[] d) => ElementwiseKernels.UnaryReference<AbsOp>(d);
        // ∂(mean of ℓ(x_i, t_i))/∂(x, t) · u for a scalar upstream u; t of length 1 is a scalar label (no gradient).
        static double[]?[] LossVjp(LossOp op, double[] x, double[]? t, double label, double u)
        {
            int n = x.Length;
            var gx = new double[n];
            var gt = t is null ? null : new double[n];
            for (int i = 0; i < n; i++)
            {
                var (dx, dt) = LossKernels.ReferenceDerivative(op, x[i], t?[i] ?? label);
                gx[i] = u * dx / n;
                if (gt is not null) gt[i] = u * dt / n;
            }
            return t is null ? [gx] : [gx, gt];
        }
        // Composed losses f(x − t): ∂/∂x = f'(x − t)·u/n, ∂/∂t = −∂/∂x.
        static double[]?[] ComposedVjp(Func<double, double> df, double[] x, double[]? t, double label, double u)
        {
            int n = x.Length;
            var gx = x.Select((v, i) => df(v - (t?[i] ?? label)) * u / n).ToArray();
            return t is null ? [gx] : [gx, gx.Select(v => -v).ToArray()];
        }

        yield return new OpCase
        {
            Name = "BceWithLogits[soft targets]", InputShapes = [[3, 7], [3, 7]],
            Forward = x => Losses.BceWithLogits(x[0], x[1]),
            Reference = r => [Mean(r[0].Select((x, i) => BceLogit(x, r[1][i])))],
            Vjp = (r, u) => LossVjp(LossOp.BceWithLogits, r[0], r[1], 0, u[0]),
            Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, -4f, 4f) : Ref.Uniform(g, n, 0f, 1f),
            Atol = 1e-6, Rtol = 1e-5,
        };
        yield return new OpCase
        {
            Name = "BceWithLogits[label 1]", InputShapes = [[5, 1]],
            Forward = x => Losses.BceWithLogits(x[0], 1f),
            Reference = r => [Mean(r[0].Select(x => BceLogit(x, 1)))],
            Vjp = (r, u) => LossVjp(LossOp.BceWithLogits, r[0], null, 1, u[0]),
            Inputs = (g, i, n) => Ref.Uniform(g, n, -4f, 4f),
            Atol = 1e-6, Rtol = 1e-5,
        };
        yield return new OpCase
        {
            Name = "BceWithLogits[label 0,batch1]", InputShapes = [[1, 1]],
            Forward = x => Losses.BceWithLogits(x[0], 0f),
            Reference = r => [BceLogit(r[0][0], 0)],
            Vjp = (r, u) => LossVjp(LossOp.BceWithLogits, r[0], null, 0, u[0]),
            Atol = 1e-6, Rtol = 1e-5,
        };
        yield return new OpCase
        {
            Name = "Bce[soft targets]", InputShapes = [[3, 5], [3, 5]],
            Forward = x => Losses.Bce(x[0], x[1]),
            Reference = r => [Mean(r[0].Select((p, i) => Bce(p, r[1][i])))],
            Vjp = (r, u) => LossVjp(LossOp.Bce, r[0], r[1], 0, u[0]),
            Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, 0.1f, 0.9f) : Ref.Uniform(g, n, 0f, 1f),
            Atol = 1e-6, Rtol = 1e-5,
        };
        yield return new OpCase
        {
            Name = "Bce[label 0]", InputShapes = [[7, 1]],
            Forward = x => Losses.Bce(x[0], 0f),
            Reference = r => [Mean(r[0].Select(p => Bce(p, 0)))],
            Vjp = (r, u) => LossVjp(LossOp.Bce, r[0], null, 0, u[0]),
            Inputs = (g, i, n) => Ref.Uniform(g, n, 0.1f, 0.9f),
            Atol = 1e-6, Rtol = 1e-5,
        };
        yield return new OpCase
        {
            Name = "Mse", InputShapes = [[3, 5, 3], [3, 5, 3]],
            Forward = x => Losses.Mse(x[0], x[1]),
            Reference = r => [Mean(Sq(Diff(r[0], r[1])))],
            Vjp = (r, u) => ComposedVjp(d => 2 * d, r[0], r[1], 0, u[0]),
            Atol = 1e-6, Rtol = 1e-5,
        };
        yield return new OpCase
        {
            Name = "Mse[label]", InputShapes = [[4, 3]],
            Forward = x => Losses.Mse(x[0], 0.5f),
            Reference = r => [Mean(Sq(Diff(r[0], [0.5])))],
            Vjp = (r, u) => ComposedVjp(d => 2 * d, r[0], null, 0.5, u[0]),
            Atol = 1e-6, Rtol = 1e-5,
        };
        yield return new OpCase
        {
            // x − t stays ≥ 0.1 away from the kink at 0 (larger than the gradgrad step).
            Name = "L1", InputShapes = [[3, 5, 3], [3, 5, 3]],
            Forward = x => Losses.L1(x[0], x[1]),
            Reference = r => [Mean(Abs(Diff(r[0], r[1])))],
            Vjp = (r, u) => ComposedVjp(d => Math.Sign(d), r[0], r[1], 0, u[0]),
            Inputs = (g, i, n) => i == 0 ? Ref.AwayFromZero(g, n) : Ref.Uniform(g, n, -0.1f, 0.1f),
            Atol = 1e-6, Rtol = 1e-5,
        };
    }
}
