using GpuGan.Layers.Serialization;
using StbImageWriteSharp;

namespace GpuGan.Gan.Imaging;

/// <summary>
/// Writes PNG files with StbImageWriteSharp, atomically (temp file, flush, rename).
/// Float images are planar (C, H, W) in [-1, 1] and are mapped to 0..255, clamped.
/// </summary>
public static class PngWriter
{
    /// <summary>Saves one (C, H, W) float image in [-1, 1]; C is 1 (grey) or 3 (RGB).</summary>
    public static void Save(string path, ReadOnlySpan<float> image, int channels, int height, int width)
    {
        CheckShape(channels, height, width);
        if (image.Length < channels * height * width)
            throw new ArgumentException($"image holds {image.Length} floats, {channels}x{height}x{width} needs {channels * height * width}", nameof(image));
        var pixels = new byte[channels * height * width];
        PlanarToInterleaved(image, channels, height, width, pixels);
        SaveInterleaved(path, pixels, channels, height, width);
    }

    /// <summary>Saves interleaved (H, W, C) bytes; C is 1 (grey) or 3 (RGB).</summary>
    public static void SaveInterleaved(string path, byte[] pixels, int channels, int height, int width)
    {
        CheckShape(channels, height, width);
        if (pixels.Length < channels * height * width)
            throw new ArgumentException($"pixels hold {pixels.Length} bytes, {height}x{width}x{channels} needs {channels * height * width}", nameof(pixels));
        var components = channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue;
        AtomicFile.Write(path, stream => new ImageWriter().WritePng(pixels, width, height, components, stream));
    }

    /// <summary>Maps a value in [-1, 1] to 0..255 (rounded, clamped; NaN gives 0).</summary>
    public static byte ToByte(float v)
    {
        float x = (v + 1f) * 127.5f;
        if (!(x > 0f)) return 0;
        if (x >= 255f) return 255;
        return (byte)(x + 0.5f);
    }

    /// <summary>Converts planar (C, H, W) floats in [-1, 1] to interleaved (H, W, C) bytes.</summary>
    public static void PlanarToInterleaved(ReadOnlySpan<float> image, int channels, int height, int width, Span<byte> pixels)
    {
        int plane = height * width;
        for (int c = 0; c < channels; c++)
            for (int p = 0; p < plane; p++)
                pixels[p * channels + c] = ToByte(image[c * plane + p]);
    }

    internal static void CheckShape(int channels, int height, int width)
    {
        if (channels != 1 && channels != 3)
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "PNG images here have 1 (grey) or 3 (RGB) channels");
        if (height < 1 || width < 1)
            throw new ArgumentException($"image size {height}x{width} is empty");
    }
}
