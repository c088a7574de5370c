// Resampling of planar images (C, H, W) in float, for data already in memory as floats: IDX data sets
// resized per sample, and the pix2pix/CycleGAN jitter (resize up, random crop) of every batch. Image
// files are resampled by ImageSharp instead (ImageReader.ReadResized); ImageSharp would need an
// Image<T> per sample here and would round the normalised floats to 8 bits.
//
// Bilinear: half-pixel centres (PyTorch align_corners=false, OpenCV INTER_LINEAR): output pixel
// x maps to source coordinate (x + 0.5)·s − 0.5, clamped at the borders. Good for enlarging
// (MNIST 28 → 32/64); aliases when shrinking by more than 2.
// Area: exact box filter, each output pixel is the coverage-weighted mean of the source pixels
// its footprint overlaps (OpenCV INTER_AREA, PIL BOX). The right choice when shrinking photos.
// Both work on a source sub-rectangle so that "resize + centre crop" is one pass without an
// intermediate image. The 1-D weights are separable and computed once per axis.
namespace GpuGan.Gan.Imaging;

/// <summary>How an image is resampled to another size.</summary>
public enum ResizeMode
{
    /// <summary>Area when shrinking, bilinear when enlarging.</summary>
    Auto,
    /// <summary>Bilinear interpolation with half-pixel centres.</summary>
    Bilinear,
    /// <summary>Box filter weighted by exact pixel coverage.</summary>
    Area,
}

/// <summary>Resizing and centre-cropping of planar (C, H, W) float images.</summary>
public static class ImageResize
{
    /// <summary>
    /// Resizes the whole (C, srcH, srcW) image <paramref name="source"/> to (C, dstH, dstW).
    /// </summary>
    public static void Resize(ReadOnlySpan<float> source, int channels, int srcH, int srcW,
        Span<float> destination, int dstH, int dstW, ResizeMode mode = ResizeMode.Auto)
        => ResizeRegion(source, channels, srcH, srcW, 0, 0, srcH, srcW, destination, dstH, dstW, mode);

    /// <summary>
    /// Resizes so the shorter side becomes <paramref name="size"/> and keeps the centred square:
    /// the centred square of side min(srcH, srcW) is resampled to (C, size, size).
    /// </summary>
    public static void ResizeCenterCrop(ReadOnlySpan<float> source, int channels, int srcH, int srcW,
        Span<float> destination, int size, ResizeMode mode = ResizeMode.Auto)
    {
        int side = Math.Min(srcH, srcW);
        int y0 = (srcH - side) / 2, x0 = (srcW - side) / 2;
        ResizeRegion(source, channels, srcH, srcW, y0, x0, side, side, destination, size, size, mode);
    }

    /// <summary>
    /// Resamples the region rows [y0, y0 + regionH) × columns [x0, x0 + regionW) of the
    /// (C, srcH, srcW) image to (C, dstH, dstW).
    /// </summary>
    public static void ResizeRegion(ReadOnlySpan<float> source, int channels, int srcH, int srcW,
        int y0, int x0, int regionH, int regionW, Span<float> destination, int dstH, int dstW, ResizeMode mode)
    {
        if (channels < 1 || srcH < 1 || srcW < 1 || dstH < 1 || dstW < 1)
            throw new ArgumentException($"bad sizes: channels {channels}, source {srcH}x{srcW}, destination {dstH}x{dstW}");
        if (y0 < 0 || x0 < 0 || regionH < 1 || regionW < 1 || y0 + regionH > srcH || x0 + regionW > srcW)
            throw new ArgumentException($"region ({y0}, {x0}) {regionH}x{regionW} is outside the {srcH}x{srcW} source");
        if (source.Length < channels * srcH * srcW)
            throw new ArgumentException($"source holds {source.Length} floats, {channels}x{srcH}x{srcW} needs {channels * srcH * srcW}", nameof(source));
        if (destination.Length < channels * dstH * dstW)
            throw new ArgumentException($"destination holds {destination.Length} floats, {channels}x{dstH}x{dstW} needs {channels * dstH * dstW}", nameof(destination));

        if (mode == ResizeMode.Auto)
            mode = dstH < regionH || dstW < regionW ? ResizeMode.Area : ResizeMode.Bilinear;

        // Each output row/column is a short list of (source index, weight) taps.
        var rows = mode == ResizeMode.Area ? AreaTaps(regionH, dstH, y0) : BilinearTaps(regionH, dstH, y0);
        var cols = mode == ResizeMode.Area ? AreaTaps(regionW, dstW, x0) : BilinearTaps(regionW, dstW, x0);

        var rowBuffer = new float[dstW];
        for (int c = 0; c < channels; c++)
        {
            var plane = source.Slice(c * srcH * srcW, srcH * srcW);
            var outPlane = destination.Slice(c * dstH * dstW, dstH * dstW);
            for (int oy = 0; oy < dstH; oy++)
            {
                Array.Clear(rowBuffer);
                var (rowStart, rowCount) = rows.Range[oy];
                for (int t = rowStart; t < rowStart + rowCount; t++)
                {
                    float wy = rows.Weight[t];
                    var srcRow = plane.Slice(rows.Index[t] * srcW, srcW);
                    for (int ox = 0; ox < dstW; ox++)
                    {
                        var (colStart, colCount) = cols.Range[ox];
                        float sum = 0;
                        for (int u = colStart; u < colStart + colCount; u++) sum += cols.Weight[u] * srcRow[cols.Index[u]];
                        rowBuffer[ox] += wy * sum;
                    }
                }
                rowBuffer.CopyTo(outPlane.Slice(oy * dstW, dstW));
            }
        }
    }

    private sealed class Taps
    {
        public readonly (int Start, int Count)[] Range;
        public readonly List<int> IndexList = new();
        public readonly List<float> WeightList = new();
        public int[] Index = [];
        public float[] Weight = [];

        public Taps(int outputs) => Range = new (int, int)[outputs];

        public void Freeze()
        {
            Index = IndexList.ToArray();
            Weight = WeightList.ToArray();
        }
    }

    private static Taps BilinearTaps(int region, int outputs, int offset)
    {
        var taps = new Taps(outputs);
        double scale = (double)region / outputs;
        for (int o = 0; o < outputs; o++)
        {
            double s = Math.Clamp((o + 0.5) * scale - 0.5, 0, region - 1);
            int i0 = (int)Math.Floor(s);
            int i1 = Math.Min(i0 + 1, region - 1);
            float f = (float)(s - i0);
            taps.Range[o] = (taps.IndexList.Count, i1 == i0 ? 1 : 2);
            taps.IndexList.Add(offset + i0);
            taps.WeightList.Add(i1 == i0 ? 1f : 1f - f);
            if (i1 != i0)
            {
                taps.IndexList.Add(offset + i1);
                taps.WeightList.Add(f);
            }
        }
        taps.Freeze();
        return taps;
    }

    private static Taps AreaTaps(int region, int outputs, int offset)
    {
        var taps = new Taps(outputs);
        double scale = (double)region / outputs;
        for (int o = 0; o < outputs; o++)
        {
            double lo = o * scale, hi = (o + 1) * scale;
            int first = (int)Math.Floor(lo);
            int last = Math.Min((int)Math.Ceiling(hi), region) - 1;
            int start = taps.IndexList.Count;
            for (int i = first; i <= last; i++)
            {
                double cover = Math.Min(hi, i + 1) - Math.Max(lo, i);
                if (cover <= 1e-12) continue;
                taps.IndexList.Add(offset + i);
                taps.WeightList.Add((float)(cover / scale));
            }
            taps.Range[o] = (start, taps.IndexList.Count - start);
        }
        taps.Freeze();
        return taps;
    }
}
