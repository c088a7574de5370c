// pix2pix end to end: one training step gives the same numbers on the SIMD and the ILGPU kernel sets,
// a run resumed from its checkpoint continues bit for bit (augmentation and dropout streams included),
// and the command line trains, translates and refuses what does not fit.
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Translation;

[TestFixture, NonParallelizable]
public sealed class Pix2PixTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = TranslationRuns.TempFolder("gpugan-p2p-");

    [TearDown]
    public void TearDown() => TranslationRuns.Delete(_root);

    /// <summary>The whole GPU code path of a pix2pix step (U-Net, concat, PatchGAN, BCE + L1) on ilgpu-cpu against cpu (32 pixels: the simulator is slow).</summary>
    [Test]
    public void StepOnIlgpuMatchesCpu()
    {
        var spec = GanSpec.Translation(ModelFamily.Pix2pix, 1, new ImageShape(3, 32, 32), 2);
        var data = new PetriPairsDataset(2, 32, 3);
        var pairs = data.CopySamples(0, 2);
        var results = new List<double[]>();
        foreach (var device in new[] { Device.Cpu, Device.IlgpuCpu })
        {
            var model = Pix2PixModel.Create(spec, 9, device);
            var rows = new List<double>();
            for (int step = 0; step < 1; step++)
            {
                using var scope = TensorScope.Begin();
                var m = model.TrainStep(() => (Tensor.FromArray(pairs, new Shape(2, 4, 32, 32), device), new int[2]), new RandomStream(3), new StepPosition(step, 4));
                rows.AddRange([m.DLoss, m.GLoss, m.DReal, m.DFake, m.GradNormD, m.GradNormG, m.Reconstruction]);
            }
            results.Add(rows.ToArray());
        }
        GradCheck.AssertClose(results[1].Select(v => (float)v).ToArray(), results[0], 1e-4, 1e-3, "pix2pix step metrics, ilgpu-cpu vs cpu");
    }

    /// <summary>
    /// A 4-step run stopped after 2 steps and resumed gives the 4-step run bit for bit (the learning-rate schedule follows
    /// the run's length, so the first part is the same 4-step run, interrupted).
    /// </summary>
    [Test]
    public void ResumedRunMatchesUninterruptedRunBitForBit()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        // 64 pixels: the U-Net has a dropout block; augmentation is on: both streams must be restored.
        var options = TranslationRuns.Options(ModelFamily.Pix2pix, DataSource.PetriPairs(8), straight, 4, 64);
        TranslationRuns.Train(options);
        var stopped = TranslationRuns.TrainUntil(options with { Out = split }, 2);
        Assert.That((stopped.Interrupted, stopped.Step), Is.EqualTo((true, 2L)));
        TranslationRuns.Resume(split, 4);
        var a = TranslationRuns.MetricRowsWithoutSpeed(straight);
        Assert.That(a, Has.Length.EqualTo(5));
        Assert.That(TranslationRuns.MetricRowsWithoutSpeed(split), Is.EqualTo(a));
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        Assert.That(a[1].Split(',')[9], Is.Not.Empty, "recon_loss (L1 to the target) is logged");
    }

    [Test]
    public void LearningRateIsHeldThenDecaysToZero()
    {
        Assert.That(TrainableModels.ConstantThenLinearDecay(2e-4f, new StepPosition(0, 100)), Is.EqualTo(2e-4f));
        Assert.That(TrainableModels.ConstantThenLinearDecay(2e-4f, new StepPosition(49, 100)), Is.EqualTo(2e-4f));
        Assert.That(TrainableModels.ConstantThenLinearDecay(2e-4f, new StepPosition(50, 100)), Is.EqualTo(2e-4f * 50 / 51).Within(1e-9));
        Assert.That(TrainableModels.ConstantThenLinearDecay(2e-4f, new StepPosition(99, 100)), Is.EqualTo(2e-4f / 51).Within(1e-9));
        var lrs = Enumerable.Range(50, 50).Select(s => TrainableModels.ConstantThenLinearDecay(1f, new StepPosition(s, 100))).ToArray();
        Assert.That(lrs, Is.Ordered.Descending);
    }

    [Test]
    public void CommandLineTrainsTranslatesAndRefusesWhatDoesNotFit()
    {
        string run = Path.Combine(_root, "run");
        var (code, output, err) = TranslationRuns.Cli("train", "--model", "pix2pix", "--data", "petri-pairs", "--image-size", "32", "--batch", "2",
            "--steps", "1", "--out", run, "--device", "cpu", "--threads", "1", "--no-augment");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("done: 1 steps").And.Contain("pix2pix 1x32x32 → 3x32x32"));
        foreach (var f in new[] { "config.json", "metrics.csv", "generator.safetensors", "checkpoints/last.safetensors", "samples/step-000001.png" })
            Assert.That(File.Exists(Path.Combine(run, f)), f);
        Assert.That(File.ReadAllText(Path.Combine(run, "config.json")), Does.Contain("\"augment\": false").And.Contain("\"model\": \"pix2pix\""));

        // translate: one PNG per input, relative names kept, an unreadable file skipped with a warning.
        string input = Path.Combine(_root, "in");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        var layouts = new PetriPairsDataset(2, 40, 5);
        var sample = new float[4 * 40 * 40];
        layouts.CopySample(0, sample);
        GpuGan.Gan.Imaging.PngWriter.Save(Path.Combine(input, "dish.png"), sample.AsSpan(0, 1600), 1, 40, 40);
        layouts.CopySample(1, sample);
        GpuGan.Gan.Imaging.PngWriter.Save(Path.Combine(input, "sub", "other.png"), sample.AsSpan(0, 1600), 1, 40, 40);
        File.WriteAllText(Path.Combine(input, "broken.jpg"), "not a jpeg");
        string outDir = Path.Combine(_root, "out");
        var (c2, o2, e2) = TranslationRuns.Cli("translate", "--run", run, "--input", input, "--out", outDir);
        Assert.That(c2, Is.EqualTo(0), e2);
        Assert.That(e2, Does.Contain("broken.jpg"));
        Assert.That(File.Exists(Path.Combine(outDir, "dish.png")) && File.Exists(Path.Combine(outDir, "sub", "other.png")), o2);
        var (planar, h, w) = GpuGan.Gan.Imaging.ImageFile.ReadPlanar(Path.Combine(outDir, "dish.png"), 3);
        Assert.That((h, w), Is.EqualTo((32, 32)), "the model's size");
        var (c3, _, _) = TranslationRuns.Cli("translate", "--checkpoint", Path.Combine(run, "checkpoints/last.safetensors"), "--input", Path.Combine(input, "dish.png"),
            "--out", Path.Combine(_root, "out2"));
        Assert.That(c3, Is.EqualTo(0));
        Assert.That(File.ReadAllBytes(Path.Combine(_root, "out2", "dish.png")), Is.EqualTo(File.ReadAllBytes(Path.Combine(outDir, "dish.png"))),
            "the checkpoint and the generator file hold the same weights");

        foreach (var (args, mentioned) in new (string[], string)[]
        {
            (["translate", "--run", run, "--input", input, "--out", Path.Combine(_root, "x"), "--direction", "b2a"], "--direction b2a"),
            (["sample", "--run", run, "--out", Path.Combine(_root, "x")], "gpugan translate"),
            (["train", "--model", "pix2pix", "--data", "petri", "--out", Path.Combine(_root, "x")], "aligned image pairs"),
            (["train", "--model", "pix2pix", "--data", "petri-styles", "--out", Path.Combine(_root, "x")], "aligned image pairs"),
            (["train", "--model", "dcgan", "--data", "petri-pairs", "--out", Path.Combine(_root, "x")], "single images"),
            (["train", "--model", "pix2pix", "--data", "petri-pairs", "--image-size", "28", "--out", Path.Combine(_root, "x")], "--image-size"),
            (["train", "--model", "dcgan", "--no-augment", "--out", Path.Combine(_root, "x")], "--no-augment"),
        })
        {
            var (c, _, e) = TranslationRuns.Cli(args);
            Assert.That(c, Is.EqualTo(2), e);
            Assert.That(e, Does.Contain(mentioned));
            Assert.That(e.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1), e);
        }
        Assert.That(Directory.Exists(Path.Combine(_root, "x")), Is.False, "nothing is written for a refused command");
    }
}
