using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>The moving average of the generator's weights (--ema): the update, batch-norm statistics, checkpoints, exact resume, sampling.</summary>
[TestFixture, NonParallelizable]
public sealed class EmaTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-ema-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private static TrainOptions Small(string outDir, int steps, double? ema = 0.9, EmaWarmup? warmup = null) => new()
    {
        Model = ModelFamily.Dcgan, Data = DataSource.Petri(64), ImageSize = 32, Width = 8, Batch = 8, Steps = steps, Seed = 5, Device = DeviceKind.Cpu,
        Out = outDir, SampleEvery = 3, CheckpointEvery = 3, LatentDim = 16, Threads = 2, Ema = ema, EmaWarmup = warmup,
    };

    /// <summary>The warm-ups as their sources write them, in float64 (TensorFlow; StyleGAN2-ADA's training_loop.py at batch 64).</summary>
    private static double ReferenceDecay(double beta, EmaWarmup warmup, long t)
    {
        switch (warmup)
        {
            case EmaWarmup.NumUpdates:
                return Math.Min(beta, (1.0 + t) / (10.0 + t));
            case EmaWarmup.Rampup:
                const int batch = 64;
                double emaNimg = batch * Math.Log(0.5) / Math.Log(beta);   // the cap's half-life in images (ema_kimg · 1000)
                double nimg = Math.Min(emaNimg, t * batch * 0.05);          // cur_nimg · ema_rampup
                return Math.Pow(0.5, batch / Math.Max(nimg, 1e-8));
            default:
                return beta;
        }
    }

    [TestCase(0L), TestCase(1L), TestCase(9L), TestCase(150L), TestCase(3000L), TestCase(3124L), TestCase(3126L), TestCase(20_000L)]
    public void TheWarmUpDecaysAreTensorFlowsAndStyleGan2Adas(long t)
    {
        foreach (double beta in new[] { 0.999, 0.995574, 0.9 })
            foreach (var warmup in Enum.GetValues<EmaWarmup>())
                Assert.That(EmaSchedule.Decay(beta, warmup, t), Is.EqualTo(ReferenceDecay(beta, warmup, t)).Within(1e-12), $"{warmup}, β {beta}");
        Assert.That(EmaSchedule.Decay(0.999, EmaWarmup.Rampup, 0), Is.Zero, "the first update copies G");
        Assert.That(EmaSchedule.Decay(0.999, EmaWarmup.NumUpdates, 0), Is.EqualTo(0.1));
    }

    [TestCase(EmaWarmup.NumUpdates, 0.2), TestCase(EmaWarmup.Rampup, 0.009)]
    public void TheAverageWithAWarmUpFollowsAFloat64Reference(EmaWarmup warmup, double cap)
    {
        // Caps low enough that the warm-up gives way to the cap within four steps (num-updates at t = 2, rampup at t = 3: 0.5^(20/3) = 0.0098).
        var spec = GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(3, 32, 32), 16, 8, 0);
        var model = GanModel.Create(spec, 3, Device.Cpu, emaDecay: cap, emaWarmup: warmup);
        var reference = model.G.NamedParameters().Select(p => p.Value.ToArray().Select(v => (double)v).ToArray()).ToList();
        var data = new PetriDataset(16, 32, 1);
        var real = Tensor.FromArray(data.CopySamples(0, 8), new Shape(8, 3, 32, 32), Device.Cpu);
        var noise = new RandomStream(9);
        var decays = new List<double>();
        for (long t = 0; t < 4; t++)
        {
            using (TensorScope.Begin()) model.TrainStep(() => (real, new int[8]), noise);
            double beta = ReferenceDecay(cap, warmup, t);
            decays.Add(beta);
            var g = model.G.NamedParameters().Select(p => p.Value.ToArray()).ToList();
            for (int i = 0; i < g.Count; i++)
                for (int j = 0; j < g[i].Length; j++) reference[i][j] = beta * reference[i][j] + (1 - beta) * g[i][j];
        }
        Assert.That(decays[^1], Is.EqualTo(cap), "the cap is reached");
        Assert.That(decays[0], Is.LessThan(cap));
        Assert.That(model.EmaUpdates, Is.EqualTo(4));
        var ema = model.GEma!.NamedParameters().Select(p => p.Value.ToArray()).ToList();
        for (int i = 0; i < ema.Count; i++)
            for (int j = 0; j < ema[i].Length; j++)
                Assert.That(ema[i][j], Is.EqualTo(reference[i][j]).Within(1e-6 + 1e-5 * Math.Abs(reference[i][j])), $"parameter {i}[{j}]");
    }

    [Test]
    public void ResumeWithAWarmUpIsBitIdenticalAndTheCountIsSaved()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split"), plain = Path.Combine(_root, "plain");
        using (var t = Trainer.Start(Small(straight, 6, warmup: EmaWarmup.Rampup))) t.Run();
        using (var t = Trainer.Start(Small(split, 3, warmup: EmaWarmup.Rampup))) t.Run();
        Assert.That(SafeTensors.Read(Path.Combine(split, RunLayout.CheckpointFile)).Metadata[GanModel.EmaUpdatesMetadataKey], Is.EqualTo("3"));
        using (var t = Trainer.Resume(new ResumeOptions { Folder = split, Steps = 6, Device = DeviceKind.Cpu })) t.Run();
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        var checkpoint = SafeTensors.Read(Path.Combine(straight, RunLayout.CheckpointFile));
        var resumed = SafeTensors.Read(Path.Combine(split, RunLayout.CheckpointFile));
        foreach (var (key, entry) in checkpoint.Tensors)
            Assert.That(resumed.Tensors[key].Data.ToArray(), Is.EqualTo(entry.Data.ToArray()), key);
        Assert.That(resumed.Metadata[GanModel.EmaUpdatesMetadataKey], Is.EqualTo("6"));
        var generatorFile = SafeTensors.Read(Path.Combine(straight, RunLayout.GeneratorFile));
        Assert.That(generatorFile.Metadata[GanModel.EmaWarmupMetadataKey], Is.EqualTo("rampup"));
        Assert.That(File.ReadAllText(Path.Combine(straight, RunLayout.ConfigFile)), Does.Contain("\"ema-warmup\": \"rampup\""));
        // The warm-up is applied: the same run without it ends with another average (and the same trained weights).
        using (var t = Trainer.Start(Small(plain, 6))) t.Run();
        var without = SafeTensors.Read(Path.Combine(plain, RunLayout.CheckpointFile));
        bool Same(string key) => without.Tensors[key].Data.ToArray().SequenceEqual(checkpoint.Tensors[key].Data.ToArray());
        Assert.That(without.Tensors.Keys.Where(k => k.StartsWith("G_ema.", StringComparison.Ordinal) && k.EndsWith(".weight", StringComparison.Ordinal)).Any(k => !Same(k)), "another average");
        Assert.That(without.Tensors.Keys.Where(k => k.StartsWith("G.", StringComparison.Ordinal)).All(Same), "the same training");
        Assert.That(SafeTensors.Read(Path.Combine(plain, RunLayout.GeneratorFile)).Metadata.ContainsKey(GanModel.EmaWarmupMetadataKey), Is.False);
    }

    [Test]
    public void AWarmUpNeedsAnAverage() =>
        Assert.Throws<InvalidOptionException>(() => Small(Path.Combine(_root, "x"), 1, ema: null, warmup: EmaWarmup.Rampup).Validate());

    [Test]
    public void OneStepMovesTheAverageByOneMinusDecayAndLeavesBatchNormStatisticsToTheEstimate()
    {
        var spec = GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(3, 32, 32), 16, 8, 0);
        var model = GanModel.Create(spec, 3, Device.Cpu, emaDecay: 0.75);
        var before = model.G.NamedParameters().Select(p => p.Value.ToArray()).ToList();
        Assert.That(model.GEma!.NamedParameters().Select(p => p.Value.ToArray()), Is.EqualTo(before), "the average starts at G's weights");
        var data = new PetriDataset(16, 32, 1);
        var real = Tensor.FromArray(data.CopySamples(0, 8), new Shape(8, 3, 32, 32), Device.Cpu);
        using (TensorScope.Begin()) model.TrainStep(() => (real, new int[8]), new RandomStream(9));
        var after = model.G.NamedParameters().Select(p => p.Value.ToArray()).ToList();
        var ema = model.GEma.NamedParameters().Select(p => p.Value.ToArray()).ToList();
        for (int i = 0; i < before.Count; i++)
            for (int j = 0; j < before[i].Length; j++)
                Assert.That(ema[i][j], Is.EqualTo(0.75 * before[i][j] + 0.25 * after[i][j]).Within(1e-6 + 1e-5 * Math.Abs(after[i][j])), $"parameter {i}[{j}]");
        Assert.That(after.Zip(before).Any(p => !p.First.SequenceEqual(p.Second)), "G trained");
        var gBuffers = model.G.NamedBuffers().Select(b => b.Value.ToArray()).ToList();
        Assert.That(gBuffers, Is.Not.Empty);
        Assert.That(model.GEma.NamedBuffers().Select(b => b.Value.ToArray()), Is.Not.EqualTo(gBuffers), "G's batch-norm statistics are not copied");
        model.RefreshEmaStatistics();
        Assert.That(model.GEma.Modules().OfType<GpuGan.Layers.BatchNorm2d>().Select(b => b.NumBatchesTracked), Has.All.EqualTo(StandingStatistics.Batches));
        Assert.That(model.GEma.IsTraining, Is.False);
    }

    /// <summary>A DCGAN-28 generator with random γ, β and nonsense running statistics (so the reset and the affine matter).</summary>
    private static Generator Perturbed(GanSpec spec)
    {
        var g = GanModel.CreateGenerator(spec, Device.Cpu);
        var r = new RandomStream(17);
        foreach (var bn in g.Modules().OfType<GpuGan.Layers.BatchNorm2d>())
        {
            bn.Weight!.CopyFrom(Tensor.RandN(bn.Weight.Shape, r, Device.Cpu).MulScalar(0.3f).AddScalar(1f));
            bn.Bias!.CopyFrom(Tensor.RandN(bn.Bias.Shape, r, Device.Cpu).MulScalar(0.2f));
            bn.RunningMean!.Fill(3f);
            bn.RunningVar!.Fill(7f);
        }
        return g;
    }

    [Test]
    public void ReestimatedStatisticsAreTheMeanAndVarianceOfTheGeneratorsOwnActivations()
    {
        const int batches = 3, size = 8;
        var spec = GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(1, 28, 28), 16, 8, 0);
        var g = Perturbed(spec);
        // Reference: the same weights, layer by layer in training mode (batch statistics), each batch-norm input's
        // per-channel mean and unbiased variance in float64, averaged over the batches.
        var copy = GanModel.CreateGenerator(spec, Device.Cpu);
        copy.LoadStateDict(g.StateDict());
        copy.Train();
        var layers = copy.Main.Layers;
        var sums = new Dictionary<int, (double[] Mean, double[] Var)>();
        var stream = StandingStatistics.LatentStream();
        using (Autograd.NoGrad())
            for (int k = 0; k < batches; k++)
            {
                using var scope = TensorScope.Begin();
                var x = copy.SampleLatent(size, stream, Device.Cpu);
                for (int i = 0; i < layers.Count; i++)
                {
                    if (layers[i] is GpuGan.Layers.BatchNorm2d)
                    {
                        int n = x.Shape[0], c = x.Shape[1], hw = x.Shape[2] * x.Shape[3];
                        var v = x.ToArray();
                        if (!sums.ContainsKey(i)) sums[i] = (new double[c], new double[c]);
                        for (int ch = 0; ch < c; ch++)
                        {
                            double sum = 0, sq = 0;
                            for (int s = 0; s < n; s++) for (int j = 0; j < hw; j++) sum += v[(s * c + ch) * hw + j];
                            double mean = sum / (n * hw);
                            for (int s = 0; s < n; s++) for (int j = 0; j < hw; j++) sq += Math.Pow(v[(s * c + ch) * hw + j] - mean, 2);
                            sums[i].Mean[ch] += mean / batches;
                            sums[i].Var[ch] += sq / (n * hw - 1) / batches;
                        }
                    }
                    x = layers[i].Forward(x);
                }
            }

        Assert.That(StandingStatistics.Estimate(g, Device.Cpu, batches, size), Is.True);
        Assert.That(g.IsTraining, Is.False);
        Assert.That(sums.Keys, Has.Count.EqualTo(2), "DCGAN-28's generator has two batch-norm layers");
        foreach (var (i, (mean, variance)) in sums)
        {
            var bn = (GpuGan.Layers.BatchNorm2d)g.Main.Layers[i];
            Assert.That((bn.NumBatchesTracked, bn.CumulativeAverage), Is.EqualTo(((long)batches, false)));
            var m = bn.RunningMean!.ToArray();
            var s = bn.RunningVar!.ToArray();
            for (int ch = 0; ch < mean.Length; ch++)
            {
                Assert.That(m[ch], Is.EqualTo(mean[ch]).Within(1e-5 + 1e-4 * Math.Abs(mean[ch])), $"layer {i} mean[{ch}]");
                Assert.That(s[ch], Is.EqualTo(variance[ch]).Within(1e-5 + 1e-4 * variance[ch]), $"layer {i} variance[{ch}]");
            }
        }
    }

    [Test]
    public void TheEstimateIsDeterministicAndIgnoresTheOldStatistics()
    {
        var spec = GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(1, 28, 28), 16, 8, 0);
        var g = Perturbed(spec);
        StandingStatistics.Estimate(g, Device.Cpu, 4, 8);
        var first = g.NamedBuffers().Select(b => b.Value.ToArray()).ToList();
        foreach (var bn in g.Modules().OfType<GpuGan.Layers.BatchNorm2d>()) bn.RunningMean!.Fill(-2f);
        StandingStatistics.Estimate(g, Device.Cpu, 4, 8);
        Assert.That(g.NamedBuffers().Select(b => b.Value.ToArray()), Is.EqualTo(first));
    }

    [Test]
    public void TheRunsFilesHoldTheEstimateAndOldFilesGetItWhenLoaded()
    {
        string run = Path.Combine(_root, "run");
        using (var t = Trainer.Start(Small(run, 3))) t.Run();
        string generator = Path.Combine(run, RunLayout.GeneratorFile), checkpoint = Path.Combine(run, RunLayout.CheckpointFile);
        var file = SafeTensors.Read(generator);
        Assert.That(file.Metadata[StandingStatistics.MetadataKey], Is.EqualTo("32x64"));
        var saved = Sampler.Load(generator, Device.Cpu).Generator.NamedBuffers().Select(b => b.Value.ToArray()).ToList();
        // Not G's statistics: the checkpoint's trained generator has others.
        var trained = Sampler.Load(checkpoint, Device.Cpu, raw: true).Generator.NamedBuffers().Select(b => b.Value.ToArray()).ToList();
        Assert.That(saved, Is.Not.EqualTo(trained));
        // Recomputing them from the saved average gives the saved statistics.
        var check = Sampler.Load(generator, Device.Cpu).Generator;
        StandingStatistics.Estimate(check, Device.Cpu);
        Assert.That(check.NamedBuffers().Select(b => b.Value.ToArray()), Is.EqualTo(saved));
        // A file of the earlier format (G's statistics, no marker) is re-estimated on loading.
        var old = Sampler.Load(generator, Device.Cpu).Generator;
        foreach (var bn in old.Modules().OfType<GpuGan.Layers.BatchNorm2d>()) bn.RunningVar!.Fill(5f);
        string oldFile = Path.Combine(_root, "old.safetensors");
        Checkpoint.SaveModule(oldFile, old, file.Metadata.Where(kv => kv.Key != StandingStatistics.MetadataKey && kv.Key != "format").ToDictionary());
        var loaded = Sampler.Load(oldFile, Device.Cpu);
        Assert.That(loaded.Averaged, Is.True);
        Assert.That(loaded.Generator.NamedBuffers().Select(b => b.Value.ToArray()), Is.EqualTo(saved));
    }

    [Test]
    public void ResumeWithAnAverageIsBitIdenticalAndTheFilesHoldIt()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        using (var t = Trainer.Start(Small(straight, 6))) t.Run();
        using (var t = Trainer.Start(Small(split, 3))) t.Run();
        using (var t = Trainer.Resume(new ResumeOptions { Folder = split, Steps = 6, Device = DeviceKind.Cpu })) t.Run();
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        // Every tensor of the checkpoints (the metadata's saved configuration records the resume's own options).
        var checkpoint = SafeTensors.Read(Path.Combine(straight, RunLayout.CheckpointFile));
        var resumed = SafeTensors.Read(Path.Combine(split, RunLayout.CheckpointFile));
        Assert.That(resumed.Tensors.Keys, Is.EqualTo(checkpoint.Tensors.Keys));
        foreach (var (key, entry) in checkpoint.Tensors)
            Assert.That(resumed.Tensors[key].Data.ToArray(), Is.EqualTo(entry.Data.ToArray()), key);
        Assert.That(checkpoint.Tensors.Keys, Has.Some.StartsWith("G_ema."));
        Assert.That(SafeTensors.Read(Path.Combine(straight, RunLayout.GeneratorFile)).Metadata["ema"], Is.EqualTo("0.9"));
    }

    [Test]
    public void SampleUsesTheAverageUnlessRawIsAsked()
    {
        string run = Path.Combine(_root, "run");
        using (var t = Trainer.Start(Small(run, 3))) t.Run();
        string generator = Path.Combine(run, RunLayout.GeneratorFile), checkpoint = Path.Combine(run, RunLayout.CheckpointFile);
        var averaged = Sampler.Load(generator, Device.Cpu);
        var fromCheckpoint = Sampler.Load(checkpoint, Device.Cpu);
        var trained = Sampler.Load(checkpoint, Device.Cpu, raw: true);
        Assert.That((averaged.Averaged, fromCheckpoint.Averaged, trained.Averaged), Is.EqualTo((true, true, false)));
        var a = averaged.Generate(4, 1).Values;
        Assert.That(fromCheckpoint.Generate(4, 1).Values, Is.EqualTo(a));
        Assert.That(trained.Generate(4, 1).Values, Is.Not.EqualTo(a));
        Assert.Throws<RawWeightsNotInFileException>(() => Sampler.Load(generator, Device.Cpu, raw: true));

        var (code, _, err) = TinyRuns.Cli("sample", "--run", run, "--raw", "--count", "2", "--out", Path.Combine(_root, "raw"));
        Assert.That(code, Is.EqualTo(0), err);
        (code, _, err) = TinyRuns.Cli("sample", "--checkpoint", generator, "--raw", "--count", "2", "--out", Path.Combine(_root, "bad"));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--raw").And.Contain("moving average"));
    }

    [Test]
    public void WithoutAnAverageNothingChanges()
    {
        string run = Path.Combine(_root, "plain");
        using (var t = Trainer.Start(Small(run, 1, ema: null))) t.Run();
        Assert.That(SafeTensors.Read(Path.Combine(run, RunLayout.CheckpointFile)).Tensors.Keys, Has.None.StartsWith("G_ema."));
        Assert.That(Sampler.Load(Path.Combine(run, RunLayout.GeneratorFile), Device.Cpu, raw: true).Averaged, Is.False);
    }

    [TestCase(0.0), TestCase(1.0), TestCase(-0.5)]
    public void ADecayOutsideZeroOneIsRefused(double decay) =>
        Assert.Throws<InvalidOptionException>(() => Small(Path.Combine(_root, "x"), 1, decay).Validate());

    [Test]
    public void TheTranslationFamiliesRefuseAnAverage()
    {
        var options = Small(Path.Combine(_root, "x"), 1) with { Model = ModelFamily.Pix2pix, LatentDim = 0 };
        Assert.Throws<InvalidOptionException>(() => options.Validate());
    }

    [Test]
    public void TheCommandLineTakesEma()
    {
        string run = Path.Combine(_root, "cli");
        var (code, _, err) = TinyRuns.Cli("train", "--image-size", "28", "--batch", "4", "--steps", "2", "--out", run, "--device", "cpu", "--threads", "1", "--ema", "0.99");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.ReadAllText(Path.Combine(run, RunLayout.ConfigFile)), Does.Contain("\"ema\": 0.99").And.Contain("\"ema-warmup\": \"rampup\""), "rampup is the default warm-up");
        (code, _, err) = TinyRuns.Cli("train", "--model", "pix2pix", "--data", "petri-pairs", "--steps", "1", "--out", Path.Combine(_root, "p2p"), "--ema", "0.99");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--ema"));
    }

    [Test]
    public void TheCommandLineTakesEmaWarmup()
    {
        string run = Path.Combine(_root, "cli");
        var (code, _, err) = TinyRuns.Cli("train", "--image-size", "28", "--batch", "4", "--steps", "2", "--out", run, "--device", "cpu", "--threads", "1", "--ema", "0.99", "--ema-warmup", "num-updates");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.ReadAllText(Path.Combine(run, RunLayout.ConfigFile)), Does.Contain("\"ema-warmup\": \"num-updates\""));
        (code, _, err) = TinyRuns.Cli("train", "--image-size", "28", "--steps", "1", "--out", Path.Combine(_root, "no-ema"), "--ema-warmup", "rampup");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--ema-warmup").And.Contain("--ema"));
        (code, _, err) = TinyRuns.Cli("train", "--image-size", "28", "--steps", "1", "--out", Path.Combine(_root, "bad"), "--ema", "0.99", "--ema-warmup", "slow");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--ema-warmup").And.Contain("rampup"));
    }
}
