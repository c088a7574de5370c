// The reader's fast paths (issue 20, "no slower") against the paths they shortcut:
//  - decoding straight into L8 / Rgb24 where the header shows nothing is lost, against decoding into Rgba32 and converting:
//    the same bytes and the same alpha note, on every image of the fixture corpus, at its size and resized;
//  - SmallImageResampler (ImageSharp's resize math with cached kernel maps, for grey images of at most 64 × 64) against
//    ImageSharp's own resize, every filter, grey and colour files read as grey, enlarging, shrinking and centre-cropping
//    (RGB stays with ImageSharp: the box filter missed the bound below there, 1.1 % of bytes). Tolerance, fixed before
//    the first run: every byte within 1 level, and at most 1 % of the bytes differing at all (float summation order is
//    the only difference: ImageSharp adds taps in pairs with FMA).
using System.Text.Json;
using GpuGan.Gan.Imaging;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Data;

[TestFixture]
public sealed class ReaderFastPathTests
{
    private static readonly string Corpus = Path.Combine(AppContext.BaseDirectory, "fixtures", "images");
    private string _root = "";

    [OneTimeSetUp]
    public void Setup()
    {
        _root = Path.Combine(Path.GetTempPath(), "gpugan-fastpath-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    /// <summary>The corpus's good images (corpus.json's outcome "image").</summary>
    private static IEnumerable<string> CorpusImages()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Corpus, "corpus.json")));
        return json.RootElement.EnumerateArray().Where(e => e.GetProperty("outcome").GetString() == "image")
            .Select(e => e.GetProperty("file").GetString()!).ToList();
    }

    [Test]
    public void DirectDecodingGivesTheBytesOfTheRgbaPath()
    {
        var fast = new ImageReader();
        var slow = new ImageReader { DecodeDirect = false, OwnResampler = false };
        var files = CorpusImages().ToList();
        Assert.That(files, Has.Count.GreaterThanOrEqualTo(20), "the corpus's good images");
        foreach (string file in files)
            foreach (int channels in new[] { 1, 3 })
            {
                string path = Path.Combine(Corpus, file);
                var a = fast.Read(path, channels);
                var b = slow.Read(path, channels);
                Assert.That(a.Pixels, Is.EqualTo(b.Pixels), $"{file} C={channels}");
                Assert.That((a.Height, a.Width, a.Channels, a.DroppedAlpha), Is.EqualTo((b.Height, b.Width, b.Channels, b.DroppedAlpha)), $"{file} C={channels}");
                // Resized by ImageSharp on both sides: an Rgb24 image and an Rgba32 one go through different pixel converters,
                // which may round a value one level apart; the same tolerance as the resampler comparison below.
                var ra = new ImageReader { OwnResampler = false }.ReadResized(path, channels, 80, 80, ResizeFilter.Bicubic);
                var rb = slow.ReadResized(path, channels, 80, 80, ResizeFilter.Bicubic);
                var (worst, differing) = Compare(ra.Pixels, rb.Pixels);
                if (differing > 0) TestContext.Out.WriteLine($"{file} C={channels} resized: {differing} of {ra.Pixels.Length} bytes differ, by at most {worst}");
                Assert.That(worst, Is.LessThanOrEqualTo(1), $"{file} C={channels} resized");
                Assert.That(differing, Is.LessThanOrEqualTo(ra.Pixels.Length / 100), $"{file} C={channels} resized");
            }
    }

    private static (int Worst, int Differing) Compare(byte[] a, byte[] b)
    {
        Assert.That(a, Has.Length.EqualTo(b.Length));
        int worst = 0, differing = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int d = Math.Abs(a[i] - b[i]);
            worst = Math.Max(worst, d);
            if (d > 0) differing++;
        }
        return (worst, differing);
    }

    /// <summary>(source H, W, target H, W, fit) of the comparison: enlarging, shrinking, crops of odd sizes, the 64 × 64 bound.</summary>
    private static readonly (int H, int W, int TH, int TW, ImageFit Fit)[] Cases =
    [
        (28, 28, 32, 32, ImageFit.CenterCrop), (28, 28, 64, 64, ImageFit.CenterCrop), (32, 32, 28, 28, ImageFit.CenterCrop),
        (17, 23, 20, 20, ImageFit.CenterCrop), (40, 25, 16, 16, ImageFit.CenterCrop), (64, 64, 48, 48, ImageFit.CenterCrop),
        (8, 8, 64, 64, ImageFit.CenterCrop), (30, 50, 21, 33, ImageFit.Stretch), (64, 60, 7, 5, ImageFit.Stretch),
    ];

    [Test]
    public void SmallImageResamplerMatchesImageSharpsResize([Values] ResizeFilter filter, [Values] bool colourSource)
    {
        var ours = new ImageReader();
        var theirs = new ImageReader { OwnResampler = false };
        var random = new Random(20 + (int)filter * 2 + (colourSource ? 1 : 0));
        int values = 0, differing = 0, worst = 0;
        foreach (var (h, w, th, tw, fit) in Cases)
        {
            Assert.That(h * w <= SmallImageResampler.TinyPixels && th * tw <= SmallImageResampler.TinyPixels, "a tiny case");
            string path = Path.Combine(_root, $"{filter}-{colourSource}-{h}x{w}-{th}x{tw}.png");
            // Smooth shapes with noise and hard edges, as photos and Fashion-MNIST items have.
            using (var image = new Image<Rgb24>(w, h))
            {
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        int n = random.Next(-20, 20);
                        byte Edge(int v) => (byte)Math.Clamp(v + n, 0, 255);
                        image[x, y] = x * 3 > w * 2
                            ? new Rgb24(Edge(255 * y / h), Edge(40), Edge(255 - 255 * x / w))
                            : new Rgb24(Edge(30 + 200 * x / w), Edge(255 * ((x + y) % 5) / 4), Edge(128));
                    }
                if (colourSource) image.SaveAsPng(path);
                else image.CloneAs<L8>().SaveAsPng(path);
            }
            var a = ours.ReadResized(path, 1, th, tw, filter, fit);
            var b = theirs.ReadResized(path, 1, th, tw, filter, fit);
            Assert.That((a.Height, a.Width, a.Channels), Is.EqualTo((b.Height, b.Width, b.Channels)));
            for (int i = 0; i < a.Pixels.Length; i++)
            {
                int d = Math.Abs(a.Pixels[i] - b.Pixels[i]);
                worst = Math.Max(worst, d);
                if (d > 0) differing++;
            }
            values += a.Pixels.Length;
        }
        TestContext.Out.WriteLine($"{filter} {(colourSource ? "RGB" : "grey")} file read as grey: {differing} of {values} bytes differ, by at most {worst}");
        Assert.That(worst, Is.LessThanOrEqualTo(1), "largest difference to ImageSharp's resize");
        Assert.That(differing, Is.LessThanOrEqualTo(values / 100), "bytes differing from ImageSharp's resize");
    }

    [Test]
    public void KernelMapsAreImageSharpsWeightsAndSumToOne()
    {
        // 28 -> 32 with the triangle: centre(i) = (i + 0.5) * 0.875 - 0.5, taps within one source pixel, weights 1 - |d|, normalised.
        var map = SmallImageResampler.Build(28, 32, ImageReader.Resampler(ResizeFilter.Bilinear));
        for (int i = 0; i < 32; i++)
        {
            double center = (i + 0.5) * 0.875 - 0.5;
            Assert.That(map.Weights[i].Sum(), Is.EqualTo(1f).Within(1e-6f), $"output {i}");
            for (int t = 0; t < map.Count[i]; t++)
            {
                int j = map.Start[i] + t;
                Assert.That(Math.Abs(j - center), Is.LessThanOrEqualTo(1.0 + 1e-9), $"output {i} tap {j}");
            }
        }
        Assert.That((map.Start[0], map.Count[0]), Is.EqualTo((0, 1)), "centre -0.0625: taps [ceil(-1.0625), floor(0.9375)] = [-1, 0], -1 clipped");
        Assert.That((map.Start[5], map.Count[5]), Is.EqualTo((4, 2)), "centre 4.3125: taps 4 and 5");
        Assert.That(map.Weights[5][0] / map.Weights[5][1], Is.EqualTo(0.6875 / 0.3125).Within(1e-4), "1 - |d| before normalising");
    }
}
