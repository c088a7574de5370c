using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Normalisation rows. The reference below is written independently of the library: plain float64
// loops over an explicit list of the elements each statistics group holds.
// Tolerances: outputs are O(1) and the kernels sum in float32 lanes with double across blocks, so
// the forward is within a few float32 ulps of the reference (atol 2e-5, rtol 1e-5). Gradcheck keeps
// the table defaults. Gradgradcheck uses float32 central differences of the first gradient with a
// step of 1e-2; with as few as 9 values per group (instance norm) invstd can be ~2 and the third
// derivatives large, so those rows use a step of 5e-3 and a wider atol.
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
                Reference = r => NormRef.Normalize(r[0], shape, NormRef.Kind.Batch, affine ? r[1] : null, affine ? r[2] : null, null, null),
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
                Reference = r => NormRef.Normalize(r[0], shape, NormRef.Kind.Batch, r[1], r[2], GradCheck.ToDouble(rm), GradCheck.ToDouble(rv)),
                Inputs = NormalInputs,
                Atol = 2e-5,
            };
            yield return new OpCase
            {
                Name = "BatchNorm2d[eval,plain]",
                InputShapes = [[2, 3, 2, 3]],
                Forward = x => x[0].BatchNorm2d(null, null, Tensor.FromArray(rm, new Shape(3), x[0].Device), Tensor.FromArray(rv, new Shape(3), x[0].Device), training: false),
                Reference = r => NormRef.Normalize(r[0], [2, 3, 2, 3], NormRef.Kind.Batch, null, null, GradCheck.ToDouble(rm), GradCheck.ToDouble(rv)),
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
            Reference = r => NormRef.Normalize(r[0], [3, 3, 3, 3], NormRef.Kind.Layer, r[1], r[2], null, null),
            Inputs = NormalInputs,
            Atol = 2e-5,
            HeavyOnIlgpu = true,
        };
        yield return new OpCase
        {
            Name = "LayerNorm[batch1,plain]",
            InputShapes = [[1, 5, 3, 3]],
            Forward = x => x[0].LayerNorm(null, null),
            Reference = r => NormRef.Normalize(r[0], [1, 5, 3, 3], NormRef.Kind.Layer, null, null, null, null),
            Inputs = NormalInputs,
            Atol = 2e-5,
        };
        yield return new OpCase
        {
            Name = "LayerNorm[(N,D)]",
            InputShapes = [[4, 7], [7], [7]],
            Forward = x => x[0].LayerNorm(x[1], x[2]),
            Reference = r => NormRef.Normalize(r[0], [4, 7], NormRef.Kind.Layer, r[1], r[2], null, null),
            Inputs = NormalInputs,
            Atol = 2e-5,
        };

        // ---- instance norm
        yield return new OpCase
        {
            Name = "InstanceNorm2d[affine]",
            InputShapes = [[3, 5, 3, 3], [5], [5]],
            Forward = x => x[0].InstanceNorm2d(x[1], x[2]),
            Reference = r => NormRef.Normalize(r[0], [3, 5, 3, 3], NormRef.Kind.Instance, r[1], r[2], null, null),
            Inputs = NormalInputs,
            Atol = 2e-5,
            GradGradEps = 5e-3,
            GradGradAtol = 1e-2,
            HeavyOnIlgpu = true,
        };
        yield return new OpCase
        {
            Name = "InstanceNorm2d[batch1,plain]",
            InputShapes = [[1, 3, 5, 5]],
            Forward = x => x[0].InstanceNorm2d(null, null),
            Reference = r => NormRef.Normalize(r[0], [1, 3, 5, 5], NormRef.Kind.Instance, null, null, null, null),
            Inputs = NormalInputs,
            Atol = 2e-5,
        };
    }
}

/// <summary>Independent float64 reference for the normalisation rows.</summary>
public static class NormRef
{
    public enum Kind { Batch, Layer, Instance }

    /// <summary>
    /// Normalises x (shape (N, C, ...) ) over the elements of each group: batch = same channel,
    /// layer = same sample, instance = same sample and channel. Eval batch norm when runningMean is given.
    /// gamma/beta: per channel for batch/instance, per feature element for layer.
    /// </summary>
    public static double[] Normalize(double[] x, int[] shape, Kind kind, double[]? gamma, double[]? beta, double[]? runningMean, double[]? runningVar, double eps = 1e-5)
    {
        int n = shape[0], c = shape[1], inner = x.Length / (n * c), perSample = c * inner;
        int Key(int i) => kind switch
        {
            Kind.Batch => i / inner % c,
            Kind.Layer => i / perSample,
            _ => i / inner, // (sample, channel)
        };
        var members = new Dictionary<int, List<int>>();
        for (int i = 0; i < x.Length; i++)
        {
            if (!members.TryGetValue(Key(i), out var list)) members[Key(i)] = list = [];
            list.Add(i);
        }
        var y = new double[x.Length];
        foreach (var (key, idx) in members)
        {
            double mean, variance;
            if (runningMean is not null) { mean = runningMean[key]; variance = runningVar![key]; }
            else
            {
                mean = idx.Sum(i => x[i]) / idx.Count;
                variance = idx.Sum(i => (x[i] - mean) * (x[i] - mean)) / idx.Count;
            }
            foreach (int i in idx)
            {
                int p = kind == Kind.Layer ? i % perSample : i / inner % c;
                y[i] = (x[i] - mean) / Math.Sqrt(variance + eps) * (gamma?[p] ?? 1) + (beta?[p] ?? 0);
            }
        }
        return y;
    }
}
