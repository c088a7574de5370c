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
            ImageGrid.Save(path, images, 3, 1, 2, 3, columns: 2, minWidth: 0);
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
    public void SmallGridsAreEnlargedNearestNeighbourToAtLeast512PixelsWithAThinBorder()
    {
        // 64 images of 32×32 in 8 columns: 8·(32 + 2) + 2 = 274 pixels at scale 1, so scale 2 (530 pixels).
        Assert.That(ImageGrid.ScaleFor(8, 32, 512), Is.EqualTo(2));
        Assert.That(ImageGrid.ScaleFor(8, 64, 512), Is.EqualTo(1));                  // 530 already
        Assert.That(ImageGrid.ScaleFor(1, 28, 512), Is.EqualTo(19));                 // 19·28 + 4 = 536 ≥ 512 > 18·28 + 4
        Assert.That(ImageGrid.ScaleFor(3, 5, 0), Is.EqualTo(1));

        var images = new float[2 * 1 * 2 * 2];
        Array.Fill(images, -1f);                                                     // black
        images[0] = 1f;                                                              // image 0: top-left white, rest black
        images[4 + 3] = 1f;                                                          // image 1: bottom-right white
        var pixels = ImageGrid.Compose(images, 2, 1, 2, 2, columns: 2, out int gh, out int gw, scale: 3);
        Assert.That((gh, gw), Is.EqualTo((6 + 4, 2 * (6 + 2) + 2)));
        byte At(int y, int x) => pixels[y * gw + x];
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++)
            {
                Assert.That(At(2 + y, 2 + x), Is.EqualTo(255), "image 0's white pixel is a 3×3 square");
                Assert.That(At(2 + 3 + y, 2 + 3 + x), Is.EqualTo(0));
                Assert.That(At(2 + 3 + y, 10 + 3 + x), Is.EqualTo(255), "image 1's white pixel");
            }
        Assert.That(Enumerable.Range(0, gh).Select(y => At(y, 8)).Concat(Enumerable.Range(0, gh).Select(y => At(y, 9))), Has.All.EqualTo(0), "the 2-pixel border between tiles");

        string path = Path.Combine(Path.GetTempPath(), $"gpugan-grid-{Guid.NewGuid():N}.png");
        try
        {
            ImageGrid.Save(path, new float[64 * 3 * 32 * 32], 64, 3, 32, 32);
            using var read = Image.Load<Rgb24>(path);
            Assert.That((read.Width, read.Height), Is.EqualTo((530, 530)));
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
