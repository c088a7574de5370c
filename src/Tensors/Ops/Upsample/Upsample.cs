// The upsampling family: nearest-neighbour upsampling of an (N, C, H, W) tensor by integer factors
// (PyTorch's nn.Upsample(scale_factor=(sh, sw), mode="nearest")) and its adjoint, the block sum.
//
// Math:
//   UpsampleNearest2d:          y[n, c, oh, ow] = x[n, c, ⌊oh / sh⌋, ⌊ow / sw⌋]          y: (N, C, H·sh, W·sw)
//   UpsampleNearest2dBackward:  dx[n, c, i, j] = Σ_{a < sh, b < sw} g[n, c, i·sh + a, j·sw + b]
// Both are linear and adjoint to each other, so each is the other's derivative rule (closed under
// differentiation). Integer factors only: then every output has exactly one source and every input
// exactly sh·sw outputs, so the backward is a gather with a fixed-length loop and no atomics.
//
// CPU set, by rows: an output row whose oh is not a multiple of sh is a copy of the row above it
// (vectorised memmove); a first row is built from its source row — for sw = 2, 16 floats become 32
// with two AVX-512 lane permutes (8 → 16 with AVX2), other factors column by column. The backward
// sums the sh source rows, each folded by pairs for sw = 2 (AVX horizontal adds) or block by block.
// ILGPU set: one thread per output (forward) and one per input element (backward, sh·sw adds in a
// fixed order).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>ILGPU parameters of a nearest upsampling: input (H, W), factors (Sh, Sw).</summary>
internal struct UpsampleParams
{
    public int H, W, Sh, Sw;
}

internal static class UpsampleKernels
{
    // ============================================================ float64 reference

    /// <summary>Nearest upsampling of x (N, C, H, W) by (sh, sw).</summary>
    public static double[] UpsampleNearest2dReference(double[] x, int n, int c, int h, int w, int sh, int sw)
    {
        int ho = h * sh, wo = w * sw;
        var y = new double[n * c * ho * wo];
        for (int p = 0; p < n * c; p++)
        for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++)
            y[(p * ho + oh) * wo + ow] = x[(p * h + oh / sh) * w + ow / sw];
        return y;
    }

    /// <summary>The adjoint: g (N, C, H·sh, W·sw) summed over sh×sw blocks into (N, C, H, W), as a scatter.</summary>
    public static double[] UpsampleNearest2dBackwardReference(double[] g, int n, int c, int h, int w, int sh, int sw)
    {
        int ho = h * sh, wo = w * sw;
        var dx = new double[n * c * h * w];
        for (int p = 0; p < n * c; p++)
        for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++)
            dx[(p * h + oh / sh) * w + ow / sw] += g[(p * ho + oh) * wo + ow];
        return dx;
    }

    // ============================================================ ILGPU kernels

    /// <summary>y[p, oh, ow] = x[p, oh / Sh, ow / Sw]; one thread per output element.</summary>
    [GpuKernel]
    public static void UpsampleNearest2dKernel(Index1D idx, ArrayView<float> x, ArrayView<float> y, UpsampleParams p)
    {
        int wo = p.W * p.Sw, plane = p.H * p.Sh * wo;
        int pl = idx / plane, r = idx - pl * plane;
        int oh = r / wo, ow = r - oh * wo;
        y[idx] = x[(pl * p.H + oh / p.Sh) * p.W + ow / p.Sw];
    }

    /// <summary>dx[p, i, j] = Σ_{a, b} g[p, i·Sh + a, j·Sw + b], rows outer; one thread per input element.</summary>
    [GpuKernel]
    public static void UpsampleNearest2dBackwardKernel(Index1D idx, ArrayView<float> g, ArrayView<float> dx, UpsampleParams p)
    {
        int plane = p.H * p.W, wo = p.W * p.Sw;
        int pl = idx / plane, r = idx - pl * plane;
        int i = r / p.W, j = r - i * p.W;
        int row = (pl * p.H * p.Sh + i * p.Sh) * wo + j * p.Sw;
        float acc = 0f;
        for (int a = 0; a < p.Sh; a++)
            for (int b = 0; b < p.Sw; b++)
                acc += g[row + a * wo + b];
        dx[idx] = acc;
    }

    // ============================================================ CPU SIMD kernels

    private static readonly Vector512<int> DoubleLo = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    private static readonly Vector512<int> DoubleHi = Vector512.Create(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    private static readonly Vector256<int> DoubleLo8 = Vector256.Create(0, 0, 1, 1, 2, 2, 3, 3);
    private static readonly Vector256<int> DoubleHi8 = Vector256.Create(4, 4, 5, 5, 6, 6, 7, 7);

    /// <summary>Forward over planes × output rows, in the device's fixed chunks (a chunk starts on a row block, so the copied rows' sources are its own).</summary>
    public static unsafe void UpsampleNearest2dCpu(CpuParallel cpu, float* x, float* y, int planes, UpsampleParams p)
    {
        nint xp = (nint)x, yp = (nint)y;
        int wo = p.W * p.Sw;
        // Work items are whole row blocks (one input row → Sh output rows).
        cpu.ForChunks(planes * p.H, CpuParallel.Grain((long)wo * p.Sh), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                float* src = (float*)xp + (long)r * p.W;
                float* first = (float*)yp + (long)r * p.Sh * wo;
                ExpandRow(src, first, p.W, p.Sw);
                for (int a = 1; a < p.Sh; a++) new ReadOnlySpan<float>(first, wo).CopyTo(new Span<float>(first + (long)a * wo, wo));
            }
        });
    }

    /// <summary>dst[j·sw + b] = src[j] for b &lt; sw.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ExpandRow(float* src, float* dst, int w, int sw)
    {
        int j = 0;
        if (sw == 2)
        {
            if (Avx512F.IsSupported)
            {
                for (; j <= w - 16; j += 16)
                {
                    var v = Vector512.Load(src + j);
                    Avx512F.PermuteVar16x32(v, DoubleLo).Store(dst + 2 * j);
                    Avx512F.PermuteVar16x32(v, DoubleHi).Store(dst + 2 * j + 16);
                }
            }
            if (Avx2.IsSupported)
            {
                for (; j <= w - 8; j += 8)
                {
                    var v = Vector256.Load(src + j);
                    Avx2.PermuteVar8x32(v, DoubleLo8).Store(dst + 2 * j);
                    Avx2.PermuteVar8x32(v, DoubleHi8).Store(dst + 2 * j + 8);
                }
            }
        }
        for (; j < w; j++)
        {
            float v = src[j];
            for (int b = 0; b < sw; b++) dst[j * sw + b] = v;
        }
    }

    /// <summary>Backward over planes × input rows: the Sh source rows folded by Sw and summed.</summary>
    public static unsafe void UpsampleNearest2dBackwardCpu(CpuParallel cpu, float* g, float* dx, int planes, UpsampleParams p)
    {
        nint gp = (nint)g, dp = (nint)dx;
        int wo = p.W * p.Sw;
        cpu.ForChunks(planes * p.H, CpuParallel.Grain((long)wo * p.Sh), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                float* dst = (float*)dp + (long)r * p.W;
                float* rows = (float*)gp + (long)r * p.Sh * wo;
                FoldRow(rows, dst, p.W, p.Sw, accumulate: false);
                for (int a = 1; a < p.Sh; a++) FoldRow(rows + (long)a * wo, dst, p.W, p.Sw, accumulate: true);
            }
        });
    }

    /// <summary>dst[j] (+)= Σ_{b &lt; sw} src[j·sw + b].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void FoldRow(float* src, float* dst, int w, int sw, bool accumulate)
    {
        int j = 0;
        if (sw == 2 && Avx2.IsSupported)
        {
            // hadd of two 8-float vectors gives the 8 pair sums with 64-bit lanes in the order 0, 2, 1, 3.
            for (; j <= w - 8; j += 8)
            {
                var sums = Avx.HorizontalAdd(Vector256.Load(src + 2 * j), Vector256.Load(src + 2 * j + 8));
                var ordered = Avx2.Permute4x64(sums.AsDouble(), 0b11_01_10_00).AsSingle();
                if (accumulate) ordered += Vector256.Load(dst + j);
                ordered.Store(dst + j);
            }
        }
        for (; j < w; j++)
        {
            float s = 0f;
            for (int b = 0; b < sw; b++) s += src[j * sw + b];
            dst[j] = accumulate ? dst[j] + s : s;
        }
    }

    // ============================================================ launchers

    /// <summary>y = UpsampleNearest2d(x) (unrecorded).</summary>
    public static unsafe void Forward(Tensor x, Tensor y, UpsampleParams p)
    {
        if (y.Size == 0) return;
        int planes = x.Shape[0] * x.Shape[1];
        if (x.Device.IsHost)
        {
            fixed (float* xp = x.HostSpan, yp = y.HostSpan) UpsampleNearest2dCpu(x.Device.Parallel, xp, yp, planes, p);
        }
        else
        {
            // A gather: x read once (through the cache), y written once.
            var cost = new LaunchCost(Flops: 0, BytesRead: (long)x.Size * sizeof(float), BytesWritten: (long)y.Size * sizeof(float), SerialLoop: 1);
            x.Device.Launch(UpsampleNearest2dKernel, y.Size, cost, x.View, y.View, p);
        }
    }

    /// <summary>dx = UpsampleNearest2dBackward(g) (unrecorded).</summary>
    public static unsafe void Backward(Tensor g, Tensor dx, UpsampleParams p)
    {
        if (dx.Size == 0) return;
        int planes = g.Shape[0] * g.Shape[1];
        if (g.Device.IsHost)
        {
            fixed (float* gp = g.HostSpan, dp = dx.HostSpan) UpsampleNearest2dBackwardCpu(g.Device.Parallel, gp, dp, planes, p);
        }
        else
        {
            // Every element of g is read and added once; each thread adds Sh·Sw of them.
            var cost = new LaunchCost(Flops: g.Size, BytesRead: (long)g.Size * sizeof(float), BytesWritten: (long)dx.Size * sizeof(float), SerialLoop: (long)p.Sh * p.Sw);
            g.Device.Launch(UpsampleNearest2dBackwardKernel, dx.Size, cost, g.View, dx.View, p);
        }
    }
}

public sealed partial class Tensor
{
    // ============================================================ public ops

    /// <summary>
    /// Nearest-neighbour upsampling of an (N, C, H, W) tensor by integer factors: (N, C, H·scaleH, W·scaleW), each
    /// input pixel repeated over a scaleH × scaleW block (PyTorch's nn.Upsample(mode="nearest") with integer scale).
    /// </summary>
    public Tensor UpsampleNearest2d(int scaleH, int scaleW)
    {
        var p = UpsampleGeometry("UpsampleNearest2d", this, scaleH, scaleW);
        return UpsampleCore(this, p);
    }

    /// <summary>The same factor on both axes.</summary>
    public Tensor UpsampleNearest2d(int scale) => UpsampleNearest2d(scale, scale);

    /// <summary>
    /// The adjoint as an op: <paramref name="grad"/> (N, C, H·scaleH, W·scaleW) summed over scaleH × scaleW blocks into
    /// (N, C, H, W). Its own gradient is the upsampling.
    /// </summary>
    internal static Tensor UpsampleNearest2dBackward(Tensor grad, int scaleH, int scaleW)
    {
        if (grad.Rank != 4) throw new ShapeMismatchException($"UpsampleNearest2dBackward: gradient must be (N, C, H, W), got {grad.Describe()}");
        if (scaleH < 1 || scaleW < 1 || grad.Shape[2] % scaleH != 0 || grad.Shape[3] % scaleW != 0)
            throw new ShapeMismatchException($"UpsampleNearest2dBackward: gradient {grad.Describe()} is not a multiple of the factors {scaleH}x{scaleW}");
        return UpsampleBackwardCore(grad, new UpsampleParams { H = grad.Shape[2] / scaleH, W = grad.Shape[3] / scaleW, Sh = scaleH, Sw = scaleW });
    }

    private static UpsampleParams UpsampleGeometry(string op, Tensor x, int sh, int sw)
    {
        if (x.Rank != 4) throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {x.Describe()}");
        if (sh < 1 || sw < 1) throw new ArgumentOutOfRangeException(nameof(sh), $"{op}: scale factors {sh}x{sw} must be at least 1");
        if ((long)x.Size * sh * sw > int.MaxValue) throw new ShapeMismatchException($"{op}: {x.Describe()} upsampled {sh}x{sw} exceeds 2^31 elements");
        return new UpsampleParams { H = x.Shape[2], W = x.Shape[3], Sh = sh, Sw = sw };
    }

    // ============================================================ recorded ops and derivative rules

    /// <summary>y = Up(x). Linear; rule: dx = UpBackward(g).</summary>
    private static Tensor UpsampleCore(Tensor x, UpsampleParams p)
    {
        using var _ = x.Device.BeginOp("UpsampleNearest2d");
        var y = Empty(new Shape(x.Shape[0], x.Shape[1], p.H * p.Sh, p.W * p.Sw), x.Device);
        UpsampleKernels.Forward(x, y, p);
        return Autograd.Record(y, "UpsampleNearest2d", [x], g => [UpsampleBackwardCore(g[0], p)]);
    }

    /// <summary>dx = UpBackward(g), the adjoint. Linear; rule: dg = Up(gx).</summary>
    private static Tensor UpsampleBackwardCore(Tensor g, UpsampleParams p)
    {
        using var _ = g.Device.BeginOp("UpsampleNearest2dBackward");
        var dx = Empty(new Shape(g.Shape[0], g.Shape[1], p.H, p.W), g.Device);
        UpsampleKernels.Backward(g, dx, p);
        return Autograd.Record(dx, "UpsampleNearest2dBackward", [g], gx => [UpsampleCore(gx[0], p)]);
    }
}
