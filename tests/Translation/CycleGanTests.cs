// CycleGAN end to end: the image pool behaves as the reference's and travels in checkpoints, a step
// gives the same numbers on both kernel sets, an interrupted run resumes bit for bit, and the command
// line trains and translates both ways.
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Translation;

[TestFixture, NonParallelizable]
public sealed class CycleGanTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = TranslationRuns.TempFolder("gpugan-cyclegan-");

    [TearDown]
    public void TearDown() => TranslationRuns.Delete(_root);

    private static Tensor Images(float first, int n) =>
        Tensor.FromArray(Enumerable.Range(0, n * 4).Select(i => first + i / 4).Select(v => (float)v).ToArray(), new Shape(n, 1, 2, 2));

    [Test]
    public void PoolFillsThenSwapsAndItsStateResumes()
    {
        using var scope = TensorScope.Begin();
        var pool = new ImagePool(3, new ImageShape(1, 2, 2), new RandomStream(4), Device.Cpu);
        // Filling: every image is stored and shown as it is.
        Assert.That(pool.Query(Images(0, 2)).ToArray(), Is.EqualTo(Images(0, 2).ToArray()));
        Assert.That(pool.Query(Images(2, 1)).ToArray(), Is.EqualTo(Images(2, 1).ToArray()));
        Assert.That(pool.Count, Is.EqualTo(3));
        // Full: about half the new images are swapped for stored ones (images 0-2 and the later ones).
        int fromPool = 0, asIs = 0;
        for (int k = 0; k < 40; k++)
        {
            var shown = pool.Query(Images(10 + k, 1)).ToArray();
            if (shown[0] == 10 + k) asIs++;
            else fromPool++;
            Assert.That(shown.All(v => v == shown[0]), "whole images");
        }
        Assert.That(fromPool, Is.InRange(10, 30));
        Assert.That(asIs, Is.InRange(10, 30));

        // The pool's images, count and stream go into a checkpoint and come back exactly.
        string path = Path.Combine(_root, "pool.safetensors");
        var stream = new RandomStream(4, 0);
        var saved = new TrainingState();
        saved.Modules["pool"] = pool;
        Checkpoint.Save(path, saved);
        var restored = new ImagePool(3, new ImageShape(1, 2, 2), new RandomStream(4), Device.Cpu);
        var state = new TrainingState();
        state.Modules["pool"] = restored;
        Checkpoint.Load(path, state);
        Assert.That(restored.Count, Is.EqualTo(3));
        Assert.That(restored.StateDict()["images"].ToArray(), Is.EqualTo(pool.StateDict()["images"].ToArray()));
    }

    /// <summary>
    /// A CycleGAN step (reflection padding, instance norm, ResNet blocks, ConvT output padding, pools, least squares) on
    /// ilgpu-cpu against cpu. A full check: the simulator needs minutes for the twelve 7×7 convolutions of a step on a busy
    /// 2-core machine (each op is also checked on both sets by the op table, and the pix2pix step always runs on both).
    /// </summary>
    [Test]
    public void StepOnIlgpuMatchesCpu()
    {
        FullChecks.RequireImplied("CycleGAN step on ilgpu-cpu", "the ILGPU parity rows of its ops and the pix2pix and AAE step parities");
        // Grey domains, width 1, one image: the ILGPU CPU simulator runs the 7×7 convolutions' GEMMs slowly.
        var spec = GanSpec.Translation(ModelFamily.Cyclegan, 1, new ImageShape(1, 32, 32), 1);
        var pairs = new float[2 * 32 * 32];
        new RandomStream(8).FillUniform(pairs, -1, 1);
        var results = new List<double[]>();
        foreach (var device in new[] { Device.Cpu, Device.IlgpuCpu })
        {
            var model = CycleGanModel.Create(spec, 9, device);
            using var scope = TensorScope.Begin();
            var m = model.TrainStep(() => (Tensor.FromArray(pairs, new Shape(1, 2, 32, 32), device), new int[1]), new RandomStream(3), new StepPosition(0, 2));
            results.Add([m.DLoss, m.GLoss, m.DReal, m.DFake, m.GradNormD, m.GradNormG, m.Reconstruction]);
        }
        GradCheck.AssertClose(results[1].Select(v => (float)v).ToArray(), results[0], 1e-4, 1e-3, "CycleGAN step metrics, ilgpu-cpu vs cpu");
    }

    [Test]
    public void ResumedRunMatchesUninterruptedRunBitForBit()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        var options = TranslationRuns.Options(ModelFamily.Cyclegan, DataSource.PetriStyles(8), straight, 4, 32);
        TranslationRuns.Train(options);
        var stopped = TranslationRuns.TrainUntil(options with { Out = split }, 2);
        Assert.That(stopped.Step, Is.EqualTo(2));
        TranslationRuns.Resume(split, 4);
        Assert.That(TranslationRuns.MetricRowsWithoutSpeed(split), Is.EqualTo(TranslationRuns.MetricRowsWithoutSpeed(straight)));
        Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
        var keys = SafeTensors.Read(Path.Combine(split, RunLayout.CheckpointFile)).Tensors.Keys.ToList();
        Assert.That(keys, Does.Contain("pool_A.images").And.Contain("pool_B.count").And.Contain("rng.pool.offset").And.Contain("rng.augment.offset")
            .And.Contain("G_A.model.1.weight").And.Contain("D_B.model.0.weight"));
        Assert.That(SafeTensors.Read(Path.Combine(split, RunLayout.GeneratorFile)).Tensors.Keys, Does.Contain("G_A.model.1.weight").And.Contain("G_B.model.23.bias"), "6 blocks at 32 pixels: the last conv is model.23");
    }

    [Test]
    public void CommandLineTrainsAndTranslatesBothWays()
    {
        string run = Path.Combine(_root, "run");
        var (code, output, err) = TranslationRuns.Cli("train", "--model", "cyclegan", "--data", "petri-styles", "--image-size", "32", "--steps", "1",
            "--out", run, "--device", "cpu", "--threads", "1");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("cyclegan 3x32x32 → 3x32x32").And.Contain("instance norm"));
        Assert.That(File.ReadAllText(Path.Combine(run, "config.json")), Does.Contain("\"batch\": 1"), "the paper's batch size by default");
        string image = Path.Combine(_root, "dish.png");
        var styles = new PetriStylesDataset(1, 32, 1);
        var s = new float[6 * 32 * 32];
        styles.CopySample(0, s);
        GpuGan.Gan.Imaging.PngWriter.Save(image, s.AsSpan(0, 3 * 32 * 32), 3, 32, 32);
        foreach (var direction in new[] { "a2b", "b2a" })
        {
            var (c, o, e) = TranslationRuns.Cli("translate", "--run", run, "--input", image, "--out", Path.Combine(_root, direction), "--direction", direction);
            Assert.That(c, Is.EqualTo(0), e);
            Assert.That(File.Exists(Path.Combine(_root, direction, "dish.png")), o);
        }
        Assert.That(File.ReadAllBytes(Path.Combine(_root, "a2b", "dish.png")), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(_root, "b2a", "dish.png"))),
            "two different generators");
        var (c2, _, e2) = TranslationRuns.Cli("train", "--model", "cyclegan", "--data", "petri", "--out", Path.Combine(_root, "x"));
        Assert.That((c2, e2), Is.EqualTo((2, e2)));
        Assert.That(e2, Does.Contain("two domains"));
    }

    /// <summary>Domains of different channels (petri-pairs: 1 and 3): identity terms need equal channels and are left out.</summary>
    [Test]
    public void DomainsOfDifferentChannelsTrainWithoutIdentityTerms()
    {
        var spec = GanSpec.Translation(ModelFamily.Cyclegan, 1, new ImageShape(3, 32, 32), 2);
        var pairs = new PetriPairsDataset(2, 32, 3).CopySamples(0, 2);
        var model = CycleGanModel.Create(spec, 1, Device.Cpu);
        using var scope = TensorScope.Begin();
        var m = model.TrainStep(() => (Tensor.FromArray(pairs, new Shape(2, 4, 32, 32)), new int[2]), new RandomStream(3), new StepPosition(0, 1));
        Assert.That(double.IsFinite(m.GLoss) && double.IsFinite(m.DLoss) && double.IsFinite(m.Reconstruction));
    }
}
