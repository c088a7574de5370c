// Reading one image file as planar floats, for the image-to-image data and the translate command.
// Decoding is ImageReader's (ImageSharp): the declared size is checked against ImageLimits before any
// pixel buffer exists, so a decompression bomb is refused by name, as the image-folder reader refuses it.
using GpuGan.Gan.Data;

namespace GpuGan.Gan.Imaging;

/// <summary>Decodes image files (the formats of <see cref="ImageReader.Formats"/>) into planar arrays.</summary>
public static class ImageFile
{
    /// <summary>
    /// The image in <paramref name="path"/> as (C, H, W) floats in 0..255, with C = <paramref name="channels"/>
    /// (1: grey, 3: RGB, alpha dropped), refused above <paramref name="limits"/> (null: <see cref="ImageLimits.Standard"/>).
    /// </summary>
    /// <exception cref="DataFormatException">Not a readable image, or larger than the limits.</exception>
    public static (float[] Planar, int Height, int Width) ReadPlanar(string path, int channels, ImageLimits? limits = null)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 or 3 channels");
        var image = new ImageReader(limits).Read(path, channels);
        return (Planar(image), image.Height, image.Width);
    }

    /// <summary>The interleaved (H, W, C) bytes of <paramref name="image"/> as planar (C, H, W) floats in 0..255.</summary>
    public static float[] Planar(DecodedImage image)
    {
        int channels = image.Channels, plane = image.Height * image.Width;
        var planar = new float[channels * plane];
        for (int p = 0; p < plane; p++)
            for (int c = 0; c < channels; c++)
                planar[c * plane + p] = image.Pixels[p * channels + c];
        return planar;
    }
}
