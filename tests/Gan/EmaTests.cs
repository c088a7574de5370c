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

    private static TrainOptions Small(string outDir, int steps, double? ema = 0.9) => new()
    {
        Model = ModelFamily.Dcgan, Data = DataSource.Petri(64), ImageSize = 32, Width = 8, Batch = 8, Steps = steps, Seed = 5, Device = DeviceKind.Cpu,
        Out = outDir, SampleEvery = 3, CheckpointEvery = 3, LatentDim = 16, Threads = 2, Ema = ema,
    };

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
        Assert.That(File.ReadAllText(Path.Combine(run, RunLayout.ConfigFile)), Does.Contain("\"ema\": 0.99"));
        (code, _, err) = TinyRuns.Cli("train", "--model", "pix2pix", "--data", "petri-pairs", "--steps", "1", "--out", Path.Combine(_root, "p2p"), "--ema", "0.99");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--ema"));
    }
}
