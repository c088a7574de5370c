// Reading one image file as planar floats, for the image-to-image data and the translate command.
// The header is read first and the pixel count bounded before any pixel buffer is allocated, so a
// decompression bomb is refused by name.
// (Decoding is StbImageSharp's, as the image-folder reader's is; when the readers move to ImageSharp
// this function moves with them.)
using StbImageSharp;

namespace GpuGan.Gan.Imaging;

/// <summary>Decodes image files (PNG, JPEG, BMP, …) into planar arrays.</summary>
public static class ImageFile
{
    /// <summary>Largest image accepted, in pixels (64 megapixels).</summary>
    public const long MaxPixels = 1L << 26;

    /// <summary>
    /// The image in <paramref name="path"/> as (C, H, W) floats in 0..255, with C = <paramref name="channels"/>
    /// (1: grey by stb's luma, 3: RGB, alpha dropped).
    /// </summary>
    /// <exception cref="InvalidDataException">Not a readable image, or larger than <see cref="MaxPixels"/>.</exception>
    public static (float[] Planar, int Height, int Width) ReadPlanar(string path, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 or 3 channels");
        ImageResult result;
        using (var stream = File.OpenRead(path))
        {
            var info = ImageInfo.FromStream(stream) ?? throw new InvalidDataException("not an image this reader knows (PNG, JPEG, BMP, TGA, GIF)");
            if ((long)info.Width * info.Height > MaxPixels || info.Width < 1 || info.Height < 1)
                throw new InvalidDataException($"{info.Width}x{info.Height} pixels: outside 1 to {MaxPixels} pixels");
            stream.Position = 0;
            result = ImageResult.FromStream(stream, channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue);
        }
        int h = result.Height, w = result.Width;
        if (h < 1 || w < 1 || result.Data is null || result.Data.Length < h * w * channels)
            throw new InvalidDataException($"decoded image is empty or short ({w}x{h})");
        var planar = new float[channels * h * w];
        int plane = h * w;
        for (int p = 0; p < plane; p++)
            for (int c = 0; c < channels; c++)
                planar[c * plane + p] = result.Data[p * channels + c];
        return (planar, h, w);
    }
}
