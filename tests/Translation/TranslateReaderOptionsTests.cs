// gpugan translate reads its inputs with the folder data sets' reader options (issue 20): --resize (default: the run's
// filter), --max-image-side / --max-image-pixels (default: the run's limits), --strict-data. One 1-step pix2pix run at 32
// pixels, trained with --resize lanczos so that the run's own filter can be told from the default.
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Translation;

[TestFixture, NonParallelizable]
public sealed class TranslateReaderOptionsTests
{
    private string _root = "", _run = "", _input = "";

    [OneTimeSetUp]
    public void SetUp()
    {
        _root = TranslationRuns.TempFolder("gpugan-translate-opts-");
        _run = Path.Combine(_root, "run");
        TranslationRuns.Train(TranslationRuns.Options(ModelFamily.Pix2pix, DataSource.PetriPairs(4), _run, 1, 32) with
        {
            Resize = ResizeFilter.Lanczos, Augment = false,
        });
        // Two 40x40 grey layouts (resampled to 32 by every filter differently) and one file that is not an image.
        _input = Path.Combine(_root, "in");
        Directory.CreateDirectory(_input);
        var layouts = new PetriPairsDataset(2, 40, 5);
        var sample = new float[4 * 40 * 40];
        for (int i = 0; i < 2; i++)
        {
            layouts.CopySample(i, sample);
            PngWriter.Save(Path.Combine(_input, $"dish{i}.png"), sample.AsSpan(0, 1600), 1, 40, 40);
        }
    }

    [OneTimeTearDown]
    public void TearDown() => TranslationRuns.Delete(_root);

    private (int Code, string Out, string Err) Translate(string input, string output, params string[] more) =>
        TranslationRuns.Cli(["translate", "--run", _run, "--input", input, "--out", Path.Combine(_root, output), .. more]);

    private byte[] Written(string output) => File.ReadAllBytes(Path.Combine(_root, output, "dish0.png"));

    [Test]
    public void ResizeChoosesTheFilterAndDefaultsToTheRuns()
    {
        Assert.That(Translate(_input, "run-default").Code, Is.EqualTo(0));
        Assert.That(Translate(_input, "lanczos", "--resize", "lanczos").Code, Is.EqualTo(0));
        Assert.That(Translate(_input, "area", "--resize", "area").Code, Is.EqualTo(0));
        Assert.That(Written("run-default"), Is.EqualTo(Written("lanczos")), "without --resize, the run's filter (lanczos)");
        Assert.That(Written("area"), Is.Not.EqualTo(Written("lanczos")), "--resize area resamples differently");

        // The library: the output is the generator applied to the input as the reader resamples it with that filter.
        var translator = Translator.Load(Path.Combine(_run, RunLayout.GeneratorFile), Device.Cpu);
        var bytes = new ImageReader().ReadResized(Path.Combine(_input, "dish0.png"), 1, 32, 32, ResizeFilter.Area, ImageFit.Stretch).PlanarBytes();
        var expected = translator.Translate(bytes.Select(b => b / 127.5f - 1f).ToArray(), 1);
        translator.TranslateFiles(Path.Combine(_input, "dish0.png"), Path.Combine(_root, "library-area"), ResizeFilter.Area);
        var (got, h, w) = ImageFile.ReadPlanar(Path.Combine(_root, "library-area", "dish0.png"), 3);
        Assert.That((h, w), Is.EqualTo((32, 32)));
        for (int i = 0; i < got.Length; i++)
            Assert.That(got[i], Is.EqualTo(Math.Round((Math.Clamp(expected[i], -1f, 1f) + 1) * 127.5)).Within(1.0), $"value {i}");

        var (code, _, err) = Translate(_input, "bad", "--resize", "nearest");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--resize"));
    }

    [Test]
    public void PixelLimitsSkipLargeInputsAndStrictDataMakesThemErrors()
    {
        // 40x40 = 1600 pixels: above a limit of 1000, skipped by name; all skipped is bad data
        // (exit 1, as a folder without images), with the reason per file and the count.
        var (code, _, err) = Translate(_input, "limited", "--max-image-pixels", "1000");
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(err, Does.Contain("dish0.png").And.Contain("1000").And.Contain("no image could be read"));
        (code, _, err) = Translate(_input, "sided", "--max-image-side", "39");
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(err, Does.Contain("39 pixels on a side"));
        (code, _, err) = Translate(_input, "zero", "--max-image-side", "0");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--max-image-side"));

        string mixed = Path.Combine(_root, "mixed");
        Directory.CreateDirectory(mixed);
        File.Copy(Path.Combine(_input, "dish0.png"), Path.Combine(mixed, "dish0.png"));
        File.WriteAllText(Path.Combine(mixed, "broken.jpg"), "not a jpeg");
        var (c1, _, e1) = Translate(mixed, "lenient");
        Assert.That(c1, Is.EqualTo(0), e1);
        Assert.That(e1, Does.Contain("warning: skipped").And.Contain("broken.jpg"));
        Assert.That(File.Exists(Path.Combine(_root, "lenient", "dish0.png")));
        var (c2, _, e2) = Translate(mixed, "strict", "--strict-data");
        Assert.That(c2, Is.EqualTo(1), e2);
        Assert.That(e2, Does.Contain("broken.jpg"));
        Assert.That(e2, Does.Not.Contain("warning"));
    }
}
