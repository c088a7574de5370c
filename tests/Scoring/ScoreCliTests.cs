using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Tests.Gan;
using NUnit.Framework;

namespace GpuGan.Tests.Scoring;

/// <summary>gpugan score from the command line (a tiny run, a tiny feature network, a private cache folder).</summary>
[TestFixture, NonParallelizable]
public sealed class ScoreCliTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-score-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private string[] Tiny(params string[] args) =>
        ["score", .. args, "--cache-dir", Path.Combine(_root, "cache"), "--feature-steps", "10", "--feature-width", "4", "--device", "cpu"];

    [Test]
    public void ScoresARunThenReusesTheCachedNetworkAndWritesJson()
    {
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(64), run, steps: 1));
        string json = Path.Combine(_root, "scores.json");
        var (code, output, err) = TinyRuns.Cli(Tiny("--run", run, "--count", "30", "--json", json));
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("trained now").And.Contain("frechet distance").And.Contain("kid").And.Contain("coverage").And.Contain("class entropy"));
        Assert.That(File.ReadAllText(json), Does.Contain("\"precision\""));
        (code, output, err) = TinyRuns.Cli(Tiny("--run", run, "--count", "30"));
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("from the cache"));
        Assert.That(File.ReadAllText(json), Does.Contain("\"reference\": \"training\""));
        // The 64 dishes' held-out tenth (6) as the reference, in place of 30 training dishes.
        (code, output, err) = TinyRuns.Cli(Tiny("--run", run, "--count", "30", "--reference", "held-out", "--json", json));
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("against 6 real images").And.Contain("from the held-out part: 6 of 6"));
        Assert.That(File.ReadAllText(json), Does.Contain("\"reference\": \"held-out\""));
    }

    [Test]
    public void ScoresAFolderOfSamplesAgainstNamedData()
    {
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(64), run, steps: 1));
        string samples = Path.Combine(_root, "samples");
        var (code, _, err) = TinyRuns.Cli("sample", "--run", run, "--count", "30", "--out", samples);
        Assert.That(code, Is.EqualTo(0), err);
        (code, var output, err) = TinyRuns.Cli(Tiny("--samples", samples, "--data", "petri", "--image-size", "28", "--count", "30"));
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("scored 30 samples"));
    }

    [TestCase(new[] { "score" }, "exactly one of")]
    [TestCase(new[] { "score", "--samples", "/tmp" }, "--data")]
    [TestCase(new[] { "score", "--run", "/nonexistent-run", "--count", "3" }, "--count")]
    public void MisuseIsOneLineAndExitTwo(string[] args, string expected)
    {
        var (code, _, err) = TinyRuns.Cli(args);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain(expected));
    }
}
