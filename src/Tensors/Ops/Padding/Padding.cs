// The padding family: Pad2d (zero, reflection or replication padding of the last two axes of an
// (N, C, H, W) tensor, PyTorch's F.pad(x, (left, right, top, bottom), mode)) and its adjoint
// Pad2dBackward.
//
// Math, per axis of size S padded by `before` and `after` (output size S + before + after); output
// index o reads input index src(o), with i = o − before:
//   zero:       src = i if 0 ≤ i < S, else no source (the value is 0)
//   reflect:    src = −i if i < 0,  2(S − 1) − i if i ≥ S,  else i        (needs before, after < S)
//   replicate:  src = clamp(i, 0, S − 1)
//   Pad2d:          y[n, c, oh, ow] = x[n, c, src_h(oh), src_w(ow)]   (0 without a source)
//   Pad2dBackward:  dx[n, c, ih, iw] = Σ_{oh: src_h(oh) = ih} Σ_{ow: src_w(ow) = iw} g[n, c, oh, ow]
// Pad2d is linear and Pad2dBackward is its adjoint, so each is the other's derivative rule: the
// pair is closed under differentiation (every order of derivative exists).
//
// The backward is a gather, not a scatter-add: input index i has at most three sources per axis —
// reflect: i + before, plus before − i (when 1 ≤ i ≤ before) and before + 2(S − 1) − i (when
// S − 1 − after ≤ i ≤ S − 2); replicate: the range [0, before] for i = 0, [before + S − 1, end) for
// i = S − 1, else i + before; zero: i + before. One thread per input element adds its sources in a
// fixed order: no atomics, deterministic.
// CPU set: rows. Forward: per output row, the interior (W floats) is one vectorised memmove from
// its source row, the border columns are looked up one by one. Backward: per input row, the
// interior of each source row is added with Vector512/Vector256, the border columns one by one.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>How <see cref="Tensor.Pad2d(int, int, int, int, PadMode)"/> fills the border.</summary>
public enum PadMode
{
    /// <summary>Zeros (PyTorch's "constant" with value 0, nn.ZeroPad2d).</summary>
    Zero,
    /// <summary>Mirror without repeating the edge (nn.ReflectionPad2d): padding must be smaller than the side it mirrors.</summary>
    Reflect,
    /// <summary>Repeat the edge pixel (nn.ReplicationPad2d).</summary>
    Replicate,
}

/// <summary>ILGPU parameters of a 2-D padding: input (H, W), output (Ho, Wo), the four pads and the mode.</summary>
internal struct PadParams
{
    public int H, W, Ho, Wo, Top, Bottom, Left, Right, Mode;
}

internal static class PaddingKernels
{
    // ============================================================ float64 reference

    /// <summary>The source index of output index o on an axis of size s padded by before, or −1 (zero padding).</summary>
    public static int Source(int o, int size, int before, PadMode mode)
    {
        int i = o - before;
        return mode switch
        {
            PadMode.Zero => i >= 0 && i < size ? i : -1,
            PadMode.Reflect => i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i,
            _ => Math.Clamp(i, 0, size - 1),
        };
    }

    /// <summary>Pad2d of x (N, C, H, W) by the map definition, one output element at a time.</summary>
    public static double[] Pad2dReference(double[] x, int n, int c, int h, int w, int left, int right, int top, int bottom, PadMode mode)
    {
        int ho = h + top + bottom, wo = w + left + right;
        var y = new double[n * c * ho * wo];
        for (int p = 0; p < n * c; p++)
        for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++)
        {
            int sh = Source(oh, h, top, mode), sw = Source(ow, w, left, mode);
            y[(p * ho + oh) * wo + ow] = sh < 0 || sw < 0 ? 0 : x[(p * h + sh) * w + sw];
        }
        return y;
    }

    /// <summary>The adjoint of <see cref="Pad2dReference"/> as a scatter: g (N, C, Ho, Wo) → (N, C, H, W).</summary>
    public static double[] Pad2dBackwardReference(double[] g, int n, int c, int h, int w, int left, int right, int top, int bottom, PadMode mode)
    {
        int ho = h + top + bottom, wo = w + left + right;
        var dx = new double[n * c * h * w];
        for (int p = 0; p < n * c; p++)
        for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++)
        {
            int sh = Source(oh, h, top, mode), sw = Source(ow, w, left, mode);
            if (sh >= 0 && sw >= 0) dx[(p * h + sh) * w + sw] += g[(p * ho + oh) * wo + ow];
        }
        return dx;
    }

    // ============================================================ ILGPU kernels

    /// <summary>y[p, oh, ow] = x[p, src_h(oh), src_w(ow)] or 0; one thread per output element.</summary>
    [GpuKernel]
    public static void Pad2dKernel(Index1D idx, ArrayView<float> x, ArrayView<float> y, PadParams p)
    {
        int plane = p.Ho * p.Wo;
        int pl = idx / plane, r = idx - pl * plane;
        int oh = r / p.Wo, ow = r - oh * p.Wo;
        int ih = oh - p.Top, iw = ow - p.Left;
        bool inside = true;
        if (p.Mode == (int)PadMode.Zero)
        {
            inside = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
        }
        else if (p.Mode == (int)PadMode.Reflect)
        {
            ih = ih < 0 ? -ih : ih >= p.H ? 2 * (p.H - 1) - ih : ih;
            iw = iw < 0 ? -iw : iw >= p.W ? 2 * (p.W - 1) - iw : iw;
        }
        else
        {
            ih = ih < 0 ? 0 : ih >= p.H ? p.H - 1 : ih;
            iw = iw < 0 ? 0 : iw >= p.W ? p.W - 1 : iw;
        }
        y[idx] = inside ? x[(pl * p.H + ih) * p.W + iw] : 0f;
    }

    /// <summary>
    /// dx[p, ih, iw] = Σ of g over the output pixels whose source is (ih, iw); one thread per input
    /// element gathers its sources (see the file header), rows outer, in a fixed order.
    /// </summary>
    [GpuKernel]
    public static void Pad2dBackwardKernel(Index1D idx, ArrayView<float> g, ArrayView<float> dx, PadParams p)
    {
        int plane = p.H * p.W;
        int pl = idx / plane, r = idx - pl * plane;
        int ih = r / p.W, iw = r - ih * p.W;
        // Per axis: a range [lo, hi] and two extra single sources (−1 when absent).
        int hLo = ih + p.Top, hHi = hLo, hA = -1, hB = -1;
        int wLo = iw + p.Left, wHi = wLo, wA = -1, wB = -1;
        if (p.Mode == (int)PadMode.Reflect)
        {
            if (ih >= 1 && ih <= p.Top) hA = p.Top - ih;
            if (ih <= p.H - 2 && ih >= p.H - 1 - p.Bottom) hB = p.Top + 2 * (p.H - 1) - ih;
            if (iw >= 1 && iw <= p.Left) wA = p.Left - iw;
            if (iw <= p.W - 2 && iw >= p.W - 1 - p.Right) wB = p.Left + 2 * (p.W - 1) - iw;
        }
        else if (p.Mode == (int)PadMode.Replicate)
        {
            if (ih == 0) hLo = 0;
            if (ih == p.H - 1) hHi = p.Ho - 1;
            if (iw == 0) wLo = 0;
            if (iw == p.W - 1) wHi = p.Wo - 1;
        }
        float acc = 0f;
        int gBase = pl * p.Ho * p.Wo;
        for (int k = 0; k < 3; k++)
        {
            int from = k == 0 ? hLo : k == 1 ? hA : hB;
            int to = k == 0 ? hHi : from;
            for (int oh = from; oh >= 0 && oh <= to; oh++)
            {
                int row = gBase + oh * p.Wo;
                for (int ow = wLo; ow <= wHi; ow++) acc += g[row + ow];
                if (wA >= 0) acc += g[row + wA];
                if (wB >= 0) acc += g[row + wB];
            }
        }
        dx[idx] = acc;
    }

    // ============================================================ CPU SIMD kernels

    /// <summary>Pad2d over planes × output rows, in the device's fixed chunks.</summary>
    public static unsafe void Pad2dCpu(CpuParallel cpu, float* x, float* y, int planes, PadParams p)
    {
        nint xp = (nint)x, yp = (nint)y;
        var mode = (PadMode)p.Mode;
        cpu.ForChunks(planes * p.Ho, CpuParallel.Grain(p.Wo), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int pl = r / p.Ho, oh = r - pl * p.Ho;
                float* dst = (float*)yp + (long)r * p.Wo;
                int sh = Source(oh, p.H, p.Top, mode);
                if (sh < 0)
                {
                    new Span<float>(dst, p.Wo).Clear();
                    continue;
                }
                float* src = (float*)xp + ((long)pl * p.H + sh) * p.W;
                new ReadOnlySpan<float>(src, p.W).CopyTo(new Span<float>(dst + p.Left, p.W));
                for (int ow = 0; ow < p.Left; ow++) dst[ow] = Column(src, ow, p.W, p.Left, mode);
                for (int ow = p.Left + p.W; ow < p.Wo; ow++) dst[ow] = Column(src, ow, p.W, p.Left, mode);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float Column(float* row, int ow, int w, int left, PadMode mode)
    {
        int s = Source(ow, w, left, mode);
        return s < 0 ? 0f : row[s];
    }

    /// <summary>Pad2dBackward over planes × input rows: each input row sums its source rows (interior with SIMD, borders by column).</summary>
    public static unsafe void Pad2dBackwardCpu(CpuParallel cpu, float* g, float* dx, int planes, PadParams p)
    {
        nint gp = (nint)g, dp = (nint)dx;
        var mode = (PadMode)p.Mode;
        cpu.ForChunks(planes * p.H, CpuParallel.Grain((long)p.Wo * 2), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int pl = r / p.H, ih = r - pl * p.H;
                float* dst = (float*)dp + (long)r * p.W;
                new Span<float>(dst, p.W).Clear();
                float* planeG = (float*)gp + (long)pl * p.Ho * p.Wo;
                // The source rows of ih, in the order the ILGPU kernel adds them.
                int lo = ih + p.Top, hi = lo, a = -1, b = -1;
                if (mode == PadMode.Reflect)
                {
                    if (ih >= 1 && ih <= p.Top) a = p.Top - ih;
                    if (ih <= p.H - 2 && ih >= p.H - 1 - p.Bottom) b = p.Top + 2 * (p.H - 1) - ih;
                }
                else if (mode == PadMode.Replicate)
                {
                    if (ih == 0) lo = 0;
                    if (ih == p.H - 1) hi = p.Ho - 1;
                }
                for (int oh = lo; oh <= hi; oh++) AddSourceRow(planeG + (long)oh * p.Wo, dst, p, mode);
                if (a >= 0) AddSourceRow(planeG + (long)a * p.Wo, dst, p, mode);
                if (b >= 0) AddSourceRow(planeG + (long)b * p.Wo, dst, p, mode);
            }
        });
    }

    /// <summary>dst (W) += the columns of one padded row that map to each input column.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AddSourceRow(float* row, float* dst, in PadParams p, PadMode mode)
    {
        float* interior = row + p.Left;
        int w = p.W, k = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; k <= w - 16; k += 16) (Vector512.Load(dst + k) + Vector512.Load(interior + k)).Store(dst + k);
        for (; k <= w - 8; k += 8) (Vector256.Load(dst + k) + Vector256.Load(interior + k)).Store(dst + k);
        for (; k < w; k++) dst[k] += interior[k];
        if (mode == PadMode.Zero) return;
        for (int ow = 0; ow < p.Left; ow++) dst[Source(ow, w, p.Left, mode)] += row[ow];
        for (int ow = p.Left + w; ow < p.Wo; ow++) dst[Source(ow, w, p.Left, mode)] += row[ow];
    }

    // ============================================================ launchers

    /// <summary>y (N, C, Ho, Wo) = Pad2d(x) (unrecorded).</summary>
    public static unsafe void Pad2d(Tensor x, Tensor y, PadParams p)
    {
        if (y.Size == 0) return;
        int planes = x.Shape[0] * x.Shape[1];
        if (x.Device.IsHost)
        {
            fixed (float* xp = x.HostSpan, yp = y.HostSpan) Pad2dCpu(x.Device.Parallel, xp, yp, planes, p);
        }
        else
        {
            // A gather: x read once (each element at least once), every output written once.
            var cost = new LaunchCost(Flops: 0, BytesRead: (long)x.Size * sizeof(float), BytesWritten: (long)y.Size * sizeof(float), SerialLoop: 1);
            x.Device.Launch(Pad2dKernel, y.Size, cost, x.View, y.View, p);
        }
    }

    /// <summary>dx (N, C, H, W) = Pad2dBackward(g) (unrecorded).</summary>
    public static unsafe void Pad2dBackward(Tensor g, Tensor dx, PadParams p)
    {
        if (dx.Size == 0) return;
        int planes = g.Shape[0] * g.Shape[1];
        if (g.Device.IsHost)
        {
            fixed (float* gp = g.HostSpan, dp = dx.HostSpan) Pad2dBackwardCpu(g.Device.Parallel, gp, dp, planes, p);
        }
        else
        {
            // Every element of g is added once (zero padding reads only the interior); the busiest thread
            // (a replicated corner) walks (Top + 1)·(Left + 1) sources.
            long read = (PadMode)p.Mode == PadMode.Zero ? dx.Size : g.Size;
            long serial = (PadMode)p.Mode == PadMode.Replicate ? (long)(Math.Max(p.Top, p.Bottom) + 1) * (Math.Max(p.Left, p.Right) + 1)
                : (PadMode)p.Mode == PadMode.Reflect ? 9 : 1;
            var cost = new LaunchCost(Flops: read, BytesRead: read * sizeof(float), BytesWritten: (long)dx.Size * sizeof(float), SerialLoop: serial);
            g.Device.Launch(Pad2dBackwardKernel, dx.Size, cost, g.View, dx.View, p);
        }
    }
}

public sealed partial class Tensor
{
    // ============================================================ public ops

    /// <summary>
    /// Pads the last two axes of an (N, C, H, W) tensor: <paramref name="left"/>/<paramref name="right"/> columns and
    /// <paramref name="top"/>/<paramref name="bottom"/> rows, filled as <paramref name="mode"/> says (PyTorch's
    /// F.pad(x, (left, right, top, bottom), mode)). Reflection needs each pad smaller than the side it mirrors.
    /// </summary>
    public Tensor Pad2d(int left, int right, int top, int bottom, PadMode mode = PadMode.Zero)
    {
        var p = PadGeometry("Pad2d", Shape, left, right, top, bottom, mode);
        return Pad2dCore(this, p);
    }

    /// <summary>The same padding on all four sides.</summary>
    public Tensor Pad2d(int padding, PadMode mode = PadMode.Zero) => Pad2d(padding, padding, padding, padding, mode);

    /// <summary>
    /// Pad2d's adjoint as an op: the gradient <paramref name="grad"/> (N, C, H + top + bottom, W + left + right) summed
    /// back onto the (N, C, H, W) input it padded. Its own gradient is Pad2d.
    /// </summary>
    internal static Tensor Pad2dBackward(Tensor grad, int height, int width, int left, int right, int top, int bottom, PadMode mode)
    {
        if (grad.Rank != 4) throw new ShapeMismatchException($"Pad2dBackward: gradient must be (N, C, H, W), got {grad.Describe()}");
        var p = grad.PadGeometry("Pad2dBackward", new Shape(grad.Shape[0], grad.Shape[1], height, width), left, right, top, bottom, mode);
        if (grad.Shape[2] != p.Ho || grad.Shape[3] != p.Wo)
            throw new ShapeMismatchException($"Pad2dBackward: gradient {grad.Describe()} is not the padded size {p.Ho}x{p.Wo} of {height}x{width}");
        return Pad2dBackwardCore(grad, p);
    }

    private PadParams PadGeometry(string op, Shape input, int left, int right, int top, int bottom, PadMode mode)
    {
        if (input.Rank != 4) throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {Describe()}");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, $"{op}: unknown padding mode");
        if (left < 0 || right < 0 || top < 0 || bottom < 0)
            throw new ArgumentOutOfRangeException(nameof(left), $"{op}: padding ({left}, {right}, {top}, {bottom}) must be non-negative");
        int h = input[2], w = input[3];
        if (mode == PadMode.Reflect && (left >= w || right >= w || top >= h || bottom >= h))
            throw new ArgumentOutOfRangeException(nameof(left), $"{op}: reflection padding ({left}, {right}, {top}, {bottom}) must be smaller than the input's sides {h}x{w}");
        if (mode == PadMode.Replicate && (h == 0 || w == 0) && left + right + top + bottom > 0)
            throw new ArgumentOutOfRangeException(nameof(mode), $"{op}: cannot replicate the edge of an empty {h}x{w} input");
        return new PadParams { H = h, W = w, Ho = h + top + bottom, Wo = w + left + right, Top = top, Bottom = bottom, Left = left, Right = right, Mode = (int)mode };
    }

    // ============================================================ recorded ops and derivative rules

    /// <summary>y = Pad2d(x). Linear; rule: dx = Pad2dBackward(g).</summary>
    private static Tensor Pad2dCore(Tensor x, PadParams p)
    {
        using var _ = x.Device.BeginOp("Pad2d");
        var y = Empty(new Shape(x.Shape[0], x.Shape[1], p.Ho, p.Wo), x.Device);
        PaddingKernels.Pad2d(x, y, p);
        return Autograd.Record(y, "Pad2d", [x], g => [Pad2dBackwardCore(g[0], p)]);
    }

    /// <summary>dx = Pad2dBackward(g), the adjoint. Linear; rule: dg = Pad2d(gx).</summary>
    private static Tensor Pad2dBackwardCore(Tensor g, PadParams p)
    {
        using var _ = g.Device.BeginOp("Pad2dBackward");
        var dx = Empty(new Shape(g.Shape[0], g.Shape[1], p.H, p.W), g.Device);
        PaddingKernels.Pad2dBackward(g, dx, p);
        return Autograd.Record(dx, "Pad2dBackward", [g], gx => [Pad2dCore(gx[0], p)]);
    }
}
