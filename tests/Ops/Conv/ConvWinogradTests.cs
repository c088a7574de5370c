using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Conv;

/// <summary>
/// The cpu set's opt-in Winograd F(4×4, 2×2) kernels for k4 s2 p1 (ConvWinograd.cs): forward and input gradient
/// (ConvTranspose2d's forward), with biases, called directly on every shape they can run (the dispatch takes a subset),
/// against the float64 reference and the GEMM lowering they replace (<see cref="ConvLoweringOptions.GemmOnly"/>),
/// bit-identical for 1 and 2 threads and in groups. Shapes: whole 4×4 tiles
/// (16×16 → 8×8), the 28-pixel models' 14 → 7 (tiles past the plane's end), odd input sizes, a single tile,
/// 1-pixel outputs, and a workspace budget small enough to cut the batch into groups and the filter transform into
/// chunks of points.
/// Tolerance (set from the error analysis before the first run, not fitted): the transforms multiply values by at most
/// 8 per axis (Aᵀ's last row) and 3 per axis (Bᵀ), so an output carries the rounding of up to ~64 products summed
/// over K = 4·Cin ≤ 128 terms: ≲ 64·√K·6e-8·S ≈ 4e-5·S at the worst corner, S the largest |output| (6.5e-5·S for the
/// one geometry with K = 288, added 2026-12-07 with the derivation extended before its first run). The bound is
/// 1e-4·S (scaled rule); the GEMM lowering's is 2e-5 absolute.
/// </summary>
[TestFixture, Category("cpu")]
public sealed class ConvWinogradTests
{
    private const double ScaledTolerance = 1e-4;

    // (N, Cin, H, W, Cout) of a k4 s2 p1 conv (conv orientation: the transposed conv's output is (N, Cin, H, W)).
    private static readonly (int N, int Cin, int H, int W, int Cout)[] Geometries =
    [
        (3, 16, 16, 16, 16),   // 8×8 outputs: 2×2 whole tiles per sample
        (2, 16, 14, 14, 24),   // 7×7 outputs (the 28-pixel models' D2 / G2): the last tile row and column past the plane
        (2, 24, 13, 11, 16),   // odd input sizes: 6×5 outputs, input-gradient phases of unequal lengths (7/6 rows, 6/5 columns)
        (5, 32, 8, 8, 16),     // 4×4 outputs: one tile per sample; 5 samples = tiles not a multiple of 8
        (2, 16, 2, 3, 16),     // 1×1 outputs
        (4, 16, 20, 12, 32),   // 10×6 outputs: 3×2 tiles, partly past the plane
        (1, 32, 8, 8, 2048),   // transformed filters of 6.5 M floats, past StreamingFloats: the filter transform's streaming stores (K stays 128)
        (3, 72, 32, 32, 16),   // K = 4·Cin = 288: the point GEMMs' k in two slices of the packed panels (Cin not a multiple of 16);
                               // 48 tiles, a V of 25·64·288 floats past StreamingFloats: the input transform's streaming stores
    ];

    private static ConvGeometry Geometry(int index)
    {
        var (n, cin, h, w, cout) = Geometries[index];
        return new ConvGeometry(n, cin, h, w, cout, 4, 4, ConvGeometry.OutputSize(h, 4, 2, 1, 1), ConvGeometry.OutputSize(w, 4, 2, 1, 1), 2, 1, 1);
    }

    private static IEnumerable<int> Indices() => Enumerable.Range(0, Geometries.Length);

    private static float[] Random(Random rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    [TestCaseSource(nameof(Indices))]
    public void MatchesReferenceAndGemmLoweringAndIsThreadIndependent(int index)
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the Winograd kernels are not used on this CPU");
        var g = Geometry(index);
        Assert.That(ConvKernels.WinogradShape(g), Is.True, $"{g}: a Winograd shape");
        var rng = new Random(70 + index);
        float[] x = Random(rng, g.N * g.Cin * g.HW), w = Random(rng, g.Cout * g.Ckk), gy = Random(rng, g.N * g.Cout * g.P);
        float[] b = Random(rng, g.Cout), bt = Random(rng, g.Cin);
        var one = RunWinograd(new CpuKernelOptions { Threads = 1 }, g, x, w, gy, b, bt);
        var two = RunWinograd(new CpuKernelOptions { Threads = 2 }, g, x, w, gy, b, bt);
        // A budget of a few samples' workspace: several groups, and the filter transform in chunks of points.
        var small = new ConvLoweringOptions { WorkspaceBudget = 25L * 4 * (4 * g.Cout + g.Cin) + 7 };
        var grouped = RunWinograd(new CpuKernelOptions { Threads = 2, Conv = small }, g, x, w, gy, b, bt);
        var gemm = Run(new CpuKernelOptions { Threads = 2, Conv = new ConvLoweringOptions { GemmOnly = true } }, g, x, w, gy, b, bt);
        // The launchers run the kernels wherever the dispatch takes them (same bits).
        var winograd = new CpuKernelOptions { Threads = 2, Conv = new ConvLoweringOptions { Winograd = true } };
        var launched = Run(winograd, g, x, w, gy, b, bt);
        using (var probe = Device.CreateCpu(winograd))
            for (int k = 0; k < 3; k++)
                if (ConvKernels.TakesWinograd(g, probe, k == 0 ? ConvKernelKind.Forward : k == 1 ? ConvKernelKind.InputGrad : ConvKernelKind.WeightGrad))
                    Assert.That(Bits(launched[k]), Is.EqualTo(Bits(two[k])), $"{g}: the launcher runs the Winograd kernel ({k})");
        double[] x64 = GradCheck.ToDouble(x), w64 = GradCheck.ToDouble(w), gy64 = GradCheck.ToDouble(gy);
        double[][] expected =
        [
            ConvKernels.Conv2dReference(x64, w64, GradCheck.ToDouble(b), g),
            ConvKernels.ConvTranspose2dReference(gy64, w64, GradCheck.ToDouble(bt), g),
            ConvKernels.Conv2dWeightGradReference(x64, gy64, g),
        ];
        string[] names = ["forward", "input gradient", "weight gradient"];
        for (int k = 0; k < 3; k++)
        {
            Assert.That(Bits(two[k]), Is.EqualTo(Bits(one[k])), $"{g}: {names[k]}, 1 and 2 threads");
            Assert.That(GradCheck.CompareScaled([one[k]], [expected[k]], ScaledTolerance, 0, [names[k]], $"{g}: Winograd"), Is.Null);
            Assert.That(GradCheck.CompareScaled([grouped[k]], [expected[k]], ScaledTolerance, 0, [names[k]], $"{g}: Winograd in groups"), Is.Null);
            Assert.That(GradCheck.CompareScaled([gemm[k]], [expected[k]], ScaledTolerance, 0, [names[k]], $"{g}: GEMM lowering"), Is.Null);
        }
    }

    /// <summary>
    /// Through autograd on a Winograd device (all three kernels: Conv2d's forward, its input gradient = ConvTranspose2d's
    /// kernel, the weight gradient): y, the first-order gradients and the second order w.r.t. the upstream gradient u and w
    /// (h = ⟨∂y/∂x·u, v⟩: ∂h/∂u = Conv(v, w), the forward kernel again; ∂h/∂w = WGrad(v, u)) against the float64
    /// references, each at 1e-4·S.
    /// </summary>
    [Test]
    public void GradientsAndSecondOrderThroughTheWinogradKernelsMatchTheReference()
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the Winograd kernels are not used on this CPU");
        var g = new ConvGeometry(2, 128, 16, 16, 16, 4, 4, 8, 8, 2, 1, 1);
        using var device = Device.CreateCpu(new CpuKernelOptions { Threads = 2, Conv = new ConvLoweringOptions { Winograd = true } });
        Assert.That(ConvKernels.TakesWinograd(g, device, ConvKernelKind.Forward), Is.True, "forward on Winograd");
        Assert.That(ConvKernels.TakesWinograd(g, device, ConvKernelKind.InputGrad), Is.True, "input gradient on Winograd");
        Assert.That(ConvKernels.TakesWinograd(g, device, ConvKernelKind.WeightGrad), Is.True, "weight gradient on Winograd");
        var rng = new Random(17);
        float[] x = Random(rng, g.N * g.Cin * g.HW), w = Random(rng, g.Cout * g.Ckk), u = Random(rng, g.N * g.Cout * g.P), v = Random(rng, g.N * g.Cin * g.HW);
        using var scope = TensorScope.Begin();
        var tx = Tensor.FromArray(x, g.InputShape, device);
        var tw = Tensor.FromArray(w, g.WeightShape, device);
        var tu = Tensor.FromArray(u, g.OutputShape, device);
        var tv = Tensor.FromArray(v, g.InputShape, device);
        tx.RequiresGrad = tw.RequiresGrad = tu.RequiresGrad = true;
        var y = tx.Conv2d(tw, null, 2, 1);
        var first = Autograd.Grad([y], [tx, tw], [tu], createGraph: true);
        var second = Autograd.Grad([first[0]], [tu, tw], [tv]);
        double[] x64 = GradCheck.ToDouble(x), w64 = GradCheck.ToDouble(w), u64 = GradCheck.ToDouble(u), v64 = GradCheck.ToDouble(v);
        (string Name, float[] Actual, double[] Expected)[] checks =
        [
            ("y", y.ToArray(), ConvKernels.Conv2dReference(x64, w64, null, g)),
            ("∂/∂x", first[0].ToArray(), ConvKernels.ConvTranspose2dReference(u64, w64, null, g)),
            ("∂/∂w", first[1].ToArray(), ConvKernels.Conv2dWeightGradReference(x64, u64, g)),
            ("∂²/∂u (Conv(v, w))", second[0].ToArray(), ConvKernels.Conv2dReference(v64, w64, null, g)),
            ("∂²/∂w (WGrad(v, u))", second[1].ToArray(), ConvKernels.Conv2dWeightGradReference(v64, u64, g)),
        ];
        foreach (var (name, actual, expected) in checks)
            Assert.That(GradCheck.CompareScaled([actual], [expected], ScaledTolerance, 0, [name], "Winograd device"), Is.Null);
    }

    /// <summary>
    /// A sample's outputs do not depend on the rest of the batch (bit for bit): a data-parallel rank computes its half of the
    /// batch as the one-process run does (MpiRunTests), whatever the groups and tile counts.
    /// </summary>
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(5)]
    public void PerSampleResultsDoNotDependOnTheBatch(int index)
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the Winograd kernels are not used on this CPU");
        var full = Geometry(index) with { N = 13 };
        var half = full with { N = 6 };
        var rng = new Random(5 + index);
        float[] x = Random(rng, full.N * full.Cin * full.HW), w = Random(rng, full.Cout * full.Ckk), gy = Random(rng, full.N * full.Cout * full.P);
        float[] b = Random(rng, full.Cout), bt = Random(rng, full.Cin);
        var all = RunWinograd(new CpuKernelOptions { Threads = 2 }, full, x, w, gy, b, bt);
        var part = RunWinograd(new CpuKernelOptions { Threads = 2 }, half, x[..(half.N * half.Cin * half.HW)], w, gy[..(half.N * half.Cout * half.P)], b, bt);
        Assert.That(Bits(part[0]), Is.EqualTo(Bits(all[0][..part[0].Length])), $"{full}: forward of the first {half.N} samples");
        Assert.That(Bits(part[1]), Is.EqualTo(Bits(all[1][..part[1].Length])), $"{full}: input gradient of the first {half.N} samples");
    }

    /// <summary>
    /// The dispatch: opt-in (the default device keeps the GEMM lowering); other kernel geometries, few or odd channel counts,
    /// outputs whose tiles are mostly past the plane (1×1, 3×3, 6×6), GemmOnly, a forced GEMM family and ILGPU stay on the
    /// GEMM lowering; one tile per sample (4×4 outputs), 7×7 and 10×10 outputs take all three Winograd kernels, the weight
    /// gradient only while its 25 point products fit the workspace budget.
    /// </summary>
    [Test]
    public void DispatchDependsOnGeometryAndOptionsOnly()
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the Winograd kernels are not used on this CPU");
        var on = new ConvLoweringOptions { Winograd = true };
        using var cpu = Device.CreateCpu(new CpuKernelOptions { Threads = 2, Conv = on });
        using var byDefault = Device.CreateCpu(new CpuKernelOptions { Threads = 2 });
        using var gemmOnly = Device.CreateCpu(new CpuKernelOptions { Conv = on with { GemmOnly = true } });
        using var avx2 = Device.CreateCpu(new CpuKernelOptions { Gemm = CpuGemmKernel.Avx2, Conv = on });
        Assert.That(ConvKernels.TakesWinograd(Geometry(0), byDefault, ConvKernelKind.Forward), Is.False, "not asked for");
        var g = Geometry(0);
        Assert.That(ConvKernels.TakesWinograd(g, cpu, ConvKernelKind.Forward), Is.True, "k4 s2 p1, 16 → 16, 8×8 outputs");
        Assert.That(ConvKernels.TakesWinograd(g, cpu, ConvKernelKind.InputGrad), Is.True, "input gradient, 8×8 outputs");
        Assert.That(ConvKernels.TakesWinograd(Geometry(3), cpu, ConvKernelKind.InputGrad), Is.True, "input gradient, one tile per sample");
        Assert.That(ConvKernels.TakesWinograd(Geometry(3), cpu, ConvKernelKind.Forward), Is.True, "4×4 outputs: one tile per sample");
        Assert.That(ConvKernels.TakesWinograd(Geometry(1), cpu, ConvKernelKind.Forward), Is.True, "7×7 outputs: 2×2 tiles");
        Assert.That(ConvKernels.TakesWinograd(g, cpu, ConvKernelKind.WeightGrad), Is.True, "weight gradient, 8×8 outputs");
        Assert.That(ConvKernels.TakesWinograd(Geometry(3), cpu, ConvKernelKind.WeightGrad), Is.True, "weight gradient, one tile per sample");
        Assert.That(ConvKernels.TakesWinograd(Geometry(4), cpu, ConvKernelKind.Forward), Is.False, "1×1 outputs: 16 tile outputs for one");
        Assert.That(ConvKernels.TakesWinograd(Geometry(3) with { H = 6, W = 6, Ho = 3, Wo = 3 }, cpu, ConvKernelKind.Forward), Is.False, "3×3 outputs");
        Assert.That(ConvKernels.TakesWinograd(Geometry(3) with { H = 12, W = 12, Ho = 6, Wo = 6 }, cpu, ConvKernelKind.WeightGrad), Is.False, "6×6 outputs");
        Assert.That(ConvKernels.TakesWinograd(Geometry(3) with { H = 20, W = 20, Ho = 10, Wo = 10 }, cpu, ConvKernelKind.InputGrad), Is.True, "10×10 outputs");
        var big = Geometry(6); // 25 × 2048 × 128 floats of weight-gradient products: past the default budget
        Assert.That(ConvKernels.TakesWinograd(big, cpu, ConvKernelKind.WeightGrad), Is.False, "weight gradient, point products past the budget");
        Assert.That(ConvKernels.TakesWinograd(big, cpu, ConvKernelKind.Forward), Is.True, "forward: its filter transform goes in chunks");
        using var roomy = Device.CreateCpu(new CpuKernelOptions { Threads = 2, Conv = on with { WorkspaceBudget = 8L << 20 } });
        Assert.That(ConvKernels.TakesWinograd(big, roomy, ConvKernelKind.WeightGrad), Is.True, "weight gradient within a larger budget");
        Assert.That(ConvKernels.TakesWinograd(g with { Cin = 3 }, cpu, ConvKernelKind.Forward), Is.False, "3 input channels");
        Assert.That(ConvKernels.TakesWinograd(g with { Cout = 20 }, cpu, ConvKernelKind.Forward), Is.False, "Cout not a multiple of 8");
        Assert.That(ConvKernels.TakesWinograd(g with { Pad = 0, Ho = 7, Wo = 7 }, cpu, ConvKernelKind.Forward), Is.False, "padding 0");
        Assert.That(ConvKernels.TakesWinograd(g with { KH = 3, KW = 3 }, cpu, ConvKernelKind.Forward), Is.False, "k3");
        Assert.That(ConvKernels.TakesWinograd(g, gemmOnly, ConvKernelKind.Forward), Is.False, "GemmOnly");
        Assert.That(ConvKernels.TakesWinograd(g, avx2, ConvKernelKind.InputGrad), Is.False, "forced AVX2 GEMM");
        using var ilgpu = Device.CreateIlgpuCpu(new GpuKernelOptions { Conv = on });
        Assert.That(ConvKernels.TakesWinograd(g, ilgpu, ConvKernelKind.Forward), Is.False, "ILGPU");
    }

    /// <summary>
    /// A workspace budget of 2^30 floats (a big machine's setting): the shared workspace size would pass 2^31 floats, so
    /// each call takes what it needs, and the results are the default budget's bits (one group, U whole either way).
    /// </summary>
    [Test]
    public void AHugeWorkspaceBudgetStillRuns()
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the Winograd kernels are not used on this CPU");
        var g = Geometry(0);
        var rng = new Random(90);
        float[] x = Random(rng, g.N * g.Cin * g.HW), w = Random(rng, g.Cout * g.Ckk), gy = Random(rng, g.N * g.Cout * g.P);
        float[] b = Random(rng, g.Cout), bt = Random(rng, g.Cin);
        var huge = RunWinograd(new CpuKernelOptions { Threads = 2, Conv = new ConvLoweringOptions { WorkspaceBudget = 1L << 30 } }, g, x, w, gy, b, bt);
        var normal = RunWinograd(new CpuKernelOptions { Threads = 2 }, g, x, w, gy, b, bt);
        for (int k = 0; k < 3; k++) Assert.That(Bits(huge[k]), Is.EqualTo(Bits(normal[k])), $"kernel {k}");
    }

    /// <summary>
    /// x, gy, w and the biases followed by NaNs, every output followed by a sentinel: the kernels read nothing past
    /// their inputs (a NaN would reach the results) and write nothing past their outputs.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public unsafe void ReadsAndWritesNothingPastTheTensors(int index)
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the Winograd kernels are not used on this CPU");
        var g = Geometry(index);
        var t = new GuardedConvBuffers(g, seed: 11);
        using var device = Device.CreateCpu(new CpuKernelOptions { Threads = 2 });
        fixed (float* xp = t.X, gp = t.Gy, wp = t.W, bp = t.B, btp = t.Bt, yp = t.Y, dxp = t.Dx, dwp = t.Dw)
        {
            ConvKernels.ForwardWinogradCpu(device, xp, wp, bp, yp, g);
            ConvKernels.InputGradWinogradCpu(device, gp, wp, btp, dxp, g);
            ConvKernels.WeightGradWinogradCpu(device, xp, gp, dwp, g);
        }
        t.AssertNothingReadOrWrittenPastTheEnds();
    }

    private static int[] Bits(float[] a) => a.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>The two Winograd kernels themselves (whatever the dispatch would choose), forward and input gradient with biases.</summary>
    private static unsafe float[][] RunWinograd(CpuKernelOptions options, ConvGeometry g, float[] x, float[] w, float[] gy, float[] b, float[] bt)
    {
        using var device = Device.CreateCpu(options);
        var y = new float[g.N * g.Cout * g.P];
        var dx = new float[g.N * g.Cin * g.HW];
        var dw = new float[g.Cout * g.Ckk];
        fixed (float* xp = x, wp = w, gp = gy, bp = b, btp = bt, yp = y, dxp = dx, dwp = dw)
        {
            ConvKernels.ForwardWinogradCpu(device, xp, wp, bp, yp, g);
            ConvKernels.InputGradWinogradCpu(device, gp, wp, btp, dxp, g);
            ConvKernels.WeightGradWinogradCpu(device, xp, gp, dwp, g);
        }
        return [y, dx, dw];
    }

    /// <summary>Forward with bias and input gradient with bias (ConvTranspose2d's kernel), through the launchers.</summary>
    private static float[][] Run(CpuKernelOptions options, ConvGeometry g, float[] x, float[] w, float[] gy, float[] b, float[] bt)
    {
        using var device = Device.CreateCpu(options);
        using var scope = TensorScope.Begin();
        var tx = Tensor.FromArray(x, g.InputShape, device);
        var tw = Tensor.FromArray(w, g.WeightShape, device);
        var tg = Tensor.FromArray(gy, g.OutputShape, device);
        var tb = Tensor.FromArray(b, new Shape(g.Cout), device);
        var tbt = Tensor.FromArray(bt, new Shape(g.Cin), device);
        var y = Tensor.Zeros(g.OutputShape, device);
        var dx = Tensor.Zeros(g.InputShape, device);
        var dw = Tensor.Zeros(g.WeightShape, device);
        ConvKernels.Forward(tx, tw, tb, y, g);
        ConvKernels.BackwardInput(tg, tw, tbt, dx, g);
        ConvKernels.WeightGrad(tx, tg, dw, g);
        return [y.ToArray(), dx.ToArray(), dw.ToArray()];
    }
}
