// Reductions (sum and mean over all elements or over given axes) and their adjoint, the
// broadcast copy BroadcastTo. Sum's gradient is BroadcastTo, BroadcastTo's gradient is SumTo,
// so both are differentiable to any order.
//
// CPU: adjacent axes with the same role (kept / reduced) are merged. When the innermost group
// is reduced each output sums contiguous runs with SIMD (float lanes, double across runs);
// when it is kept, whole rows are added with SIMD. The order of every sum is fixed by the
// shapes alone, so results do not depend on the thread count.
// ILGPU: one thread per output element walking its reduced positions.
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

    [GpuKernel]
    public static void SumKernel(Index1D o, ArrayView<float> x, ArrayView<float> y, Reduce4 s)
    {
        int r = o;
        int o3 = r % s.O3; r /= s.O3;
        int o2 = r % s.O2; r /= s.O2;
        int o1 = r % s.O1;
        int o0 = r / s.O1;
        int n0 = s.O0 == 1 ? s.D0 : 1, n1 = s.O1 == 1 ? s.D1 : 1, n2 = s.O2 == 1 ? s.D2 : 1, n3 = s.O3 == 1 ? s.D3 : 1;
        float acc = 0f;
        for (int j0 = 0; j0 < n0; j0++)
        for (int j1 = 0; j1 < n1; j1++)
        for (int j2 = 0; j2 < n2; j2++)
        for (int j3 = 0; j3 < n3; j3++)
        {
            int i0 = o0 + j0, i1 = o1 + j1, i2 = o2 + j2, i3 = o3 + j3;
            acc += x[((i0 * s.D1 + i1) * s.D2 + i2) * s.D3 + i3];
        }
        y[o] = acc;
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
        var groups = new Group[k];
        long stride = 1;
        for (int i = k - 1; i >= 0; i--) { groups[i] = new Group(len[i], (int)stride, red[i]); stride *= len[i]; }
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

    private readonly record struct Group(int Length, int Stride, bool Reduced);

    /// <summary>Input offset of the index-th position over the given groups (row-major).</summary>
    private static long Offset(Group[] groups, int index)
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

    /// <summary>Sums this into outShape (same rank, 1 along reduced axes), unrecorded.</summary>
    private unsafe Tensor SumRaw(Shape outShape)
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
        }
        else
        {
            // One thread per output walks its Size / outputs reduced elements in sequence.
            long outputs = outShape.Size;
            var cost = new LaunchCost(Flops: Size, BytesRead: (long)Size * sizeof(float), BytesWritten: outputs * sizeof(float), SerialLoop: Size / outputs);
            Device.Launch(ReductionKernels.SumKernel, outShape.Size, cost, View, y.View, s);
        }
        return y;
    }

    // ============================================================ public ops and derivative rules

    /// <summary>Sum of all elements, as a scalar tensor.</summary>
    public Tensor Sum() => Sum(Enumerable.Range(0, Rank).ToArray(), keepDim: false);

    /// <summary>Sum over the given axes (negative counts from the end).</summary>
    public Tensor Sum(int[] axes, bool keepDim = false)
    {
        using var _ = Device.BeginOp("Sum");
        var keep = Shape.ToArray();
        var reduced = new bool[Rank];
        foreach (int a0 in axes)
        {
            int a = a0 < 0 ? a0 + Rank : a0;
            if (a < 0 || a >= Rank) throw new ArgumentOutOfRangeException(nameof(axes), $"Sum: axis {a0} is out of range for {Describe()}");
            reduced[a] = true;
            keep[a] = 1;
        }
        var keptShape = new Shape(keep);
        var y = SumRaw(keptShape);
        var input = Shape;
        Autograd.Record(y, "Sum", [this], g => [g[0].BroadcastTo(input)]);
        if (keepDim) return y;
        var squeezed = Enumerable.Range(0, Rank).Where(i => !reduced[i]).Select(i => Shape[i]).ToArray();
        return y.Reshape(squeezed);
    }

    public Tensor Mean()
    {
        using var _ = Device.BeginOp("Mean");
        return Sum().MulScalar(1f / Math.Max(1, Size));
    }

    public Tensor Mean(int[] axes, bool keepDim = false)
    {
        using var _ = Device.BeginOp("Mean");
        long count = 1;
        foreach (int a in axes) count *= Shape[a];
        return Sum(axes, keepDim).MulScalar(1f / Math.Max(1, count));
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
        if (target.Size > 0)
        {
            // A broadcast copy is the binary kernel with b = a ignored; it reuses its layout logic.
            unsafe
            {
                if (Device.IsHost)
                {
                    var s = ElementwiseKernels.Layout(Shape, Shape, target, merge: true);
                    fixed (float* ap = HostSpan, yp = y.HostSpan) ElementwiseKernels.BinaryCpu(BinaryOp.Copy, ap, ap, yp, s, 0f);
                }
                else
                {
                    var s = ElementwiseKernels.Layout(Shape, Shape, target, merge: false);
                    var cost = new LaunchCost(Flops: 0, BytesRead: (long)Size * sizeof(float), BytesWritten: (long)target.Size * sizeof(float), SerialLoop: 1);
                    Device.Launch(ElementwiseKernels.BinaryKernel, target.Size, cost, View, View, y.View, s, (int)BinaryOp.Copy, 0f);
                }
            }
        }
        var source = Shape;
        return Autograd.Record(y, "BroadcastTo", [this], g => [g[0].SumTo(source)]);
    }
}
