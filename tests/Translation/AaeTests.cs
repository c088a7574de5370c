// The adversarial autoencoder end to end: names, priors, a step on both kernel sets, exact resume, and
// the command line (train, then sample decodes prior draws).
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Translation;

[TestFixture, NonParallelizable]
public sealed class AaeTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = TranslationRuns.TempFolder("gpugan-aae-");

    [TearDown]
    public void TearDown() => TranslationRuns.Delete(_root);

    [Test]
    public void PriorsHaveTheirMoments()
    {
        using var scope = TensorScope.Begin();
        var gaussian = AaeModel.SamplePrior(GanSpec.Autoencoder(new ImageShape(1, 28, 28), 3, 8), 4000, new RandomStream(1), Device.Cpu).ToArray();
        Assert.That(gaussian.Average(), Is.EqualTo(0).Within(0.05));
        Assert.That(gaussian.Average(v => v * v), Is.EqualTo(1).Within(0.05));
        var mixture = AaeModel.SamplePrior(GanSpec.Autoencoder(new ImageShape(1, 28, 28), 3, 8, LatentPrior.Mixture10), 4000, new RandomStream(2), Device.Cpu).ToArray();
        // Radius of the first two dimensions ≈ 2 (components on a circle of radius 2, std 0.5); the third is N(0, 1).
        var radii = Enumerable.Range(0, 4000).Select(i => Math.Sqrt(mixture[3 * i] * mixture[3 * i] + mixture[3 * i + 1] * mixture[3 * i + 1])).ToArray();
        Assert.That(radii.Average(), Is.EqualTo(2.06).Within(0.1));
        Assert.That(Enumerable.Range(0, 4000).Average(i => mixture[3 * i + 2] * (double)mixture[3 * i + 2]), Is.EqualTo(1).Within(0.1));
        Assert.Throws<GpuGan.Gan.ArchitectureRecordException>(() => GanSpec.Autoencoder(new ImageShape(1, 28, 28), 1, 8, LatentPrior.Mixture10).Validate());
    }

    [Test]
    public void StepOnIlgpuMatchesCpu()
    {
        // Small samples (8×8): the ILGPU CPU simulator runs the GEMMs slowly.
        var spec = GanSpec.Autoencoder(new ImageShape(1, 8, 8), 4, 16, LatentPrior.Mixture10);
        var data = new float[4 * 8 * 8];
        new RandomStream(8).FillUniform(data, -1, 1);
        var results = new List<double[]>();
        foreach (var device in new[] { Device.Cpu, Device.IlgpuCpu })
        {
            var model = AaeModel.Create(spec, 9, device);
            var noise = new RandomStream(3);
            var rows = new List<double>();
            for (int step = 0; step < 2; step++)
            {
                using var scope = TensorScope.Begin();
                var m = model.TrainStep(() => (Tensor.FromArray(data, new Shape(4, 1, 8, 8), device), new int[4]), noise, new StepPosition(step, 2));
                rows.AddRange([m.DLoss, m.GLoss, m.DReal, m.DFake, m.GradNormD, m.GradNormG, m.Reconstruction]);
            }
            results.Add(rows.ToArray());
        }
        GradCheck.AssertClose(results[1].Select(v => (float)v).ToArray(), results[0], 1e-4, 1e-3, "AAE step metrics, ilgpu-cpu vs cpu");
    }

    [Test]
    public void ResumedRunMatchesUninterruptedRunAndSampleDecodesPriorDraws()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        var options = TranslationRuns.Options(ModelFamily.Aae, DataSource.Petri(16), straight, 4, 28) with { Prior = LatentPrior.Mixture10 };
        TranslationRuns.Train(options);
        TranslationRuns.TrainUntil(options with { Out = split }, 2);
        TranslationRuns.Resume(split, 4);
        Assert.That(TranslationRuns.MetricRowsWithoutSpeed(split), Is.EqualTo(TranslationRuns.MetricRowsWithoutSpeed(straight)));
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        Assert.That(SafeTensors.Read(Path.Combine(split, RunLayout.CheckpointFile)).Tensors.Keys, Does.Contain("encoder.model.0.weight").And.Contain("encoder.mu.weight")
            .And.Contain("decoder.model.4.bias").And.Contain("discriminator.model.4.weight").And.Contain("optAE.encoder.mu.weight.exp_avg"));
        Assert.That(SafeTensors.Read(Path.Combine(split, RunLayout.GeneratorFile)).Tensors.Keys, Does.Contain("model.0.weight").And.Contain("model.4.weight"));

        // sample: the decoder of prior draws, from the weights file or the checkpoint alike.
        var (c1, _, e1) = TranslationRuns.Cli("sample", "--run", split, "--count", "3", "--out", Path.Combine(_root, "a"));
        Assert.That(c1, Is.EqualTo(0), e1);
        var (c2, _, e2) = TranslationRuns.Cli("sample", "--checkpoint", Path.Combine(split, RunLayout.CheckpointFile), "--count", "3", "--out", Path.Combine(_root, "b"));
        Assert.That(c2, Is.EqualTo(0), e2);
        var files = Directory.GetFiles(Path.Combine(_root, "a")).Order().ToArray();
        Assert.That(files, Has.Length.EqualTo(3));
        foreach (var f in files) Assert.That(File.ReadAllBytes(f), Is.EqualTo(File.ReadAllBytes(Path.Combine(_root, "b", Path.GetFileName(f)))));
    }

    [Test]
    public void CommandLineTrainsWithTheMixturePrior()
    {
        string run = Path.Combine(_root, "run");
        var (code, output, err) = TranslationRuns.Cli("train", "--model", "aae", "--data", "petri", "--image-size", "28", "--batch", "8", "--steps", "2",
            "--prior", "mixture10", "--out", run, "--device", "cpu", "--threads", "1");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("aae 3x28x28, codes 10 (Mixture10 prior)"));
        Assert.That(File.ReadAllText(Path.Combine(run, "config.json")), Does.Contain("\"prior\": \"mixture10\""));
        var (c, _, e) = TranslationRuns.Cli("train", "--model", "dcgan", "--prior", "mixture10", "--out", Path.Combine(_root, "x"));
        Assert.That((c, e.Contains("--prior")), Is.EqualTo((2, true)), e);
    }
}
