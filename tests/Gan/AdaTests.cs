using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>
/// Adaptive augmentation (ADA): p moves by sign(r_t − target)·images/speed every 4 D steps and stays in [0, 1]; the signs
/// are summed on the device and read back once per adjustment (counted by the launch recorder on ilgpu-cpu); p and the
/// state between adjustments are saved, so a resumed run is bit-identical; metrics.csv gets augment_p (old files still
/// read); the command line takes --augment-p, --ada [TARGET] and --ada-speed.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class AdaTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-ada-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private static AdaptiveAugment Controller(Device device, double target = 0.6, double speed = 100) =>
        new(new DiffAugment(AugmentKinds.Color, new RandomStream(1), 0), new AdaOptions(target, speed), device);

    [Test]
    public void PMovesBySignTimesImagesOverSpeedEveryFourDSteps()
    {
        var ada = Controller(Device.Cpu);
        // 8 outputs per D step, 7 positive and 1 negative: r_t = 0.75 > 0.6, so p rises by 32 / 100 after the 4th step only.
        var outputs = Tensor.FromArray([3f, 1f, 0.5f, 2f, -1f, 4f, 0.1f, 7f], new Shape(8), Device.Cpu);
        for (int i = 0; i < 3; i++)
        {
            ada.Observe(outputs);
            Assert.That(ada.Augment.Probability, Is.EqualTo(0), $"no adjustment after {i + 1} steps");
        }
        ada.Observe(outputs);
        Assert.That(ada.LastSignMean, Is.EqualTo(0.75));
        Assert.That(ada.Augment.Probability, Is.EqualTo(0.32).Within(1e-12));
        for (int i = 0; i < 4 * 3; i++) ada.Observe(outputs);
        Assert.That(ada.Augment.Probability, Is.EqualTo(1), "clamped at 1");
        // Mostly negative outputs: r_t < target, p falls, clamped at 0.
        var negative = outputs.MulScalar(-1f);
        for (int i = 0; i < 4 * 5; i++) ada.Observe(negative);
        Assert.That(ada.LastSignMean, Is.EqualTo(-0.75));
        Assert.That(ada.Augment.Probability, Is.EqualTo(0));
    }

    [Test]
    public void SignsStayOnTheDeviceUntilTheAdjustment()
    {
        var device = Device.IlgpuCpu;
        var ada = Controller(device);
        var outputs = Tensor.FromArray([1f, -2f, 3f, 4f], new Shape(4, 1), device);
        var recorder = new LaunchRecorder();
        using (device.Attach(recorder))
        {
            for (int i = 0; i < 3; i++) ada.Observe(outputs);
            Assert.That(recorder.ReadBacks, Is.Empty, "steps 1-3: summed on the device, nothing read back");
            Assert.That(recorder.Syncs, Is.Empty);
            ada.Observe(outputs);
        }
        Assert.That(recorder.ReadBacks, Has.Count.EqualTo(1), "the 4th step reads the sum back once");
        Assert.That(ada.LastSignMean, Is.EqualTo(0.5));
    }

    [Test]
    public void StateRoundTripsAndIsCheckedOnLoad()
    {
        var a = Controller(Device.Cpu);
        var outputs = Tensor.FromArray([1f, 1f, -1f], new Shape(3), Device.Cpu);
        for (int i = 0; i < 6; i++) a.Observe(outputs);      // one adjustment, then 2 steps pending
        var meta = new Dictionary<string, string>();
        a.WriteState(meta);
        var b = Controller(Device.Cpu);
        b.ReadState(meta, "ckpt");
        Assert.That(b.Augment.Probability, Is.EqualTo(a.Augment.Probability));
        for (int i = 0; i < 2; i++) { a.Observe(outputs); b.Observe(outputs); }
        Assert.That(b.Augment.Probability, Is.EqualTo(a.Augment.Probability));
        Assert.That(b.LastSignMean, Is.EqualTo(a.LastSignMean), "the pending steps' signs were carried over");
        meta["ada.p"] = "1.5";
        Assert.Throws<GpuGan.Gan.RunFileException>(() => b.ReadState(meta, "ckpt"));
        meta.Remove("ada.p");
        Assert.That(Assert.Throws<GpuGan.Gan.RunFileException>(() => b.ReadState(meta, "ckpt"))!.Message, Does.Contain("ada.p"));
    }

    private TrainOptions Options(string folder, int steps) => TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(64), folder, steps) with
    {
        // A fast speed (24 images: p moves 16/24 per adjustment at batch 4) so p changes within the run.
        DiffAugment = AugmentKinds.Color | AugmentKinds.Translation | AugmentKinds.Cutout, Ada = new AdaOptions(0.6, 24), CheckpointEvery = 3,
    };

    [Test]
    public void ResumeIsBitIdenticalAndPGoesToMetrics()
    {
        // A checkpoint at step 3 falls between adjustments (every 4 D steps): the pending signs must be carried over.
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        TinyRuns.Train(Options(straight, 10));
        TinyRuns.Train(Options(split, 3));
        using (var t = Trainer.Resume(new ResumeOptions { Folder = split, Steps = 10, Device = DeviceKind.Cpu })) t.Run();
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        string Metrics(string run) => string.Join("\n", File.ReadAllLines(Path.Combine(run, RunLayout.MetricsFile)).Select(l => string.Join(",", l.Split(',')[..^1])));
        Assert.That(Metrics(split), Is.EqualTo(Metrics(straight)), "metrics.csv, p included (throughput aside)");

        var lines = File.ReadAllLines(Path.Combine(straight, RunLayout.MetricsFile));
        Assert.That(lines[0], Is.EqualTo(StepMetrics.Header));
        int column = Array.IndexOf(lines[0].Split(','), "augment_p");
        var p = lines.Skip(1).Select(l => double.Parse(l.Split(',')[column], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.That(p[..3], Is.All.EqualTo(0), "p starts at 0 and holds until the first adjustment at step 4");
        Assert.That(p.Distinct().Count(), Is.GreaterThan(1), "p moved");
        Assert.That(p, Is.All.InRange(0.0, 1.0));

        // A run without ADA writes the column empty.
        string plain = Path.Combine(_root, "plain");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(64), plain, 1));
        Assert.That(File.ReadAllLines(Path.Combine(plain, RunLayout.MetricsFile))[1].Split(',')[column], Is.Empty);
    }

    [Test]
    public void MetricsFilesWithoutTheColumnAreReadAndRewritten()
    {
        string path = Path.Combine(_root, "metrics.csv");
        File.WriteAllText(path, StepMetrics.HeaderWithoutAugmentP + "\n1,0,1.5,0.5,0.6,0.4,,2,3,,,,,,,,,10.0\n2,0,1.4,0.6,0.6,0.4,,2,3,,,,,,,,,10.0\n");
        using (var log = new MetricsLog(path, resumeStep: 1))
        {
            Assert.That(log.Rows, Has.Count.EqualTo(1));
            Assert.That(log.Rows[0].AugmentP, Is.NaN);
            Assert.That(log.Rows[0].DLoss, Is.EqualTo(1.5));
        }
        var lines = File.ReadAllLines(path);
        Assert.That(lines[0], Is.EqualTo(StepMetrics.Header));
        Assert.That(lines[1].Split(','), Has.Length.EqualTo(StepMetrics.Header.Split(',').Length));
    }

    [Test]
    public void TheCommandLineTakesAdaAndAFixedP()
    {
        string run = Path.Combine(_root, "run");
        var (code, output, err) = TinyRuns.Cli("train", "--image-size", "28", "--batch", "4", "--steps", "4", "--out", run, "--device", "cpu", "--threads", "1",
            "--augment", "color", "--ada", "--ada-speed", "32", "--log-every", "1");
        Assert.That(code, Is.EqualTo(0), err);
        string config = File.ReadAllText(Path.Combine(run, RunLayout.ConfigFile));
        Assert.That(config, Does.Contain("\"target\": 0.6").And.Contain("\"speed-images\": 32"));
        Assert.That(output, Does.Contain(" p 0.000"), "the console shows p");

        (code, _, err) = TinyRuns.Cli("train", "--image-size", "28", "--batch", "4", "--steps", "1", "--out", Path.Combine(_root, "fixed"), "--device", "cpu",
            "--threads", "1", "--augment", "cutout", "--augment-p", "0.25");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.ReadAllText(Path.Combine(_root, "fixed", RunLayout.ConfigFile)), Does.Contain("\"augment-probability\": 0.25"));
        Assert.That(File.ReadAllLines(Path.Combine(_root, "fixed", RunLayout.MetricsFile))[1], Does.Contain(",0.25,"));

        (code, _, err) = TinyRuns.Cli("train", "--steps", "1", "--out", Path.Combine(_root, "bad"), "--ada");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--ada").And.Contain("--augment"));
        (code, _, err) = TinyRuns.Cli("train", "--steps", "1", "--out", Path.Combine(_root, "bad2"), "--augment", "color", "--augment-p", "1.5");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--augment-p"));
        (code, _, err) = TinyRuns.Cli("train", "--steps", "1", "--out", Path.Combine(_root, "bad3"), "--augment", "color", "--ada", "1.5");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--ada"));
    }
}
