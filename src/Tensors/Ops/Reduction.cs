// Reductions (sum and mean over all elements or over given axes) and their adjoint, the
// broadcast copy BroadcastTo. Sum's gradient is BroadcastTo, BroadcastTo's gradient is SumTo,
// so both are differentiable to any order.
//
// CPU: adjacent axes with the same role (kept / reduced) are merged. When the innermost group
// is reduced each output sums contiguous runs with SIMD (float lanes, double across runs);
// when it is kept, whole rows are added with SIMD. The order of every sum is fixed by the
// shapes alone, so results do not depend on the thread count.
// ILGPU: the same merged axes, at most two kept groups (ka, kb) and two reduced groups (ra, rb), so
// output o = ka·|kb| + kb and its reduced element e = ra·|rb| + rb sit at
//   ka·S_ka + kb·S_kb + ra·S_ra + rb·S_rb.
// Two deterministic parallel kernels, by which group is innermost (stride 1, where loads coalesce):
//   rows (innermost reduced: full sums, per-sample sums): W threads per output (a power of two,
//     ≤ 256) stride over its elements, W lanes combine by an xor butterfly of warp shuffles, wider
//     segments through shared memory in warp order;
//   columns (innermost kept: per-channel sums, column sums): a group is TX consecutive outputs
//     (coalesced) × TY slices of the reduced elements, combined by a shared-memory tree over the slices.
// A thread adds at most ReductionElementsPerThread (GpuKernelOptions) elements in sequence: a longer
// reduced range is cut into fixed chunks, one group each, whose sums go to a partial buffer that a
// second launch adds in chunk order (a warp per output, xor butterfly). Every cut depends on the shapes
// and the options only and every tree has a fixed shape, so results are bit-identical run to run (no
// float atomics). The sum of squares (Σx², for norms) is the same kernels with the square fused.
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>Input extents and output extents (1 along reduced axes) in 4 slots.</summary>
internal struct Reduce4
{
    public int D0, D1, D2, D3;
    public int O0, O1, O2, O3;
}

/// <summary>An ILGPU reduction, canonicalised (see the file header): kept groups ka, kb, reduced groups ra, rb, and the cut.</summary>
internal struct ReducePlan
{
    /// <summary>Kept groups: output o = ka·KbLen + kb. Absent groups have length 1.</summary>
    public int KaLen, KbLen, KaStride, KbStride;
    /// <summary>Reduced groups: element e = ra·RbLen + rb of each output's range.</summary>
    public int RaLen, RbLen, RaStride, RbStride;
    /// <summary>Outputs, and elements reduced into each.</summary>
    public int Outputs, M;
    /// <summary>Elements per chunk of an output's range, and chunks per output (1: no second pass).</summary>
    public int Chunk, Chunks;
    /// <summary>Rows: lanes per output (a power of two ≤ 256). Columns: outputs per group, TX (a power of two ≤ 32).</summary>
    public int Width;
    /// <summary>1: reduce x² instead of x.</summary>
    public int Squares;
    /// <summary>1: always write chunk partials (at PartialOffset), even with one chunk (the global norm's first pass).</summary>
    public int PartialsOnly;
    /// <summary>Where this reduction's partials start in the partial buffer.</summary>
    public int PartialOffset;
    /// <summary>The finished sums are multiplied by this (1 for a sum, 1/M for a mean).</summary>
    public float Scale;
}

internal static class ReductionKernels
{
    // ============================================================ float64 reference

    public static double[] SumReference(double[] x, int[] dims, int[] outDims)
    {
        var d = Pad4(dims);
        var o = Pad4(outDims);
        var y = new double[o[0] * o[1] * o[2] * o[3]];
        for (int i0 = 0; i0 < d[0]; i0++)
        for (int i1 = 0; i1 < d[1]; i1++)
        for (int i2 = 0; i2 < d[2]; i2++)
        for (int i3 = 0; i3 < d[3]; i3++)
        {
            int src = ((i0 * d[1] + i1) * d[2] + i2) * d[3] + i3;
            int dst = (((o[0] == 1 ? 0 : i0) * o[1] + (o[1] == 1 ? 0 : i1)) * o[2] + (o[2] == 1 ? 0 : i2)) * o[3] + (o[3] == 1 ? 0 : i3);
            y[dst] += x[src];
        }
        return y;
    }

    private static int[] Pad4(int[] dims)
    {
        var r = new int[] { 1, 1, 1, 1 };
        for (int i = 0; i < dims.Length; i++) r[4 - dims.Length + i] = dims[i];
        return r;
    }

    // ============================================================ ILGPU kernels

    /// <summary>Threads per group of every reduction kernel (8 warps of 32).</summary>
    public const int GroupThreads = 256;

    /// <summary>
    /// The sum of every thread's <paramref name="acc"/> over one group of <see cref="GroupThreads"/> threads: an xor
    /// butterfly per warp, then the warp sums added in warp order, so the bits depend only on the values (no atomics,
    /// no scheduling). Every thread gets the total; <paramref name="warpSums"/> is the caller's shared array of
    /// GroupThreads / 32 floats, free to reuse when this returns. Called by every thread of the group (it has barriers).
    /// </summary>
    internal static float GroupTotal(float acc, ArrayView<float> warpSums)
    {
        for (int mask = 16; mask > 0; mask /= 2) acc += Warp.ShuffleXor(acc, mask);
        if (Warp.LaneIdx == 0) warpSums[Group.IdxX / 32] = acc;
        Group.Barrier();
        float sum = warpSums[0];
        for (int w = 1; w < GroupThreads / 32; w++) sum += warpSums[w];
        Group.Barrier();
        return sum;
    }

    /// <summary>(sum or Σx²) of the elements [start, end) of output o's reduced range, stepping by <paramref name="step"/>.</summary>
    private static float Accumulate(ArrayView<float> x, ReducePlan s, int baseOffset, int start, int end, int step)
    {
        // (ra, rb) of e advance by the fixed (step / |rb|, step % |rb|) with one carry: no division per element.
        int ra = start / s.RbLen, rb = start - ra * s.RbLen;
        int dra = step / s.RbLen, drb = step - dra * s.RbLen;
        float acc = 0f;
        for (int e = start; e < end; e += step)
        {
            float v = x[baseOffset + ra * s.RaStride + rb * s.RbStride];
            acc += s.Squares != 0 ? v * v : v;
            ra += dra;
            rb += drb;
            if (rb >= s.RbLen)
            {
                rb -= s.RbLen;
                ra++;
            }
        }
        return acc;
    }

    /// <summary>Stores a finished output sum (scaled) or, when the range is chunked, one chunk's partial sum.</summary>
    private static void Store(ArrayView<float> y, ArrayView<float> partial, ReducePlan s, int o, int chunk, float sum)
    {
        if (s.Chunks == 1 && s.PartialsOnly == 0) y[o] = sum * s.Scale;
        else partial[s.PartialOffset + o * s.Chunks + chunk] = sum;
    }

    /// <summary>
    /// Rows: the innermost group is reduced. Groups of 256 threads = 256/W segments of W lanes, one output
    /// per segment; grid ⌈outputs·W/256⌉ × chunks (chunk fastest).
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void SumRowsKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> partial, ReducePlan s)
    {
        var warpSums = SharedMemory.Allocate1D<float>(GroupThreads / 32);
        int t = Group.IdxX, w = s.Width;
        int chunk = Grid.IdxX % s.Chunks, block = Grid.IdxX / s.Chunks;
        int o = block * (GroupThreads / w) + t / w, lane = t % w;
        float acc = 0f;
        if (o < s.Outputs)
        {
            int ka = o / s.KbLen, kb = o - ka * s.KbLen;
            int start = chunk * s.Chunk, end = Math.Min(s.M, start + s.Chunk);
            acc = Accumulate(x, s, ka * s.KaStride + kb * s.KbStride, start + lane, end, w);
        }
        // Every lane takes part in the shuffles (no early exit above): xor partners stay inside an
        // aligned segment of min(W, 32) lanes, and a + b == b + a, so all lanes of a segment agree.
        int span = w < 32 ? w : 32;
        for (int mask = span / 2; mask > 0; mask /= 2) acc += Warp.ShuffleXor(acc, mask);
        if (w > 32)
        {
            if (Warp.LaneIdx == 0) warpSums[t / 32] = acc;
            Group.Barrier();
            if (lane == 0)
            {
                // The segment's warps, in order.
                int first = t / 32, count = w / 32;
                acc = warpSums[first];
                for (int k = 1; k < count; k++) acc += warpSums[first + k];
            }
        }
        if (lane == 0 && o < s.Outputs) Store(y, partial, s, o, chunk, acc);
    }

    /// <summary>
    /// Columns: the innermost group is kept. A group is TX = Width consecutive outputs × TY = 256/TX slices of
    /// the chunk's reduced elements (slice ty takes every TY-th); grid |ka|·⌈|kb|/TX⌉ × chunks (chunk fastest).
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void SumColumnsKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> partial, ReducePlan s)
    {
        var sums = SharedMemory.Allocate1D<float>(GroupThreads);
        int t = Group.IdxX, tx = t % s.Width, ty = t / s.Width, slices = GroupThreads / s.Width;
        int chunk = Grid.IdxX % s.Chunks, block = Grid.IdxX / s.Chunks;
        int blocksPerRow = (s.KbLen + s.Width - 1) / s.Width;
        int ka = block / blocksPerRow, kb = (block - ka * blocksPerRow) * s.Width + tx;
        float acc = 0f;
        if (kb < s.KbLen)
        {
            int start = chunk * s.Chunk, end = Math.Min(s.M, start + s.Chunk);
            acc = Accumulate(x, s, ka * s.KaStride + kb * s.KbStride, start + ty, end, slices);
        }
        sums[t] = acc;
        Group.Barrier();
        for (int half = slices / 2; half > 0; half /= 2)
        {
            if (ty < half) sums[t] = sums[t] + sums[t + half * s.Width];
            Group.Barrier();
        }
        if (ty == 0 && kb < s.KbLen) Store(y, partial, s, ka * s.KbLen + kb, chunk, sums[t]);
    }

    /// <summary>
    /// Second pass: y[o] = Scale·Σ_c partial[o·chunks + c], one warp per output (8 per group); lanes take
    /// every 32nd chunk in order, then an xor butterfly.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void CombinePartialsKernel(ArrayView<float> partial, ArrayView<float> y, ReducePlan s)
    {
        int t = Group.IdxX, lane = t % 32;
        int o = Grid.IdxX * (GroupThreads / 32) + t / 32;
        float acc = 0f;
        if (o < s.Outputs)
            for (int c = lane; c < s.Chunks; c += 32) acc += partial[s.PartialOffset + o * s.Chunks + c];
        for (int mask = 16; mask > 0; mask /= 2) acc += Warp.ShuffleXor(acc, mask);
        if (lane == 0 && o < s.Outputs) y[o] = acc * s.Scale;
    }

    /// <summary>
    /// y[0] = √(Σ partial[0..count)) over the partial sums of squares of several tensors (the global norm):
    /// one group, each thread adds every 256th partial in order, then a shared-memory tree.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void SqrtOfSumKernel(ArrayView<float> partial, ArrayView<float> y, int count)
    {
        var sums = SharedMemory.Allocate1D<float>(GroupThreads);
        int t = Group.IdxX;
        float acc = 0f;
        for (int c = t; c < count; c += GroupThreads) acc += partial[c];
        sums[t] = acc;
        Group.Barrier();
        for (int half = GroupThreads / 2; half > 0; half /= 2)
        {
            if (t < half) sums[t] = sums[t] + sums[t + half];
            Group.Barrier();
        }
        if (t == 0) y[0] = MathF.Sqrt(sums[0]);
    }

    // ------------------------------------------------------------ planning (host)

    /// <summary>
    /// The ILGPU plan of a reduction: merged groups assigned to (ka, kb, ra, rb), the kernel (rows or
    /// columns), the width and the chunking, from the shapes and <paramref name="elementsPerThread"/> only.
    /// </summary>
    public static ReducePlan Plan(in Reduce4 r, int elementsPerThread, out bool rows)
    {
        ReadOnlySpan<int> d = [r.D0, r.D1, r.D2, r.D3];
        ReadOnlySpan<int> od = [r.O0, r.O1, r.O2, r.O3];
        // Merge adjacent axes with the same role, innermost first, and give each its stride.
        Span<int> len = stackalloc int[4];
        Span<int> stride = stackalloc int[4];
        Span<bool> red = stackalloc bool[4];
        int k = 0, st = 1;
        for (int i = 3; i >= 0; i--)
        {
            if (d[i] == 1) continue;
            bool isReduced = od[i] == 1;
            if (k > 0 && red[k - 1] == isReduced) len[k - 1] *= d[i];
            else
            {
                len[k] = d[i];
                stride[k] = st;
                red[k] = isReduced;
                k++;
            }
            st *= d[i];
        }
        var p = new ReducePlan { KaLen = 1, KbLen = 1, RaLen = 1, RbLen = 1, Scale = 1f };
        int kept = 0, reduced = 0;
        for (int g = 0; g < k; g++)
        {
            if (red[g])
            {
                if (reduced++ == 0) { p.RbLen = len[g]; p.RbStride = stride[g]; }
                else { p.RaLen = len[g]; p.RaStride = stride[g]; }
            }
            else
            {
                if (kept++ == 0) { p.KbLen = len[g]; p.KbStride = stride[g]; }
                else { p.KaLen = len[g]; p.KaStride = stride[g]; }
            }
        }
        p.Outputs = p.KaLen * p.KbLen;
        p.M = p.RaLen * p.RbLen;
        rows = k > 0 && red[0];
        int per = elementsPerThread;
        if (rows)
        {
            // W: the fewest lanes (a power of two) that keep each lane at ≤ per elements; past 256 lanes, chunks.
            p.Width = (int)Math.Min(GroupThreads, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)((p.M + per - 1) / per)));
            p.Chunk = p.Width < GroupThreads ? p.M : GroupThreads * per;
        }
        else
        {
            p.Width = (int)Math.Min(32, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)p.KbLen));
            p.Chunk = (GroupThreads / p.Width) * per;
        }
        p.Chunk = Math.Max(1, Math.Min(p.Chunk, p.M));
        p.Chunks = (p.M + p.Chunk - 1) / p.Chunk;
        return p;
    }

    /// <summary>Groups of the first pass of <paramref name="p"/>.</summary>
    public static int Groups(in ReducePlan p, bool rows)
        => rows ? (p.Outputs + GroupThreads / p.Width - 1) / (GroupThreads / p.Width) * p.Chunks
                : p.KaLen * ((p.KbLen + p.Width - 1) / p.Width) * p.Chunks;

    /// <summary>Cost of the first pass: one add (two with the square) per element; each thread walks ≤ elementsPerThread elements, then the tree.</summary>
    public static LaunchCost FirstPassCost(in ReducePlan p, bool rows, long size)
    {
        int lanes = rows ? p.Width : GroupThreads / p.Width;
        long serial = (p.Chunk + lanes - 1) / lanes + System.Numerics.BitOperations.Log2((uint)lanes);
        bool finished = p.Chunks == 1 && p.PartialsOnly == 0;
        return new LaunchCost(Flops: size * (p.Squares != 0 ? 2 : 1) + (finished && p.Scale != 1f ? p.Outputs : 0),
            BytesRead: size * sizeof(float), BytesWritten: (long)p.Outputs * p.Chunks * sizeof(float), SerialLoop: serial);
    }

    /// <summary>The first pass of <paramref name="p"/>: finished sums into y, or chunk partials into <paramref name="partial"/>.</summary>
    public static void LaunchFirstPass(Device device, ArrayView<float> x, ArrayView<float> y, ArrayView<float> partial, in ReducePlan p, bool rows, long size)
    {
        var config = new KernelConfig(Groups(p, rows), GroupThreads);
        if (rows) device.Launch(SumRowsKernel, config, FirstPassCost(p, rows, size), x, y, partial, p);
        else device.Launch(SumColumnsKernel, config, FirstPassCost(p, rows, size), x, y, partial, p);
    }

    /// <summary>The second pass: the chunk partials of every output added in chunk order.</summary>
    public static void LaunchCombine(Device device, ArrayView<float> partial, ArrayView<float> y, in ReducePlan p)
    {
        long n = (long)p.Outputs * p.Chunks;
        var cost = new LaunchCost(Flops: n + (p.Scale != 1f ? p.Outputs : 0), BytesRead: n * sizeof(float), BytesWritten: (long)p.Outputs * sizeof(float),
            SerialLoop: (p.Chunks + 31) / 32 + 5);
        int warps = GroupThreads / 32;
        device.Launch(CombinePartialsKernel, new KernelConfig((p.Outputs + warps - 1) / warps, GroupThreads), cost, partial, y, p);
    }

    // ============================================================ CPU SIMD kernels

    public static unsafe void SumCpu(CpuParallel cpu, float* x, float* y, in Reduce4 s)
    {
        // Merge adjacent axes with the same role; drop size-1 axes.
        Span<int> len = stackalloc int[4];
        Span<bool> red = stackalloc bool[4];
        int k = 0;
        ReadOnlySpan<int> d = [s.D0, s.D1, s.D2, s.D3];
        ReadOnlySpan<int> od = [s.O0, s.O1, s.O2, s.O3];
        for (int i = 0; i < 4; i++)
        {
            if (d[i] == 1) continue;
            bool r = od[i] == 1;
            if (k > 0 && red[k - 1] == r) { len[k - 1] *= d[i]; continue; }
            len[k] = d[i];
            red[k] = r;
            k++;
        }
        int outCount = od[0] * od[1] * od[2] * od[3];
        if (k == 0) { y[0] = *x; return; }
        var groups = new AxisGroup[k];
        long stride = 1;
        for (int i = k - 1; i >= 0; i--) { groups[i] = new AxisGroup(len[i], (int)stride, red[i]); stride *= len[i]; }
        nint xp = (nint)x, yp = (nint)y;

        if (red[k - 1])
        {
            // Innermost reduced: each output sums contiguous runs of length L.
            int L = len[k - 1];
            var kept = groups.Where(g => !g.Reduced).ToArray();
            var outer = groups[..^1].Where(g => g.Reduced).ToArray();
            int runs = outer.Aggregate(1, (p, g) => p * g.Length);
            cpu.ForChunks(outCount, CpuParallel.Grain((long)L * runs, 1 << 16), (start, end) =>
            {
                float* xs = (float*)xp, ys = (float*)yp;
                for (int o = start; o < end; o++)
                {
                    long baseOff = Offset(kept, o);
                    double acc = 0;
                    for (int r = 0; r < runs; r++) acc += SumRun(xs + baseOff + Offset(outer, r), L);
                    ys[o] = (float)acc;
                }
            });
        }
        else
        {
            // Innermost kept: add whole rows of length L in a fixed order.
            int L = len[k - 1];
            var keptOuter = groups[..^1].Where(g => !g.Reduced).ToArray();
            var reduced = groups.Where(g => g.Reduced).ToArray();
            int rows = outCount / L, runs = reduced.Aggregate(1, (p, g) => p * g.Length);
            const int ColBlock = 1024;
            int colChunks = (L + ColBlock - 1) / ColBlock;
            cpu.ForEach(rows * colChunks, c =>
            {
                float* xs = (float*)xp, ys = (float*)yp;
                int row = c / colChunks, c0 = (c % colChunks) * ColBlock, c1 = Math.Min(L, c0 + ColBlock);
                float* dst = ys + (long)row * L;
                long baseOff = Offset(keptOuter, row);
                new Span<float>(dst + c0, c1 - c0).Clear();
                for (int r = 0; r < runs; r++)
                {
                    float* src = xs + baseOff + Offset(reduced, r);
                    int i = c0;
                    for (; i <= c1 - 8; i += 8) (Vector256.Load(dst + i) + Vector256.Load(src + i)).Store(dst + i);
                    for (; i < c1; i++) dst[i] += src[i];
                }
            });
        }
    }

    private readonly record struct AxisGroup(int Length, int Stride, bool Reduced);

    /// <summary>Input offset of the index-th position over the given groups (row-major).</summary>
    private static long Offset(AxisGroup[] groups, int index)
    {
        long off = 0;
        for (int i = groups.Length - 1; i >= 0; i--)
        {
            var g = groups[i];
            off += (long)(index % g.Length) * g.Stride;
            index /= g.Length;
        }
        return off;
    }

    private static unsafe double SumRun(float* p, int n)
    {
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            a0 += Vector256.Load(p + i);
            a1 += Vector256.Load(p + i + 8);
        }
        for (; i <= n - 8; i += 8) a0 += Vector256.Load(p + i);
        double s = Vector256.Sum(a0 + a1);
        for (; i < n; i++) s += p[i];
        return s;
    }
}

public sealed partial class Tensor
{
    // ============================================================ launchers

    /// <summary>Sums this into outShape (same rank, 1 along reduced axes), times <paramref name="scale"/>; unrecorded.</summary>
    private unsafe Tensor SumRaw(Shape outShape, float scale = 1f)
    {
        var y = Empty(outShape, Device);
        Span<int> d = stackalloc int[4], o = stackalloc int[4];
        Shape.To4(d);
        outShape.To4(o);
        var s = new Reduce4 { D0 = d[0], D1 = d[1], D2 = d[2], D3 = d[3], O0 = o[0], O1 = o[1], O2 = o[2], O3 = o[3] };
        if (Size == 0) { y.Fill(0f); return y; }
        if (Device.IsHost)
        {
            fixed (float* xp = HostSpan, yp = y.HostSpan) ReductionKernels.SumCpu(Device.Parallel, xp, yp, s);
            // The mean rounds the float sum, then scales in float (as Sum followed by MulScalar would).
            if (scale != 1f) foreach (ref float v in y.HostSpan) v *= scale;
        }
        else
        {
            var plan = ReductionKernels.Plan(s, Device.GpuOptions.ReductionElementsPerThread, out bool rows);
            plan.Scale = scale;
            if (plan.Chunks == 1)
            {
                ReductionKernels.LaunchFirstPass(Device, View, y.View, y.View, plan, rows, Size);
            }
            else
            {
                using var partial = Empty(new Shape(plan.Outputs * plan.Chunks), Device);
                ReductionKernels.LaunchFirstPass(Device, View, y.View, partial.View, plan, rows, Size);
                ReductionKernels.LaunchCombine(Device, partial.View, y.View, plan);
            }
        }
        return y;
    }

    // ============================================================ public ops and derivative rules

    /// <summary>Sum of all elements, as a scalar tensor.</summary>
    public Tensor Sum() => Sum(Enumerable.Range(0, Rank).ToArray(), keepDim: false);

    /// <summary>Sum over the given axes (negative counts from the end).</summary>
    public Tensor Sum(int[] axes, bool keepDim = false) => Reduce("Sum", axes, keepDim, mean: false);

    /// <summary>Mean of all elements, as a scalar tensor.</summary>
    public Tensor Mean() => Mean(Enumerable.Range(0, Rank).ToArray(), keepDim: false);

    /// <summary>Mean over the given axes (negative counts from the end).</summary>
    public Tensor Mean(int[] axes, bool keepDim = false) => Reduce("Mean", axes, keepDim, mean: true);

    /// <summary>Sum or mean over axes: one reduction (the mean's scale is fused into its last pass). Rule: g broadcast back (and scaled).</summary>
    private Tensor Reduce(string op, int[] axes, bool keepDim, bool mean)
    {
        using var _ = Device.BeginOp(op);
        var keep = Shape.ToArray();
        var reduced = new bool[Rank];
        long count = 1;
        foreach (int a0 in axes)
        {
            int a = a0 < 0 ? a0 + Rank : a0;
            if (a < 0 || a >= Rank) throw new ArgumentOutOfRangeException(nameof(axes), $"{op}: axis {a0} is out of range for {Describe()}");
            if (!reduced[a]) count *= Shape[a];
            reduced[a] = true;
            keep[a] = 1;
        }
        float scale = mean ? 1f / Math.Max(1, count) : 1f;
        var keptShape = new Shape(keep);
        var y = SumRaw(keptShape, scale);
        var input = Shape;
        if (mean) Autograd.Record(y, op, [this], g => [g[0].BroadcastTo(input).MulScalar(scale)]);
        else Autograd.Record(y, op, [this], g => [g[0].BroadcastTo(input)]);
        if (keepDim) return y;
        var squeezed = Enumerable.Range(0, Rank).Where(i => !reduced[i]).Select(i => Shape[i]).ToArray();
        return y.Reshape(squeezed);
    }

    /// <summary>Sums broadcast dimensions away so the result has <paramref name="target"/>'s shape (the adjoint of broadcasting).</summary>
    public Tensor SumTo(Shape target)
    {
        if (target == Shape) return this;
        if (target.Rank > Rank) throw new ShapeMismatchException($"SumTo: cannot reduce {Describe()} to the larger rank {target}");
        var keep = new int[Rank];
        var axes = new List<int>();
        for (int i = 0; i < Rank; i++)
        {
            int t = i - (Rank - target.Rank) >= 0 ? target[i - (Rank - target.Rank)] : 1;
            if (t == Shape[i]) { keep[i] = t; continue; }
            if (t != 1) throw new ShapeMismatchException($"SumTo: {Describe()} does not broadcast from {target}");
            keep[i] = 1;
            axes.Add(i);
        }
        return Sum(axes.ToArray(), keepDim: true).Reshape(target.ToArray());
    }

    /// <summary>Copies this along broadcast dimensions to <paramref name="target"/>'s shape.</summary>
    public Tensor BroadcastTo(Shape target)
    {
        if (target == Shape) return this;
        using var _ = Device.BeginOp("BroadcastTo");
        var check = Shape.Broadcast(Shape, target, "BroadcastTo");
        if (check != target) throw new ShapeMismatchException($"BroadcastTo: {Describe()} does not broadcast to {target}");
        var y = Empty(target, Device);
        // A broadcast copy is the binary elementwise kernel with b = a ignored; it reuses its layout logic.
        BinaryInto<CopyOp>(this, this, y, 0f);
        var source = Shape;
        return Autograd.Record(y, "BroadcastTo", [this], g => [g[0].SumTo(source)]);
    }
}
