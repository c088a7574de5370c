// Writing PNG files through SixLabors.ImageSharp, atomically (AtomicFile: temp file, flush, rename), so a
// run killed mid-write leaves the previous file or none, never a torn one.
//
// Float images are planar (C, H, W) in [-1, 1]. 8-bit: v ↦ round((v + 1) · 127.5) clamped to 0..255
// (NaN gives 0). 16-bit: v ↦ round((v + 1) · 32767.5) clamped to 0..65535, so a generator's output keeps
// 256 times finer steps than 8 bits; a 16-bit PNG reads back with v = p / 32767.5 − 1.
using GpuGan.Layers.Serialization;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Gan.Imaging;

/// <summary>Writes grey or RGB PNG files, 8 or 16 bits per channel, atomically.</summary>
public static class PngWriter
{
    /// <summary>Saves one (C, H, W) float image in [-1, 1]; C is 1 (grey) or 3 (RGB); <paramref name="bitDepth"/> is 8 or 16.</summary>
    public static void Save(string path, ReadOnlySpan<float> image, int channels, int height, int width, int bitDepth = 8)
    {
        CheckShape(channels, height, width);
        CheckBitDepth(bitDepth);
        if (image.Length < channels * height * width)
            throw new ArgumentException($"image holds {image.Length} floats, {channels}x{height}x{width} needs {channels * height * width}", nameof(image));
        if (bitDepth == 16)
        {
            int plane = height * width;
            var words = new ushort[channels * plane];
            for (int c = 0; c < channels; c++)
                for (int p = 0; p < plane; p++)
                    words[p * channels + c] = ToWord(image[c * plane + p]);
            SaveInterleaved16(path, words, channels, height, width);
            return;
        }
        var pixels = new byte[channels * height * width];
        PlanarToInterleaved(image, channels, height, width, pixels);
        SaveInterleaved(path, pixels, channels, height, width);
    }

    /// <summary>Saves interleaved (H, W, C) bytes as an 8-bit PNG; C is 1 (grey) or 3 (RGB).</summary>
    public static void SaveInterleaved(string path, byte[] pixels, int channels, int height, int width)
    {
        CheckShape(channels, height, width);
        if (pixels.Length < channels * height * width)
            throw new ArgumentException($"pixels hold {pixels.Length} bytes, {height}x{width}x{channels} needs {channels * height * width}", nameof(pixels));
        var span = pixels.AsSpan(0, channels * height * width);
        if (channels == 1)
        {
            using var grey = Image.LoadPixelData<L8>(span, width, height);
            Write(path, grey, PngColorType.Grayscale, PngBitDepth.Bit8);
        }
        else
        {
            using var rgb = Image.LoadPixelData<Rgb24>(span, width, height);
            Write(path, rgb, PngColorType.Rgb, PngBitDepth.Bit8);
        }
    }

    /// <summary>Saves interleaved (H, W, C) 16-bit values as a 16-bit PNG; C is 1 (grey) or 3 (RGB).</summary>
    public static void SaveInterleaved16(string path, ushort[] pixels, int channels, int height, int width)
    {
        CheckShape(channels, height, width);
        if (pixels.Length < channels * height * width)
            throw new ArgumentException($"pixels hold {pixels.Length} values, {height}x{width}x{channels} needs {channels * height * width}", nameof(pixels));
        if (channels == 1)
        {
            using var grey = new Image<L16>(width, height);
            grey.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < height; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < width; x++) row[x] = new L16(pixels[y * width + x]);
                }
            });
            Write(path, grey, PngColorType.Grayscale, PngBitDepth.Bit16);
        }
        else
        {
            using var rgb = new Image<Rgb48>(width, height);
            rgb.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < height; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < width; x++)
                    {
                        int i = 3 * (y * width + x);
                        row[x] = new Rgb48(pixels[i], pixels[i + 1], pixels[i + 2]);
                    }
                }
            });
            Write(path, rgb, PngColorType.Rgb, PngBitDepth.Bit16);
        }
    }

    private static void Write(string path, Image image, PngColorType colorType, PngBitDepth bitDepth)
    {
        // No gamma, time or physical-size chunks: the same pixels give the same bytes on every machine.
        var encoder = new PngEncoder { ColorType = colorType, BitDepth = bitDepth, ChunkFilter = PngChunkFilter.ExcludeAll };
        AtomicFile.Write(path, stream => image.SaveAsPng(stream, encoder));
    }

    /// <summary>Maps a value in [-1, 1] to 0..255 (rounded, clamped; NaN gives 0).</summary>
    public static byte ToByte(float v)
    {
        float x = (v + 1f) * 127.5f;
        if (!(x > 0f)) return 0;
        if (x >= 255f) return 255;
        return (byte)(x + 0.5f);
    }

    /// <summary>Maps a value in [-1, 1] to 0..65535 (rounded, clamped; NaN gives 0).</summary>
    public static ushort ToWord(float v)
    {
        double x = (v + 1.0) * 32767.5;
        if (!(x > 0.0)) return 0;
        if (x >= 65535.0) return 65535;
        return (ushort)(x + 0.5);
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

    internal static void CheckBitDepth(int bitDepth)
    {
        if (bitDepth is not (8 or 16)) throw new ArgumentOutOfRangeException(nameof(bitDepth), bitDepth, "PNG bit depth here is 8 or 16");
    }
}
