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
        // Two good steps (a checkpoint after each), then the run resumes with the optimisers' learning rate, which the
        // checkpoint carries, set to 1e30: the first resumed step throws the weights to ±1e30 and the products overflow.
        // (A fresh run with lr 1e30 diverges in its very first step, before any checkpoint exists; an lr tuned to
        // diverge a few steps in sits on a knife edge: 2e12 diverges at step 16, 4e12 at step 1.)
        Train(SmallDcgan(folder, 2) with { CheckpointEvery = 1 });
        string checkpoint = Path.Combine(folder, RunLayout.CheckpointFile);
        var good = GpuGan.Layers.Serialization.SafeTensors.Read(checkpoint);
        var lrKeys = good.Metadata.Keys.Where(k => k.EndsWith(".lr", StringComparison.Ordinal)).ToArray();
        Assert.That(lrKeys, Is.Not.Empty, "the checkpoint carries the optimisers' learning rates");
        var metadata = good.Metadata.ToDictionary(kv => kv.Key, kv => lrKeys.Contains(kv.Key) ? "1e30" : kv.Value);
        GpuGan.Layers.Serialization.SafeTensors.Write(checkpoint, good.Tensors.Values, metadata);
        var kept = File.ReadAllBytes(checkpoint);
        var ex = Assert.Throws<TrainingDivergedException>(() => Resume(folder, 20));
        TestContext.Out.WriteLine(ex!.Message);
        Assert.That(ex.Message, Does.Match("step [0-9]+"));
        // Unconditionally: the last good checkpoint is kept (byte for byte), named in the message, readable, from the last
        // good step, with finite weights.
        Assert.That(File.ReadAllBytes(checkpoint), Is.EqualTo(kept), "the checkpoint is not overwritten by the diverged step");
        Assert.That(ex.KeptCheckpoint, Is.EqualTo(checkpoint), "the exception names the kept checkpoint");
        Assert.That(ex.Message, Does.Contain("last good checkpoint"));
        var file = GpuGan.Layers.Serialization.SafeTensors.Read(checkpoint);
        long savedStep = file.Tensors["train.step"].ToInt64Array()[0];
        Assert.That(ex.Step, Is.EqualTo(3), "the first resumed step diverges");
        Assert.That(savedStep, Is.EqualTo(2), "the checkpoint kept is the last good one, from step 2");
        var weights = file.Tensors.Where(t => (t.Key.StartsWith("G.", StringComparison.Ordinal) || t.Key.StartsWith("D.", StringComparison.Ordinal))
            && t.Value.Dtype == GpuGan.Layers.Serialization.SafeTensorDtype.F32).ToArray();
        Assert.That(weights, Is.Not.Empty, "the checkpoint holds G's and D's weights");
        foreach (var (name, entry) in weights)
            Assert.That(entry.ToFloat32Array().All(float.IsFinite), name);
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
    /// DCGAN at 28×28 on 3000 Fashion-MNIST images improves on two honest, classifier-free statistics of 64 samples:
    /// quality, the mean distance from each generated image to its nearest real image (1000 held-out real images),
    /// compared with the same statistic for the untrained generator and for 64 real training images; and diversity,
    /// the mean pairwise distance between the generated images relative to that between 64 real images, so a
    /// generator that outputs one good image (nearest-real distance small, pairwise distance 0) fails.
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
        var before = GenerateImages(untrained, 64);
        Train(options);
        var trained = GanModel.Create(spec, options.Seed, Device.Cpu);
        GpuGan.Layers.Serialization.Checkpoint.LoadModule(Path.Combine(folder, RunLayout.GeneratorFile), trained.G);
        var after = GenerateImages(trained, 64);
        var train = IdxDataset.Load(IdxDataset.FashionMnistDirectory, train: true, limit: 64).CopySamples(0, 64);

        double nnBefore = NearestDistance(before, real), nnAfter = NearestDistance(after, real), nnReal = NearestDistance(train, real);
        double spreadReal = MeanPairwiseDistance(train);
        double diversityBefore = MeanPairwiseDistance(before) / spreadReal, diversityAfter = MeanPairwiseDistance(after) / spreadReal;
        double closed = (nnBefore - nnAfter) / (nnBefore - nnReal);
        TestContext.Out.WriteLine($"nearest-real distance: untrained {nnBefore:F3}, trained {nnAfter:F3}, real images {nnReal:F3} (gap closed {closed:P1}); " +
            $"pairwise distance / real images': untrained {diversityBefore:F3}, trained {diversityAfter:F3} (real {spreadReal:F3})");
        Assert.That(closed, Is.GreaterThan(ClosedGapBar), "training must close the gap to real images");
        Assert.That(diversityAfter, Is.GreaterThan(DiversityBar), "generated images must be about as spread as real ones (no collapse to a few images)");
    }

    // The bars, fixed with the first principled run of this test (the configuration above, unchanged since; never lower them):
    //   ClosedGapBar 1/3: the share of the nearest-real gap (untrained → real images) training must close; the bar the
    //     test already had (it had been lowered from 1/2 before); kept, not lowered again.
    //   DiversityBar 0.5: chosen before the run from the statistic's meaning: generated images less than half as far
    //     apart as real images are collapsing onto a few modes (one repeated image scores 0; the untrained G, nearly
    //     constant, scores 0.005).
    // First run (2 threads, AVX-512 machine): gap closed 38.9 % (untrained 15.506, trained 13.153, real 9.457);
    // diversity 0.544 (untrained 0.005, real images' mean pairwise distance 22.78). Both margins are thin: a change
    // that makes this fail is a change in what 160 steps of training achieve, not noise (the run is deterministic).
    private const double ClosedGapBar = 1.0 / 3, DiversityBar = 0.5;

    /// <summary>Mean L2 distance over all pairs of the images (28×28 each).</summary>
    private static double MeanPairwiseDistance(float[] images)
    {
        int len = 28 * 28, n = images.Length / len;
        double total = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double d = 0;
                for (int k = 0; k < len; k++) { double t = images[i * len + k] - images[j * len + k]; d += t * t; }
                total += Math.Sqrt(d);
            }
        return total / (n * (n - 1) / 2.0);
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
