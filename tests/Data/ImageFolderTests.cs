using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using NUnit.Framework;
using StbImageWriteSharp;

namespace GpuGan.Tests.Data;

public class ImageFolderTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "gpugan-folder-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // A (3, h, w) planar image filled with one colour given in [-1, 1].
    private static float[] Solid(int h, int w, float r, float g, float b)
    {
        var img = new float[3 * h * w];
        img.AsSpan(0, h * w).Fill(r);
        img.AsSpan(h * w, h * w).Fill(g);
        img.AsSpan(2 * h * w, h * w).Fill(b);
        return img;
    }

    [Test]
    public void ClassSubfoldersWithACorruptFile()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "cats"));
        Directory.CreateDirectory(Path.Combine(_dir, "dogs"));
        PngWriter.Save(Path.Combine(_dir, "cats", "a.png"), Solid(8, 8, 1, -1, -1), 3, 8, 8);
        PngWriter.Save(Path.Combine(_dir, "cats", "b.png"), Solid(16, 16, -1, 1, -1), 3, 16, 16);
        PngWriter.Save(Path.Combine(_dir, "dogs", "c.png"), Solid(4, 4, -1, -1, 1), 3, 4, 4);
        using (var bmp = File.Create(Path.Combine(_dir, "dogs", "d.bmp")))
            new ImageWriter().WriteBmp(Enumerable.Repeat((byte)255, 6 * 6 * 3).ToArray(), 6, 6, ColorComponents.RedGreenBlue, bmp);
        File.WriteAllBytes(Path.Combine(_dir, "dogs", "broken.png"), [0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]);
        File.WriteAllText(Path.Combine(_dir, "dogs", "notes.txt"), "not an image, ignored");

        var data = ImageFolderDataset.Load(_dir, imageSize: 8);
        Assert.That(data.Count, Is.EqualTo(4));
        Assert.That((data.Channels, data.Height, data.Width), Is.EqualTo((3, 8, 8)));
        Assert.That(data.ClassNames, Is.EqualTo(new[] { "cats", "dogs" }));
        Assert.That(data.ClassCount, Is.EqualTo(2));
        Assert.That(Enumerable.Range(0, 4).Select(data.Label), Is.EqualTo(new[] { 0, 0, 1, 1 }));
        Assert.That(data.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "a.png", "b.png", "c.png", "d.bmp" }));
        Assert.That(data.Skipped, Has.Count.EqualTo(1));
        Assert.That(Path.GetFileName(data.Skipped[0].Path), Is.EqualTo("broken.png"));
        Assert.That(data.Skipped[0].Reason, Is.Not.Empty);
        TestContext.Out.WriteLine($"skipped {data.Skipped[0].Path}: {data.Skipped[0].Reason}");

        var img = new float[3 * 64];
        data.CopySample(1, img); // green, shrunk 16 -> 8
        Assert.That(img.AsSpan(0, 64).ToArray(), Is.All.EqualTo(-1f));
        Assert.That(img.AsSpan(64, 64).ToArray(), Is.All.EqualTo(1f));
        data.CopySample(2, img); // blue, enlarged 4 -> 8
        Assert.That(img.AsSpan(128, 64).ToArray(), Is.All.EqualTo(1f));
        data.CopySample(3, img); // white bmp
        Assert.That(img, Is.All.EqualTo(1f));
    }

    [Test]
    public void CentreCropAndGreyscale()
    {
        // 4 high × 8 wide: two red columns, four green, two blue. The centred 4×4 square is green.
        int h = 4, w = 8;
        var img = new float[3 * h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int c = x < 2 ? 0 : x < 6 ? 1 : 2;
                for (int k = 0; k < 3; k++) img[k * h * w + y * w + x] = k == c ? 1f : -1f;
            }
        PngWriter.Save(Path.Combine(_dir, "wide.png"), img, 3, h, w);

        var rgb = ImageFolderDataset.Load(_dir, imageSize: 2);
        Assert.That(rgb.ClassCount, Is.EqualTo(0));
        Assert.That(rgb.Label(0), Is.EqualTo(-1));
        Assert.That(rgb.CopySamples(0, 1), Is.EqualTo(new float[] { -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1 }));

        var grey = ImageFolderDataset.Load(_dir, imageSize: 4, channels: 1);
        Assert.That(grey.Channels, Is.EqualTo(1));
        var g = grey.CopySamples(0, 1);
        Assert.That(g, Is.All.EqualTo(g[0]));
        Assert.That(g[0], Is.GreaterThan(0f), "green is bright in luma");
    }

    [Test]
    public void FolderWithoutReadableImagesIsAnError()
    {
        File.WriteAllBytes(Path.Combine(_dir, "x.jpg"), [1, 2, 3]);
        var e = Assert.Throws<DataFormatException>(() => ImageFolderDataset.Load(_dir, 8))!;
        Assert.That(e.Message, Does.Contain("no readable image").And.Contain("1 skipped").And.Contain("x.jpg"));
        Assert.Throws<DataFormatException>(() => ImageFolderDataset.Load(Path.Combine(_dir, "nope"), 8));
    }
}
