using GpuGan.Gan.Imaging;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Data;

public class ImagingTests
{
    [Test]
    public void GridLayoutPaddingAndDenormalisation()
    {
        // Three 1×2×3 grey images with values -1, 0, 1 in two columns.
        var images = new float[3 * 6];
        images.AsSpan(0, 6).Fill(-1f);
        images.AsSpan(6, 6).Fill(0f);
        images.AsSpan(12, 6).Fill(1.5f); // clamped
        var pixels = ImageGrid.Compose(images, 3, 1, 2, 3, columns: 2, out int gh, out int gw);
        Assert.That((gh, gw), Is.EqualTo((2 * (2 + 2) + 2, 2 * (3 + 2) + 2)));
        Assert.That(pixels[2 * gw + 2], Is.EqualTo(0));        // image 0 top-left
        Assert.That(pixels[2 * gw + 7], Is.EqualTo(128));      // image 1 top-left (0 -> 127.5 rounds up)
        Assert.That(pixels[6 * gw + 2], Is.EqualTo(255));      // image 2, second row
        Assert.That(pixels[0], Is.EqualTo(0));                 // padding
        Assert.That(pixels[6 * gw + 7], Is.EqualTo(0));        // empty cell

        string path = Path.Combine(Path.GetTempPath(), $"gpugan-grid-{Guid.NewGuid():N}.png");
        try
        {
            ImageGrid.Save(path, images, 3, 1, 2, 3, columns: 2);
            using var read = Image.Load<L8>(path);
            Assert.That((read.Height, read.Width), Is.EqualTo((gh, gw)));
            var data = new byte[gh * gw];
            read.CopyPixelDataTo(data);
            Assert.That(data, Is.EqualTo(pixels));
            Assert.That(Directory.GetFiles(Path.GetTempPath(), $".{Path.GetFileName(path)}*"), Is.Empty, "temp file renamed");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void ResizeModes()
    {
        // 1×4 row 0, 1, 2, 3 → 2 pixels: area averages pairs; bilinear samples at 0.5 and 2.5.
        float[] row = [0, 1, 2, 3];
        var area = new float[2];
        var bilinear = new float[2];
        ImageResize.Resize(row, 1, 1, 4, area, 1, 2, ResizeMode.Area);
        ImageResize.Resize(row, 1, 1, 4, bilinear, 1, 2, ResizeMode.Bilinear);
        Assert.That(area, Is.EqualTo(new[] { 0.5f, 2.5f }));
        Assert.That(bilinear, Is.EqualTo(new[] { 0.5f, 2.5f }));
        // Enlarging 2 → 4 bilinear: half-pixel centres give 0, 0.25, 0.75, 1.
        var up = new float[4];
        ImageResize.Resize([0f, 1f], 1, 1, 2, up, 1, 4, ResizeMode.Bilinear);
        Assert.That(up, Is.EqualTo(new[] { 0f, 0.25f, 0.75f, 1f }));
        // Area over a non-integer factor (3 → 2) keeps the mean.
        var third = new float[2];
        ImageResize.Resize([0f, 3f, 6f], 1, 1, 3, third, 1, 2, ResizeMode.Area);
        Assert.That(third[0], Is.EqualTo(1f).Within(1e-6));
        Assert.That(third[1], Is.EqualTo(5f).Within(1e-6));
    }
}
