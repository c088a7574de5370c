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
                Inputs = NormalInputs,
                Atol = 2e-5,
            };
            yield return new OpCase
            {
                Name = "BatchNorm2d[eval,plain]",
                InputShapes = [[2, 3, 2, 3]],
                Forward = x => x[0].BatchNorm2d(null, null, Tensor.FromArray(rm, new Shape(3), x[0].Device), Tensor.FromArray(rv, new Shape(3), x[0].Device), training: false),
                Reference = r => NormView.Forward(r[0], NormView.Batch([2, 3, 2, 3]), null, null, GradCheck.ToDouble(rm), GradCheck.ToDouble(rv)),
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
            Inputs = NormalInputs,
            Atol = 2e-5,
        };
        yield return new OpCase
        {
            Name = "LayerNorm[(N,D)]",
            InputShapes = [[4, 7], [7], [7]],
            Forward = x => x[0].LayerNorm(x[1], x[2]),
            Reference = r => NormView.LayerNorm(r[0], [4, 7], r[1], r[2]),
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
            Inputs = NormalInputs,
            Atol = 2e-5,
        };
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
