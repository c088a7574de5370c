namespace GpuGan.Gan.Imaging;

/// <summary>
/// Tiles a batch of (C, H, W) images in [-1, 1] into one PNG (8 or 16 bits per channel, written by ImageSharp): row-major cells with
/// <see cref="Padding"/> pixels of black between and around them.
/// </summary>
public static class ImageGrid
{
    /// <summary>Pixels of padding between and around the cells.</summary>
    public const int Padding = 2;

    /// <summary>
    /// Saves the first <paramref name="count"/> images of <paramref name="images"/>, a
    /// (count, C, H, W) array in [-1, 1], as a PNG grid; <paramref name="columns"/> defaults
    /// to ceil(√count); <paramref name="bitDepth"/> is 8 or 16 bits per channel. The write is atomic.
    /// </summary>
    public static void Save(string path, float[] images, int count, int channels, int h, int w, int? columns = null, int bitDepth = 8)
    {
        PngWriter.CheckBitDepth(bitDepth);
        if (bitDepth == 16)
        {
            var words = Compose(images, count, channels, h, w, columns, PngWriter.ToWord, out int gh, out int gw);
            PngWriter.SaveInterleaved16(path, words, channels, gh, gw);
            return;
        }
        var pixels = Compose(images, count, channels, h, w, columns, out int gridH, out int gridW);
        PngWriter.SaveInterleaved(path, pixels, channels, gridH, gridW);
    }

    /// <summary>Builds the grid as interleaved (gridH, gridW, C) bytes without writing it.</summary>
    public static byte[] Compose(ReadOnlySpan<float> images, int count, int channels, int h, int w, int? columns,
        out int gridH, out int gridW) => Compose(images, count, channels, h, w, columns, PngWriter.ToByte, out gridH, out gridW);

    private static T[] Compose<T>(ReadOnlySpan<float> images, int count, int channels, int h, int w, int? columns, Func<float, T> map,
        out int gridH, out int gridW) where T : struct
    {
        PngWriter.CheckShape(channels, h, w);
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "a grid needs at least one image");
        int sample = channels * h * w;
        if (images.Length < count * sample)
            throw new ArgumentException($"images hold {images.Length} floats, {count} images of {channels}x{h}x{w} need {count * sample}", nameof(images));
        int cols = columns ?? (int)Math.Ceiling(Math.Sqrt(count));
        if (cols < 1) throw new ArgumentOutOfRangeException(nameof(columns), columns, "columns must be at least 1");
        cols = Math.Min(cols, count);
        int rows = (count + cols - 1) / cols;
        gridW = cols * (w + Padding) + Padding;
        gridH = rows * (h + Padding) + Padding;
        var pixels = new T[gridH * gridW * channels];
        int plane = h * w;
        for (int n = 0; n < count; n++)
        {
            int top = Padding + (n / cols) * (h + Padding);
            int left = Padding + (n % cols) * (w + Padding);
            var img = images.Slice(n * sample, sample);
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < h; y++)
                {
                    int row = ((top + y) * gridW + left) * channels + c;
                    for (int x = 0; x < w; x++)
                        pixels[row + x * channels] = map(img[c * plane + y * w + x]);
                }
        }
        return pixels;
    }
}
