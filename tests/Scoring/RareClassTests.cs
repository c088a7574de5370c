using System.Globalization;
using System.Text.Json.Nodes;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Cli;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using GpuGan.Tests.Gan;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Scoring;

/// <summary>
/// Class names and rare samples on request: petri's classes are "common" and "rare", Fashion-MNIST's and class folders'
/// have their own names; a conditional model's files carry the names, so <c>sample --class rare</c> works without the data,
/// numbers still work and an unknown name is refused with the list; files of the earlier cdcgan design are refused by name; and
/// (level 2, slow) a cdcgan trained briefly on petri
/// makes dishes the feature network recognises as rare clearly more often when asked for rare than when asked for common.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class RareClassTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-rare-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    [Test]
    public void PetriNamesItsClassesAndNamesAreFoundAnyWay()
    {
        IDataset petri = new PetriDataset(10, 32, seed: 1);
        Assert.That(petri.ClassNames, Is.EqualTo(new[] { "common", "rare" }));
        Assert.That(DatasetExtensions.FindClass(petri.ClassNames, "rare"), Is.EqualTo(1));
        Assert.That(DatasetExtensions.FindClass(petri.ClassNames, "Common"), Is.EqualTo(0));
        Assert.That(DatasetExtensions.FindClass(petri.ClassNames, "1"), Is.EqualTo(1), "numbers still work");
        Assert.That(DatasetExtensions.FindClass(petri.ClassNames, "2"), Is.EqualTo(-1));
        Assert.That(DatasetExtensions.FindClass(petri.ClassNames, "-1"), Is.EqualTo(-1));
        Assert.That(DatasetExtensions.FindClass(petri.ClassNames, "medium"), Is.EqualTo(-1));
        Assert.That(new ChannelAdapter(petri, 1).ClassNames, Is.EqualTo(petri.ClassNames), "adapters keep the names");
        Assert.That(((IDataset)new SinesDataset(4, 1)).ClassNames, Is.Empty);
    }

    [Test]
    public void FashionMnistAndClassFoldersHaveTheirNames()
    {
        var folder = DatasetFactory.Create(DataSource.Folder(TinyRuns.ImageFolder(_root)), 28, 3, null, 1);
        Assert.That(folder.ClassNames, Is.EqualTo(new[] { "a", "b" }));
        if (!Directory.Exists(IdxDataset.FashionMnistDirectory)) Assert.Ignore("Fashion-MNIST is not installed (dataset-fashion-mnist)");
        var fashion = DatasetFactory.Create(DataSource.FashionMnist(), null, null, 20, 1);
        Assert.That(fashion.ClassNames, Has.Count.EqualTo(10));
        Assert.That(fashion.ClassNames[0], Is.EqualTo("T-shirt/top"));
        Assert.That(DatasetExtensions.FindClass(fashion.ClassNames, "ankle-boot"), Is.EqualTo(9));
        // A folder of IDX files is MNIST-like: its classes are named by their numbers (MNIST's own names).
        var digits = IdxDataset.Load(IdxDataset.FashionMnistDirectory, limit: 20);
        Assert.That(digits.ClassNames, Is.EqualTo(Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture))));
    }

    [Test]
    public void SampleTakesAClassNameWithoutTheDataAndRefusesAnUnknownOne()
    {
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Cdcgan, DataSource.Petri(16), run, 1));
        // The generator file alone (no data set, no config) knows the names.
        string alone = Path.Combine(_root, "g.safetensors");
        File.Copy(Path.Combine(run, RunLayout.GeneratorFile), alone);
        Directory.Delete(run, recursive: true);

        string rare = Path.Combine(_root, "rare");
        var (code, _, err) = TinyRuns.Cli("sample", "--checkpoint", alone, "--class", "rare", "--count", "3", "--out", rare, "--device", "cpu");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(Directory.GetFiles(rare).Select(Path.GetFileName), Is.EquivalentTo(new[] { "sample-00000-class1.png", "sample-00001-class1.png", "sample-00002-class1.png" }));
        string common = Path.Combine(_root, "common");
        (code, _, err) = TinyRuns.Cli("sample", "--checkpoint", alone, "--class", "0", "--count", "2", "--out", common, "--device", "cpu");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(Directory.GetFiles(common).Select(Path.GetFileName), Has.All.EndsWith("-class0.png"));

        (code, _, err) = TinyRuns.Cli("sample", "--checkpoint", alone, "--class", "medium", "--count", "2", "--out", Path.Combine(_root, "x"), "--device", "cpu");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--class").And.Contain("medium").And.Contain("common (0), rare (1)"));
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), "one line");
        Assert.That(Directory.Exists(Path.Combine(_root, "x")), Is.False, "nothing written");
    }

    /// <summary>
    /// A cdcgan file of the earlier design (G took z ⊙ E(y): a first layer of nz input channels, not 2·nz; a record
    /// without "class-input") is refused by name, as a generator file (sample) and as a checkpoint (resume), with nothing written.
    /// </summary>
    [Test]
    public void EarlierCdcganFilesAreRefusedByName()
    {
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Cdcgan, DataSource.Petri(16), run, 1));
        string generator = Path.Combine(run, RunLayout.GeneratorFile), checkpoint = Path.Combine(run, RunLayout.CheckpointFile);
        Assert.That(SafeTensors.Read(generator).Metadata[GanSpec.MetadataKey], Does.Contain("\"class-input\":\"embedding\""));
        Earlier(generator, "");
        Earlier(checkpoint, "G.");

        var (code, _, err) = TinyRuns.Cli("sample", "--checkpoint", generator, "--class", "rare", "--count", "2", "--out", Path.Combine(_root, "s"), "--device", "cpu");
        Assert.That(code, Is.EqualTo(ExitCodes.Failure));
        Assert.That(err, Does.Contain(generator).And.Contain("earlier design").And.Contain("class-input"));
        Assert.That(Directory.Exists(Path.Combine(_root, "s")), Is.False, "nothing written");

        var before = TinyRuns.Snapshot(run);
        (code, _, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "2");
        Assert.That(code, Is.EqualTo(ExitCodes.Failure), err);
        Assert.That(err, Does.Contain(checkpoint).And.Contain("earlier design").And.Contain("class-input"));
        Assert.That(TinyRuns.Snapshot(run).Keys, Is.EquivalentTo(before.Keys));
        foreach (var (name, bytes) in before) Assert.That(TinyRuns.Snapshot(run)[name], Is.EqualTo(bytes), $"{name} is unchanged");
    }

    // Rewrites a file as the earlier cdcgan wrote it: G's first layer on nz channels (z ⊙ E(y)), G's embedding near 1, no "class-input".
    private static void Earlier(string path, string prefix)
    {
        var file = SafeTensors.Read(path);
        var spec = GanSpec.FromJson(file.Metadata[GanSpec.MetadataKey], path);
        var entries = new List<SafeTensorEntry>();
        foreach (var (name, entry) in file.Tensors)
        {
            if (name == prefix + "main.0.weight")
            {
                var shape = entry.ShapeToArray();
                int row = shape[1] * shape[2] * shape[3];
                shape[0] = spec.LatentDim;
                entries.Add(SafeTensorEntry.FromFloat32(name, shape, entry.ToFloat32Array().AsSpan(0, spec.LatentDim * row)));
            }
            else if (name != prefix + "embed.weight") entries.Add(entry);
        }
        entries.Add(SafeTensorEntry.FromFloat32(prefix + "embed.weight", [spec.ClassCount, spec.LatentDim], Enumerable.Repeat(1f, spec.ClassCount * spec.LatentDim).ToArray()));
        var meta = file.Metadata.ToDictionary();
        meta[GanSpec.MetadataKey] = meta[GanSpec.MetadataKey].Replace(",\"class-input\":\"embedding\"", "", StringComparison.Ordinal);
        Assert.That(meta[GanSpec.MetadataKey], Does.Not.Contain("class-input"));
        SafeTensors.Write(path, entries, meta);
    }

    // Level 2 (GPUGAN_FULL_CHECKS=2), not in the level-1 suite: it trains a cdcgan for 300 steps and a feature network (about 20 s
    // on 2 cores). The thresholds were written and committed before the first run: asked for rare, the share of samples the feature
    // network recognises as rare must exceed the share among samples asked for common by at least 0.30, and be at least twice it.
    // The bar has not been changed since. History: first run, 0 % rare either way — the projection discriminator's embedding
    // started at N(0, 1) (logits ±100, D won outright, G made one noise image); fixed (N(0, 0.02)). Second run: 19.0 % (38/200)
    // asked for rare against 14.5 % asked for common, the data's own mix: G took the class as z ⊙ E(y), E ~ N(1, 0.02), which can
    // only rescale z's dimensions, and Adam moved E by ~0.03 in 300 steps (G's label sensitivity ‖G(z,y) − G(z,y')‖ / ‖G(z,y) −
    // G(z',y)‖ went 0.035 → 0.13 while D's class contrast on real images reached 3.5 logits). A one-hot class input passed seed 1
    // (100 % vs 14.0 %) but not seeds 2 and 3 (0 % vs 0 %): uniform fake labels (50 % rare, real 19 %) taught the projection term
    // "rare means fake". Now the fakes take the real batch's labels and G's class is an N(0, 1) embedding joined to z: 99.0 % rare
    // asked for rare vs 0.0 % asked for common (seed 1). Informally, only the seed changed: seed 2 98.5 % vs 0.0 % (passes);
    // seed 3 100 % vs 100 % (fails: G collapsed to one dish for every z and class by step 300).
    [Test]
    public void ConditionalPetriMakesRareDishesOnRequest()
    {
        FullChecks.RequireSlow("the conditional petri rare-class run", "trains a cdcgan for 300 steps and a feature network, about 25 s");
        string run = Path.Combine(_root, "run");
        var options = new TrainOptions
        {
            Model = ModelFamily.Cdcgan, Data = DataSource.Petri(2000), ImageSize = 32, Width = 32, LatentDim = 64, Batch = 32, Steps = 300,
            Seed = 1, Device = DeviceKind.Cpu, Out = run, SampleEvery = 300, CheckpointEvery = 300, LogEvery = 10,
        };
        TinyRuns.Train(options);

        var reports = new Dictionary<string, JsonObject>();
        foreach (string cls in new[] { "rare", "common" })
        {
            string samples = Path.Combine(_root, cls), json = Path.Combine(_root, cls + ".json");
            var (code, _, err) = TinyRuns.Cli("sample", "--run", run, "--class", cls, "--count", "200", "--out", samples, "--device", "cpu");
            Assert.That(code, Is.EqualTo(0), err);
            (code, var output, err) = TinyRuns.Cli("score", "--samples", samples, "--data", "petri", "--count", "200", "--device", "cpu",
                "--cache-dir", Path.Combine(_root, "cache"), "--feature-steps", "400", "--feature-width", "16", "--json", json);
            Assert.That(code, Is.EqualTo(0), err);
            TestContext.Out.WriteLine($"--class {cls}:\n{output}");
            reports[cls] = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
        }

        double RareShare(JsonObject report)
        {
            var counts = report["class-counts"]!.AsArray().Select(c => (int)c!).ToArray();
            return (double)counts[1] / counts.Sum();
        }
        var asked = reports["rare"]["asked-classes"]!.AsArray().Single()!;
        Assert.That((string)asked["name"]!, Is.EqualTo("rare"), "score reads the class asked for from the file names");
        double rareAsked = RareShare(reports["rare"]), commonAsked = RareShare(reports["common"]);
        var realLabels = reports["rare"]["real-label-counts"]!.AsArray().Select(c => (int)c!).ToArray();
        TestContext.Out.WriteLine($"recognised as rare: {rareAsked:P1} of the samples asked for rare, {commonAsked:P1} of those asked for common; " +
            $"real reference: {(double)realLabels[1] / realLabels.Sum():P1} rare by label");
        Assert.That(rareAsked, Is.GreaterThanOrEqualTo(commonAsked + 0.30), "asked for rare: clearly more rare dishes than asked for common");
        Assert.That(rareAsked, Is.GreaterThanOrEqualTo(2 * commonAsked), "asked for rare: at least twice the rare share of common samples");
    }
}
