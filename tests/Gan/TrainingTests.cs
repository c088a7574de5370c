using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using GpuGan.Tests.Data;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

[TestFixture, NonParallelizable]
public sealed class TrainingTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-train-").FullName;

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private sealed class Rows : ITrainingObserver
    {
        public readonly List<StepMetrics> Steps = new();
        public readonly List<TrainingNotice> Notices = new();
        public void Started(TrainingStarted started) { }
        public void Step(StepMetrics metrics, long totalSteps) => Steps.Add(metrics);
        public void Notice(TrainingNotice notice) => Notices.Add(notice);
    }

    private static TrainOptions SmallDcgan(string outDir, int steps) => new()
    {
        Model = ModelFamily.Dcgan, Data = DataSource.Petri(64), ImageSize = 32, Width = 8, Batch = 8, Steps = steps, Seed = 5, Device = DeviceKind.Cpu,
        Out = outDir, SampleEvery = 3, CheckpointEvery = 3, LatentDim = 16, Threads = 2,
    };

    private static TrainResult Train(TrainOptions options, ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        using var trainer = Trainer.Start(options, observer);
        return trainer.Run(cancel);
    }

    private static TrainResult Resume(string folder, int steps)
    {
        using var trainer = Trainer.Resume(new ResumeOptions { Folder = folder, Steps = steps, Device = DeviceKind.Cpu });
        return trainer.Run();
    }

    private static string[] MetricRowsWithoutSpeed(string folder) => File.ReadAllLines(Path.Combine(folder, RunLayout.MetricsFile))
        .Select(l => string.Join(",", l.Split(',')[..^1])).ToArray();

    [Test]
    public void ResumedRunMatchesUninterruptedRunBitForBit()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        Train(SmallDcgan(straight, 6));
        Train(SmallDcgan(split, 3));
        Resume(split, 6);   // the saved configuration (seed, sizes, threads) wins; only the length changes

        var a = MetricRowsWithoutSpeed(straight);
        var b = MetricRowsWithoutSpeed(split);
        Assert.That(a, Has.Length.EqualTo(7), "header + 6 rows");
        Assert.That(b, Is.EqualTo(a), "metrics rows (all columns but images/s, which is a timing)");
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))),
            "generator weights must be bit-identical");
        Assert.That(File.Exists(Path.Combine(split, "samples", "step-000006.png")));
        Assert.That(File.Exists(Path.Combine(split, "curves.png")));
    }

    [Test]
    public void CancelledRunSavesACheckpointThatResumes()
    {
        string folder = Path.Combine(_root, "cancel");
        using var cts = new CancellationTokenSource();
        var observer = new CancelAfter(cts, 2);
        var result = Train(SmallDcgan(folder, 6), observer, cts.Token);
        Assert.That((result.Interrupted, result.Step), Is.EqualTo((true, 2L)), "interrupted at step 2");
        Resume(folder, 4);
        Assert.That(File.ReadAllLines(Path.Combine(folder, RunLayout.MetricsFile)), Has.Length.EqualTo(5));
    }

    private sealed class CancelAfter(CancellationTokenSource cts, int steps) : ITrainingObserver
    {
        public void Started(TrainingStarted started) { }
        public void Step(StepMetrics metrics, long totalSteps) { if (metrics.Step >= steps) cts.Cancel(); }
        public void Notice(TrainingNotice notice) { }
    }

    [Test]
    public void ExistingRunIsNeverOverwritten()
    {
        string folder = Path.Combine(_root, "existing");
        Train(SmallDcgan(folder, 1));
        var before = File.ReadAllBytes(Path.Combine(folder, RunLayout.GeneratorFile));
        var ex = Assert.Throws<RunFolderExistsException>(() => Train(SmallDcgan(folder, 1)));
        Assert.That(ex!.Message, Does.Contain("already holds a run"));
        Assert.That(File.ReadAllBytes(Path.Combine(folder, RunLayout.GeneratorFile)), Is.EqualTo(before));
    }

    [Test]
    public void DivergenceStopsWithTheStepAndKeepsTheCheckpoint()
    {
        string folder = Path.Combine(_root, "nan");
        // A learning rate of 1e30 throws the weights to ±1e30 at once; the products overflow a step later.
        var options = SmallDcgan(folder, 20) with { Lr = 1e30f, CheckpointEvery = 1 };
        var ex = Assert.Throws<TrainingDivergedException>(() => Train(options));
        TestContext.Out.WriteLine(ex!.Message);
        Assert.That(ex.Message, Does.Match("step [0-9]+"));
        string checkpoint = Path.Combine(folder, RunLayout.CheckpointFile);
        if (ex.Message.Contains("last good checkpoint"))
        {
            // The kept checkpoint is readable and holds finite weights.
            var file = GpuGan.Layers.Serialization.SafeTensors.Read(checkpoint);
            foreach (var (name, entry) in file.Tensors.Where(t => t.Key.StartsWith("G.", StringComparison.Ordinal) && t.Value.Dtype == GpuGan.Layers.Serialization.SafeTensorDtype.F32))
                Assert.That(entry.ToFloat32Array().All(float.IsFinite), name);
        }
        Assert.That(File.ReadAllLines(Path.Combine(folder, RunLayout.MetricsFile)).Skip(1).All(l => !l.Contains("NaN")), "no NaN row is logged");
    }

    /// <summary>
    /// `sines` + `gan` learns: most generated curves are close to some y = sin(b·x + c), and the fitted
    /// b and c are spread over their intervals (many curves, not one).
    /// </summary>
    [Test]
    public void SinesGanLearnsSineCurves()
    {
        string folder = Path.Combine(_root, "sines");
        var options = new TrainOptions
        {
            Model = ModelFamily.Gan, Data = DataSource.Sines(4096), Steps = 1500, Batch = 64, Seed = 3, Device = DeviceKind.Cpu, Out = folder,
            SampleEvery = 100000, CheckpointEvery = 100000, LatentDim = 16, Width = 64, Threads = 2,
            Lr = 1e-3f,
        };
        Train(options);
        var curves = Generate(folder, 200);
        var fits = curves.Select(c => SineFit.Fit(c)).ToArray();
        double good = fits.Count(f => f.RmsResidual < 0.12) / (double)fits.Length;
        var bs = fits.Where(f => f.RmsResidual < 0.12).Select(f => f.B).ToArray();
        var cs = fits.Where(f => f.RmsResidual < 0.12).Select(f => f.C).ToArray();
        TestContext.Out.WriteLine($"good {good:P0}; b in [{bs.DefaultIfEmpty().Min():F2}, {bs.DefaultIfEmpty().Max():F2}] std {Std(bs):F3}; c std {Std(cs):F3}");
        Assert.That(good, Is.GreaterThan(0.7), "most generated curves must fit a sine with small residual");
        Assert.That(Std(bs), Is.GreaterThan(0.15), "fitted frequencies must be spread (U[0.5, 2] has std 0.43)");
        Assert.That(bs.Max() - bs.Min(), Is.GreaterThan(0.6));
    }

    private static float[][] Generate(string folder, int count)
    {
        var outDir = Path.Combine(folder, "gen");
        var sampler = Sampler.Load(Path.Combine(folder, RunLayout.GeneratorFile), Device.Cpu);
        SampleWriter.Write(sampler.Generate(count, seed: 77), outDir, SampleFormat.Png);
        return File.ReadAllLines(Path.Combine(outDir, "curves.csv")).Skip(1)
            .Select(l => l.Split(',').Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
    }

    private static double Std(double[] v)
    {
        if (v.Length < 2) return 0;
        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length);
    }

    /// <summary>
    /// DCGAN at 28×28 on 3000 Fashion-MNIST images improves on an honest, classifier-free statistic:
    /// the mean distance from each generated image to its nearest real image (1000 held-out real images),
    /// compared with the same statistic for the untrained generator and for real images themselves.
    /// </summary>
    [Test]
    public void DcganOnFashionMnistImprovesNearestNeighbourDistance()
    {
        if (!Directory.Exists(IdxDataset.FashionMnistDirectory))
            Assert.Ignore($"Fashion-MNIST is not installed at {IdxDataset.FashionMnistDirectory} (apt-get install dataset-fashion-mnist)");
        string folder = Path.Combine(_root, "fmnist");
        var options = new TrainOptions
        {
            Model = ModelFamily.Dcgan, Data = DataSource.FashionMnist(), Limit = 3000, Steps = 160, Batch = 32, Width = 16, Seed = 2, Device = DeviceKind.Cpu,
            Out = folder, SampleEvery = 160, CheckpointEvery = 160, LatentDim = 32, Threads = 2,
        };
        var test = IdxDataset.Load(IdxDataset.FashionMnistDirectory, train: false, limit: 1000);
        var real = test.CopySamples(0, 1000);

        var spec = GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(1, 28, 28), 32, 16, 10);
        var untrained = GanModel.Create(spec, options.Seed, Device.Cpu);
        double before = NearestDistance(GenerateImages(untrained, 64), real);
        Train(options);
        var trained = GanModel.Create(spec, options.Seed, Device.Cpu);
        GpuGan.Layers.Serialization.Checkpoint.LoadModule(Path.Combine(folder, RunLayout.GeneratorFile), trained.G);
        double after = NearestDistance(GenerateImages(trained, 64), real);
        var train = IdxDataset.Load(IdxDataset.FashionMnistDirectory, train: true, limit: 64);
        double realBaseline = NearestDistance(train.CopySamples(0, 64), real);
        TestContext.Out.WriteLine($"nearest-real distance: untrained {before:F2}, trained {after:F2}, real images {realBaseline:F2}");
        // Real images sit at realBaseline; pure noise-like output far above. A third of that gap in 160 small steps is clear progress.
        Assert.That(after, Is.LessThan(before - (before - realBaseline) / 3), "training must close at least a third of the gap to real images");
    }

    private static float[] GenerateImages(GanModel model, int n)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        model.G.Eval();
        return model.G.Generate(Tensor.RandN(model.G.LatentShape(n), new RandomStream(99)), null).ToArray();
    }

    private static double NearestDistance(float[] images, float[] reference)
    {
        int len = 28 * 28, n = images.Length / len, m = reference.Length / len;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double best = double.MaxValue;
            for (int j = 0; j < m; j++)
            {
                double d = 0;
                for (int k = 0; k < len; k++) { double t = images[i * len + k] - reference[j * len + k]; d += t * t; }
                best = Math.Min(best, d);
            }
            total += Math.Sqrt(best);
        }
        return total / n;
    }
}
