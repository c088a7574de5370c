// Large op-table rows: shapes that cross every chunking and split threshold of the kernels, which the
// small rows of the op table (≤ ~300 elements) never reach. Each row states the thresholds it crosses,
// with the threshold read from the code (a named constant, by reflection where it is private; the
// device's options; or the kernel's own size function), and a test asserts it really crosses them, so a
// retuned constant that leaves a row below its threshold fails instead of silently testing less.
//   SIMD chunking     CpuParallel.ForChunks with CpuParallel.ChunkWork elements per chunk (unary, loss),
//                     Grain(len) rows per chunk (broadcast binary), Grain(L·runs, 2^16) outputs per chunk
//                     (reductions, innermost reduced), column blocks of 1024 (reductions, innermost kept),
//                     Grain(M) groups per chunk and blocks of NormalizationKernels.Block (normalisation)
//   GEMM              SmallFlops (packed path), Kc (k slices), McPanels·MR and NcPanels·NR (A and B blocks),
//                     the thread split (2mnk ≥ 2^22 and C wide enough), the split-K path (k ≥ 2·KSplit with a
//                     small C); ILGPU: the Bm×Bn tile and Bk slice, the three launch paths (GpuKernelOptions
//                     TargetGroups, GemmMaxSerialK, MinKChunk: split over k, the short-k kernel, tiles alone)
//   conv lowering     GroupSize from the cpu set's ConvLoweringOptions.ColumnTarget / WorkspaceBudget (the ILGPU set
//                     takes the whole batch as one group by default): several sample groups
//                     with a ragged last one, one sample per group (the GEMM writes straight into the output),
//                     the pointwise direct path, the dense (whole-input kernel) path; im2col/col2im row chunks
//   ILGPU             normalisation groups walking M > GroupSize elements per thread block
// Checks (set before the first run; GradCheck.cs's rule, S the largest |reference|): forward against the
// float64 reference and the first-order gradient against the float64 VJP on a 4-thread cpu device
// (|ours − ref| ≤ 1e-5·S + 1e-4·|ref|: sums over k terms in blocks carry ~√k·6e-8 relative error), and
// ILGPU against SIMD, forward and first order, with the same rule. The simulator runs in every suite the rows
// it does in a few seconds; the rest with GPUGAN_FULL_CHECKS=1.
using System.Reflection;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using GpuGan.Tensors.Ops;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops;

/// <summary>
/// A large row and the thresholds it crosses: (what, the row's value, the threshold it must exceed). <paramref name="IlgpuAtLevel2"/>,
/// when set, says why the row's ILGPU-vs-SIMD check runs at level 2 only (its thresholds are the host kernels').
/// </summary>
public sealed record LargeRow(OpCase Op, Func<(string What, long Value, long Threshold)[]> Crossings, bool SlowOnIlgpu = false, string? IlgpuAtLevel2 = null)
{
    public override string ToString() => Op.Name;
}

public static class LargeRows
{
    /// <summary>A constant of a kernel class, public or private (read by reflection: the test follows the code).</summary>
    public static long Const(Type type, string name)
    {
        var f = type.GetField(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static);
        Assert.That(f is { IsLiteral: true }, Is.True, $"{type.Name}.{name} is not a constant any more: update the large rows");
        return Convert.ToInt64(f!.GetRawConstantValue());
    }

    private static long Chunks(long items, long grain) => (items + grain - 1) / grain;

    private static int Size(int[] s) => s.Aggregate(1, (a, b) => a * b);

    private static double[] Broadcast64(double[] u, int[] from, int[] to)
        => ElementwiseKernels.BinaryReference<CopyOp>(u, from, new double[Size(to)], to);

    public static IEnumerable<LargeRow> All()
    {
        long chunkWork = CpuParallel.ChunkWork;

        // ---- elementwise
        {
            int[] s = [7, 73, 137];   // 70,007 elements: three chunks, the last one ragged
            yield return new LargeRow(new OpCase
            {
                Name = "Tanh[large 7x73x137]", InputShapes = [s], Forward = x => x[0].Tanh(),
                Reference = r => ElementwiseKernels.UnaryReference<TanhOp>(r[0]),
                Vjp = (r, u) => [ElementwiseKernels.UnaryVjpReference<TanhOp>(r[0], u)],
            }, () => [("unary chunks of CpuParallel.Grain(1) = ChunkWork elements", Chunks(Size(s), CpuParallel.Grain(1)), 2)]);
        }
        {
            int[] a = [4, 8, 64, 64], b = [1, 8, 1, 1];
            yield return new LargeRow(new OpCase
            {
                Name = "Mul[large per-channel 4x8x64x64]", InputShapes = [a, b], Forward = x => x[0].Mul(x[1]),
                Reference = r => ElementwiseKernels.BinaryReference<MulOp>(r[0], a, r[1], b),
                Vjp = (r, u) => { var (ga, gb) = ElementwiseKernels.BinaryVjpReference<MulOp>(r[0], a, r[1], b, u); return [ga, gb]; },
            }, () =>
            {
                var l = ElementwiseKernels.Layout(new Shape(a), new Shape(b), new Shape(a), merge: true);
                long rows = (long)l.D0 * l.D1 * l.D2;
                return [("binary row chunks of Grain(len) rows", Chunks(rows, CpuParallel.Grain(l.D3)), 2)];
            }, SlowOnIlgpu: true);
        }
        {
            // 73,235: the fused backward of the critic's activation. Same-shape operands merge into ONE row, which
            // BinaryCpu cuts into ChunkWork segments (three here, the last one ragged) so it runs on every thread.
            int[] s = [5, 97, 151];
            yield return new LargeRow(new OpCase
            {
                Name = "LeakyBackward[large 5x97x151]", InputShapes = [s, s], Forward = x => Tensor.LeakyBackward(x[0], x[1], 0.2f),
                Reference = r => ElementwiseKernels.BinaryReference<LeakyBackwardOp>(r[0], s, r[1], s, (double)0.2f),
                Vjp = (r, u) => { var (ga, gb) = ElementwiseKernels.BinaryVjpReference<LeakyBackwardOp>(r[0], s, r[1], s, u, (double)0.2f); return [ga, gb]; },
                Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, -2f, 2f) : Ref.AwayFromZero(g, n),
            }, () => [("segments of ChunkWork elements of one merged row", Chunks(Size(s), CpuParallel.ChunkWork), 2)]);
        }

        // ---- reductions
        {
            int[] s = [64, 3000], o = [64, 1];
            yield return new LargeRow(new OpCase
            {
                Name = "Sum[large 64x3000, axis 1]", InputShapes = [s], Forward = x => x[0].Sum([1], keepDim: true),
                Reference = r => ReductionKernels.SumReference(r[0], s, o), Vjp = (r, u) => [Broadcast64(u, o, s)],
            }, () => [("innermost-reduced output chunks of Grain(L·runs, 2^16) (SumCpu's literal 1 << 16)", Chunks(64, CpuParallel.Grain(3000, 1 << 16)), 2)]);
        }
        {
            int[] s = [40, 2100], o = [1, 2100];
            yield return new LargeRow(new OpCase
            {
                Name = "Sum[large 40x2100, axis 0]", InputShapes = [s], Forward = x => x[0].Sum([0], keepDim: true),
                Reference = r => ReductionKernels.SumReference(r[0], s, o), Vjp = (r, u) => [Broadcast64(u, o, s)],
            }, () => [("innermost-kept column blocks of 1024 (SumCpu's ColBlock)", Chunks(2100, 1024), 2)]);
        }
        {
            int[] s = [8, 9001];
            yield return new LargeRow(new OpCase
            {
                Name = "BceWithLogits[large 8x9001]", InputShapes = [s, s], Forward = x => Losses.BceWithLogits(x[0], x[1]),
                Reference = r => [r[0].Select((x, i) => LossKernels.Reference(LossOp.BceWithLogits, x, r[1][i])).Average()],
                Vjp = (r, u) =>
                {
                    int n = r[0].Length;
                    var d = r[0].Select((x, i) => LossKernels.ReferenceDerivative(LossOp.BceWithLogits, x, r[1][i])).ToArray();
                    return [d.Select(p => u[0] * p.X / n).ToArray(), d.Select(p => u[0] * p.T / n).ToArray()];
                },
                Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, -4f, 4f) : Ref.Uniform(g, n, 0f, 1f),
            }, () => [("loss chunks of ChunkWork elements", Chunks(Size(s), chunkWork), 2)]);
        }

        // ---- normalisation
        long block = Const(typeof(NormalizationKernels), "Block");
        {
            int[] s = [4, 8, 48, 48];
            var p = NormView.Instance(s);
            yield return new LargeRow(new OpCase
            {
                Name = "InstanceNorm2d[large 4x8x48x48, affine]", InputShapes = [s, [8], [8]], Forward = x => x[0].InstanceNorm2d(x[1], x[2]),
                Reference = r => NormView.Forward(r[0], p, r[1], r[2]), Vjp = (r, u) => NormView.Vjp(r[0], p, r[1], u, true),
                Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, -2f, 2f) : Ref.AwayFromZero(g, n, 0.5f, 1.5f),
            }, () =>
            [
                ("elements per group beyond the CPU block", (long)p.A * p.L, block),
                ("group chunks of Grain(M) groups", Chunks((long)p.B * p.P, CpuParallel.Grain((long)p.A * p.L)), 2),
                ("elements per group beyond the ILGPU group's threads", (long)p.A * p.L, NormalizationKernels.GroupSize),
            ], SlowOnIlgpu: true,
            // 11 s on the simulator, the suite's slowest op-table row. Its ILGPU path is the fused norm kernel with contiguous
            // groups (A = 1) beyond the group's threads, which LayerNorm[large 3x16x24x24] runs (A = 1, 9216 elements a group),
            // with the per-channel affine that BatchNorm2d[large 8x4x24x24] runs; its CPU crossings stay at level 1 (float64 row).
            IlgpuAtLevel2: "implied on the simulator by LayerNorm[large 3x16x24x24] (contiguous groups beyond the group's threads) and BatchNorm2d[large 8x4x24x24] (the affine), 11 s");
        }
        {
            int[] s = [3, 16, 24, 24];
            yield return new LargeRow(new OpCase
            {
                Name = "LayerNorm[large 3x16x24x24, plain]", InputShapes = [s], Forward = x => x[0].LayerNorm(null, null),
                Reference = r => NormView.LayerNorm(r[0], s, null, null), Vjp = (r, u) => NormView.LayerNormVjp(r[0], s, null, false, u),
                Inputs = (g, i, n) => Ref.Uniform(g, n, -2f, 2f),
            }, () => [("blocks per group (L / Block)", Chunks(16 * 24 * 24, block), 4)], SlowOnIlgpu: true);
        }
        {
            int[] s = [8, 4, 24, 24];
            var p = NormView.Batch(s);
            yield return new LargeRow(new OpCase
            {
                Name = "BatchNorm2d[large 8x4x24x24, train, affine]", InputShapes = [s, [4], [4]],
                Forward = x => x[0].BatchNorm2d(x[1], x[2], null, null, training: true),
                Reference = r => NormView.Forward(r[0], p, r[1], r[2]), Vjp = (r, u) => NormView.Vjp(r[0], p, r[1], u, true),
                Inputs = (g, i, n) => i == 0 ? Ref.Uniform(g, n, -2f, 2f) : Ref.AwayFromZero(g, n, 0.5f, 1.5f),
            }, () => [("elements per group (A·L, strided runs) beyond the ILGPU group's threads", (long)p.A * p.L, NormalizationKernels.GroupSize)], SlowOnIlgpu: true);
        }

        // ---- GEMM (the AVX-512 and AVX2 micro-kernel families both: MR 8 / 6, NR 32 / 16)
        var mm = typeof(MatMulKernels);
        long smallFlops = Const(mm, "SmallFlops"), kc = Const(mm, "Kc"), mcPanels = Const(mm, "McPanels"), ncPanels = Const(mm, "NcPanels");
        long kSplit = Const(mm, "KSplit"), bm = Const(mm, "Bm"), bn = Const(mm, "Bn"), bk = Const(mm, "Bk"), minKChunk = Const(mm, "MinKChunk");
        var gpu = GpuKernelOptions.Default;
        long Tiles(int m, int n) => ((m + bm - 1) / bm) * ((n + bn - 1) / bn);
        LargeRow Gemm(string tag, int m, int k, int n, bool ta, bool tb, Func<(string, long, long)[]> crossings, bool slow = false)
        {
            int[] sa = ta ? [k, m] : [m, k], sb = tb ? [n, k] : [k, n];
            return new LargeRow(new OpCase
            {
                Name = $"MatMul[large {tag}: {m}x{k}x{n}{(ta ? ",Aᵀ" : "")}{(tb ? ",Bᵀ" : "")}]", InputShapes = [sa, sb],
                Forward = x => x[0].MatMul(x[1], ta, tb),
                Reference = r => MatMulKernels.GemmReference(ta, tb, m, n, k, r[0], r[1]),
                Vjp = (r, u) => { var (da, db) = MatMulKernels.GemmVjpReference(ta, tb, m, n, k, r[0], r[1], u); return [da, db]; },
            }, crossings, slow);
        }
        yield return Gemm("k and m blocks", 130, 300, 40, false, true, () =>
        [
            ("m·n·k beyond SmallFlops (packed path)", 130L * 300 * 40, smallFlops),
            ("k beyond one Kc slice", 300, kc),
            ("m beyond McPanels·MR (AVX-512, MR 8)", 130, mcPanels * 8),
            ("m beyond the ILGPU tile's rows Bm", 130, bm),
            ("k beyond the ILGPU k slice Bk", 300, bk),
            // ILGPU: fewer tiles than TargetGroups/2 and k ≥ 2·MinKChunk: split over k (tiled kernel + combine).
            ("TargetGroups/2 above the tiles (split over k)", gpu.TargetGroups / 2, Tiles(130, 40)),
            ("k of at least two ILGPU k chunks", 300, 2 * minKChunk - 1),
        ], slow: true);
        yield return Gemm("n blocks", 9, 20, 2100, true, false, () =>
        [
            ("m·n·k beyond SmallFlops", 9L * 20 * 2100, smallFlops),
            ("n beyond NcPanels·NR (AVX-512, NR 32)", 2100, ncPanels * 32),
            ("n beyond the ILGPU tile's columns Bn", 2100, bn),
            // ILGPU: few tiles and k < 2·MinKChunk: the one-thread-per-element short-k kernel.
            ("2·MinKChunk above k (short-k kernel)", 2 * minKChunk, 20),
        ], slow: true);
        yield return Gemm("thread split", 50, 200, 520, false, false, () =>
        [
            // GemmCpu splits C across threads when 2mnk ≥ 2^22 (inline literal) and C has ≥ 2 column blocks of 256/NR panels.
            ("2·m·n·k beyond the split threshold 2^22", 2L * 50 * 520 * 200, 1L << 22),
            ("column blocks of 256 columns (AVX-512)", 520 / 256, 1),
        ], slow: true);
        yield return Gemm("split-K", 40, 4200, 50, true, true, () =>
        [
            ("k beyond 2·KSplit (split-K path)", 4200, 2 * kSplit - 1),
            ("2·m·n·k beyond 2^22", 2L * 40 * 50 * 4200, (1L << 22) - 1),
            ("C small: n below 2·256 columns", 2 * 256, 50),
            ("C small: m below 2·48 rows", 2 * 48, 40),
            ("k beyond GemmMaxSerialK (ILGPU split over k)", 4200, gpu.GemmMaxSerialK),
        ], slow: true);
        yield return Gemm("ILGPU tiles without a split", 1536, 64, 704, false, false, () =>
        [
            // As many tiles as TargetGroups/2 and k ≤ GemmMaxSerialK: the tiled kernel alone, every tile full.
            ("tiles ≥ TargetGroups/2", Tiles(1536, 704), gpu.TargetGroups / 2 - 1),
            ("GemmMaxSerialK above k", gpu.GemmMaxSerialK, 64),
            ("m·n·k beyond SmallFlops", 1536L * 704 * 64, smallFlops),
        ], slow: true);

        // ---- convolution lowering
        var lowering = new ConvLoweringOptions();
        LargeRow Conv(string tag, int n, int cin, int h, int cout, int k, int s, int p, Func<ConvGeometry, (string, long, long)[]> crossings, bool slow = false)
        {
            int ho = ConvGeometry.OutputSize(h, k, s, p, 1);
            var g = new ConvGeometry(n, cin, h, h, cout, k, k, ho, ho, s, p, 1);
            return new LargeRow(new OpCase
            {
                Name = $"Conv2d[large {tag}: {n}x{cin}x{h}x{h} → {cout}x{ho}x{ho}, k{k} s{s} p{p}]",
                InputShapes = [[n, cin, h, h], [cout, cin, k, k], [cout]],
                Forward = x => x[0].Conv2d(x[1], x[2], s, p),
                Reference = r => ConvKernels.Conv2dReference(r[0], r[1], r[2], g),
                Vjp = (r, u) => [ConvKernels.ConvTranspose2dReference(u, r[1], null, g), ConvKernels.Conv2dWeightGradReference(r[0], u, g), ConvKernels.BiasGradReference(u, n, cout, g.P)],
                Inputs = (gen, i, cnt) => i == 1 ? Ref.Uniform(gen, cnt, -0.3f, 0.3f) : Ref.Uniform(gen, cnt, -1f, 1f),
            }, () => crossings(g), slow);
        }
        // The sample groups are the host lowering's: the ILGPU kernels take the whole batch in one implicit GEMM, so at 35
        // samples (5.5 s each on the simulator) their parity check adds nothing the other conv rows' does not.
        const string hostGroups = "the sample groups are the host lowering's (ILGPU runs one implicit GEMM over the batch, checked by the other conv rows)";
        yield return Conv("sample groups", 35, 3, 32, 8, 4, 2, 1, g => // equal groups: 12 + 12 + 11 (col), 18 + 17 (implicit)
        [
            ("samples per group > 1 (ColumnTarget / P)", ConvKernels.GroupSize(g, lowering), 1),
            ("groups (the last one ragged)", Chunks(g.N, ConvKernels.GroupSize(g, lowering)), 1),
            ("ragged last group", g.N % ConvKernels.GroupSize(g, lowering), 0),
            ("implicit-GEMM groups (forward, weight gradient)", Chunks(g.N, ConvKernels.PatchGroupSize(g, lowering)), 1),
            ("ragged last implicit group", g.N % ConvKernels.PatchGroupSize(g, lowering), 0),
            ("im2col row chunks of Grain(cols)", Chunks(g.Ckk, CpuParallel.Grain((long)ConvKernels.GroupSize(g, lowering) * g.P)), 1),
        ], slow: true) with { IlgpuAtLevel2 = hostGroups };
        yield return Conv("one sample per group", 2, 2, 128, 4, 4, 2, 1, g =>
        [
            ("output pixels ≥ ColumnTarget: one sample per group", g.P, lowering.ColumnTarget - 1),
            ("several groups", g.N, ConvKernels.GroupSize(g, lowering)),
            ("im2col row chunks of Grain(P)", Chunks(g.Ckk, CpuParallel.Grain(g.P)), 1),
        ], slow: true);
        yield return Conv("pointwise direct", 2, 8, 64, 4, 1, 1, 0, g =>
        [
            ("pointwise with one sample per group (x read as col)", g.P, lowering.ColumnTarget - 1),
            ("several groups", g.N, ConvKernels.GroupSize(g, lowering)),
            ("pointwise", g.Pointwise ? 1 : 0, 0),
        ], slow: true);
        yield return Conv("dense", 40, 16, 4, 8, 4, 1, 0, g =>
        [
            ("dense: kernel = the whole unpadded input (one GEMM over the batch)", g.Dense ? 1 : 0, 0),
            ("the dense GEMM's m·n·k beyond SmallFlops (packed path)", (long)g.N * g.Cout * g.Ckk, smallFlops),
        ]);
        // The ILGPU implicit-GEMM convolution (MatMulKernels.ConvForwardIlgpu / ConvWeightGradIlgpu): the forward is
        // GEMM (Cout × Ckk)·(Ckk × N·P) with an NCHW store, the weight gradient (Cout × N·P)·(N·P × Ckk).
        yield return Conv("implicit GEMM edges", 3, 3, 11, 130, 3, 2, 1, g =>
        [
            ("Cout beyond one Bm-row tile (a ragged second tile row)", g.Cout, bm),
            ("N·Ho·Wo not a multiple of Bn (ragged column tile, a sample straddling two tiles)", g.N * g.P % bn, 0),
            ("N·Ho·Wo beyond one Bn-column tile", g.N * g.P, bn),
            ("Cin·kH·kW not a multiple of Bk (ragged k-slice)", g.Ckk % bk, 0),
            ("weight gradient split over k (SplitK(Cout, Ckk, N·P))", MatMulKernels.SplitK(g.Cout, g.Ckk, g.N * g.P, gpu).Splits, 1),
            ("weight gradient's last k chunk ragged", g.N * g.P % MatMulKernels.SplitK(g.Cout, g.Ckk, g.N * g.P, gpu).KChunk, 0),
        ]);
        yield return Conv("implicit GEMM split forward", 2, 64, 6, 8, 4, 2, 1, g =>
        [
            ("forward split over k (SplitK(Cout, N·P, Ckk))", MatMulKernels.SplitK(g.Cout, g.N * g.P, g.Ckk, gpu).Splits, 1),
            ("padding taps in every k chunk: Ho·Wo", g.P, 1),
        ]);
        {
            // The generator's transposed conv, several sample groups in conv orientation.
            int n = 35, cin = 8, h = 16, cout = 4, k = 4, s = 2, p = 1;
            int oh = (h - 1) * s - 2 * p + (k - 1) + 1;
            var g = new ConvGeometry(n, cout, oh, oh, cin, k, k, h, h, s, p, 1);
            yield return new LargeRow(new OpCase
            {
                Name = $"ConvTranspose2d[large sample groups: {n}x{cin}x{h}x{h} → {cout}x{oh}x{oh}, k{k} s{s} p{p}]",
                InputShapes = [[n, cin, h, h], [cin, cout, k, k]],
                Forward = x => x[0].ConvTranspose2d(x[1], null, s, p),
                Reference = r => ConvKernels.ConvTranspose2dReference(r[0], r[1], null, g),
                Vjp = (r, u) => [ConvKernels.Conv2dReference(u, r[1], null, g), ConvKernels.Conv2dWeightGradReference(u, r[0], g)],
                Inputs = (gen, i, cnt) => i == 1 ? Ref.Uniform(gen, cnt, -0.3f, 0.3f) : Ref.Uniform(gen, cnt, -1f, 1f),
            }, () =>
            [
                ("samples per group > 1", ConvKernels.GroupSize(g, lowering), 1),
                ("groups (the last one ragged)", Chunks(g.N, ConvKernels.GroupSize(g, lowering)), 1),
                ("implicit-GEMM groups (input gradient's conv, weight gradient)", Chunks(g.N, ConvKernels.PatchGroupSize(g, lowering)), 1),
                ("col2im plane chunks of Grain(HW)", Chunks((long)ConvKernels.GroupSize(g, lowering) * g.Cin, CpuParallel.Grain(g.HW)), 1),
            ], SlowOnIlgpu: true, IlgpuAtLevel2: hostGroups);
        }
    }

    public static IEnumerable<TestCaseData> Rows() => All().Select(r => new TestCaseData(r.Op.Name).SetArgDisplayNames(r.Op.Name));

    public static LargeRow Find(string name) => All().Single(r => r.Op.Name == name);
}

[TestFixture, Category("cpu")]
public sealed class LargeRowTests
{
    private const double Atol = 1e-5, Rtol = 1e-4;

    /// <summary>Four worker threads whatever the machine: the parallel splits happen (and give the same bits) everywhere.</summary>
    private static readonly Lazy<Device> Cpu4 = new(() => Device.CreateCpu(new CpuKernelOptions { Threads = 4 }));

    [OneTimeTearDown]
    public void Release()
    {
        if (Cpu4.IsValueCreated) Cpu4.Value.Dispose();
    }

    [TestCaseSource(typeof(LargeRows), nameof(LargeRows.Rows))]
    public void CrossesItsThresholds(string name)
    {
        foreach (var (what, value, threshold) in LargeRows.Find(name).Crossings())
            Assert.That(value, Is.GreaterThan(threshold), $"{name}: {what}");
    }

    private static (float[] Y, float[][] Grads) Run(OpCase op, GradCheck.Problem p, Device device)
    {
        using var scope = TensorScope.Begin();
        var xs = p.Inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], device)).ToArray();
        foreach (int i in p.Wrt) xs[i].RequiresGrad = true;
        var y = op.Forward(xs);
        var g = Autograd.Grad([y], p.Wrt.Select(i => xs[i]).ToArray(), [Tensor.FromArray(p.U, y.Shape, device)], allowUnused: true);
        return (y.ToArray(), g.Select(t => t.ToArray()).ToArray());
    }

    [TestCaseSource(typeof(LargeRows), nameof(LargeRows.Rows))]
    public void ForwardAndFirstOrderMatchFloat64(string name)
    {
        var op = LargeRows.Find(name).Op;
        var p = GradCheck.Problem.Sample(op, 21);
        var (y, grads) = Run(op, p, Cpu4.Value);
        var x = p.Inputs64();
        Fail(GradCheck.CompareScaled([y], [op.Reference(x)], Atol, Rtol, ["y"], $"{name}: forward"));
        var vjp = GradCheck.ReferenceVjp(op, x, GradCheck.ToDouble(p.U), p.Wrt);
        Fail(GradCheck.CompareScaled(grads, vjp, Atol, Rtol, p.Wrt.Select(i => $"input {i}").ToArray(), $"{name}: first order"));
    }

    [TestCaseSource(typeof(LargeRows), nameof(LargeRows.Rows))]
    public void IlgpuMatchesSimd(string name)
    {
        var row = LargeRows.Find(name);
        if (row.SlowOnIlgpu) FullChecks.Require($"{name} on the ILGPU simulator");
        if (row.IlgpuAtLevel2 is { } why) FullChecks.RequireSlow($"{name} on the ILGPU simulator", why);
        var p = GradCheck.Problem.Sample(row.Op, 22);
        var (yc, gc) = Run(row.Op, p, Cpu4.Value);
        var (yi, gi) = Run(row.Op, p, Device.IlgpuCpu);
        Fail(GradCheck.CompareScaled([yi], [GradCheck.ToDouble(yc)], Atol, Rtol, ["y"], $"{name}: forward ilgpu-cpu vs cpu"));
        Fail(GradCheck.CompareScaled(gi, gc.Select(GradCheck.ToDouble).ToArray(), Atol, Rtol, p.Wrt.Select(i => $"input {i}").ToArray(),
            $"{name}: first order ilgpu-cpu vs cpu"));
    }

    private static void Fail(string? failure)
    {
        if (failure is not null) Assert.Fail(failure);
    }
}
