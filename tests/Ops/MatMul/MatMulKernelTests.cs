using GpuGan.Tensors;
using Device = GpuGan.Tensors.Device;
using GpuGan.Tensors.Kernels;
using GpuGan.Tensors.Ops;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.MatMul;

/// <summary>Raw GEMM kernels (CPU SIMD and ILGPU) against the float64 reference.</summary>
[TestFixture]
public sealed class MatMulKernelTests
{
    // Tolerance |got − ref| ≤ atol + rtol·|ref|. Inputs are uniform in [−1, 1] and every kernel
    // accumulates k products in fp32 (FMA chains), so rounding errors grow like u·√k·(size of the
    // partial sums) with u = 2⁻²⁴; partial sums of random ±1 products stay O(√k). atol = 2e-6·k
    // (7e-4 at k = 340) sits well above that (≈ 1e-5 at k = 340) and far below the error of one
    // lost or misplaced product (≈ |a·b| ≈ 0.25). rtol covers the final alpha/beta rounding.
    private const double RtolBase = 1e-5;
    private static double Atol(int k, float alpha, float beta) => 2e-6 * Math.Max(k, 1) * Math.Max(1.0, Math.Abs(alpha)) + 1e-6 * Math.Abs(beta);

    private static readonly (int M, int N, int K)[] Shapes =
    {
        (1, 1, 1), (7, 13, 5), (65, 33, 17), (100, 1, 300), (1, 100, 300), (3, 200, 1),
        (64, 48, 340),          // conv-like: M = out channels, K = Cin·16-ish, more than one k-slice
        (129, 70, 257),         // edges in every dimension, two k-slices
        (33, 2100, 40),         // more than one nc block of packed B
        (300, 97, 65),          // more than one mc block of packed A
        (64, 48, 2600),         // C too small to split: k split into chunks (last one partial)
    };

    private static IEnumerable<TestCaseData> CpuCases()
    {
        foreach (var path in new[] { CpuGemmKernel.Auto, CpuGemmKernel.Avx2, CpuGemmKernel.Scalar })
            foreach (var (m, n, k) in Shapes)
                for (int t = 0; t < 4; t++)
                    yield return new TestCaseData(path.ToString(), t >= 2, t % 2 == 1, m, n, k)
                        .SetArgDisplayNames(path.ToString(), t >= 2 ? "At" : "A", t % 2 == 1 ? "Bt" : "B", $"{m}x{n}x{k}");
    }

    [TestCaseSource(nameof(CpuCases))]
    public void GemmCpu_MatchesReference(string pathName, bool transA, bool transB, int m, int n, int k)
    {
        var path = Enum.Parse<CpuGemmKernel>(pathName);
        RequirePath(path);
        var cpu = new CpuParallel(new CpuKernelOptions { Gemm = path });
        foreach (var (alpha, beta) in new[] { (1f, 0f), (0.75f, -1.5f), (-2f, 1f) })
        {
            var rng = new Random(1234 + m * 31 + n * 7 + k);
            var a = RandomArray(rng, m * k);
            var b = RandomArray(rng, k * n);
            var c = RandomArray(rng, m * n);
            var expected = (float[])c.Clone();
            MatMulKernels.GemmReference(transA, transB, m, n, k, alpha, a, b, beta, expected);
            RunCpu(cpu, transA, transB, m, n, k, alpha, a, b, beta, c);
            AssertClose(expected, c, Atol(k, alpha, beta), RtolBase, $"alpha={alpha} beta={beta}");
        }
    }

    [TestCase(false, false, 5, 7, 3)]
    [TestCase(true, true, 130, 90, 300)]
    [TestCase(false, true, 64, 2049, 48)]
    public void GemmCpu_BetaZeroIgnoresNaNInC(bool transA, bool transB, int m, int n, int k)
    {
        var rng = new Random(7);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var c = Enumerable.Repeat(float.NaN, m * n).ToArray();
        var expected = new float[m * n];
        MatMulKernels.GemmReference(transA, transB, m, n, k, 1.5f, a, b, 0f, expected);
        RunCpu(transA, transB, m, n, k, 1.5f, a, b, 0f, c);
        AssertClose(expected, c, Atol(k, 1.5f, 0f), RtolBase, "beta = 0 over NaN");
    }

    [Test]
    public void GemmCpu_KZeroScalesC()
    {
        var c = new[] { 1f, float.NaN, 3f, 4f };
        RunCpu(false, false, 2, 2, 0, 1f, Array.Empty<float>(), Array.Empty<float>(), 0f, c);
        Assert.That(c, Is.EqualTo(new[] { 0f, 0f, 0f, 0f }));
        c = new[] { 1f, 2f, 3f, 4f };
        RunCpu(false, false, 2, 2, 0, 1f, Array.Empty<float>(), Array.Empty<float>(), 2f, c);
        Assert.That(c, Is.EqualTo(new[] { 2f, 4f, 6f, 8f }));
    }

    [TestCase(false, false, 257, 1000, 300)]
    [TestCase(true, true, 512, 96, 520)]
    [TestCase(false, true, 64, 4100, 48)]
    [TestCase(true, false, 1100, 40, 130)]
    [TestCase(false, true, 64, 48, 4100)]   // split-k path
    public void GemmCpu_BitIdenticalAcrossThreadCounts(bool transA, bool transB, int m, int n, int k)
    {
        var rng = new Random(99);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var c0 = RandomArray(rng, m * n);
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3, 2 })
        {
            var cpu = new CpuParallel(new CpuKernelOptions { Threads = threads });
            var c = (float[])c0.Clone();
            RunCpu(cpu, transA, transB, m, n, k, 0.5f, a, b, 0.25f, c);
            if (first is null) first = c;
            else Assert.That(c, Is.EqualTo(first), $"threads = {threads} differs from threads = 1");
        }
    }

    // k == 1, n ≤ 8 or m ≤ 4: the skinny kernels (MatMulSkinny.cs) instead of the packed path. The dense last layer's three
    // GEMMs (Linear 6272 → 1 at batch 64), odd sizes (k not a multiple of 16 or 8, rows not a multiple of 4, k below one
    // vector), m == n == 1, k == 1 with m or n odd or 1, m ≤ 4 with k above the op(B) block (PackKc) and a partial strip,
    // n = 2..8 and m = 2..4 (the thresholds), and one size past each threshold (the packed path).
    private static readonly (int M, int N, int K)[] SkinnyShapes =
    {
        (64, 1, 6272), (37, 1, 45), (6, 1, 1000), (130, 1, 7), (1, 1, 77), (1, 1, 1),
        (1, 6272, 64), (1, 333, 71), (1, 1000, 300), (1, 15, 3),
        (64, 6272, 1), (33, 129, 1), (7, 1, 1), (1, 17, 1),
        (37, 2, 45), (66, 3, 300), (9, 8, 1000), (1, 8, 40), (2, 333, 71), (3, 1000, 300), (4, 130, 17), (4, 9, 600),
        (9, 9, 100), (5, 40, 120),
    };

    private static IEnumerable<TestCaseData> SkinnyCases()
    {
        foreach (var path in new[] { CpuGemmKernel.Auto, CpuGemmKernel.Avx2, CpuGemmKernel.Scalar })
            foreach (var (m, n, k) in SkinnyShapes)
                for (int t = 0; t < 4; t++)
                    yield return new TestCaseData(path.ToString(), t >= 2, t % 2 == 1, m, n, k)
                        .SetArgDisplayNames(path.ToString(), t >= 2 ? "At" : "A", t % 2 == 1 ? "Bt" : "B", $"{m}x{n}x{k}");
    }

    /// <summary>Float64 parity of the skinny shapes in every orientation, with β = 0 over a NaN-filled C, β ≠ 0 and α ≠ 1.</summary>
    [TestCaseSource(nameof(SkinnyCases))]
    public void GemmCpu_SkinnyShapesMatchReference(string pathName, bool transA, bool transB, int m, int n, int k)
    {
        var path = Enum.Parse<CpuGemmKernel>(pathName);
        RequirePath(path);
        var cpu = new CpuParallel(new CpuKernelOptions { Gemm = path, Threads = 2 });
        foreach (var (alpha, beta) in new[] { (1f, 0f), (-1.25f, 0f), (0.75f, -1.5f), (-2f, 1f) })
        {
            var rng = new Random(4321 + m * 31 + n * 7 + k);
            var a = RandomArray(rng, m * k);
            var b = RandomArray(rng, k * n);
            var c = beta == 0f ? Enumerable.Repeat(float.NaN, m * n).ToArray() : RandomArray(rng, m * n);
            var expected = (float[])c.Clone();
            MatMulKernels.GemmReference(transA, transB, m, n, k, alpha, a, b, beta, expected);
            RunCpu(cpu, transA, transB, m, n, k, alpha, a, b, beta, c);
            AssertClose(expected, c, Atol(k, alpha, beta), RtolBase, $"alpha={alpha} beta={beta}");
        }
    }

    /// <summary>
    /// The skinny kernels split the output over threads (rows, or column segments) and never k: the same bits for 1, 2 and 3
    /// threads, on shapes big enough to be cut into several chunks (the packed-B m ≤ 4 path included).
    /// </summary>
    [TestCase(false, true, 64, 1, 6272)]
    [TestCase(true, false, 1, 6272, 64)]
    [TestCase(false, true, 64, 6272, 1)]
    [TestCase(true, true, 1, 3000, 700)]
    [TestCase(true, false, 700, 1, 300)]
    [TestCase(false, false, 300, 5, 2000)]
    [TestCase(true, true, 3, 5000, 400)]
    [TestCase(false, false, 4, 5000, 400)]
    public void GemmCpu_SkinnyBitIdenticalAcrossThreadCounts(bool transA, bool transB, int m, int n, int k)
        => GemmCpu_BitIdenticalAcrossThreadCounts(transA, transB, m, n, k);

    /// <summary>
    /// A gathering panel source (one that only packs) gives the bits of the dense operand it stands for on the skinny
    /// paths too: op(B) materialised for n ≤ 8 and k == 1, packed block by block for m ≤ 4.
    /// </summary>
    [TestCase(false, false, 1, 1000, 300)]
    [TestCase(true, true, 1, 700, 90)]
    [TestCase(false, true, 50, 1, 333)]
    [TestCase(true, false, 50, 1, 333)]
    [TestCase(false, false, 40, 300, 1)]
    [TestCase(false, true, 1, 1, 20)]
    [TestCase(true, false, 3, 700, 90)]
    [TestCase(false, false, 4, 300, 200)]
    [TestCase(false, false, 60, 5, 333)]
    [TestCase(true, true, 60, 7, 333)]
    public unsafe void GemmCpu_SkinnyGatheringSourceMatchesDense(bool transA, bool transB, int m, int n, int k)
    {
        var rng = new Random(5);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var c0 = RandomArray(rng, m * n);
        var dense = (float[])c0.Clone();
        var gathered = (float[])c0.Clone();
        var cpu = new CpuParallel(new CpuKernelOptions { Threads = 2 });
        fixed (float* pa = a, pb = b, pd = dense, pg = gathered)
        {
            MatMulKernels.GemmCpu(cpu, transA, m, n, k, 0.5f, pa, new DenseB(pb, transB, k, n), -0.25f, pd);
            MatMulKernels.GemmCpu(cpu, transA, m, n, k, 0.5f, pa, new PackOnlyB(new DenseB(pb, transB, k, n)), -0.25f, pg);
        }
        Assert.That(gathered.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(dense.Select(BitConverter.SingleToInt32Bits)));
    }

    /// <summary>A panel source that hides its dense matrix (as the conv patch sources have none).</summary>
    private readonly unsafe struct PackOnlyB(DenseB inner) : ICpuPanelSourceB<PackOnlyB>
    {
        private readonly DenseB _inner = inner;

        public static void Pack(in PackOnlyB s, int pc, int kc, int jc, int nc, int nr, float* dst) => DenseB.Pack(in s._inner, pc, kc, jc, nc, nr, dst);

        public static bool TryDense(in PackOnlyB s, out float* b, out bool transB)
        {
            b = null;
            transB = false;
            return false;
        }
    }

    // ILGPU's CPU accelerator simulates every thread of a group: keep these shapes small.
    private static readonly (int M, int N, int K)[] IlgpuShapes = { (1, 1, 1), (7, 13, 5), (65, 33, 17), (70, 66, 70) };

    private static IEnumerable<TestCaseData> IlgpuCases()
    {
        foreach (var (m, n, k) in IlgpuShapes)
            for (int t = 0; t < 4; t++)
                yield return new TestCaseData(t >= 2, t % 2 == 1, m, n, k)
                    .SetArgDisplayNames(t >= 2 ? "At" : "A", t % 2 == 1 ? "Bt" : "B", $"{m}x{n}x{k}");
    }

    // The shared ILGPU CPU device: 8 warps of 32 threads, so the kernel's 16×16 groups fit.
    private static Device Ilgpu => Device.IlgpuCpu;

    [TestCaseSource(nameof(IlgpuCases))]
    public void GemmIlgpu_OnCpuAccelerator_MatchesReference(bool transA, bool transB, int m, int n, int k)
    {
        var acc = Ilgpu.Accelerator!;
        var rng = new Random(4321 + m + n + k);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var c = RandomArray(rng, m * n);
        const float alpha = 0.75f, beta = -0.5f;
        var expected = (float[])c.Clone();
        MatMulKernels.GemmReference(transA, transB, m, n, k, alpha, a, b, beta, expected);

        using var da = acc.Allocate1D(a);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D(c);
        MatMulKernels.GemmIlgpu(Ilgpu, transA, transB, m, n, k, alpha, da.View, db.View, beta, dc.View);
        acc.Synchronize();
        AssertClose(expected, dc.GetAsArray1D(), Atol(k, alpha, beta), RtolBase, "ILGPU CPU accelerator");
    }

    [Test]
    public void GemmIlgpu_BetaZeroIgnoresNaNInC()
    {
        var acc = Ilgpu.Accelerator!;
        const int m = 9, n = 70, k = 20;
        var rng = new Random(5);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var expected = new float[m * n];
        MatMulKernels.GemmReference(false, false, m, n, k, 1f, a, b, 0f, expected);
        using var da = acc.Allocate1D(a);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D(Enumerable.Repeat(float.NaN, m * n).ToArray());
        MatMulKernels.GemmIlgpu(Ilgpu, false, false, m, n, k, 1f, da.View, db.View, 0f, dc.View);
        acc.Synchronize();
        AssertClose(expected, dc.GetAsArray1D(), Atol(k, 1f, 0f), RtolBase, "beta = 0 over NaN");
    }

    /// <summary>
    /// The three ILGPU paths, each asserted by the kernels it launched: the 64×64 tiled kernel alone (a device
    /// that asks for one group), split k (few tiles, or a k past GemmMaxSerialK) with its fixed-order in-kernel combine, and
    /// one thread per element for a short k. Against the reference, and bit-identical when run again.
    /// </summary>
    [TestCase(1, 2048, 70, 66, 70, false, false, "tiled")]
    [TestCase(1, 2048, 9, 65, 300, true, true, "tiled")]
    [TestCase(1, 2048, 130, 70, 40, false, true, "tiled")]
    [TestCase(1, 2048, 200, 129, 33, true, false, "tiled")]
    [TestCase(264, 2048, 70, 66, 70, true, false, "split")]
    [TestCase(264, 2048, 5, 7, 1000, false, true, "split")]
    [TestCase(1, 64, 66, 70, 250, false, false, "split")]
    [TestCase(264, 2048, 65, 33, 17, true, true, "short")]
    public void GemmIlgpuPaths(int targetGroups, int maxSerialK, int m, int n, int k, bool transA, bool transB, string path)
    {
        using var device = Device.CreateIlgpuCpu(new GpuKernelOptions { TargetGroups = targetGroups, GemmMaxSerialK = maxSerialK });
        var acc = device.Accelerator!;
        var rng = new Random(77 + m + n + k);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var c = RandomArray(rng, m * n);
        const float alpha = 0.75f, beta = -0.5f;
        var expected = (float[])c.Clone();
        MatMulKernels.GemmReference(transA, transB, m, n, k, alpha, a, b, beta, expected);
        float[] Run(LaunchRecorder? recorder)
        {
            using var da = acc.Allocate1D(a);
            using var db = acc.Allocate1D(b);
            using var dc = acc.Allocate1D(c);
            using (recorder is null ? null : device.Attach(recorder))
                MatMulKernels.GemmIlgpu(device, transA, transB, m, n, k, alpha, da.View, db.View, beta, dc.View);
            acc.Synchronize();
            return dc.GetAsArray1D();
        }
        var recorded = new LaunchRecorder();
        var first = Run(recorded);
        // Generic kernels are named with their type arguments ("GemmTiledKernel<ARowMajor, BColMajor, CRowMajor>").
        var kernels = recorded.Launches.Select(l => l.Kernel.Split('<')[0]).ToArray();
        if (path != "short")
            Assert.That(recorded.Launches[0].Kernel, Does.EndWith($"<{(transA ? "AColMajor" : "ARowMajor")}, {(transB ? "BColMajor" : "BRowMajor")}, CRowMajor>"), "the instantiation for the transposes");
        string[] want = path switch
        {
            "tiled" => ["MatMulKernels.GemmTiledKernel"],
            "split" => ["MatMulKernels.GemmTiledKernel"],   // the split combines in-kernel: one launch
            _ => ["MatMulKernels.GemmShortKKernel"],
        };
        Assert.That(kernels, Is.EqualTo(want), $"{path} path");
        if (path == "split")
        {
            var (splits, chunk) = MatMulKernels.SplitK(m, n, k, device.GpuOptions);
            Assert.That(recorded.Launches[0].Grid.Z, Is.EqualTo(splits).And.GreaterThan(1));
            Assert.That(chunk, Is.LessThanOrEqualTo(maxSerialK));
            Assert.That(recorded.Launches[0].Cost.SerialLoop, Is.EqualTo(chunk + MatMulKernels.CombinePerThread(m, n, splits)));
        }
        AssertClose(expected, first, Atol(k, alpha, beta), RtolBase, $"{path} GEMM on the ILGPU CPU accelerator");
        Assert.That(Run(null).Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Select(BitConverter.SingleToInt32Bits)), "bit-identical run to run");
    }

    /// <summary>
    /// The split-k GEMM's in-kernel combine is deterministic and adds the partials in a fixed order: the same launch
    /// twice gives identical bits (with the arrival counters reused, so they were reset), and those bits equal the
    /// order-fixed sum computed here: with G = SplitGroup(S), each group of G consecutive splits summed in split order
    /// (acc = P_first, acc += P_next, …), then the group sums in group order (one group: the partials in split order),
    /// then α·acc + β·C in float, where P_s is the product over split s's k chunk run unsplit on a device that never
    /// splits (the same per-element FMA order; the zero padding past a ragged chunk adds exact zeros). Ragged tiles in
    /// m and n, a ragged last chunk, β ≠ 0; two-level (S = 22, 32) and one-level (S = 7) combines.
    /// </summary>
    [TestCase(150, 70, 700, false, true)]
    [TestCase(40, 130, 1000, true, false)]
    [TestCase(150, 70, 200, false, false)]
    public void SplitKCombineIsBitExactInSplitOrder(int m, int n, int k, bool transA, bool transB)
    {
        using var device = Device.CreateIlgpuCpu(new GpuKernelOptions { TargetGroups = 264, GemmMaxSerialK = 2048 });
        using var unsplit = Device.CreateIlgpuCpu(new GpuKernelOptions { TargetGroups = 1, GemmMaxSerialK = 1 << 20 });
        var (splits, chunk) = MatMulKernels.SplitK(m, n, k, device.GpuOptions);
        Assert.That(splits, Is.GreaterThan(2), "the case must split k");
        int gsize = MatMulKernels.SplitGroup(splits);
        Assert.That(k % chunk, Is.Not.Zero, "a ragged last chunk");
        var rng = new Random(5 + m + k);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var c = RandomArray(rng, m * n);
        const float alpha = 1.25f, beta = 0.5f;
        float[] Gemm(Device d, int kk, float[] aa, float[] bb, float al, float be)
        {
            var acc = d.Accelerator!;
            using var da = acc.Allocate1D(aa);
            using var db = acc.Allocate1D(bb);
            using var dc = acc.Allocate1D(c);
            MatMulKernels.GemmIlgpu(d, transA, transB, m, n, kk, al, da.View, db.View, be, dc.View);
            acc.Synchronize();
            return dc.GetAsArray1D();
        }
        var first = Gemm(device, k, a, b, alpha, beta);
        var second = Gemm(device, k, a, b, alpha, beta);
        Assert.That(second.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Select(BitConverter.SingleToInt32Bits)), "bit-identical run to run");

        var sum = new float[m * n];
        var groupSum = new float[m * n];
        for (int s = 0; s < splits; s++)
        {
            int k0 = s * chunk, len = Math.Min(k, k0 + chunk) - k0;
            // op(A)[:, k0..k0+len) and op(B)[k0..k0+len, :], stored as the transposes say.
            var aS = new float[m * len];
            var bS = new float[len * n];
            for (int i = 0; i < m; i++)
                for (int p = 0; p < len; p++)
                    aS[transA ? p * m + i : i * len + p] = transA ? a[(k0 + p) * m + i] : a[i * k + k0 + p];
            for (int p = 0; p < len; p++)
                for (int j = 0; j < n; j++)
                    bS[transB ? j * len + p : p * n + j] = transB ? b[j * k + k0 + p] : b[(k0 + p) * n + j];
            Assert.That(MatMulKernels.SplitK(m, n, len, unsplit.GpuOptions).Splits, Is.EqualTo(1));
            var part = Gemm(unsplit, len, aS, bS, 1f, 0f);
            for (int e = 0; e < m * n; e++) groupSum[e] = s % gsize == 0 ? part[e] : groupSum[e] + part[e];
            if (s % gsize == gsize - 1 || s == splits - 1)
                for (int e = 0; e < m * n; e++) sum[e] = s < gsize ? groupSum[e] : sum[e] + groupSum[e];
        }
        var expected = new float[m * n];
        for (int e = 0; e < m * n; e++) expected[e] = alpha * sum[e] + beta * c[e];
        Assert.That(first.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToInt32Bits)),
            "the in-kernel combine equals the partials added in the fixed order");
    }

    /// <summary>
    /// GemmPanelsCpu (the Winograd point GEMMs: operands the transforms wrote as packed panels) sums as GemmCpu's packed
    /// path does, so it gives GemmCpu's bits for every operand kind (dense, either transposition, or prepacked panels) on
    /// shapes with two k-slices and ragged edges, two mc blocks of A, two nc blocks of B, and β ≠ 0 onto a preset C. A
    /// panel offset or stride off by one slice or panel changes the products, not just their rounding.
    /// </summary>
    [TestCase(129, 70, 257)]
    [TestCase(300, 97, 65)]
    [TestCase(33, 2100, 40)]
    [TestCase(64, 48, 340)]
    public unsafe void GemmPanelsGivesGemmCpusBits(int m, int n, int k)
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.Ignore("AVX-512F not supported on this CPU");
        Assert.That(MatMulKernels.TakesSplitK(CpuGemmKernel.Auto, m, n, k), Is.False, "the case must take GemmCpu's packed path");
        var rng = new Random(11 + m + n + k);
        var a = RandomArray(rng, m * k);
        var b = RandomArray(rng, k * n);
        var c0 = RandomArray(rng, m * n);
        var serial = new CpuParallel(new CpuKernelOptions { Threads = 1 });
        var aPanels = new float[(m + 7) / 8 * 8 * k];
        var bPanels = new float[(n + 31) / 32 * 32 * k];
        foreach (bool transA in new[] { false, true })
        foreach (bool transB in new[] { false, true })
        foreach (float beta in new[] { 0f, 0.5f })
        for (int kinds = 0; kinds < 4; kinds++)
        {
            bool packedA = (kinds & 1) != 0, packedB = (kinds & 2) != 0;
            var expected = (float[])c0.Clone();
            var got = (float[])c0.Clone();
            fixed (float* pa = a, pb = b, pe = expected, pg = got, ap = aPanels, bp = bPanels)
            {
                MatMulKernels.GemmCpu(serial, transA, transB, m, n, k, 1f, pa, pb, beta, pe);
                MatMulKernels.PackPanelsA(transA, m, k, pa, ap);
                MatMulKernels.PackPanelsB(transB, k, n, pb, bp);
                MatMulKernels.GemmPanelsCpu(m, n, k,
                    packedA ? MatMulKernels.GemmOperand.Panels(ap) : MatMulKernels.GemmOperand.Dense(pa, transA),
                    packedB ? MatMulKernels.GemmOperand.Panels(bp) : MatMulKernels.GemmOperand.Dense(pb, transB), beta, pg);
            }
            Assert.That(got.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToInt32Bits)),
                $"A {(packedA ? "panels" : transA ? "dense ᵀ" : "dense")}, B {(packedB ? "panels" : transB ? "dense ᵀ" : "dense")}, β {beta}");
        }
    }

    private static void RequirePath(CpuGemmKernel path)
    {
        if (path == CpuGemmKernel.Avx2 && !(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported))
            Assert.Ignore("AVX2+FMA not supported on this CPU");
    }

    private static void RunCpu(bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, float[] b, float beta, float[] c)
        => RunCpu(Device.Cpu.Parallel, transA, transB, m, n, k, alpha, a, b, beta, c);

    private static unsafe void RunCpu(CpuParallel cpu, bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, float[] b, float beta, float[] c)
    {
        fixed (float* pa = a, pb = b, pc = c)
            MatMulKernels.GemmCpu(cpu, transA, transB, m, n, k, alpha, pa, pb, beta, pc);
    }

    private static float[] RandomArray(Random rng, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static void AssertClose(float[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = atol + rtol * Math.Abs(expected[i]);
            double err = Math.Abs((double)actual[i] - expected[i]);
            if (!(err <= tol))
                Assert.Fail($"{what}: element {i}: got {actual[i]}, expected {expected[i]} (|err| {err:E2} > tol {tol:E2})");
        }
    }
}
