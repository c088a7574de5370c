// The slicing family: Narrow (a slice of one axis), Concat (parts joined along one axis) and
// SliceBackward (Narrow's adjoint: the slice's gradient placed into zeros of the full shape).
//
// Math, with every tensor viewed as (outer, L, inner) around the axis (outer = the product of the
// dimensions before it, inner = the product of those after it):
//   Narrow(x, start, len):         y[o, a, i] = x[o, start + a, i]                     a ∈ [0, len)
//   SliceBackward(g, L, start):    y[o, b, i] = g[o, b − start, i] if start ≤ b < start + len, else 0
//   Concat(x_0 … x_{k−1}):         y[o, off_k + a, i] = x_k[o, a, i],  off_k = Σ_{j<k} L_j
// All three are linear, and each one's derivative rule is another op of the family:
//   Narrow → SliceBackward,   SliceBackward → Narrow,   Concat → Narrow of the gradient per part.
// So the family is closed under differentiation and every order of derivative exists.
//
// Kernels: for one o the block [off, off + len) × inner is contiguous in both tensors (len·inner
// floats), so the CPU set copies `outer` runs with the vectorised memmove of Span.CopyTo (the
// runtime's AVX-512/AVX2 copy loop: nothing is computed, so a hand-written loop would only redo
// it) and clears the zero runs of SliceBackward the same way. The ILGPU set runs one thread per
// output element: Narrow is one block copy (BlockCopyKernel, a coalesced read and write per thread),
// Concat of up to 8 parts one launch (ConcatKernel: each thread finds its part from the plan's
// offsets); SliceBackward gathers (SliceBackwardKernel writes every output element once, zero or
// copied, so it needs no separate clear).
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>ILGPU parameters of a block copy between two tensors viewed as (Outer, SrcLen|DstLen, Inner).</summary>
internal struct SliceParams
{
    /// <summary>Product of the dimensions before the axis, and after it.</summary>
    public int Outer, Inner;
    /// <summary>Axis length of the source and of the destination.</summary>
    public int SrcLen, DstLen;
    /// <summary>Length of the copied block along the axis, its start in the source and in the destination.</summary>
    public int Len, SrcOff, DstOff;
}

/// <summary>ILGPU parameters of a one-launch Concat of up to 8 parts along an axis of y (Outer, Total, Inner).</summary>
internal struct ConcatPlan
{
    public int Outer, Inner, Total;
    /// <summary>Axis lengths of parts 0..7 (0 for unused slots).</summary>
    public int L0, L1, L2, L3, L4, L5, L6, L7;
    /// <summary>Where parts 1..7 start along the axis of y (part 0 at 0; unused slots: int.MaxValue).</summary>
    public int O1, O2, O3, O4, O5, O6, O7;
}

internal static class SliceKernels
{
    // ============================================================ float64 reference

    /// <summary>(outer, axis length, inner) of a row-major shape around <paramref name="axis"/>.</summary>
    public static (int Outer, int Length, int Inner) Split(ReadOnlySpan<int> dims, int axis)
    {
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= dims[d];
        for (int d = axis + 1; d < dims.Length; d++) inner *= dims[d];
        return (outer, dims[axis], inner);
    }

    /// <summary>Narrow of row-major x (shape <paramref name="dims"/>) along <paramref name="axis"/>: [start, start + length).</summary>
    public static double[] NarrowReference(double[] x, int[] dims, int axis, int start, int length)
    {
        var (outer, len, inner) = Split(dims, axis);
        var y = new double[outer * length * inner];
        for (int o = 0; o < outer; o++)
        for (int a = 0; a < length; a++)
        for (int i = 0; i < inner; i++)
            y[(o * length + a) * inner + i] = x[(o * len + start + a) * inner + i];
        return y;
    }

    /// <summary>The parts (shapes <paramref name="dims"/>) joined along <paramref name="axis"/>.</summary>
    public static double[] ConcatReference(double[][] parts, int[][] dims, int axis)
    {
        int total = dims.Sum(d => d[axis]);
        var (outer, _, inner) = Split(dims[0], axis);
        var y = new double[outer * total * inner];
        int offset = 0;
        for (int k = 0; k < parts.Length; k++)
        {
            int len = dims[k][axis];
            for (int o = 0; o < outer; o++)
            for (int a = 0; a < len; a++)
            for (int i = 0; i < inner; i++)
                y[(o * total + offset + a) * inner + i] = parts[k][(o * len + a) * inner + i];
            offset += len;
        }
        return y;
    }

    /// <summary>g (shape <paramref name="sliceDims"/>) placed at [start, start + len) of the axis in zeros of length <paramref name="fullLength"/>.</summary>
    public static double[] SliceBackwardReference(double[] g, int[] sliceDims, int axis, int fullLength, int start)
    {
        var (outer, len, inner) = Split(sliceDims, axis);
        var y = new double[outer * fullLength * inner];
        for (int o = 0; o < outer; o++)
        for (int a = 0; a < len; a++)
        for (int i = 0; i < inner; i++)
            y[(o * fullLength + start + a) * inner + i] = g[(o * len + a) * inner + i];
        return y;
    }

    // ============================================================ ILGPU kernels

    /// <summary>dst[o, DstOff + a, i] = src[o, SrcOff + a, i] over the block (Outer, Len, Inner); one thread per element.</summary>
    [GpuKernel]
    public static void BlockCopyKernel(Index1D idx, ArrayView<float> src, ArrayView<float> dst, SliceParams p)
    {
        int run = p.Len * p.Inner;
        int o = idx / run, r = idx - o * run;
        dst[(o * p.DstLen + p.DstOff) * p.Inner + r] = src[(o * p.SrcLen + p.SrcOff) * p.Inner + r];
    }

    /// <summary>
    /// Concat of up to 8 parts in one launch: y[o, b, i] = x_k[o, b − O_k, i] for the last part k with O_k ≤ b.
    /// One thread per element of y; unused view slots alias part 0 and are never read.
    /// </summary>
    [GpuKernel]
    public static void ConcatKernel(Index1D idx, Views8 parts, ArrayView<float> y, ConcatPlan p)
    {
        int plane = p.Total * p.Inner;
        int o = idx / plane, r = idx - o * plane;
        int b = r / p.Inner, i = r - b * p.Inner;
        int k = b >= p.O7 ? 7 : b >= p.O6 ? 6 : b >= p.O5 ? 5 : b >= p.O4 ? 4 : b >= p.O3 ? 3 : b >= p.O2 ? 2 : b >= p.O1 ? 1 : 0;
        int start = k == 0 ? 0 : k == 1 ? p.O1 : k == 2 ? p.O2 : k == 3 ? p.O3 : k == 4 ? p.O4 : k == 5 ? p.O5 : k == 6 ? p.O6 : p.O7;
        int len = k == 0 ? p.L0 : k == 1 ? p.L1 : k == 2 ? p.L2 : k == 3 ? p.L3 : k == 4 ? p.L4 : k == 5 ? p.L5 : k == 6 ? p.L6 : p.L7;
        y[idx] = parts[k][(o * len + (b - start)) * p.Inner + i];
    }

    /// <summary>
    /// y[o, b, i] = g[o, b − DstOff, i] inside the block, 0 outside, over all of y (Outer, DstLen, Inner);
    /// g is (Outer, Len, Inner). One thread per element of y, each written once.
    /// </summary>
    [GpuKernel]
    public static void SliceBackwardKernel(Index1D idx, ArrayView<float> g, ArrayView<float> y, SliceParams p)
    {
        int plane = p.DstLen * p.Inner;
        int o = idx / plane, r = idx - o * plane;
        int b = r / p.Inner, i = r - b * p.Inner;
        int a = b - p.DstOff;
        y[idx] = a >= 0 && a < p.Len ? g[(o * p.Len + a) * p.Inner + i] : 0f;
    }

    // ============================================================ CPU SIMD kernels

    /// <summary>The block copy as `Outer` contiguous runs of Len·Inner floats, in the device's fixed chunks.</summary>
    public static unsafe void BlockCopyCpu(CpuParallel cpu, float* src, float* dst, SliceParams p)
    {
        int run = p.Len * p.Inner;
        if (run == 0) return;
        nint sp = (nint)src, dp = (nint)dst;
        cpu.ForChunks(p.Outer, CpuParallel.Grain(run), (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
                new ReadOnlySpan<float>((float*)sp + ((long)o * p.SrcLen + p.SrcOff) * p.Inner, run)
                    .CopyTo(new Span<float>((float*)dp + ((long)o * p.DstLen + p.DstOff) * p.Inner, run));
        });
    }

    /// <summary>SliceBackward: per o, a zero run, the copied run, a zero run.</summary>
    public static unsafe void SliceBackwardCpu(CpuParallel cpu, float* g, float* y, SliceParams p)
    {
        int plane = p.DstLen * p.Inner, run = p.Len * p.Inner, before = p.DstOff * p.Inner;
        if (plane == 0) return;
        nint gp = (nint)g, yp = (nint)y;
        cpu.ForChunks(p.Outer, CpuParallel.Grain(plane), (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                float* row = (float*)yp + (long)o * plane;
                new Span<float>(row, before).Clear();
                new ReadOnlySpan<float>((float*)gp + (long)o * run, run).CopyTo(new Span<float>(row + before, run));
                new Span<float>(row + before + run, plane - before - run).Clear();
            }
        });
    }

    // ============================================================ launchers

    /// <summary>Copies the block p from src into dst (unrecorded).</summary>
    public static unsafe void BlockCopy(Tensor src, Tensor dst, SliceParams p)
    {
        long elements = (long)p.Outer * p.Len * p.Inner;
        if (elements == 0) return;
        if (src.Device.IsHost)
        {
            fixed (float* s = src.HostSpan, d = dst.HostSpan) BlockCopyCpu(src.Device.Parallel, s, d, p);
        }
        else
        {
            // A pure copy: every element read once and written once.
            var cost = new LaunchCost(Flops: 0, BytesRead: elements * sizeof(float), BytesWritten: elements * sizeof(float), SerialLoop: 1);
            src.Device.Launch(BlockCopyKernel, (int)elements, cost, src.View, dst.View, p);
        }
    }

    /// <summary>y (Outer, DstLen, Inner) = g placed at DstOff in zeros (unrecorded).</summary>
    public static unsafe void SliceBackward(Tensor g, Tensor y, SliceParams p)
    {
        if (y.Size == 0) return;
        if (g.Device.IsHost)
        {
            fixed (float* gp = g.HostSpan, yp = y.HostSpan) SliceBackwardCpu(g.Device.Parallel, gp, yp, p);
        }
        else
        {
            // g read once; every element of y written once (zeros included).
            var cost = new LaunchCost(Flops: 0, BytesRead: (long)g.Size * sizeof(float), BytesWritten: (long)y.Size * sizeof(float), SerialLoop: 1);
            g.Device.Launch(SliceBackwardKernel, y.Size, cost, g.View, y.View, p);
        }
    }
}

public sealed partial class Tensor
{
    private int NormalizeAxis(int axis, string op)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank) throw new ArgumentOutOfRangeException(nameof(axis), axis, $"{op}: axis {axis} is out of range for {Describe()}");
        return a;
    }

    // ============================================================ public ops

    /// <summary>
    /// The slice [start, start + length) of <paramref name="axis"/> (negative counts from the end), as a new
    /// tensor (PyTorch's narrow, copied). Its gradient places the upstream gradient into zeros.
    /// </summary>
    public Tensor Narrow(int axis, int start, int length)
    {
        int a = NormalizeAxis(axis, "Narrow");
        if (start < 0 || length < 0 || start + length > Shape[a])
            throw new ArgumentOutOfRangeException(nameof(start), $"Narrow: [{start}, {start} + {length}) is outside axis {a} of {Describe()}");
        return NarrowCore(this, a, start, length);
    }

    /// <summary>
    /// Joins <paramref name="parts"/> along <paramref name="axis"/> (negative counts from the end); every other
    /// dimension must agree (PyTorch's cat). The gradient of each part is its slice of the upstream gradient.
    /// </summary>
    public static Tensor Concat(IReadOnlyList<Tensor> parts, int axis)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("Concat: no tensors to join", nameof(parts));
        var first = parts[0];
        int a = first.NormalizeAxis(axis, "Concat");
        int total = 0;
        foreach (var p in parts)
        {
            first.CheckSameDevice(p, "Concat");
            bool fits = p.Rank == first.Rank;
            for (int d = 0; fits && d < first.Rank; d++) fits = d == a || p.Shape[d] == first.Shape[d];
            if (!fits) throw new ShapeMismatchException($"Concat: {p.Describe()} does not fit {first.Describe()} along axis {a} (every other dimension must agree)");
            total += p.Shape[a];
        }
        using var _ = first.Device.BeginOp("Concat");
        var dims = first.Shape.ToArray();
        dims[a] = total;
        var y = Empty(new Shape(dims), first.Device);
        var (outer, _, inner) = SliceKernels.Split(dims, a);
        var lengths = parts.Select(t => t.Shape[a]).ToArray();
        if (!first.Device.IsHost && parts.Count <= 8 && y.Size > 0)
        {
            // Up to 8 parts in one launch (one thread per output element) instead of one block copy each.
            Span<int> l = stackalloc int[8];
            Span<int> o = stackalloc int[8];
            for (int k = 0, off = 0; k < 8; k++)
            {
                l[k] = k < lengths.Length ? lengths[k] : 0;
                o[k] = k < lengths.Length ? off : int.MaxValue;
                off += l[k];
            }
            var plan = new ConcatPlan
            {
                Outer = outer, Inner = inner, Total = total,
                L0 = l[0], L1 = l[1], L2 = l[2], L3 = l[3], L4 = l[4], L5 = l[5], L6 = l[6], L7 = l[7],
                O1 = o[1], O2 = o[2], O3 = o[3], O4 = o[4], O5 = o[5], O6 = o[6], O7 = o[7],
            };
            // A pure copy: every element read once and written once.
            var cost = new LaunchCost(Flops: 0, BytesRead: (long)y.Size * sizeof(float), BytesWritten: (long)y.Size * sizeof(float), SerialLoop: 1);
            first.Device.Launch(SliceKernels.ConcatKernel, y.Size, cost, Views8.Of(parts), y.View, plan);
        }
        else
        {
            int offset = 0;
            for (int k = 0; k < parts.Count; k++)
            {
                SliceKernels.BlockCopy(parts[k], y, new SliceParams
                {
                    Outer = outer, Inner = inner, SrcLen = lengths[k], DstLen = total, Len = lengths[k], SrcOff = 0, DstOff = offset,
                });
                offset += lengths[k];
            }
        }
        return Autograd.Record(y, "Concat", parts.ToArray(), (g, need) =>
        {
            var grads = new Tensor?[lengths.Length];
            int start = 0;
            for (int k = 0; k < lengths.Length; k++)
            {
                if (need[k]) grads[k] = NarrowCore(g[0], a, start, lengths[k]);
                start += lengths[k];
            }
            return grads;
        });
    }

    /// <summary>
    /// Narrow's adjoint as an op: <paramref name="grad"/> (the slice's shape) placed at [start, start + length) of
    /// <paramref name="axis"/> in zeros of length <paramref name="fullLength"/>. Its own gradient is Narrow.
    /// </summary>
    internal static Tensor SliceBackward(Tensor grad, int axis, int fullLength, int start)
    {
        int a = grad.NormalizeAxis(axis, "SliceBackward");
        if (start < 0 || start + grad.Shape[a] > fullLength)
            throw new ArgumentOutOfRangeException(nameof(start), $"SliceBackward: a slice of {grad.Shape[a]} at {start} does not fit a length of {fullLength}");
        return SliceBackwardCore(grad, a, fullLength, start);
    }

    /// <summary>
    /// Copies this into <paramref name="destination"/> at [start, start + this.Shape[axis]) of <paramref name="axis"/>,
    /// in place and unrecorded (ring buffers such as the CycleGAN image pool). Every other dimension must agree.
    /// </summary>
    public void CopyIntoSlice(Tensor destination, int axis, int start)
    {
        ArgumentNullException.ThrowIfNull(destination);
        CheckSameDevice(destination, "CopyIntoSlice");
        int a = destination.NormalizeAxis(axis, "CopyIntoSlice");
        bool fits = Rank == destination.Rank;
        for (int d = 0; fits && d < Rank; d++) fits = d == a || Shape[d] == destination.Shape[d];
        if (!fits || start < 0 || start + Shape[a] > destination.Shape[a])
            throw new ShapeMismatchException($"CopyIntoSlice: {Describe()} does not fit {destination.Describe()} at {start} of axis {a}");
        using var _ = Device.BeginOp("CopyIntoSlice");
        var (outer, _, inner) = SliceKernels.Split(destination.Shape.Dims, a);
        SliceKernels.BlockCopy(this, destination, new SliceParams
        {
            Outer = outer, Inner = inner, SrcLen = Shape[a], DstLen = destination.Shape[a], Len = Shape[a], SrcOff = 0, DstOff = start,
        });
    }

    // ============================================================ recorded ops and derivative rules

    /// <summary>y = x[.., start : start + len, ..]. Rule: dx = SliceBackward(g) (zeros outside the slice).</summary>
    private static Tensor NarrowCore(Tensor x, int axis, int start, int length)
    {
        using var _ = x.Device.BeginOp("Narrow");
        var dims = x.Shape.ToArray();
        int full = dims[axis];
        dims[axis] = length;
        var y = Empty(new Shape(dims), x.Device);
        var (outer, _, inner) = SliceKernels.Split(dims, axis);
        SliceKernels.BlockCopy(x, y, new SliceParams { Outer = outer, Inner = inner, SrcLen = full, DstLen = length, Len = length, SrcOff = start, DstOff = 0 });
        return Autograd.Record(y, "Narrow", [x], g => [SliceBackwardCore(g[0], axis, full, start)]);
    }

    /// <summary>y = g placed at start in zeros. Linear; rule: dg = Narrow(gy) (the adjoint of the adjoint).</summary>
    private static Tensor SliceBackwardCore(Tensor g, int axis, int fullLength, int start)
    {
        using var _ = g.Device.BeginOp("SliceBackward");
        var dims = g.Shape.ToArray();
        int len = dims[axis];
        dims[axis] = fullLength;
        var y = Empty(new Shape(dims), g.Device);
        var (outer, _, inner) = SliceKernels.Split(dims, axis);
        SliceKernels.SliceBackward(g, y, new SliceParams { Outer = outer, Inner = inner, SrcLen = len, DstLen = fullLength, Len = len, SrcOff = 0, DstOff = start });
        return Autograd.Record(y, "SliceBackward", [g], gy => [NarrowCore(gy[0], axis, start, len)]);
    }
}
