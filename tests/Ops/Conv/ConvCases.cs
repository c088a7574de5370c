using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Convolution rows: Conv2d, ConvTranspose2d and the weight-gradient op, against the direct float64
// loops in ConvKernels (the 7-loop conv, its adjoint scatter, and the weight-gradient sum). The three
// are each other's adjoints, so they are also each other's VJPs (ConvKernels.BiasGradReference adds
// the bias): Conv2d (Convᵀ(u, W), WGrad(X, u), Σu); ConvTranspose2d (Conv(u, W), WGrad(u, Y), Σu);
// Conv2dWeightGrad for upstream V (Convᵀ(G, V), Conv(X, V)).
// Tolerances: each output sums ≤ 80 float32 products of N(0, 1) values through the GEMM (fp32
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
            Vjp = (r, u) => bias
                ? [ConvKernels.ConvTranspose2dReference(u, r[1], null, g), ConvKernels.Conv2dWeightGradReference(r[0], u, g), ConvKernels.BiasGradReference(u, n, cout, g.P)]
                : [ConvKernels.ConvTranspose2dReference(u, r[1], null, g), ConvKernels.Conv2dWeightGradReference(r[0], u, g)],
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
            Vjp = (r, u) => bias
                ? [ConvKernels.Conv2dReference(u, r[1], null, g), ConvKernels.Conv2dWeightGradReference(u, r[0], g), ConvKernels.BiasGradReference(u, n, cout, g.HW)]
                : [ConvKernels.Conv2dReference(u, r[1], null, g), ConvKernels.Conv2dWeightGradReference(u, r[0], g)],
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
        yield return Conv("k1 s2", 2, 3, 5, 5, 2, 1, 1, 2, 0, 1, bias: true);
        // Cin·kH·kW = 80 > 64: the cpu set's GEMM lowering (implicit GEMM, col2im); the rows above with few channels
        // take its direct kernels (ConvFewChannels.cs), the dense heads a plain GEMM.
        yield return Conv("many channels k4 s2 p1", 1, 5, 4, 4, 2, 4, 4, 2, 1, 1, bias: true, heavy: true);
        // 64 output pixels: the direct few-channel weight gradient too (its dispatch wants P ≥ 64).
        yield return Conv("grey k3 p1 P64", 1, 1, 8, 8, 2, 3, 3, 1, 1, 1, bias: true, heavy: true);

        yield return ConvT("dcgan k4 s2 p1", 1, 3, 3, 3, 2, 4, 2, 1, 0, 1, bias: true, heavy: true);
        yield return ConvT("k3 s2 p1 op1", 2, 2, 3, 4, 3, 3, 2, 1, 1, 1, bias: false, heavy: true);
        yield return ConvT("dcgan G head k4 s1 p0", 3, 4, 1, 1, 2, 4, 1, 0, 0, 1, bias: false, heavy: true);
        yield return ConvT("pointwise", 1, 3, 2, 3, 5, 1, 1, 0, 0, 1, bias: true);
        yield return ConvT("dilated", 1, 2, 3, 3, 2, 3, 1, 1, 0, 2, bias: false);
        // Output padding ≥ stride but < dilation (PyTorch's rule; the issue's example shape).
        yield return ConvT("op1 ≥ s1 < d2", 1, 1, 2, 2, 1, 2, 1, 0, 1, 2, bias: false);
        yield return ConvT("op2 ≥ s2 < d3", 1, 2, 2, 3, 2, 2, 2, 1, 2, 3, bias: true);
        yield return ConvT("many channels k4 s2 p1", 1, 2, 2, 2, 5, 4, 2, 1, 0, 1, bias: true, heavy: true); // Cout·k² = 80: GEMM lowering
        yield return ConvT("to grey k4 s2 p1 P64", 1, 2, 8, 8, 1, 4, 2, 1, 0, 1, bias: true, heavy: true); // the direct kernels, weight gradient included

        // The weight gradient as an op in its own right (its rule is Convᵀ / Conv with the upstream as weight):
        // WGAN-GP's penalty gradient w.r.t. the critic's weights runs through it.
        yield return WeightGrad("k3 s2 p1", 1, 2, 5, 5, 3, 3, 3, 2, 1, 1, heavy: true);
        yield return WeightGrad("dilated", 2, 2, 5, 5, 2, 3, 3, 1, 2, 2, heavy: true);
        yield return WeightGrad("pointwise", 3, 3, 2, 3, 4, 1, 1, 1, 0, 1);
        yield return WeightGrad("dense k4 (critic head)", 2, 3, 4, 4, 1, 4, 4, 1, 0, 1);
        yield return WeightGrad("k1 s2", 2, 3, 5, 5, 2, 1, 1, 2, 0, 1);
        yield return WeightGrad("many channels k4 s2 p1", 1, 5, 4, 4, 2, 4, 4, 2, 1, 1, heavy: true); // Ckk = 80: GEMM lowering
        yield return WeightGrad("grey k3 p1 P64", 1, 1, 8, 8, 2, 3, 3, 1, 1, 1, heavy: true); // the direct weight gradient
    }

    private static OpCase WeightGrad(string name, int n, int cin, int h, int w, int cout, int kh, int kw, int s, int p, int d, bool heavy = false)
    {
        int ho = ConvGeometry.OutputSize(h, kh, s, p, d), wo = ConvGeometry.OutputSize(w, kw, s, p, d);
        var g = new ConvGeometry(n, cin, h, w, cout, kh, kw, ho, wo, s, p, d);
        return new OpCase
        {
            Name = $"Conv2dWeightGrad[{name}: {n}x{cin}x{h}x{w} → {cout}x{ho}x{wo}, k{kh}x{kw} s{s} p{p} d{d}]",
            InputShapes = [[n, cin, h, w], [n, cout, ho, wo]],
            Forward = x => Tensor.Conv2dWeightGrad(x[0], x[1], (kh, kw), s, p, d),
            Reference = r => ConvKernels.Conv2dWeightGradReference(r[0], r[1], g),
            Vjp = (r, v) => [ConvKernels.ConvTranspose2dReference(r[1], v, null, g), ConvKernels.Conv2dReference(r[0], v, null, g)],
            Atol = 2e-5, HeavyOnIlgpu = heavy,
        };
    }
}
