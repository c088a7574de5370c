using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Normalisation rows. The oracle is NormalizationKernels.ForwardReference over the (A, B, P, L) view
// of each op (the layouts are spelled out in NormView below, from Normalization.cs's header);
// LayerNorm's per-element affine is composed of Mul and Add, so its oracle is composed the same way.
// Tolerances: outputs are O(1) and the kernels sum in float32 lanes with double across blocks, so
// the forward is within a few float32 ulps of the reference (atol 2e-5, rtol 1e-5). Gradcheck and
// gradgradcheck keep the table's relative defaults (GradCheck.cs).
public static partial class OpCases
{
    private static readonly Func<RandomStream, int, int, float[]> NormalInputs = (g, i, n) => Ref.Uniform(g, n, -2f, 2f);

    public static IEnumerable<OpCase> NormalizationCases()
    {
        // ---- batch norm, training statistics
        foreach (var (tag, shape, affine, heavy) in new (string, int[], bool, bool)[]
        {
            ("train,affine", [3, 5, 3, 3], true, true),
            ("train,batch1", [1, 3, 5, 7], false, true),
            ("train,(N,C)", [6, 5], true, false),
            ("train,odd", [2, 3, 1, 5], true, false),
        })
        {
            int c = shape[1];
            yield return new OpCase
            {
                Name = $"BatchNorm2d[{tag}]",
                InputShapes = affine ? [shape, [c], [c]] : [shape],
                Forward = x => x[0].BatchNorm2d(affine ? x[1] : null, affine ? x[2] : null, null, null, training: true),
                Reference = r => NormView.Forward(r[0], NormView.Batch(shape), affine ? r[1] : null, affine ? r[2] : null),
                Vjp = (r, u) => NormView.Vjp(r[0], NormView.Batch(shape), affine ? r[1] : null, u, affine),
                Inputs = NormalInputs,
                Atol = 2e-5,
                HeavyOnIlgpu = heavy,
            };
        }

        // ---- batch norm, eval (running statistics are constants of the op)
        {
            int[] shape = [3, 3, 3, 5];
            float[] rm = [0.3f, -0.5f, 1.2f], rv = [0.8f, 1.7f, 0.4f];
            yield return new OpCase
            {
                Name = "BatchNorm2d[eval,affine]",
                InputShapes = [shape, [3], [3]],
                HeavyOnIlgpu = true,
                Forward = x => x[0].BatchNorm2d(x[1], x[2], Tensor.FromArray(rm, new Shape(3), x[0].Device), Tensor.FromArray(rv, new Shape(3), x[0].Device), training: false),
                Reference = r => NormView.Forward(r[0], NormView.Batch(shape), r[1], r[2], GradCheck.ToDouble(rm), GradCheck.ToDouble(rv)),
                Vjp = (r, u) => NormView.Vjp(r[0], NormView.Batch(shape), r[1], u, true, GradCheck.ToDouble(rm), GradCheck.ToDouble(rv)),
                Inputs = NormalInputs,
                Atol = 2e-5,
            };
            yield return new OpCase
            {
                Name = "BatchNorm2d[eval,plain]",
                InputShapes = [[2, 3, 2, 3]],
                Forward = x => x[0].BatchNorm2d(null, null, Tensor.FromArray(rm, new Shape(3), x[0].Device), Tensor.FromArray(rv, new Shape(3), x[0].Device), training: false),
                Reference = r => NormView.Forward(r[0], NormView.Batch([2, 3, 2, 3]), null, null, GradCheck.ToDouble(rm), GradCheck.ToDouble(rv)),
                Vjp = (r, u) => NormView.Vjp(r[0], NormView.Batch([2, 3, 2, 3]), null, u, false, GradCheck.ToDouble(rm), GradCheck.ToDouble(rv)),
                Inputs = NormalInputs,
                Atol = 2e-5,
            };
        }

        // ---- layer norm (the WGAN-GP critic's normaliser)
        yield return new OpCase
        {
            Name = "LayerNorm[affine (C,H,W)]",
            InputShapes = [[3, 3, 3, 3], [3, 3, 3], [3, 3, 3]],
            Forward = x => x[0].LayerNorm(x[1], x[2]),
            Reference = r => NormView.LayerNorm(r[0], [3, 3, 3, 3], r[1], r[2]),
            Vjp = (r, u) => NormView.LayerNormVjp(r[0], [3, 3, 3, 3], r[1], true, u),
            Inputs = NormalInputs,
            Atol = 2e-5,
            HeavyOnIlgpu = true,
        };
        yield return new OpCase
        {
            Name = "LayerNorm[batch1,plain]",
            InputShapes = [[1, 5, 3, 3]],
            Forward = x => x[0].LayerNorm(null, null),
            Reference = r => NormView.LayerNorm(r[0], [1, 5, 3, 3], null, null),
            Vjp = (r, u) => NormView.LayerNormVjp(r[0], [1, 5, 3, 3], null, false, u),
            Inputs = NormalInputs,
            Atol = 2e-5,
        };
        yield return new OpCase
        {
            Name = "LayerNorm[(N,D)]",
            InputShapes = [[4, 7], [7], [7]],
            Forward = x => x[0].LayerNorm(x[1], x[2]),
            Reference = r => NormView.LayerNorm(r[0], [4, 7], r[1], r[2]),
            Vjp = (r, u) => NormView.LayerNormVjp(r[0], [4, 7], r[1], true, u),
            Inputs = NormalInputs,
            Atol = 2e-5,
        };

        // ---- instance norm
        yield return new OpCase
        {
            Name = "InstanceNorm2d[affine]",
            InputShapes = [[3, 5, 3, 3], [5], [5]],
            Forward = x => x[0].InstanceNorm2d(x[1], x[2]),
            Reference = r => NormView.Forward(r[0], NormView.Instance([3, 5, 3, 3]), r[1], r[2]),
            Vjp = (r, u) => NormView.Vjp(r[0], NormView.Instance([3, 5, 3, 3]), r[1], u, true),
            Inputs = NormalInputs,
            Atol = 2e-5,
            HeavyOnIlgpu = true,
        };
        yield return new OpCase
        {
            Name = "InstanceNorm2d[batch1,plain]",
            InputShapes = [[1, 3, 5, 5]],
            Forward = x => x[0].InstanceNorm2d(null, null),
            Reference = r => NormView.Forward(r[0], NormView.Instance([1, 3, 5, 5]), null, null),
            Vjp = (r, u) => NormView.Vjp(r[0], NormView.Instance([1, 3, 5, 5]), null, u, false),
            Inputs = NormalInputs,
            Atol = 2e-5,
        };
    }

    /// <summary>
    /// The fused normalisation backward (NormBackward: (g, x, γ) → dx, dγ, dβ) as an op of its own, one row per output:
    /// its rule (the differentiated composed formula) is the double backward of every norm, and its ∂/∂g part is what a
    /// gradient penalty through a normalised critic flows through. Oracle: NormalizationKernels.BackwardReference; VJP:
    /// BackwardVjpReference (the second derivatives of normalisation, written out in float64).
    /// </summary>
    public static IEnumerable<OpCase> NormBackwardCases()
    {
        foreach (var (tag, shape, view, affine) in new (string, int[], Func<int[], NormParams>, bool)[]
        {
            ("batch,affine", [3, 4, 2, 3], NormView.Batch, true),
            ("batch,(N,C)", [5, 3], NormView.Batch, false),
            ("instance,affine", [2, 3, 3, 3], NormView.Instance, true),
            ("instance", [2, 2, 2, 3], NormView.Instance, false),
            ("layer", [3, 2, 2, 3], NormView.Layer, false),
        })
        {
            var s = view(shape);
            int c = s.P;
            string[] outputs = affine ? ["dx", "dγ", "dβ"] : ["dx"];
            for (int k = 0; k < outputs.Length; k++)
            {
                int output = k;
                yield return new OpCase
                {
                    Name = $"NormBackward[{tag} {string.Join("x", shape)}, {outputs[k]}]",
                    InputShapes = affine ? [shape, shape, [c]] : [shape, shape],
                    Forward = x =>
                    {
                        Tensor mean, invstd;
                        using (Autograd.NoGrad()) (_, mean, invstd, _) = x[1].NormForwardRaw(s, null, null);
                        return Tensor.NormBackward(x[0], x[1], affine ? x[2] : null, mean, invstd, s)[output];
                    },
                    Reference = r =>
                    {
                        var (dx, dg, db) = NormalizationKernels.BackwardReference(r[0], r[1], s, affine ? r[2] : null);
                        return output switch { 0 => dx, 1 => dg, _ => db };
                    },
                    Vjp = (r, u) =>
                    {
                        double[] zx = new double[r[1].Length], zc = new double[c];
                        var (dg, dx, dgamma) = NormalizationKernels.BackwardVjpReference(r[0], r[1], s, affine ? r[2] : null,
                            output == 0 ? u : zx, output == 1 ? u : zc, output == 2 ? u : zc);
                        return affine ? [dg, dx, dgamma] : [dg, dx];
                    },
                    // g ~ N(0, 1); x in [−2, 2]; γ away from 0 with either sign.
                    Inputs = (g, i, n) => i == 0 ? Normal(g, n) : i == 1 ? Ref.Uniform(g, n, -2f, 2f) : Ref.AwayFromZero(g, n, 0.3f, 1.5f),
                    Atol = 2e-5,
                    // The rule's composed formula is ~100 small launches, each slow on the simulator.
                    HeavyOnIlgpu = true,
                };
            }
        }
    }

    private static float[] Normal(RandomStream g, int n)
    {
        var v = new float[n];
        g.FillNormal(v);
        return v;
    }
}

/// <summary>The (A, B, P, L) views of the normalisation ops, and their oracles from NormalizationKernels.</summary>
public static class NormView
{
    private const float Eps = 1e-5f; // the ops' default, as the kernels see it (float)

    /// <summary>BatchNorm2d (N, C, ...): A = N, B = 1, P = C, L = the rest.</summary>
    internal static NormParams Batch(int[] shape) => new() { A = shape[0], B = 1, P = shape[1], L = shape[2..].Aggregate(1, (a, b) => a * b), Eps = Eps };

    /// <summary>InstanceNorm2d (N, C, H, W): A = 1, B = N, P = C, L = H·W.</summary>
    internal static NormParams Instance(int[] shape) => new() { A = 1, B = shape[0], P = shape[1], L = shape[2] * shape[3], Eps = Eps };

    /// <summary>LayerNorm (N, ...): A = 1, B = N, P = 1, L = the rest.</summary>
    internal static NormParams Layer(int[] shape) => new() { A = 1, B = shape[0], P = 1, L = shape[1..].Aggregate(1, (a, b) => a * b), Eps = Eps };

    /// <summary>The normalised output (per-group γ/β; running statistics for eval batch norm).</summary>
    internal static double[] Forward(double[] x, NormParams s, double[]? gamma, double[]? beta, double[]? runningMean = null, double[]? runningVar = null)
        => NormalizationKernels.ForwardReference(x, s, gamma, beta, runningMean, runningVar).Y;

    /// <summary>The float64 VJP of <see cref="Forward"/>: dx, and dγ, dβ when affine.</summary>
    internal static double[]?[] Vjp(double[] x, NormParams s, double[]? gamma, double[] u, bool affine, double[]? runningMean = null, double[]? runningVar = null)
    {
        var (dx, dg, db) = NormalizationKernels.ForwardVjpReference(x, s, gamma, u, runningMean, runningVar);
        return affine ? [dx, dg, db] : [dx];
    }

    /// <summary>
    /// The float64 VJP of <see cref="LayerNorm"/>: with x̂ the plain normalisation, y = x̂·γ + β (γ, β broadcast over N), so
    /// dγ = Σ_n u·x̂, dβ = Σ_n u, and dx = the normalisation backward of the upstream u·γ.
    /// </summary>
    internal static double[]?[] LayerNormVjp(double[] x, int[] shape, double[]? gamma, bool affine, double[] u)
    {
        var s = Layer(shape);
        int[] features = shape[1..];
        var xhat = Forward(x, s, null, null);
        var ug = gamma is null ? u : ElementwiseKernels.BinaryReference<MulOp>(u, shape, gamma, features);
        var dx = NormalizationKernels.BackwardReference(ug, x, s, null).Dx;
        if (!affine) return [dx];
        int[] one = [1, .. features];
        var dgamma = ReductionKernels.SumReference(u.Select((v, i) => v * xhat[i]).ToArray(), shape, one);
        var dbeta = ReductionKernels.SumReference(u, shape, one);
        return [dx, dgamma, dbeta];
    }

    /// <summary>LayerNorm: the plain normalisation, then γ and β (shaped like one sample) by broadcast Mul and Add.</summary>
    internal static double[] LayerNorm(double[] x, int[] shape, double[]? gamma, double[]? beta)
    {
        var y = Forward(x, Layer(shape), null, null);
        int[] features = shape[1..];
        if (gamma is not null) y = ElementwiseKernels.BinaryReference<MulOp>(y, shape, gamma, features);
        if (beta is not null) y = ElementwiseKernels.BinaryReference<AddOp>(y, shape, beta, features);
        return y;
    }
}
