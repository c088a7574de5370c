using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Scoring;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Gan;

/// <summary>--eval-every: scores in metrics.csv, curves.png and the observer; resume stays exact.</summary>
[TestFixture, NonParallelizable]
public sealed class EvalEveryTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-eval-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private sealed class Notices : ITrainingObserver
    {
        public readonly List<TrainingNotice> All = new();
        public void Started(TrainingStarted started) { }
        public void Step(StepMetrics metrics, long totalSteps) { }
        public void Notice(TrainingNotice notice) => All.Add(notice);
    }

    private TrainOptions Options(string folder, int steps) => TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(64), folder, steps) with
    {
        CheckpointEvery = 2,
        Eval = new EvalOptions
        {
            Every = 2, Samples = 12, K = 5, KidSubsets = 3, KidSubsetSize = 1000, CacheFolder = Path.Combine(_root, "cache"),
            Features = new FeatureNetworkOptions { Width = 4, Steps = 10, Batch = 8, LearningRate = 1e-3f, Seed = 1 },
        },
    };

    private static string[] RowsWithoutSpeed(string folder) => File.ReadAllLines(Path.Combine(folder, RunLayout.MetricsFile))
        .Select(l => string.Join(",", l.Split(',')[..^1])).ToArray();

    [Test]
    public void ScoredStepsCarryTheirScoresEverywhere()
    {
        string run = Path.Combine(_root, "run");
        var notices = new Notices();
        TinyRuns.Train(Options(run, 4), notices);
        var lines = File.ReadAllLines(Path.Combine(run, RunLayout.MetricsFile));
        Assert.That(lines[0], Is.EqualTo(StepMetrics.Header));
        var rows = lines.Skip(1).Select((l, i) => StepMetrics.Parse(l, "metrics.csv", i + 2)).ToList();
        Assert.That(rows.Select(r => double.IsFinite(r.Fd)), Is.EqualTo(new[] { false, true, false, true }));
        Assert.That(rows.Where(r => r.Step % 2 == 0).Select(r => r.Kid), Has.All.Not.NaN);
        Assert.That(rows.Where(r => r.Step % 2 == 0).Select(r => r.Coverage), Has.All.InRange(0.0, 1.0));
        Assert.That(notices.All.OfType<FeatureNetworkNotice>().Count(), Is.EqualTo(1));
        Assert.That(notices.All.OfType<ScoresNotice>().Select(s => s.Step), Is.EqualTo(new long[] { 2, 4 }));
        using var curves = Image.Load<Rgb24>(Path.Combine(run, RunLayout.CurvesFile));
        Assert.That(curves.Height, Is.EqualTo(3 * 360), "a third panel for the scores");
    }

    [Test]
    public void ResumeWithScoresGivesTheSameRows()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        TinyRuns.Train(Options(straight, 4));
        TinyRuns.Train(Options(split, 2));
        using (var t = Trainer.Resume(new ResumeOptions { Folder = split, Steps = 4, Device = DeviceKind.Cpu })) t.Run();
        Assert.That(RowsWithoutSpeed(split), Is.EqualTo(RowsWithoutSpeed(straight)));
    }

    [Test]
    public void DataThatCannotBeScoredIsRefusedBeforeTraining()
    {
        var options = Options(Path.Combine(_root, "sines"), 2) with { Model = ModelFamily.Gan, Data = DataSource.Sines(64), ImageSize = null };
        Assert.Throws<ScoringNotSupportedException>(() => Trainer.Start(options).Dispose());
        Assert.That(Directory.Exists(Path.Combine(_root, "sines")), Is.False, "nothing written");
    }

    [Test]
    public void OlderMetricsFilesStillParse()
    {
        var eleven = StepMetrics.Parse("3,0,1,2,0.5,0.4,,0.1,0.2,,12.5", "m", 2);
        Assert.That((eleven.Step, eleven.ImagesPerSecond, double.IsNaN(eleven.Fd)), Is.EqualTo((3L, 12.5, true)));
        var row = new StepMetrics { Step = 4, DLoss = 1, Fd = 2.5, Kid = 0.25, KidStd = 0.125, Precision = 0.5, Recall = 0.75, Density = 1, Coverage = 0.5, ImagesPerSecond = 3 };
        var back = StepMetrics.Parse(row.ToCsv(), "m", 2);
        Assert.That((back.Fd, back.Kid, back.KidStd, back.Precision, back.Recall, back.Density, back.Coverage, back.ImagesPerSecond),
            Is.EqualTo((2.5, 0.25, 0.125, 0.5, 0.75, 1.0, 0.5, 3.0)));
    }

    [Test]
    public void TheCommandLineSavesEvalEveryInTheConfiguration()
    {
        string run = Path.Combine(_root, "cli");
        var (code, _, err) = TinyRuns.Cli("train", "--image-size", "28", "--batch", "4", "--steps", "1", "--out", run, "--device", "cpu", "--threads", "1", "--eval-every", "1000");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.ReadAllText(Path.Combine(run, RunLayout.ConfigFile)), Does.Contain("\"every\": 1000"));
        (code, _, err) = TinyRuns.Cli("train", "--steps", "1", "--out", Path.Combine(_root, "bad"), "--eval-every", "0");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--eval-every"));
    }
}
