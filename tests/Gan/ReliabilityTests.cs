using System.Text.Json.Nodes;
using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>
/// Issue 11: files that do not match the run are refused with one line naming the file, the first
/// mismatching key and both shapes (or the missing/unexpected keys), exit 1, nothing changed; a
/// torn metrics.csv is repaired on resume.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class ReliabilityTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-reliability-").FullName;

    [TearDown]
    public void TearDown()
    {
        Directory.Delete(_root, recursive: true);
    }

    private string TinyRun(string name, ModelFamily family, int steps = 1)
    {
        string folder = Path.Combine(_root, name);
        TinyRuns.Train(TinyRuns.Options(family, DataSource.Petri(16), folder, steps));
        return folder;
    }

    /// <summary>Runs the CLI and checks the refusal: exit 1, one line naming <paramref name="file"/>, the run folder unchanged.</summary>
    private static string Refused(string folder, string file, params string[] args)
    {
        var before = TinyRuns.Snapshot(folder);
        var (code, _, err) = TinyRuns.Cli(args);
        TestContext.Out.WriteLine(err);
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.Contain(file));
        Assert.That(err, Does.Not.Contain("internal error"));
        var after = TinyRuns.Snapshot(folder);
        Assert.That(after.Keys, Is.EquivalentTo(before.Keys), "no file added or removed");
        foreach (var (name, bytes) in before) Assert.That(after[name], Is.EqualTo(bytes), $"{name} is unchanged");
        return err;
    }

    [Test]
    public void ResumeWithAnotherModelKindsCheckpointIsRefused()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan), other = TinyRun("wgan-gp", ModelFamily.WganGp);
        string checkpoint = Path.Combine(run, RunLayout.CheckpointFile);
        File.Copy(Path.Combine(other, RunLayout.CheckpointFile), checkpoint, overwrite: true);
        // The WGAN-GP critic has no batch norm: D.main.3 (BN) is missing, its final conv sits at D.main.4 instead of D.main.5.
        var err = Refused(run, checkpoint, "train", "--out", run, "--resume", "--steps", "2");
        Assert.That(err, Does.Contain("'D.main.3.weight'").And.Contain("'D.main.4.weight'"));
    }

    [Test]
    public void ResumeWithAWeightsOnlyFileOverTheCheckpointIsRefused()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan);
        string checkpoint = Path.Combine(run, RunLayout.CheckpointFile);
        File.Copy(Path.Combine(run, RunLayout.GeneratorFile), checkpoint, overwrite: true);
        var err = Refused(run, checkpoint, "train", "--out", run, "--resume", "--steps", "2");
        Assert.That(err, Does.Contain("weights-only").And.Contain("not a training checkpoint"));
    }

    [Test]
    public void ResumeAfterAnEditedConfigIsRefusedWithKeyAndShapes()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan);
        string config = Path.Combine(run, RunLayout.ConfigFile);
        var json = JsonNode.Parse(File.ReadAllText(config))!;
        json["width"] = 6;
        File.WriteAllText(config, json.ToJsonString());
        // G's first ConvT at 28×28: (nz 8, 4·width, 7, 7): 16 channels saved, 24 after the edit.
        var err = Refused(run, Path.Combine(run, RunLayout.CheckpointFile), "train", "--out", run, "--resume", "--steps", "2");
        Assert.That(err, Does.Contain("'G.main.0.weight'").And.Contain("(8, 16, 7, 7) in the file").And.Contain("expects (8, 24, 7, 7)"));
    }

    [Test]
    public void ResumeAfterAnEditedModelKindIsRefused()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan);
        string config = Path.Combine(run, RunLayout.ConfigFile);
        var json = JsonNode.Parse(File.ReadAllText(config))!;
        json["model"] = "wgan";
        File.WriteAllText(config, json.ToJsonString());
        // Same networks as dcgan; WGAN trains with RMSprop, the checkpoint holds Adam state.
        var err = Refused(run, Path.Combine(run, RunLayout.CheckpointFile), "train", "--out", run, "--resume", "--steps", "2");
        Assert.That(err, Does.Contain("Adam").And.Contain("RmsProp"));
    }

    [Test]
    public void SampleWithAGeneratorThatDoesNotFitItsRecordIsRefused()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan);
        string generator = Path.Combine(run, RunLayout.GeneratorFile);
        // Weights of width 4 under a record that says width 6 (a file edited or assembled by hand).
        var file = SafeTensors.Read(generator);
        var spec = GanSpec.FromJson(file.Metadata[GanSpec.MetadataKey], generator) with { GeneratorWidth = 6, DiscriminatorWidth = 6 };
        var metadata = new Dictionary<string, string>(file.Metadata) { [GanSpec.MetadataKey] = spec.ToJson() };
        SafeTensors.Write(generator, file.Tensors.Values, metadata);
        string output = Path.Combine(_root, "samples");
        var err = Refused(run, generator, "sample", "--checkpoint", generator, "--count", "8", "--out", output);
        Assert.That(err, Does.Contain("'main.0.weight'").And.Contain("(8, 16, 7, 7) in the file").And.Contain("expects (8, 24, 7, 7)"));
        Assert.That(Directory.Exists(output), Is.False, "nothing is written");

        // `sample --run` reads the same file.
        err = Refused(run, generator, "sample", "--run", run, "--out", output);
        Assert.That(err, Does.Contain("'main.0.weight'"));
    }

    [Test]
    public void SampleWithAFileWithoutArchitectureRecordIsRefused()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan);
        string generator = Path.Combine(run, RunLayout.GeneratorFile);
        var file = SafeTensors.Read(generator);
        string bare = Path.Combine(_root, "bare.safetensors");
        SafeTensors.Write(bare, file.Tensors.Values);   // as PyTorch would write it: tensors only
        var err = Refused(run, bare, "sample", "--checkpoint", bare, "--out", Path.Combine(_root, "samples"));
        Assert.That(err, Does.Contain("no architecture record"));
    }

    [Test]
    public void InvalidSavedConfigurationIsOneLine()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan);
        string config = Path.Combine(run, RunLayout.ConfigFile);
        string original = File.ReadAllText(config);
        var json = JsonNode.Parse(original)!;
        json["batch"] = -3;
        File.WriteAllText(config, json.ToJsonString());
        var (code, _, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "2");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.Contain(config).And.Contain("'batch'").And.Contain("-3"));

        File.WriteAllText(config, "{ \"model\": \"dcgan\", \"batch\": ");
        (code, _, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "2");
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.Contain(config).And.Contain("not a valid run configuration"));
    }

    // ------------------------------------------------------------ metrics.csv

    private sealed class Notices : ITrainingObserver
    {
        public readonly List<TrainingNotice> All = new();
        public void Started(TrainingStarted started) { }
        public void Step(StepMetrics metrics, long totalSteps) { }
        public void Notice(TrainingNotice notice) => All.Add(notice);
    }

    private static string[] RowsWithoutSpeed(string folder) => File.ReadAllLines(Path.Combine(folder, RunLayout.MetricsFile))
        .Select(l => string.Join(",", l.Split(',')[..^1])).ToArray();

    /// <summary>
    /// A run checkpointed at step 3 whose metrics.csv then got row 4 and part of row 5 (the disk filled while
    /// appending): resume drops both and continues exactly like an uninterrupted run.
    /// </summary>
    [Test]
    public void TornLastRowAndRowsPastTheCheckpointAreRepairedOnResume()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), straight, 6) with { CheckpointEvery = 3 });
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), split, 3) with { CheckpointEvery = 3 });
        var rows = File.ReadAllLines(Path.Combine(straight, RunLayout.MetricsFile));
        File.AppendAllText(Path.Combine(split, RunLayout.MetricsFile), rows[4] + "\n" + rows[5][..9]);

        var notices = new Notices();
        using (var trainer = Trainer.Resume(new ResumeOptions { Folder = split, Steps = 6, Device = DeviceKind.Cpu }, notices))
            trainer.Run();

        Assert.That(RowsWithoutSpeed(split), Is.EqualTo(RowsWithoutSpeed(straight)));
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        var repaired = notices.All.OfType<MetricsRepairedNotice>().Single();
        Assert.That((repaired.DroppedTornRow, repaired.DroppedRows, repaired.CheckpointStep), Is.EqualTo((true, 1, 3L)));
    }

    [Test]
    public void ADamagedRowBeforeTheLastIsRefusedNamingTheLine()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan, steps: 3);
        string metrics = Path.Combine(run, RunLayout.MetricsFile);
        var lines = File.ReadAllLines(metrics);
        lines[2] = "2,0,garbage";
        File.WriteAllText(metrics, string.Join("\n", lines) + "\n");
        var before = File.ReadAllBytes(metrics);
        var (code, _, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "4", "--threads", "1");
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.Contain(metrics + ":3"));
        Assert.That(File.ReadAllBytes(metrics), Is.EqualTo(before));
    }

    // ------------------------------------------------------------ temporary files (item 4)

    /// <summary>The id of a process that has exited (a finished `true`).</summary>
    private static int DeadProcessId()
    {
        using var p = System.Diagnostics.Process.Start("true")!;
        p.WaitForExit();
        return p.Id;
    }

    [Test]
    public void TemporaryFilesAreNamedSoOnlyOursAreRecognised()
    {
        string target = Path.Combine(_root, "x", "file.bin");
        AtomicFile.WriteAllBytes(target, [1, 2, 3]);
        Assert.That(File.ReadAllBytes(target), Is.EqualTo(new byte[] { 1, 2, 3 }));
        // A write that fails leaves the old file and no temporary file; one that is cut short (seen from inside) is named as ours.
        string? seen = null;
        Assert.Throws<IOException>(() => AtomicFile.Write(target, s =>
        {
            seen = Directory.GetFiles(Path.GetDirectoryName(target)!, "*", new EnumerationOptions { AttributesToSkip = 0 }).Single(f => f != target);
            s.WriteByte(9);
            throw new IOException("disk full (simulated)");
        }));
        Assert.That(File.ReadAllBytes(target), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(target)!, "*", new EnumerationOptions { AttributesToSkip = 0 }), Is.EqualTo(new[] { target }));
        Assert.That(AtomicFile.IsTemporaryFile(Path.GetFileName(seen!), out int pid), Is.True, seen);
        Assert.That(pid, Is.EqualTo(Environment.ProcessId));
        Assert.That(Path.GetFileName(seen!), Does.StartWith(".file.bin.").And.EndWith(AtomicFile.TemporarySuffix));

        foreach (var other in new[] { "file.tmp", ".file.bin.tmp", ".last.safetensors.0123456789abcdef0123456789abcdef.tmp",
                     ".curves.png.4242.0123456789abcdef0123456789abcdef.tmp", "notes.gpugan-tmp", ".a.12.0123456789ABCDEF0123456789ABCDEF.gpugan-tmp",
                     ".a.x12.0123456789abcdef0123456789abcdef.gpugan-tmp", ".a.12.0123456789abcdef0123456789abcdef.gpugan-tmp.bak" })
            Assert.That(AtomicFile.IsTemporaryFile(other, out _), Is.False, other);
    }

    /// <summary>
    /// Temporary files that killed writers left in the run folder, checkpoints/ and samples/ are removed when the run
    /// resumes; files that are not ours by name, and ours of a writer still running, are kept.
    /// </summary>
    [Test]
    public void StaleTemporaryFilesAreRemovedOnResumeAndOnlyThose()
    {
        string run = TinyRun("dcgan", ModelFamily.Dcgan);
        int dead = DeadProcessId();
        string Ours(string folder, string target, int pid) => Path.Combine(run, folder, $".{target}.{pid}.{Guid.NewGuid():N}{AtomicFile.TemporarySuffix}");
        string[] stale = [Ours("", "curves.png", dead), Ours("checkpoints", "last.safetensors", dead), Ours("samples", "step-000001.png", dead), Ours("", "generator.safetensors", dead)];
        string[] kept = [Ours("", "metrics.csv", Environment.ProcessId), Path.Combine(run, "notes.tmp"), Path.Combine(run, "checkpoints", ".last.safetensors.0123456789abcdef0123456789abcdef.tmp"),
            Path.Combine(run, "mine.gpugan-tmp")];
        foreach (var f in stale.Concat(kept)) File.WriteAllBytes(f, new byte[1000]);

        var notices = new Notices();
        using (var trainer = Trainer.Resume(new ResumeOptions { Folder = run, Steps = 2, Device = DeviceKind.Cpu }, notices))
            trainer.Run();

        foreach (var f in stale) Assert.That(File.Exists(f), Is.False, $"{f} is removed");
        foreach (var f in kept) Assert.That(File.Exists(f), Is.True, $"{f} is kept");
        var removed = notices.All.OfType<TemporaryFilesRemovedNotice>().Single();
        Assert.That(removed.Files, Is.EquivalentTo(stale));
    }

    [Test]
    public void ANewRunIntoAFolderHoldingOnlyStaleTemporaryFilesStartsAndCleansThem()
    {
        string run = Path.Combine(_root, "run");
        Directory.CreateDirectory(run);
        string stale = Path.Combine(run, $".config.json.{DeadProcessId()}.{Guid.NewGuid():N}{AtomicFile.TemporarySuffix}");
        File.WriteAllText(stale, "{ \"model\": ");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Gan, DataSource.Sines(16), run, 1));
        Assert.That(File.Exists(stale), Is.False);
        Assert.That(File.Exists(Path.Combine(run, RunLayout.GeneratorFile)));

        // Anything else in the folder still refuses a new run.
        string other = Path.Combine(_root, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "notes.tmp"), "mine");
        Assert.Throws<RunFolderExistsException>(() => TinyRuns.Train(TinyRuns.Options(ModelFamily.Gan, DataSource.Sines(16), other, 1)));
    }

    /// <summary>
    /// A run killed before its first checkpoint was complete (config.json and a metrics row, no checkpoint, no generator file)
    /// could neither resume ("no checkpoint") nor start again ("already holds a run"). Resume now starts it over from its saved
    /// configuration and ends where an uninterrupted run ends; a checkpoint removed from a run that had one is still refused.
    /// </summary>
    [Test]
    public void AResumeOfARunKilledBeforeItsFirstCheckpointStartsOver()
    {
        string straight = Path.Combine(_root, "straight"), killed = Path.Combine(_root, "killed");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), straight, 2));
        Directory.CreateDirectory(killed);
        File.Copy(Path.Combine(straight, RunLayout.ConfigFile), Path.Combine(killed, RunLayout.ConfigFile));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(killed, RunLayout.ConfigFile)))!;
        config["out"] = killed;
        File.WriteAllText(Path.Combine(killed, RunLayout.ConfigFile), config.ToJsonString());
        File.WriteAllLines(Path.Combine(killed, RunLayout.MetricsFile), File.ReadAllLines(Path.Combine(straight, RunLayout.MetricsFile))[..2]);
        File.WriteAllBytes(Path.Combine(killed, $".last.safetensors.{DeadProcessId()}.{Guid.NewGuid():N}{AtomicFile.TemporarySuffix}"), new byte[100]);

        var (code, output, err) = TinyRuns.Cli("train", "--out", killed, "--resume", "--device", "cpu");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("starting over from step 0"));
        Assert.That(output, Does.Contain("done: 2 steps"));
        Assert.That(File.ReadAllBytes(Path.Combine(killed, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        Assert.That(RowsWithoutSpeed(killed), Is.EqualTo(RowsWithoutSpeed(straight)));

        // A run whose checkpoint was removed while its generator file remains had a checkpoint: that is refused, not restarted.
        File.Delete(Path.Combine(killed, RunLayout.CheckpointFile));
        (code, _, err) = TinyRuns.Cli("train", "--out", killed, "--resume", "--device", "cpu", "--steps", "3");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("last.safetensors does not exist"));
    }
}
