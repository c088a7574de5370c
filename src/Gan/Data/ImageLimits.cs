// Limits on the size of an input image, checked against the size a file declares before any pixel
// buffer is allocated: a small file that claims (or decompresses to) a huge image is refused by name
// instead of taking the process's memory. 16384 on a side and 64 M pixels in all (8192 × 8192; a
// 48-megapixel photo passes, and so does a 16384 × 4096 panorama) are far above any image a GAN here
// trains on (at most 64 × 64 after resampling) and keep one decode under ~0.5 GB (the RGB bytes plus
// one float plane while resampling); a caller with unusual data raises them.
using System.Globalization;

namespace GpuGan.Gan.Data;

/// <summary>The largest input image accepted: sides and pixel count, as the file declares them.</summary>
/// <param name="MaxSide">Largest width or height, in pixels.</param>
/// <param name="MaxPixels">Largest width × height.</param>
public sealed record ImageLimits(int MaxSide, long MaxPixels)
{
    /// <summary>16384 pixels on a side, 64 M (67 108 864) pixels in all.</summary>
    public static ImageLimits Standard { get; } = new(16384, 64L * 1024 * 1024);

    /// <summary>The problem with an image of <paramref name="width"/> × <paramref name="height"/>, or null when it is within the limits.</summary>
    public string? Check(long width, long height)
    {
        if (width > MaxSide || height > MaxSide)
            return string.Create(CultureInfo.InvariantCulture, $"image of {width}x{height} is larger than the limit of {MaxSide} pixels on a side");
        if (width * height > MaxPixels)
            return string.Create(CultureInfo.InvariantCulture, $"image of {width}x{height} = {width * height} pixels is larger than the limit of {MaxPixels} pixels");
        return null;
    }

    /// <summary>Checks the limits themselves.</summary>
    /// <exception cref="InvalidOptionException">A limit below 1.</exception>
    public void Validate(string? configFile = null)
    {
        if (MaxSide < 1) throw new InvalidOptionException(nameof(MaxSide), MaxSide, "must be at least 1", configFile);
        if (MaxPixels < 1) throw new InvalidOptionException(nameof(MaxPixels), MaxPixels, "must be at least 1", configFile);
    }
}
