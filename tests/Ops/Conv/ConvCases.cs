using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Convolution rows: Conv2d, ConvTranspose2d and the weight-gradient op, against the direct float64
// loops in ConvKernels (the 7-loop conv, its adjoint scatter, and the weight-gradient sum).
// Tolerances: each output sums ≤ 72 float32 products of N(0, 1) values through the GEMM (fp32
// accumulation), error ≲ 72·6e-8·Σ|terms| ≈ 1e-5 at worst, hence atol 2e-5, rtol 1e-5.
// Shapes stay ≲ 150 input elements: gradgradcheck runs the op twice per input element.
public static partial class OpCases
{
    private static double[] ConvRef(double[][] r, ConvGeometry g, bool bias)
        => ConvKernels.Conv2dReference(r[0], r[1], bias ? r[2] : null, g);

    private static OpCase Conv(string name, int n, int cin, int h, int w, int cout, int kh, int kw, int s, int p, int d, bool bias, bool heavy = false)
    {
        var g = new ConvGeometry(n, cin, h, w, cout, kh, kw,
            ConvGeometry.OutputSize(h, kh, s, p, d), ConvGeometry.OutputSize(w, kw, s, p, d), s, p, d);
        int[][] shapes = bias ? [[n, cin, h, w], [cout, cin, kh, kw], [cout]] : [[n, cin, h, w], [cout, cin, kh, kw]];
        return new OpCase
        {
            Name = $"Conv2d[{name}: {n}x{cin}x{h}x{w} → {cout}, k{kh}x{kw} s{s} p{p} d{d}{(bias ? ", bias" : "")}]",
            InputShapes = shapes,
            Forward = x => x[0].Conv2d(x[1], bias ? x[2] : null, s, p, d),
            Reference = r => ConvRef(r, g, bias),
            Atol = 2e-5, HeavyOnIlgpu = heavy,
        };
    }

    private static OpCase ConvT(string name, int n, int cin, int h, int w, int cout, int k, int s, int p, int op, int d, bool bias, bool heavy = false)
    {
        int oh = (h - 1) * s - 2 * p + d * (k - 1) + op + 1, ow = (w - 1) * s - 2 * p + d * (k - 1) + op + 1;
        // Conv orientation: the transposed conv's output is the conv's input.
        var g = new ConvGeometry(n, cout, oh, ow, cin, k, k, h, w, s, p, d);
        int[][] shapes = bias ? [[n, cin, h, w], [cin, cout, k, k], [cout]] : [[n, cin, h, w], [cin, cout, k, k]];
        return new OpCase
        {
            Name = $"ConvTranspose2d[{name}: {n}x{cin}x{h}x{w} → {cout}x{oh}x{ow}, k{k} s{s} p{p} op{op} d{d}{(bias ? ", bias" : "")}]",
            InputShapes = shapes,
            Forward = x => x[0].ConvTranspose2d(x[1], bias ? x[2] : null, s, p, op, d),
            Reference = r => ConvKernels.ConvTranspose2dReference(r[0], r[1], bias ? r[2] : null, g),
            Atol = 2e-5, HeavyOnIlgpu = heavy,
        };
    }

    public static IEnumerable<OpCase> ConvCases()
    {
        yield return Conv("k3 same", 1, 2, 5, 7, 3, 3, 3, 1, 1, 1, bias: true, heavy: true);
        yield return Conv("pointwise", 3, 3, 2, 3, 5, 1, 1, 1, 0, 1, bias: false);
        yield return Conv("dcgan k4 s2 p1", 1, 2, 6, 6, 2, 4, 4, 2, 1, 1, bias: true, heavy: true);
        yield return Conv("k5 s2 p2", 2, 1, 5, 7, 2, 5, 5, 2, 2, 1, bias: false, heavy: true);
        yield return Conv("dilated", 1, 2, 6, 6, 2, 3, 3, 1, 2, 2, bias: false, heavy: true);
        yield return Conv("k3 s2 p0 odd", 3, 1, 5, 7, 2, 3, 3, 2, 0, 1, bias: true, heavy: true);
        yield return Conv("k2x3", 1, 2, 5, 7, 2, 2, 3, 1, 1, 1, bias: false, heavy: true);
        yield return Conv("dcgan D head k4 s1 p0", 2, 3, 4, 4, 1, 4, 4, 1, 0, 1, bias: false);

        yield return ConvT("dcgan k4 s2 p1", 1, 3, 3, 3, 2, 4, 2, 1, 0, 1, bias: true, heavy: true);
        yield return ConvT("k3 s2 p1 op1", 2, 2, 3, 4, 3, 3, 2, 1, 1, 1, bias: false, heavy: true);
        yield return ConvT("dcgan G head k4 s1 p0", 3, 4, 1, 1, 2, 4, 1, 0, 0, 1, bias: false, heavy: true);
        yield return ConvT("pointwise", 1, 3, 2, 3, 5, 1, 1, 0, 0, 1, bias: true);
        yield return ConvT("dilated", 1, 2, 3, 3, 2, 3, 1, 1, 0, 2, bias: false);

        // The weight gradient as an op in its own right (its rule is Convᵀ / Conv with the upstream as weight).
        var wg = new ConvGeometry(1, 2, 5, 5, 3, 3, 3, 3, 3, 2, 1, 1);
        yield return new OpCase
        {
            Name = "Conv2dWeightGrad[1x2x5x5, k3 s2 p1 → 3]",
            InputShapes = [[1, 2, 5, 5], [1, 3, 3, 3]],
            Forward = x => Tensor.Conv2dWeightGrad(x[0], x[1], (3, 3), 2, 1, 1),
            Reference = r => ConvKernels.Conv2dWeightGradReference(r[0], r[1], wg),
            Atol = 2e-5, HeavyOnIlgpu = true,
        };
    }
}
