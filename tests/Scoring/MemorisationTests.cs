using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Scoring;
using GpuGan.Tensors;
using GpuGan.Tests.Gan;
using NUnit.Framework;

namespace GpuGan.Tests.Scoring;

/// <summary>The memorisation report flags a "generator" made of training images and not fresh images of the same kind (flag share fixed at 10 % before any run).</summary>
[TestFixture, NonParallelizable]
public sealed class MemorisationTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-memo-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    [Test]
    public void ACopyingGeneratorIsFlaggedAndFreshImagesAreNot()
    {
        var data = new PetriDataset(400, 16, seed: 7);
        var scorer = Scorer.Create(data, FeatureNetworkTests.Tiny(steps: 30), _root, Device.Cpu);
        // The "generator" that copies: 50 training images (every seventh of the training part).
        int len = data.SampleLength(), n = 50;
        var copies = new float[n * len];
        for (int i = 0; i < n; i++) data.CopySample(7 * i, copies.AsSpan(i * len, len));
        var copied = Memorisation.Report(scorer, data, copies, n, Device.Cpu);
        Assert.That(copied.Flagged, Is.True);
        Assert.That(copied.Pixels.CopiedShare, Is.EqualTo(1.0));
        Assert.That(copied.NearestPixel, Is.EqualTo(Enumerable.Range(0, n).Select(i => 7 * i).ToArray()));

        // Fresh dishes of the same kind (another seed): as new as the held-out ones.
        var fresh = new PetriDataset(n, 16, seed: 99).CopySamples(0, n);
        var report = Memorisation.Report(scorer, data, fresh, n, Device.Cpu);
        Assert.That(report.Flagged, Is.False, $"pixels {report.Pixels}, features {report.Features}");

        string grid = Path.Combine(_root, "memorisation.png");
        Memorisation.SaveGrid(grid, copied, data, copies, 4);
        Assert.That(File.Exists(grid));
    }

    [Test]
    public void TheCommandLineFlagsAFolderOfTrainingImages()
    {
        // PNGs of the first training dishes of `--data petri` (6,000 dishes of seed 1, 32×32).
        var petri = new PetriDataset(6000, 32, seed: 1);
        string samples = Path.Combine(_root, "copies");
        Directory.CreateDirectory(samples);
        for (int i = 0; i < 30; i++)
            PngWriter.Save(Path.Combine(samples, $"sample-{i:D5}.png"), petri.CopySamples(i, 1), 3, 32, 32);
        var (code, output, err) = TinyRuns.Cli("score", "--samples", samples, "--data", "petri", "--count", "30", "--nearest", "6",
            "--cache-dir", Path.Combine(_root, "cache"), "--feature-steps", "10", "--feature-width", "4", "--device", "cpu", "--json", Path.Combine(_root, "s.json"), "--out", Path.Combine(_root, "report"));
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("MEMORISATION"));
        Assert.That(File.Exists(Path.Combine(_root, "report", "memorisation.png")));
        Assert.That(File.ReadAllText(Path.Combine(_root, "s.json")), Does.Contain("\"flagged\": true"));
    }
}
