using System.Text.Json.Nodes;
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>
/// Issue 11 items 7–10: --limit caps every source and is validated like every flag; saved configurations are
/// re-validated on resume in one line; no .NET type names in messages; no collapse warning for short runs;
/// `sample --format idx` on colour leaves nothing; flags given with --resume are honoured or said to be ignored.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class InputTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-input-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private static void OneLine(int code, string err, int expected, params string[] mentioned)
    {
        TestContext.Out.WriteLine(err);
        Assert.That(code, Is.EqualTo(expected), err);
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        foreach (var m in mentioned) Assert.That(err, Does.Contain(m));
        Assert.That(err, Does.Not.Contain("internal error").And.Not.Contain("System.").And.Not.Contain("GpuGan.").And.Not.Contain("Parameter '"));
        Assert.That(err.TrimEnd('\n').All(c => c >= ' '), Is.True, "no control characters");
    }

    // ------------------------------------------------------------ item 7: --limit

    private string IdxFolder(int count)
    {
        string dir = Path.Combine(_root, "idx");
        IdxWriter.WriteImages(Path.Combine(dir, "train-images-idx3-ubyte"), new byte[count * 28 * 28], count, 28, 28);
        IdxWriter.WriteLabels(Path.Combine(dir, "train-labels-idx1-ubyte"), Enumerable.Range(0, count).Select(i => i % 3).ToArray());
        return dir;
    }

    [Test]
    public void LimitCapsEverySource()
    {
        var sources = new[] { DataSource.Petri(16), DataSource.Sines(16), DataSource.Idx(IdxFolder(10)), DataSource.ImageFolder(TinyRuns.ImageFolder(_root)) };
        foreach (var source in sources)
        {
            Assert.That(DatasetFactory.Create(source, null, null, limit: 5, seed: 1).Count, Is.EqualTo(5), source.ToString());
            Assert.That(DatasetFactory.Create(source, null, null, limit: 1000, seed: 1).Count, Is.EqualTo(source.Count ?? (source.Kind == DataSourceKind.Idx ? 10 : 8)), source.ToString());
        }
        // The first N: the limited set is a prefix of the whole one.
        foreach (var source in sources)
        {
            var all = DatasetFactory.Create(source, null, null, null, seed: 1);
            var first = DatasetFactory.Create(source, null, null, 3, seed: 1);
            Assert.That(first.CopySamples(0, 3), Is.EqualTo(all.CopySamples(0, 3)), source.ToString());
        }
        var folder = (ImageFolderDataset)DatasetFactory.Create(sources[3], null, null, 3, seed: 1);
        Assert.That(folder.Files.Select(f => Path.GetRelativePath(TinyRuns.ImageFolder(Path.Combine(_root, "again")), f)), Is.Not.Empty);
        Assert.That(folder.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "0.png", "2.png", "4.png" }), "path order: a/0, a/2, a/4");
    }

    [Test]
    public void LimitCapsTheDataTheCliTrainsOn()
    {
        var (code, _, err) = TinyRuns.Cli("train", "--model", "gan", "--data", "sines", "--limit", "8", "--batch", "16", "--out", Path.Combine(_root, "run"));
        OneLine(code, err, 2, "--batch 16 is larger than the data set", "8 samples");
        (code, _, err) = TinyRuns.Cli("train", "--data", TinyRuns.ImageFolder(_root), "--limit", "3", "--batch", "4", "--image-size", "28", "--out", Path.Combine(_root, "run"));
        OneLine(code, err, 2, "--batch 4 is larger than the data set", "3 samples");
        Assert.That(Directory.Exists(Path.Combine(_root, "run")), Is.False);
    }

    [TestCase("-1", "--limit: must be at least 1, got -1")]
    [TestCase("0", "--limit: must be at least 1, got 0")]
    [TestCase("x", "--limit: 'x' is not an integer")]
    [TestCase("99999999999", "--limit: '99999999999' is not an integer (at most 2147483647)")]
    public void LimitIsValidatedLikeEveryFlag(string value, string message)
    {
        var (code, _, err) = TinyRuns.Cli("train", "--limit", value, "--out", Path.Combine(_root, "run"));
        OneLine(code, err, 2, message);
        Assert.That(Directory.Exists(Path.Combine(_root, "run")), Is.False);
    }

    // ------------------------------------------------------------ item 9: no type names

    [TestCase("--steps", "1e9", "is not an integer")]
    [TestCase("--batch", "3.5", "is not an integer")]
    [TestCase("--seed", "x", "is not an integer")]
    [TestCase("--lr", "fast", "is not a number")]
    [TestCase("--epochs", "", "is not an integer")]
    [TestCase("--max-image-pixels", "1e12", "is not an integer")]
    [TestCase("--max-image-side", "0", "must be at least 1, got 0")]
    [TestCase("--channels", "2", "must be 1 or 3, got 2")]
    public void BadNumbersAreWordedWithoutTypeNames(string flag, string value, string message)
    {
        var (code, _, err) = TinyRuns.Cli("train", flag, value, "--out", Path.Combine(_root, "run"));
        OneLine(code, err, 2, flag, message);
        Assert.That(err, Does.Not.Contain("Nullable").And.Not.Contain("Int32").And.Not.Contain("Single"));
    }

    // ------------------------------------------------------------ item 8: the saved configuration on resume

    private string TinyRun(int steps = 1)
    {
        string folder = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), folder, steps));
        return folder;
    }

    [TestCase("batch", "-3", 2, "'batch' must be at least 1, got -3")]
    [TestCase("batch", "\"many\"", 1, "'batch' must be an integer")]
    [TestCase("batch", "1e99", 1, "'batch' must be an integer")]
    [TestCase("lr", "\"x\"", 1, "'lr' must be a number")]
    [TestCase("lr", "-1", 2, "'lr' must be a positive number, got -1")]
    [TestCase("model", "7", 1, "'model' must be one of gan, dcgan, wgan, wgan-gp, cdcgan")]
    [TestCase("model", "\"vae\"", 1, "'model' must be one of gan, dcgan, wgan, wgan-gp, cdcgan")]
    [TestCase("device", "\"tpu\"", 1, "'device' must be one of cpu, ilgpu-cpu, cuda, open-cl")]
    [TestCase("data", "null", 2, "'data' is required")]
    [TestCase("data", "{\"kind\": \"idx\"}", 2, "'data' needs a folder")]
    [TestCase("data", "[1, 2]", 1, "'data' must be an object")]
    [TestCase("steps", "null", 2, "'steps' is required (or Epochs)")]
    [TestCase("max-image-side", "0", 2, "'max-image-side' must be at least 1, got 0")]
    [TestCase("width", "100000", 2, "'width' must be between 1 and")]
    public void AnInvalidSavedValueIsOneLine(string key, string json, int expectedCode, string message)
    {
        string run = TinyRun();
        string config = Path.Combine(run, RunLayout.ConfigFile);
        var node = JsonNode.Parse(File.ReadAllText(config))!;
        node[key] = JsonNode.Parse(json);
        File.WriteAllText(config, node.ToJsonString());
        var before = TinyRuns.Snapshot(run);
        var (code, _, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "2");
        OneLine(code, err, expectedCode, config, message);
        Assert.That(TinyRuns.Snapshot(run).Keys, Is.EquivalentTo(before.Keys));
    }

    [TestCase("", "not a valid run configuration")]
    [TestCase("[]", "not a valid run configuration")]
    [TestCase("\"dcgan\"", "not a valid run configuration")]
    [TestCase("{}", "missing required keys: model, data, batch, seed, out, latent-dim, width")]
    [TestCase("{\"model\": \"dcgan\"", "not a valid run configuration")]
    [TestCase("\u0000\u0001\u001b[2J binary", "not a valid run configuration")]
    public void AGarbageConfigIsOneLine(string text, string message)
    {
        string run = TinyRun();
        string config = Path.Combine(run, RunLayout.ConfigFile);
        File.WriteAllText(config, text);
        var (code, _, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "2");
        OneLine(code, err, 1, config, message);
    }

    // ------------------------------------------------------------ item 10

    /// <summary>
    /// An untrained generator is nearly constant (its samples barely vary), which is not mode collapse: runs shorter than
    /// <see cref="Trainer.MinStepsForDiversityCheck"/> steps are never judged.
    /// </summary>
    [Test]
    public void NoModeCollapseWarningForShortRuns()
    {
        // Five steps with a sample grid after each: every step of a 1- to 5-step run is judged here.
        var (code, _, err) = TinyRuns.Cli("train", "--model", "dcgan", "--image-size", "32", "--batch", "8", "--steps", "5",
            "--sample-every", "1", "--device", "cpu", "--threads", "1", "--out", Path.Combine(_root, "run"));
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Not.Contain("mode collapse").And.Not.Contain("nearly identical"));
    }

    [Test]
    public void SampleIdxOnAColourModelLeavesNothingBehind()
    {
        string run = TinyRun();
        string output = Path.Combine(_root, "samples");
        var before = TinyRuns.Snapshot(run);
        var (code, _, err) = TinyRuns.Cli("sample", "--run", run, "--format", "idx", "--out", output);
        OneLine(code, err, 2, "--format idx holds grey images", "3-channel");
        Assert.That(Directory.Exists(output), Is.False, "no output folder");
        Assert.That(TinyRuns.Snapshot(run).Keys, Is.EquivalentTo(before.Keys), "nothing written into the run folder either");
    }

    /// <summary>--steps, --checkpoint-every, --sample-every, --device and --threads given with --resume are honoured; the rest are named as ignored.</summary>
    [Test]
    public void FlagsGivenWithResumeAreHonouredOrNamedAsIgnored()
    {
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), run, 1) with { SampleEvery = 1000, CheckpointEvery = 1000 });
        Assert.That(Directory.GetFiles(Path.Combine(run, RunLayout.SamplesFolder)).Select(Path.GetFileName), Is.EqualTo(new[] { "step-000001.png" }));

        var (code, output, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "4", "--sample-every", "1", "--checkpoint-every", "2",
            "--threads", "1", "--device", "cpu", "--limit", "3", "--max-image-side", "10", "--lr", "0.5");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(TinyRuns.Lines(err), Is.EqualTo(new[] { "warning: --lr, --limit, --max-image-side are ignored with --resume: the run continues with its saved configuration" }));
        Assert.That(output, Does.Contain("done: 4 steps"));
        Assert.That(Directory.GetFiles(Path.Combine(run, RunLayout.SamplesFolder)).Select(Path.GetFileName).Order(),
            Is.EqualTo(new[] { "step-000001.png", "step-000002.png", "step-000003.png", "step-000004.png" }), "--sample-every 1 is honoured");
    }
}
