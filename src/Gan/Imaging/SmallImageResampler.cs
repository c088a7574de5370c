// ImageSharp's resize, redone for tiny images (at most TinyPixels pixels on each side of the resize) with the kernel maps
// kept between calls. The reader uses it for grey images only: there it reproduces ImageSharp's L8 arithmetic; for RGB,
// ImageSharp's bulk pixel converters round the row remainders differently from the SIMD body (1.1 % of bytes one level
// apart with the box filter), so RGB stays with ImageSharp.
//
// Why: ImageSharp 2.1's ResizeProcessor builds both kernel maps, a transposed working buffer and a destination image on
// every call, and none of that can be handed in from outside (ResizeKernelMap and ResizeWorker are internal). For a
// 28 × 28 image enlarged to 32 that fixed cost was ~75 µs of a ~140 µs read (bench `images-profile`), more than the PNG
// decode itself, and made the ImageSharp reader slower than the float loop it replaced (11 100 against 15 300 images/s).
// Photos (256² → 64) are not affected: there the per-pixel work dominates and ImageSharp's vectorised resize is used.
//
// The math is ImageSharp 2.1.13's (Processing/Processors/Transforms/Resize/ResizeKernelMap.cs), with its public
// IResampler.GetValue and Radius, so every filter gives its weights:
//   ratio = src / dst, scale = max(ratio, 1), radius = ceil(scale · R)            (ceil, floor: tolerant to 1e-8)
//   centre(i) = (i + 0.5) · ratio − 0.5, taps j ∈ [max(0, ceil(centre − radius)), min(src − 1, floor(centre + radius))]
//   w_j = K((float)((j − centre) / scale)) in double, divided by Σ w when Σ w > 0, stored as float
// The arithmetic is ImageSharp's too: source rows filtered horizontally first, then the columns of that vertically;
// values in [0, 1] as its pixel converters make them; taps summed in the order of its AVX2 + FMA ResizeKernel.ConvolveCore
// (each sum's operations are the same; eight sums run side by side in one Vector256); written back as its L8 and RGB
// converters round. What may still differ is a converter's
// scalar remainder path, so tests/Data/ReaderFastPathTests.cs holds the two to at most 1 level on at most 1 % of bytes
// (a tolerance fixed before the first run; grey and RGB are both compared).
using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SixLabors.ImageSharp.Processing.Processors.Transforms;

namespace GpuGan.Gan.Imaging;

/// <summary>ImageSharp's resize of <see cref="ResizeFilter"/>s for tiny byte images, with the kernel maps cached per (source, destination, filter).</summary>
internal sealed class SmallImageResampler
{
    /// <summary>The largest source or destination (width × height) resized here; larger ones go through ImageSharp (64 × 64).</summary>
    public const int TinyPixels = 64 * 64;

    private readonly ConcurrentDictionary<(int Source, int Destination, ResizeFilter Filter), KernelMap> _maps = new();

    /// <summary>One axis: for each output index, the first source index and its weights.</summary>
    internal sealed class KernelMap(int[] start, int[] count, float[][] weights)
    {
        public readonly int[] Start = start, Count = count;
        public readonly float[][] Weights = weights;
    }

    /// <summary>Whether a resize from <paramref name="sourceW"/> × <paramref name="sourceH"/> to <paramref name="w"/> × <paramref name="h"/> is tiny enough for this resampler.</summary>
    public static bool Takes(int sourceW, int sourceH, int w, int h) =>
        (long)sourceW * sourceH <= TinyPixels && (long)w * h <= TinyPixels;

    /// <summary>
    /// Resizes the interleaved (srcH, srcW, C) bytes to (newH, newW) with <paramref name="filter"/> and returns the window
    /// rows [top, top + outH) × columns [left, left + outW) of the result as (outH, outW, C) bytes.
    /// </summary>
    // AggressiveOptimization: a folder load is over in a second, before tiered compilation would promote these loops.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public byte[] Resize(ReadOnlySpan<byte> source, int channels, int srcH, int srcW, int newH, int newW,
        int top, int left, int outH, int outW, ResizeFilter filter)
    {
        var cols = Map(srcW, newW, filter);
        var rows = Map(srcH, newH, filter);
        // The float buffers are rented: a folder load resizes thousands of images, and these would be most of its garbage.
        var pool = ArrayPool<float>.Shared;
        float[] columnsArray = pool.Rent(channels * srcW * srcH), firstArray = pool.Rent(channels * outW * srcH),
            firstRowsArray = pool.Rent(channels * outW * srcH), sumsArray = pool.Rent(outW);
        try
        {
            return Resize(source, channels, srcH, srcW, top, left, outH, outW, cols, rows, columnsArray.AsSpan(0, channels * srcW * srcH),
                firstArray.AsSpan(0, channels * outW * srcH), firstRowsArray.AsSpan(0, channels * outW * srcH), sumsArray.AsSpan(0, outW));
        }
        finally
        {
            pool.Return(columnsArray);
            pool.Return(firstArray);
            pool.Return(firstRowsArray);
            pool.Return(sumsArray);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static byte[] Resize(ReadOnlySpan<byte> source, int channels, int srcH, int srcW, int top, int left, int outH, int outW,
        KernelMap cols, KernelMap rows, Span<float> columns, Span<float> first, Span<float> firstRows, Span<float> sums)
    {
        // The source as floats in [0, 1] as ImageSharp's converters make them (L8.ToVector4 divides by 255, the RGB bulk
        // converters multiply by 1/255), transposed so that one tap of one output column is a contiguous run over rows. (C, W, H)
        float toUnit = 1 / 255f;
        for (int y = 0; y < srcH; y++)
            for (int x = 0; x < srcW; x++)
                for (int c = 0; c < channels; c++)
                {
                    byte v = source[(y * srcW + x) * channels + c];
                    columns[(c * srcW + x) * srcH + y] = channels == 1 ? v / 255f : v * toUnit;
                }
        // First pass (horizontal), every source row at once per output column of the window. (C, outW, H)
        for (int c = 0; c < channels; c++)
            for (int x = 0; x < outW; x++)
            {
                int ox = left + x;
                Convolve(cols.Weights[ox], columns[((c * srcW + cols.Start[ox]) * srcH)..], srcH, first.Slice((c * outW + x) * srcH, srcH));
            }
        // Transposed back, so that one tap of one output row is a contiguous run over columns. (C, H, outW)
        for (int c = 0; c < channels; c++)
            for (int x = 0; x < outW; x++)
                for (int y = 0; y < srcH; y++)
                    firstRows[(c * srcH + y) * outW + x] = first[(c * outW + x) * srcH + y];
        // Second pass (vertical), the window's rows. (outH, outW, C)
        var result = new byte[outH * outW * channels];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < outH; y++)
            {
                int oy = top + y;
                Convolve(rows.Weights[oy], firstRows[((c * srcH + rows.Start[oy]) * outW)..], outW, sums);
                for (int x = 0; x < outW; x++)
                    result[(y * outW + x) * channels + c] = channels == 1 ? GreyByte(sums[x]) : RgbByte(sums[x]);
            }
        return result;
    }

    /// <summary>
    /// destination[i] = Σ_t weights[t] · values[t · stride + i] for i &lt; stride, each sum in ImageSharp's order
    /// (ResizeKernel.ConvolveCore with AVX2 + FMA): taps t ≡ 0, 1, 2, 3 (mod 4) in four fused accumulators, (0 + 2) and
    /// (1 + 3), a remaining pair fused into those, their sum, a last odd tap fused. Eight sums at a time; the arithmetic of
    /// each is the same scalar or vector.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Convolve(ReadOnlySpan<float> weights, ReadOnlySpan<float> values, int stride, Span<float> destination)
    {
        int n = weights.Length, i = 0;
        values = values[..(n * stride)];
        for (; i + Vector256<float>.Count <= stride; i += Vector256<float>.Count)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            int t = 0;
            for (; t + 4 <= n; t += 4)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(values.Slice((t) * stride + i, 8)), Vector256.Create(weights[t]), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Create(values.Slice((t + 1) * stride + i, 8)), Vector256.Create(weights[t + 1]), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Create(values.Slice((t + 2) * stride + i, 8)), Vector256.Create(weights[t + 2]), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Create(values.Slice((t + 3) * stride + i, 8)), Vector256.Create(weights[t + 3]), a3);
            }
            var low = a0 + a2;
            var high = a1 + a3;
            if ((n & 3) >= 2)
            {
                low = Vector256.FusedMultiplyAdd(Vector256.Create(values.Slice((t) * stride + i, 8)), Vector256.Create(weights[t]), low);
                high = Vector256.FusedMultiplyAdd(Vector256.Create(values.Slice((t + 1) * stride + i, 8)), Vector256.Create(weights[t + 1]), high);
                t += 2;
            }
            var sum = low + high;
            if ((n & 1) != 0) sum = Vector256.FusedMultiplyAdd(Vector256.Create(values.Slice((t) * stride + i, 8)), Vector256.Create(weights[t]), sum);
            sum.CopyTo(destination.Slice(i, Vector256<float>.Count));
        }
        for (; i < stride; i++)
        {
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int t = 0;
            for (; t + 4 <= n; t += 4)
            {
                a0 = MathF.FusedMultiplyAdd(values[t * stride + i], weights[t], a0);
                a1 = MathF.FusedMultiplyAdd(values[(t + 1) * stride + i], weights[t + 1], a1);
                a2 = MathF.FusedMultiplyAdd(values[(t + 2) * stride + i], weights[t + 2], a2);
                a3 = MathF.FusedMultiplyAdd(values[(t + 3) * stride + i], weights[t + 3], a3);
            }
            float low = a0 + a2, high = a1 + a3;
            if ((n & 3) >= 2)
            {
                low = MathF.FusedMultiplyAdd(values[t * stride + i], weights[t], low);
                high = MathF.FusedMultiplyAdd(values[(t + 1) * stride + i], weights[t + 1], high);
                t += 2;
            }
            float sum = low + high;
            if ((n & 1) != 0) sum = MathF.FusedMultiplyAdd(values[t * stride + i], weights[t], sum);
            destination[i] = sum;
        }
    }

    /// <summary>L8.FromVector4 of ImageSharp 2.1: v · 255 + 0.5, clamped and truncated, then its BT.709 luminance of (b, b, b).</summary>
    private static byte GreyByte(float v)
    {
        byte b = (byte)Math.Clamp(v * 255f + 0.5f, 0f, 255f);
        return (byte)((b * .2126F) + (b * .7152F) + (b * .0722F) + 0.5F);
    }

    /// <summary>The RGB bulk converter of ImageSharp 2.1 (AVX2): v · 255 rounded to nearest even, saturated to 0..255.</summary>
    private static byte RgbByte(float v) => (byte)Math.Clamp(MathF.Round(v * 255f, MidpointRounding.ToEven), 0f, 255f);

    /// <summary>The kernel map of one axis (cached).</summary>
    internal KernelMap Map(int source, int destination, ResizeFilter filter) =>
        _maps.GetOrAdd((source, destination, filter), key => Build(key.Source, key.Destination, ImageReader.Resampler(key.Filter)));

    /// <summary>ImageSharp 2.1.13's ResizeKernelMap.Calculate + BuildKernel (see the file header).</summary>
    internal static KernelMap Build(int source, int destination, IResampler sampler)
    {
        double ratio = (double)source / destination;
        double scale = Math.Max(ratio, 1);
        int radius = (int)TolerantCeiling(scale * sampler.Radius);
        var start = new int[destination];
        var count = new int[destination];
        var weights = new float[destination][];
        var values = new double[2 * radius + 1];
        for (int i = 0; i < destination; i++)
        {
            double center = ((i + .5) * ratio) - .5;
            int left = Math.Max(0, (int)TolerantCeiling(center - radius));
            int right = Math.Min(source - 1, (int)TolerantFloor(center + radius));
            int n = right - left + 1;
            double sum = 0;
            for (int j = left; j <= right; j++)
            {
                double value = sampler.GetValue((float)((j - center) / scale));
                sum += value;
                values[j - left] = value;
            }
            var w = new float[n];
            for (int j = 0; j < n; j++) w[j] = (float)(sum > 0 ? values[j] / sum : values[j]);
            (start[i], count[i], weights[i]) = (left, n, w);
        }
        return new KernelMap(start, count, weights);
    }

    // ImageSharp's TolerantMath.Default (ε = 1e-8): a value within ε of an integer is that integer.
    private static double TolerantCeiling(double a) => Math.Abs(Math.IEEERemainder(a, 1)) < 1e-8 ? Math.Round(a) : Math.Ceiling(a);

    private static double TolerantFloor(double a) => Math.Abs(Math.IEEERemainder(a, 1)) < 1e-8 ? Math.Round(a) : Math.Floor(a);
}
