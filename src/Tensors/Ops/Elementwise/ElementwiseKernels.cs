// The elementwise machinery, written once for every op struct of UnaryOps.cs and BinaryOps.cs:
// one generic ILGPU kernel per arity (UnaryKernel<TOp>, BinaryKernel<TOp>: ILGPU compiles one
// specialisation per struct type argument, as C++ templates would), one SIMD loop per arity
// (the JIT specialises it per struct the same way), the float64 reference loops, and the
// broadcast layout. The models: .NET TensorPrimitives' operator structs (IUnaryOperator) and
// ILGPU's generic kernels with struct type arguments.
//
// Broadcasting: both operands get 4-D strides against the output, 0 along broadcast
// dimensions. Before the CPU loop runs, adjacent dimensions that are laid out alike in both
// operands are merged, so the CNN patterns — same shape, scalar, per-channel (1,C,1,1),
// per-sample (N,1,1,1) — all become a few long SIMD rows with a vector or a scalar operand.
// The ILGPU kernel does the index arithmetic per element (one thread each, coalesced writes).
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>4-D output extents and per-operand strides (0 where an operand is broadcast).</summary>
internal struct Broadcast4
{
    public int D0, D1, D2, D3;
    public int A0, A1, A2, A3;
    public int B0, B1, B2, B3;
}

internal static class ElementwiseKernels
{
    // ============================================================ float64 reference

    /// <summary>The float64 reference of a unary op over a flat array (the op table's oracle).</summary>
    public static double[] UnaryReference<TOp>(double[] x, double alpha = 0, double beta = 0) where TOp : IUnaryOp
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = TOp.Reference(x[i], alpha, beta);
        return y;
    }

    /// <summary>Flat indices into a and b (padded shapes pa, pb, 1 where broadcast) of flat output element o of shape po; idx is scratch.</summary>
    private static (int A, int B) BroadcastSources(int o, int[] po, int[] pa, int[] pb, int[] idx)
    {
        int rank = po.Length, r = o;
        for (int d = rank - 1; d >= 0; d--) { idx[d] = r % po[d]; r /= po[d]; }
        int ia = 0, ib = 0;
        for (int d = 0; d < rank; d++)
        {
            ia = ia * pa[d] + (pa[d] == 1 ? 0 : idx[d]);
            ib = ib * pb[d] + (pb[d] == 1 ? 0 : idx[d]);
        }
        return (ia, ib);
    }

    /// <summary>
    /// The float64 reference of a binary op with NumPy broadcasting of row-major a (shape
    /// <paramref name="shapeA"/>) and b (shape <paramref name="shapeB"/>), written without the
    /// kernels' stride layout: each output index is mapped back to each operand directly.
    /// </summary>
    public static double[] BinaryReference<TOp>(double[] a, int[] shapeA, double[] b, int[] shapeB, double alpha = 0) where TOp : IBinaryOp
    {
        int rank = Math.Max(shapeA.Length, shapeB.Length);
        int[] pa = PadLeft(shapeA, rank), pb = PadLeft(shapeB, rank), po = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            if (pa[d] != pb[d] && pa[d] != 1 && pb[d] != 1) throw new ArgumentException($"shapes {Shape.Format(shapeA)} and {Shape.Format(shapeB)} do not broadcast");
            po[d] = Math.Max(pa[d], pb[d]);
        }
        var y = new double[po.Aggregate(1, (p, d) => p * d)];
        var idx = new int[rank];
        for (int o = 0; o < y.Length; o++)
        {
            var (ia, ib) = BroadcastSources(o, po, pa, pb, idx);
            y[o] = TOp.Reference(a[ia], b[ib], alpha);
        }
        return y;
    }

    /// <summary>The float64 VJP of a unary op: u·f'(x) elementwise (the oracle of its derivative rule).</summary>
    public static double[] UnaryVjpReference<TOp>(double[] x, double[] u, double alpha = 0, double beta = 0) where TOp : IDifferentiableUnaryOp
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++) g[i] = u[i] * TOp.ReferenceDerivative(x[i], alpha, beta);
        return g;
    }

    /// <summary>
    /// The float64 VJP of a broadcast binary op: (Σ u·∂f/∂a, Σ u·∂f/∂b), each summed over the output elements
    /// that read the operand's element (the adjoint of broadcasting), at the operands' shapes.
    /// </summary>
    public static (double[] A, double[] B) BinaryVjpReference<TOp>(double[] a, int[] shapeA, double[] b, int[] shapeB, double[] u, double alpha = 0)
        where TOp : IDifferentiableBinaryOp
    {
        int rank = Math.Max(shapeA.Length, shapeB.Length);
        int[] pa = PadLeft(shapeA, rank), pb = PadLeft(shapeB, rank), po = new int[rank];
        for (int d = 0; d < rank; d++) po[d] = Math.Max(pa[d], pb[d]);
        var ga = new double[a.Length];
        var gb = new double[b.Length];
        var idx = new int[rank];
        for (int o = 0; o < u.Length; o++)
        {
            var (ia, ib) = BroadcastSources(o, po, pa, pb, idx);
            var (da, db) = TOp.ReferenceDerivative(a[ia], b[ib], alpha);
            ga[ia] += u[o] * da;
            gb[ib] += u[o] * db;
        }
        return (ga, gb);
    }

    private static int[] PadLeft(int[] s, int rank) => [.. Enumerable.Repeat(1, rank - s.Length), .. s];

    // ============================================================ ILGPU kernels

    /// <summary>y = value (Tensor.Fill on an ILGPU device; the host fills its span).</summary>
    [GpuKernel]
    public static void FillKernel(Index1D i, ArrayView<float> y, float value) => y[i] = value;

    public static void FillIlgpu(Device d, ArrayView<float> y, int n, float value)
        => d.Launch(FillKernel, n, LaunchCost.Elementwise(n, flopsPerElement: 0, readsPerElement: 0), y, value);

    /// <summary>y = TOp(x; α, β); y may be x (in place: each thread reads before it writes its own element).</summary>
    [GpuKernel]
    public static void UnaryKernel<TOp>(Index1D i, ArrayView<float> x, ArrayView<float> y, float alpha, float beta) where TOp : struct, IUnaryOp
        => y[i] = TOp.Apply(x[i], alpha, beta);

    /// <summary>y = TOp(a, b; α) over the 4-D broadcast layout s; y may be a (same shape, in place).</summary>
    [GpuKernel]
    public static void BinaryKernel<TOp>(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, Broadcast4 s, float alpha) where TOp : struct, IBinaryOp
    {
        int r = i;
        int i3 = r % s.D3; r /= s.D3;
        int i2 = r % s.D2; r /= s.D2;
        int i1 = r % s.D1;
        int i0 = r / s.D1;
        float av = a[i0 * s.A0 + i1 * s.A1 + i2 * s.A2 + i3 * s.A3];
        float bv = b[i0 * s.B0 + i1 * s.B1 + i2 * s.B2 + i3 * s.B3];
        y[i] = TOp.Apply(av, bv, alpha);
    }

    /// <summary>
    /// Every closed instantiation of the generic kernels that the library can launch: UnaryKernel
    /// for each IUnaryOp struct and BinaryKernel for each IBinaryOp struct in this assembly. The
    /// launchers constrain TOp to those interfaces, which are internal, so no other instantiation
    /// can exist. The PTX test compiles each of these (a generic method definition cannot be).
    /// </summary>
    public static IReadOnlyList<MethodInfo> Instantiations() => s_instantiations.Value;

    private static readonly Lazy<IReadOnlyList<MethodInfo>> s_instantiations = new(() =>
    {
        var types = typeof(ElementwiseKernels).Assembly.GetTypes().Where(t => t.IsValueType && !t.IsGenericTypeDefinition).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var unary = typeof(ElementwiseKernels).GetMethod(nameof(UnaryKernel))!;
        var binary = typeof(ElementwiseKernels).GetMethod(nameof(BinaryKernel))!;
        return
        [
            .. types.Where(typeof(IUnaryOp).IsAssignableFrom).Select(t => unary.MakeGenericMethod(t)),
            .. types.Where(typeof(IBinaryOp).IsAssignableFrom).Select(t => binary.MakeGenericMethod(t)),
        ];
    });

    // ============================================================ CPU SIMD kernels

    /// <summary>y = TOp(x) over n elements, in the device's fixed chunks; y may be x.</summary>
    public static unsafe void UnaryCpu<TOp>(CpuParallel parallel, float* x, float* y, int n, float alpha, float beta) where TOp : struct, IUnaryOp
    {
        nint xp = (nint)x, yp = (nint)y;
        parallel.ForChunks(n, CpuParallel.Grain(1), (start, end) =>
            UnaryRange<TOp>((float*)xp + start, (float*)yp + start, end - start, alpha, beta));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void UnaryRange<TOp>(float* x, float* y, int len, float alpha, float beta) where TOp : struct, IUnaryOp
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a = Vector512.Create(alpha), b = Vector512.Create(beta);
            for (; i <= len - 16; i += 16) TOp.Apply(Vector512.Load(x + i), a, b).Store(y + i);
        }
        {
            Vector256<float> a = Vector256.Create(alpha), b = Vector256.Create(beta);
            for (; i <= len - 8; i += 8) TOp.Apply(Vector256.Load(x + i), a, b).Store(y + i);
        }
        for (; i < len; i++) y[i] = TOp.Apply(x[i], alpha, beta);
    }

    /// <summary>
    /// y = TOp(a, b) over the layout s, by rows of the innermost (merged) dimension; each row is
    /// one SIMD loop whose operands are each either contiguous (stride 1) or a repeated scalar
    /// (stride 0). y may be a when both have the output's shape.
    /// </summary>
    public static unsafe void BinaryCpu<TOp>(CpuParallel parallel, float* a, float* b, float* y, in Broadcast4 s, float alpha) where TOp : struct, IBinaryOp
    {
        int rows = s.D0 * s.D1 * s.D2, len = s.D3;
        if (rows == 0 || len == 0) return;
        nint ap = (nint)a, bp = (nint)b, yp = (nint)y;
        var l = s;
        if (len > CpuParallel.ChunkWork)
        {
            // Rows longer than a chunk of work (same-shape operands merge into ONE row, e.g. an activation's backward):
            // cut each row into ChunkWork segments so the op runs on every thread. A segment starts at a multiple of
            // ChunkWork (a multiple of the SIMD widths), so every element takes the same vector or scalar path as in
            // the uncut row; the cut depends on the shape only.
            int segments = (len + CpuParallel.ChunkWork - 1) / CpuParallel.ChunkWork;
            parallel.ForEach(rows * segments, item =>
            {
                int r = item / segments, o = item % segments * CpuParallel.ChunkWork;
                int i2 = r % l.D2, q = r / l.D2, i1 = q % l.D1, i0 = q / l.D1;
                float* ar = (float*)ap + i0 * l.A0 + i1 * l.A1 + i2 * l.A2 + (long)o * l.A3;
                float* br = (float*)bp + i0 * l.B0 + i1 * l.B1 + i2 * l.B2 + (long)o * l.B3;
                float* yr = (float*)yp + (long)r * len + o;
                BinaryRow<TOp>(ar, l.A3, br, l.B3, yr, Math.Min(CpuParallel.ChunkWork, len - o), alpha);
            });
            return;
        }
        parallel.ForChunks(rows, CpuParallel.Grain(len), (rStart, rEnd) =>
        {
            for (int r = rStart; r < rEnd; r++)
            {
                int i2 = r % l.D2, q = r / l.D2, i1 = q % l.D1, i0 = q / l.D1;
                float* ar = (float*)ap + i0 * l.A0 + i1 * l.A1 + i2 * l.A2;
                float* br = (float*)bp + i0 * l.B0 + i1 * l.B1 + i2 * l.B2;
                float* yr = (float*)yp + (long)r * len;
                BinaryRow<TOp>(ar, l.A3, br, l.B3, yr, len, alpha);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void BinaryRow<TOp>(float* a, int sa, float* b, int sb, float* y, int len, float alpha) where TOp : struct, IBinaryOp
    {
        int i = 0;
        if (sa == 1 && sb == 1)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                var s = Vector512.Create(alpha);
                for (; i <= len - 16; i += 16) TOp.Apply(Vector512.Load(a + i), Vector512.Load(b + i), s).Store(y + i);
            }
            var s8 = Vector256.Create(alpha);
            for (; i <= len - 8; i += 8) TOp.Apply(Vector256.Load(a + i), Vector256.Load(b + i), s8).Store(y + i);
            for (; i < len; i++) y[i] = TOp.Apply(a[i], b[i], alpha);
        }
        else if (sa == 1 && sb == 0)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> s = Vector512.Create(alpha), vb = Vector512.Create(*b);
                for (; i <= len - 16; i += 16) TOp.Apply(Vector512.Load(a + i), vb, s).Store(y + i);
            }
            Vector256<float> s8 = Vector256.Create(alpha), vb8 = Vector256.Create(*b);
            for (; i <= len - 8; i += 8) TOp.Apply(Vector256.Load(a + i), vb8, s8).Store(y + i);
            for (; i < len; i++) y[i] = TOp.Apply(a[i], *b, alpha);
        }
        else if (sa == 0 && sb == 1)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> s = Vector512.Create(alpha), va = Vector512.Create(*a);
                for (; i <= len - 16; i += 16) TOp.Apply(va, Vector512.Load(b + i), s).Store(y + i);
            }
            Vector256<float> s8 = Vector256.Create(alpha), va8 = Vector256.Create(*a);
            for (; i <= len - 8; i += 8) TOp.Apply(va8, Vector256.Load(b + i), s8).Store(y + i);
            for (; i < len; i++) y[i] = TOp.Apply(*a, b[i], alpha);
        }
        else
        {
            // Both broadcast along the row (a merged layout leaves this only for tiny shapes).
            for (; i < len; i++) y[i] = TOp.Apply(a[i * sa], b[i * sb], alpha);
        }
    }

    // ============================================================ broadcast layout

    /// <summary>
    /// Output-aligned 4-D strides of a and b, with adjacent dimensions merged where both
    /// operands are laid out alike, so the CPU inner loop runs over the longest possible rows.
    /// </summary>
    public static Broadcast4 Layout(Shape a, Shape b, Shape output, bool merge)
    {
        Span<int> d = stackalloc int[4], da = stackalloc int[4], db = stackalloc int[4];
        output.To4(d);
        PadTo4(a, output.Rank, da);
        PadTo4(b, output.Rank, db);
        Span<int> sa = stackalloc int[4], sb = stackalloc int[4];
        int ra = 1, rb = 1;
        for (int i = 3; i >= 0; i--)
        {
            sa[i] = da[i] == 1 && d[i] != 1 ? 0 : ra;
            sb[i] = db[i] == 1 && d[i] != 1 ? 0 : rb;
            ra *= da[i];
            rb *= db[i];
        }
        if (merge)
        {
            // Drop size-1 dimensions, then fold dimension i into i+1 whenever that keeps both
            // operands' addressing linear (contiguous in both, or broadcast in both).
            Span<int> md = stackalloc int[4], ma = stackalloc int[4], mb = stackalloc int[4];
            int k = 0;
            for (int i = 0; i < 4; i++)
            {
                if (d[i] == 1) continue;
                if (k > 0 && ma[k - 1] == sa[i] * d[i] && mb[k - 1] == sb[i] * d[i])
                {
                    md[k - 1] *= d[i];
                    ma[k - 1] = sa[i];
                    mb[k - 1] = sb[i];
                    continue;
                }
                md[k] = d[i]; ma[k] = sa[i]; mb[k] = sb[i];
                k++;
            }
            for (int i = 0; i < 4; i++)
            {
                int src = i - (4 - k);
                d[i] = src >= 0 ? md[src] : 1;
                sa[i] = src >= 0 ? ma[src] : 0;
                sb[i] = src >= 0 ? mb[src] : 0;
            }
        }
        return new Broadcast4
        {
            D0 = d[0], D1 = d[1], D2 = d[2], D3 = d[3],
            A0 = sa[0], A1 = sa[1], A2 = sa[2], A3 = sa[3],
            B0 = sb[0], B1 = sb[1], B2 = sb[2], B3 = sb[3],
        };
    }

    private static void PadTo4(Shape s, int outRank, Span<int> dims4)
    {
        // Right-align against the output rank first (NumPy rule), then into 4 slots.
        int pad = 4 - outRank, inner = outRank - s.Rank;
        for (int i = 0; i < 4; i++)
        {
            int k = i - pad - inner;
            dims4[i] = k >= 0 ? s[k] : 1;
        }
    }
}

public sealed partial class Tensor
{
    // ============================================================ launchers

    /// <summary>y = TOp(x; α, β) into an existing tensor of x's size (y may be x); unrecorded.</summary>
    internal static unsafe void UnaryInto<TOp>(Tensor x, Tensor y, float alpha, float beta) where TOp : struct, IUnaryOp
    {
        x.CheckSameDevice(y, TOp.Name);
        if (y.Size != x.Size) throw new ShapeMismatchException($"{TOp.Name}: {x.Describe()} into {y.Describe()}");
        if (x.Size == 0) return;
        using var _ = x.Device.BeginOp(TOp.Name);
        if (x.Device.IsHost)
        {
            fixed (float* xp = x.HostSpan, yp = y.HostSpan) ElementwiseKernels.UnaryCpu<TOp>(x.Device.Parallel, xp, yp, x.Size, alpha, beta);
        }
        else
        {
            x.Device.Launch(ElementwiseKernels.UnaryKernel<TOp>, x.Size, LaunchCost.Elementwise(x.Size, TOp.Flops, readsPerElement: 1),
                x.View, y.View, alpha, beta);
        }
    }

    /// <summary>y = TOp(a, b; α) broadcast to y's shape (y may be a when shapes agree); unrecorded.</summary>
    internal static unsafe void BinaryInto<TOp>(Tensor a, Tensor b, Tensor y, float alpha) where TOp : struct, IBinaryOp
    {
        a.CheckSameDevice(b, TOp.Name);
        a.CheckSameDevice(y, TOp.Name);
        if (y.Size == 0) return;
        using var _ = a.Device.BeginOp(TOp.Name);
        if (a.Device.IsHost)
        {
            var s = ElementwiseKernels.Layout(a.Shape, b.Shape, y.Shape, merge: true);
            fixed (float* ap = a.HostSpan, bp = b.HostSpan, yp = y.HostSpan) ElementwiseKernels.BinaryCpu<TOp>(a.Device.Parallel, ap, bp, yp, s, alpha);
        }
        else
        {
            var s = ElementwiseKernels.Layout(a.Shape, b.Shape, y.Shape, merge: false);
            // Compulsory traffic: each distinct operand once (a broadcast operand is re-read from cache;
            // BroadcastTo passes a as both), y once.
            long read = a.Size + (ReferenceEquals(a, b) ? 0L : b.Size);
            var cost = new LaunchCost(Flops: (long)y.Size * TOp.Flops, BytesRead: read * sizeof(float),
                BytesWritten: (long)y.Size * sizeof(float), SerialLoop: 1);
            a.Device.Launch(ElementwiseKernels.BinaryKernel<TOp>, y.Size, cost, a.View, b.View, y.View, s, alpha);
        }
    }

    /// <summary>TOp(this) into a new tensor, unrecorded (masks, and the recorded ops below).</summary>
    internal Tensor UnaryRaw<TOp>(float alpha = 0, float beta = 0) where TOp : struct, IUnaryOp
    {
        var y = Empty(Shape, Device);
        UnaryInto<TOp>(this, y, alpha, beta);
        return y;
    }

    /// <summary>TOp(this, b) broadcast into a new tensor, unrecorded.</summary>
    internal Tensor BinaryRaw<TOp>(Tensor b, float alpha = 0) where TOp : struct, IBinaryOp
    {
        CheckSameDevice(b, TOp.Name);
        var y = Empty(Shape.Broadcast(Shape, b.Shape, TOp.Name), Device);
        BinaryInto<TOp>(this, b, y, alpha);
        return y;
    }

    /// <summary>TOp(this), recorded with TOp's derivative rule.</summary>
    internal Tensor Unary<TOp>(float alpha = 0, float beta = 0) where TOp : struct, IDifferentiableUnaryOp
    {
        var y = UnaryRaw<TOp>(alpha, beta);
        var x = this;
        return Autograd.Record(y, TOp.Name, [this], g => [TOp.Derivative(g[0], x, y, alpha, beta)]);
    }

    /// <summary>TOp(this, b), recorded with TOp's derivative rule; each gradient is summed back to its operand's shape.</summary>
    internal Tensor Binary<TOp>(Tensor b, float alpha = 0) where TOp : struct, IDifferentiableBinaryOp
    {
        var y = BinaryRaw<TOp>(b, alpha);
        var a = this;
        return Autograd.Record(y, TOp.Name, [a, b], (g, need) =>
        {
            var (ga, gb) = TOp.Derivative(g[0], a, b, y, alpha, need[0], need[1]);
            return [need[0] ? ga?.SumTo(a.Shape) : null, need[1] ? gb?.SumTo(b.Shape) : null];
        });
    }
}
