// The scenario, end to end: a folder of 24 images, 4 each of PNG, JPEG, BMP, GIF, TIFF and WebP, trains on all 24
// through the CLI; the run prints the count and config.json records "images": 24 and "skipped" by kind.
using System.Text.Json.Nodes;
using GpuGan.Gan.Data;
using GpuGan.Gan.Training;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Gan;

[TestFixture]
public sealed class ImageFormatsRunTests
{
    private string _root = "";

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "gpugan-formats-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private static string TwentyFourImages(string root)
    {
        string dir = Path.Combine(root, "mixed");
        Directory.CreateDirectory(dir);
        var random = new Random(24);
        var savers = new (string Extension, Action<Image<Rgb24>, string> Save)[]
        {
            (".png", (i, p) => i.SaveAsPng(p)), (".jpg", (i, p) => i.SaveAsJpeg(p)), (".bmp", (i, p) => i.SaveAsBmp(p)),
            (".gif", (i, p) => i.SaveAsGif(p)), (".tif", (i, p) => i.SaveAsTiff(p)), (".webp", (i, p) => i.SaveAsWebp(p)),
        };
        foreach (var (extension, save) in savers)
            for (int k = 0; k < 4; k++)
            {
                using var image = new Image<Rgb24>(20 + 3 * k, 30 - 2 * k);   // not square, not the training size
                for (int y = 0; y < image.Height; y++)
                    for (int x = 0; x < image.Width; x++) image[x, y] = new Rgb24((byte)random.Next(256), (byte)(8 * x), (byte)(8 * y));
                save(image, Path.Combine(dir, $"{extension[1..]}-{k}{extension}"));
            }
        return dir;
    }

    [Test]
    public void TwentyFourImagesOfSixFormatsAllTrain()
    {
        string data = TwentyFourImages(_root);
        File.WriteAllBytes(Path.Combine(data, "zz-truncated.png"), File.ReadAllBytes(Path.Combine(data, "png-0.png"))[..60]);
        string run = Path.Combine(_root, "run");
        var (code, stdout, stderr) = TinyRuns.Cli("train", "--model", "dcgan", "--data", data, "--image-size", "32", "--steps", "1", "--batch", "4",
            "--device", "cpu", "--threads", "1", "--out", run);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout + stderr, Does.Contain("data folder:mixed: 24 images, 1 file(s) skipped (1 truncated or corrupt)"));
        Assert.That(stderr, Does.Contain("zz-truncated.png"), "the skipped file is named");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunLayout.ConfigFile)))!;
        Assert.That((int)config["images"]!, Is.EqualTo(24));
        Assert.That(config["skipped"]!.ToJsonString(), Is.EqualTo("""{"corrupt":1}"""));
        Assert.That((string)config["resize"]!, Is.EqualTo("bilinear"));

        // The saved configuration (with its two counts) is read back on resume.
        var (again, _, resumeErr) = TinyRuns.Cli("train", "--resume", "--out", run, "--steps", "2", "--device", "cpu", "--threads", "1");
        Assert.That(again, Is.EqualTo(0), resumeErr);
    }

    /// <summary>gpugan sample --bit-depth 16 writes 16-bit PNGs (single files and the grid) of the same samples as 8 bits.</summary>
    [Test]
    public void SampleWritesSixteenBitPngs()
    {
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(GpuGan.Gan.Models.ModelFamily.Dcgan, DataSource.ImageFolder(TinyRuns.ImageFolder(_root)), run, steps: 1));
        string eight = Path.Combine(_root, "eight"), sixteen = Path.Combine(_root, "sixteen"), grid = Path.Combine(_root, "grid");
        Assert.That(TinyRuns.Cli("sample", "--run", run, "--count", "3", "--out", eight).Code, Is.EqualTo(0));
        var (code, _, err) = TinyRuns.Cli("sample", "--run", run, "--count", "3", "--out", sixteen, "--bit-depth", "16");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(TinyRuns.Cli("sample", "--run", run, "--count", "3", "--out", grid, "--grid", "--bit-depth", "16").Code, Is.EqualTo(0));
        Assert.That(Image.Identify(Directory.GetFiles(grid, "*.png").Single()).Metadata.GetPngMetadata().BitDepth,
            Is.EqualTo(SixLabors.ImageSharp.Formats.Png.PngBitDepth.Bit16));
        foreach (string file in Directory.GetFiles(eight, "*.png"))
        {
            using var low = Image.Load<Rgb48>(file);
            using var high = Image.Load<Rgb48>(Path.Combine(sixteen, Path.GetFileName(file)));
            Assert.That(Image.Identify(Path.Combine(sixteen, Path.GetFileName(file))).Metadata.GetPngMetadata().BitDepth,
                Is.EqualTo(SixLabors.ImageSharp.Formats.Png.PngBitDepth.Bit16));
            int finer = 0;
            for (int y = 0; y < low.Height; y++)
                for (int x = 0; x < low.Width; x++)
                {
                    // The 8-bit value is the 16-bit one rounded to 1/255: they agree within half an 8-bit step.
                    Assert.That(Math.Abs(low[x, y].R / 257.0 - high[x, y].R / 257.0), Is.LessThanOrEqualTo(0.5 + 1e-9), $"{file} ({x}, {y})");
                    if (high[x, y].R % 257 != 0) finer++;
                }
            Assert.That(finer, Is.GreaterThan(0), "16 bits keep finer steps than 8");
        }
    }

    [Test]
    public void StrictDataStopsAtTheFirstBadFileByName()
    {
        string data = TwentyFourImages(_root);
        File.WriteAllBytes(Path.Combine(data, "gif-9.gif"), "GIF89a"u8.ToArray());
        var (code, _, stderr) = TinyRuns.Cli("train", "--model", "dcgan", "--data", data, "--image-size", "32", "--steps", "1", "--batch", "4",
            "--device", "cpu", "--threads", "1", "--strict-data", "--out", Path.Combine(_root, "run"));
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain("gif-9.gif"));
        Assert.That(Directory.Exists(Path.Combine(_root, "run", "checkpoints")), Is.False, "nothing trained");
    }

    [Test]
    public void AFolderOfGreyImagesWithTransparencyIsNotedOnce()
    {
        string dir = Path.Combine(_root, "alpha");
        Directory.CreateDirectory(dir);
        for (int k = 0; k < 4; k++)
        {
            using var image = new Image<Rgba32>(8, 8, new Rgba32(200, 100, 50, (byte)(k * 60)));
            image.SaveAsPng(Path.Combine(dir, $"{k}.png"));
        }
        var data = ImageFolderDataset.Load(dir, imageSize: 8, channels: 1);
        Assert.That(data.AlphaDropped, Is.EqualTo(4));
        var grey = data.CopySamples(0, 1);
        Assert.That(grey[0], Is.EqualTo(GpuGan.Gan.Imaging.ImageReader.Luma(200, 100, 50) / 127.5f - 1f).Within(1e-6), "alpha dropped, not composited");
    }
}
