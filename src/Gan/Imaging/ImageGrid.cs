namespace GpuGan.Gan.Imaging;

/// <summary>
/// Tiles a batch of (C, H, W) images in [-1, 1] into one PNG (8 or 16 bits per channel, written by ImageSharp):
/// row-major cells with <see cref="Padding"/> pixels of black between and around them. Small images are
/// enlarged by an integer factor, nearest neighbour (every generated pixel stays a sharp square, nothing is
/// invented), until the grid is at least <see cref="MinWidth"/> pixels wide: a 32×32 model's 8×8 grid is then
/// 530 pixels wide instead of a 274-pixel thumbnail. The border stays thin (not enlarged).
/// </summary>
public static class ImageGrid
{
    /// <summary>Pixels of padding between and around the cells.</summary>
    public const int Padding = 2;

    /// <summary>Grids narrower than this are enlarged (by an integer factor) when saved.</summary>
    public const int MinWidth = 512;

    /// <summary>
    /// Saves the first <paramref name="count"/> images of <paramref name="images"/>, a
    /// (count, C, H, W) array in [-1, 1], as a PNG grid; <paramref name="columns"/> defaults
    /// to ceil(√count); each image is enlarged by <see cref="ScaleFor"/> so the grid is at least
    /// <paramref name="minWidth"/> pixels wide (0: never enlarged); <paramref name="bitDepth"/> is 8 or 16
    /// bits per channel. The write is atomic.
    /// </summary>
    public static void Save(string path, float[] images, int count, int channels, int h, int w, int? columns = null, int minWidth = MinWidth,
        int bitDepth = 8)
    {
        PngWriter.CheckBitDepth(bitDepth);
        int scale = ScaleFor(Columns(count, columns), w, minWidth);
        if (bitDepth == 16)
        {
            var words = Compose(images, count, channels, h, w, columns, scale, PngWriter.ToWord, out int gh, out int gw);
            PngWriter.SaveInterleaved16(path, words, channels, gh, gw);
            return;
        }
        var pixels = Compose(images, count, channels, h, w, columns, scale, PngWriter.ToByte, out int gridH, out int gridW);
        PngWriter.SaveInterleaved(path, pixels, channels, gridH, gridW);
    }

    /// <summary>The smallest integer enlargement s ≥ 1 with which <paramref name="columns"/> cells of width w·s and their padding span <paramref name="minWidth"/> pixels.</summary>
    public static int ScaleFor(int columns, int w, int minWidth)
    {
        if (columns < 1 || w < 1) throw new ArgumentOutOfRangeException(nameof(columns), "columns and width must be at least 1");
        int room = minWidth - Padding - columns * Padding;
        return room <= columns * w ? 1 : (room + columns * w - 1) / (columns * w);
    }

    private static int Columns(int count, int? columns) => Math.Max(1, Math.Min(columns ?? (int)Math.Ceiling(Math.Sqrt(Math.Max(count, 1))), Math.Max(count, 1)));

    /// <summary>Builds the grid as interleaved (gridH, gridW, C) bytes without writing it, each image enlarged <paramref name="scale"/> times (nearest neighbour).</summary>
    public static byte[] Compose(ReadOnlySpan<float> images, int count, int channels, int h, int w, int? columns,
        out int gridH, out int gridW, int scale = 1) => Compose(images, count, channels, h, w, columns, scale, PngWriter.ToByte, out gridH, out gridW);

    private static T[] Compose<T>(ReadOnlySpan<float> images, int count, int channels, int h, int w, int? columns, int scale, Func<float, T> map,
        out int gridH, out int gridW) where T : struct
    {
        if (scale < 1) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be at least 1");
        PngWriter.CheckShape(channels, h, w);
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "a grid needs at least one image");
        int sample = channels * h * w;
        if (images.Length < count * sample)
            throw new ArgumentException($"images hold {images.Length} floats, {count} images of {channels}x{h}x{w} need {count * sample}", nameof(images));
        int cols = columns ?? (int)Math.Ceiling(Math.Sqrt(count));
        if (cols < 1) throw new ArgumentOutOfRangeException(nameof(columns), columns, "columns must be at least 1");
        cols = Math.Min(cols, count);
        int rows = (count + cols - 1) / cols;
        int ch = h * scale, cw = w * scale;
        gridW = cols * (cw + Padding) + Padding;
        gridH = rows * (ch + Padding) + Padding;
        var pixels = new T[gridH * gridW * channels];
        int plane = h * w;
        for (int n = 0; n < count; n++)
        {
            int top = Padding + (n / cols) * (ch + Padding);
            int left = Padding + (n % cols) * (cw + Padding);
            var img = images.Slice(n * sample, sample);
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < ch; y++)
                {
                    int row = ((top + y) * gridW + left) * channels + c;
                    int source = c * plane + (y / scale) * w;
                    for (int x = 0; x < cw; x++)
                        pixels[row + x * channels] = map(img[source + x / scale]);
                }
        }
        return pixels;
    }
}
