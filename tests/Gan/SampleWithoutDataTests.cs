using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>
/// `gpugan sample --checkpoint FILE` needs only the file: its architecture record rebuilds the
/// generator, so it works after the training data (and the run's config.json) are gone.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SampleWithoutDataTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-sample-").FullName;

    [TearDown]
    public void TearDown()
    {
        Directory.Delete(_root, recursive: true);
    }

    [TestCase(ModelFamily.Gan), TestCase(ModelFamily.Dcgan), TestCase(ModelFamily.Wgan), TestCase(ModelFamily.WganGp), TestCase(ModelFamily.Cdcgan)]
    public void SampleWorksAfterTheDataFolderIsDeleted(ModelFamily family)
    {
        string data = TinyRuns.ImageFolder(_root);
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(family, DataSource.ImageFolder(data), run, steps: 1));
        Directory.Delete(data, recursive: true);
        File.Delete(Path.Combine(run, RunLayout.ConfigFile));   // the file alone must be enough

        string fromCheckpoint = Path.Combine(_root, "from-checkpoint"), fromGenerator = Path.Combine(_root, "from-generator");
        var (code, output, err) = TinyRuns.Cli("sample", "--checkpoint", Path.Combine(run, RunLayout.CheckpointFile), "--count", "8", "--out", fromCheckpoint);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("wrote 8 files"));
        (code, _, err) = TinyRuns.Cli("sample", "--checkpoint", Path.Combine(run, RunLayout.GeneratorFile), "--count", "8", "--out", fromGenerator);
        Assert.That(code, Is.EqualTo(0), err);

        var pngs = Directory.GetFiles(fromCheckpoint, "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.That(pngs, Has.Length.EqualTo(8));
        if (family == ModelFamily.Cdcgan)
            Assert.That(pngs, Has.Some.Contains("-class0").And.Some.Contains("-class1"), "a conditional model cycles through its classes");
        // The checkpoint's G and generator.safetensors hold the same weights: same seed, same images.
        foreach (var name in pngs)
            Assert.That(File.ReadAllBytes(Path.Combine(fromGenerator, name!)), Is.EqualTo(File.ReadAllBytes(Path.Combine(fromCheckpoint, name!))), name);
    }
}
