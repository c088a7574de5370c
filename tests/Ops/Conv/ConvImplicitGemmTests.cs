using GpuGan.Tensors;
using GpuGan.Tensors.Ops;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Conv;

/// <summary>
/// The cpu set's implicit-GEMM convolution (patches gathered straight into the GEMM's B panels) against its
/// im2col reference (<see cref="ConvLoweringOptions.Im2Col"/>), bit for bit: the forward and the weight gradient
/// pack the same values into the same panels, so every sum keeps its order. Over padding, stride 1/2/3,
/// dilation, odd and non-square sizes, Cin = 1 and 3, pointwise, one sample per group, groups of 2 with a
/// partial last group and the default grouping, 1 and 2 threads, each micro-kernel family (the scalar family
/// and tiny products take the unpacked loop on a materialised B), and weight gradients that split k.
/// </summary>
[TestFixture, Category("cpu")]
public sealed class ConvImplicitGemmTests
{
    // (N, Cin, H, W, Cout, k, stride, pad, dilation)
    private static readonly (int N, int Cin, int H, int W, int Cout, int K, int S, int P, int D)[] Geometries =
    [
        (3, 3, 9, 7, 10, 3, 1, 1, 1),     // padding, odd sizes, Cout not a multiple of MR
        (4, 1, 14, 14, 16, 4, 2, 1, 1),   // Cin = 1, stride 2 (the 28-pixel models' first layer, smaller)
        (2, 5, 11, 10, 12, 3, 2, 2, 2),   // dilation 2 with padding 2
        (3, 8, 6, 5, 10, 1, 1, 0, 1),     // pointwise (direct with one sample per group, patches otherwise)
        (3, 4, 7, 9, 6, 1, 2, 0, 1),      // 1×1 stride 2
        (2, 20, 8, 8, 24, 4, 2, 1, 1),    // Ckk = 320: the forward sums two k-slices
        (3, 2, 13, 10, 7, 4, 3, 2, 2),    // stride 3, taps outside on both sides
        (8, 3, 32, 32, 32, 4, 2, 1, 1),   // weight gradient splits k (k = 2048 columns, C = 32×48)
        (2, 1, 3, 3, 2, 2, 1, 0, 1),      // tiny: the unpacked loop
        (2, 2, 70, 66, 3, 3, 2, 1, 1),    // Wo = 33: the reference im2col takes the row walk (stride 2, masked 16-output blocks)
        (1, 2, 34, 35, 3, 3, 1, 1, 1),    // Wo = 35, stride 1: the row walk's row copies
        (3, 3, 9, 7, 1, 3, 1, 1, 1),      // Cout = 1: forward and weight gradient are m == 1 GEMMs (the skinny path)
        (3, 1, 6, 5, 4, 1, 1, 0, 1),      // Cin = 1 pointwise: the forward has k == 1, the weight gradient n == 1
    ];

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (var gemm in new[] { CpuGemmKernel.Auto, CpuGemmKernel.Avx2, CpuGemmKernel.Scalar })
            for (int i = 0; i < Geometries.Length; i++)
                yield return new TestCaseData(gemm, i).SetArgDisplayNames(gemm.ToString(), $"geometry {i}");
    }

    [TestCaseSource(nameof(Cases))]
    public void ImplicitGemmIsBitIdenticalToIm2Col(CpuGemmKernel gemm, int index)
    {
        if (gemm == CpuGemmKernel.Avx2 && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.Ignore("no AVX2 on this CPU");
        if (gemm == CpuGemmKernel.Auto && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.Ignore("no AVX2: Auto is the scalar family");
        var (n, cin, h, w, cout, k, s, p, d) = Geometries[index];
        int ho = ConvGeometry.OutputSize(h, k, s, p, d), wo = ConvGeometry.OutputSize(w, k, s, p, d);
        var g = new ConvGeometry(n, cin, h, w, cout, k, k, ho, wo, s, p, d);
        var rng = new Random(100 + index);
        float[] Random(int count)
        {
            var a = new float[count];
            for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
            a[0] = -0f; // a signed zero must travel as itself
            return a;
        }
        float[] x = Random(n * cin * h * w), wt = Random(cout * g.Ckk), gy = Random(n * cout * g.P), b = Random(cout);

        // One sample per group (column target 1), groups of 2 (a budget of two samples' permute buffer and tables; a
        // partial last group when N is odd: the implicit groups are at least the column target, so only the budget cuts
        // the batch into groups of 2 + 1), the default grouping.
        float[]? firstForward = null;
        foreach (var lowering in new[]
                 {
                     new ConvLoweringOptions { ColumnTarget = 1 },
                     new ConvLoweringOptions { WorkspaceBudget = 2 * (g.Cout + 3L) * g.P },
                     new ConvLoweringOptions(),
                 })
        foreach (int threads in new[] { 1, 2 })
        {
            var (yRef, dwRef) = Run(new CpuKernelOptions { Threads = threads, Gemm = gemm, Conv = lowering with { Im2Col = true } }, g, x, wt, gy, b);
            var (y, dw) = Run(new CpuKernelOptions { Threads = threads, Gemm = gemm, Conv = lowering }, g, x, wt, gy, b);
            string what = $"{g}, {ConvKernels.PatchGroupSize(g, lowering)} samples per group, {threads} threads, gemm {gemm}";
            Assert.That(Bits(y), Is.EqualTo(Bits(yRef)), what + ": forward");
            Assert.That(Bits(dw), Is.EqualTo(Bits(dwRef)), what + ": weight gradient");
            // The forward's group size only changes n, not any output's k order: same bits for every grouping here
            // (k ≤ 2048, so no split-k; the unpacked loop and one packed k-slice sum alike). The weight gradient's
            // groups are a sum order, so only the bit equality with im2col is asserted for it.
            firstForward ??= y;
            Assert.That(Bits(y), Is.EqualTo(Bits(firstForward)), what + ": forward against one sample per group");
        }
    }

    /// <summary>The case list reaches the GEMM's split-k path with a patch source (else the bit test above would not cover it).</summary>
    [Test]
    public void SomeWeightGradientSplitsK()
    {
        var lowering = new ConvLoweringOptions();
        bool any = Geometries.Any(t =>
        {
            int ho = ConvGeometry.OutputSize(t.H, t.K, t.S, t.P, t.D), wo = ConvGeometry.OutputSize(t.W, t.K, t.S, t.P, t.D);
            var g = new ConvGeometry(t.N, t.Cin, t.H, t.W, t.Cout, t.K, t.K, ho, wo, t.S, t.P, t.D);
            int cols = ConvKernels.PatchGroupSize(g, lowering) * g.P;
            return MatMulKernels.TakesSplitK(CpuGemmKernel.Auto, g.Cout, g.Ckk, cols);
        });
        Assert.That(any, Is.True);
    }

    /// <summary>
    /// The patch sources pack exactly the panels the dense PackB packs from the im2col matrix, for a partial group whose
    /// column table describes more samples than x holds: x is followed by NaNs, so a packer that read the table's
    /// entries past n (instead of writing the padding zeros) would show them. Whole and ragged panels, nr = 32 and 16,
    /// a k range in the middle.
    /// </summary>
    [TestCase(3, 9, 7, 3, 1, 1, 1)]
    [TestCase(1, 14, 14, 4, 2, 1, 1)]
    [TestCase(5, 11, 10, 3, 2, 2, 2)]
    public unsafe void PatchPanelsEqualDensePanelsOfIm2Col(int cin, int h, int w, int k, int s, int p, int d)
    {
        int ho = ConvGeometry.OutputSize(h, k, s, p, d), wo = ConvGeometry.OutputSize(w, k, s, p, d);
        const int gs = 4, cnt = 3;
        var g = new ConvGeometry(cnt, cin, h, w, 2, k, k, ho, wo, s, p, d);
        int n = cnt * g.P, sample = cin * h * w;
        var x = new float[(gs + 1) * sample];
        var rng = new Random(7);
        for (int i = 0; i < x.Length; i++) x[i] = i < cnt * sample ? (float)(rng.NextDouble() * 2 - 1) : float.NaN;
        var col = new float[g.Ckk * n];
        var tables = new int[ConvKernels.PatchTableFloats(g, gs)];
        using var device = Device.CreateCpu(new CpuKernelOptions { Threads = 1 });
        fixed (float* xp = x, cp = col)
        fixed (int* tp = tables)
        {
            ConvKernels.Im2ColCpu(device.Parallel, xp, cp, g, 0, cnt);
            var pt = ConvKernels.BuildPatchTables(g, gs, tp);
            foreach (int nr in new[] { 32, 16 })
            {
                // Forward: op(B) = col (Ckk × n), k rows [1, Ckk − 1), all columns.
                int kc = Math.Max(1, g.Ckk - 2), panels = (n + nr - 1) / nr;
                var dense = new float[panels * nr * kc];
                var patch = new float[dense.Length];
                Array.Fill(patch, 5f);
                fixed (float* dp = dense, pp = patch)
                {
                    MatMulKernels.PackB(false, g.Ckk, n, cp, 1, kc, 0, n, nr, dp);
                    var src = new ConvKernels.ConvPatchB(xp, pt, n);
                    ConvKernels.ConvPatchB.Pack(in src, 1, kc, 0, n, nr, pp);
                }
                Assert.That(Bits(patch), Is.EqualTo(Bits(dense)), $"forward panels, nr {nr}");

                // Weight gradient: op(B) = colᵀ (n × Ckk), k rows [1, n − 1), all Ckk columns.
                kc = n - 2;
                panels = (g.Ckk + nr - 1) / nr;
                dense = new float[panels * nr * kc];
                patch = new float[dense.Length];
                Array.Fill(patch, 5f);
                fixed (float* dp = dense, pp = patch)
                {
                    MatMulKernels.PackB(true, n, g.Ckk, cp, 1, kc, 0, g.Ckk, nr, dp);
                    var src = new ConvKernels.ConvPatchBT(xp, pt);
                    ConvKernels.ConvPatchBT.Pack(in src, 1, kc, 0, g.Ckk, nr, pp);
                }
                Assert.That(Bits(patch), Is.EqualTo(Bits(dense)), $"weight-gradient panels, nr {nr}");
            }
        }
    }

    /// <summary>
    /// The input gradient's op(B) read in place from gy (N, C, P) packs exactly the panels the dense PackB packs from
    /// the permuted copy NcpToCnpCpu writes: panels that cross sample boundaries (P = 49, 7, 40), one pixel per sample
    /// (P = 1), a column range starting inside the group, a k (channel) range in the middle, nr = 32, 16 and one panel
    /// of all n columns (the unpacked loop's materialised B). gy is followed by NaNs, so a read past the group shows.
    /// </summary>
    [TestCase(5, 49, 3)]
    [TestCase(6, 7, 5)]
    [TestCase(4, 40, 2)]
    [TestCase(9, 1, 40)]
    public unsafe void ChannelMajorPanelsEqualDensePanelsOfThePermutedCopy(int channels, int pixels, int cnt)
    {
        var gy = new float[(cnt + 1) * channels * pixels];
        var rng = new Random(11);
        for (int i = 0; i < gy.Length; i++) gy[i] = i < cnt * channels * pixels ? (float)(rng.NextDouble() * 2 - 1) : float.NaN;
        int n = cnt * pixels;
        var permuted = new float[channels * n];
        using var device = Device.CreateCpu(new CpuKernelOptions { Threads = 1 });
        fixed (float* gp = gy, cp = permuted)
        {
            ConvKernels.NcpToCnpCpu(device.Parallel, gp, cp, channels, pixels, 0, cnt);
            var src = new ConvKernels.NcpChannelsB(gp, channels, pixels, n);
            foreach (int nr in new[] { 32, 16, n })
            foreach (int jc in new[] { 0, Math.Min(n - 1, 3) })
            {
                int kc = Math.Max(1, channels - 2), nc = n - jc, panels = (nc + nr - 1) / nr;
                var dense = new float[panels * nr * kc];
                var view = new float[dense.Length];
                Array.Fill(view, 5f);
                fixed (float* dp = dense, vp = view)
                {
                    MatMulKernels.PackB(false, channels, n, cp, 1, kc, jc, nc, nr, dp);
                    ConvKernels.NcpChannelsB.Pack(in src, 1, kc, jc, nc, nr, vp);
                }
                Assert.That(Bits(view), Is.EqualTo(Bits(dense)), $"C {channels}, P {pixels}, {cnt} samples, nr {nr}, columns from {jc}");
            }
        }
    }

    private static int[] Bits(float[] a) => a.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static (float[] Y, float[] Dw) Run(CpuKernelOptions options, ConvGeometry g, float[] x, float[] w, float[] gy, float[] b)
    {
        // GemmOnly: these shapes have few channels, which would otherwise take the direct kernels (ConvFewChannelTests).
        using var device = Device.CreateCpu(options with { Conv = options.Conv with { GemmOnly = true } });
        using var scope = TensorScope.Begin();
        var tx = Tensor.FromArray(x, g.InputShape, device);
        var tw = Tensor.FromArray(w, g.WeightShape, device);
        var tg = Tensor.FromArray(gy, g.OutputShape, device);
        var tb = Tensor.FromArray(b, new Shape(g.Cout), device);
        var y = Tensor.Zeros(g.OutputShape, device);
        var dw = Tensor.Zeros(g.WeightShape, device);
        ConvKernels.Forward(tx, tw, tb, y, g);
        ConvKernels.WeightGrad(tx, tg, dw, g);
        return (y.ToArray(), dw.ToArray());
    }
}
