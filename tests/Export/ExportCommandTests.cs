// `gpugan export` end to end: from a run folder and from a training checkpoint, ONNX and
// safetensors, a conditional model (two graph inputs) and CycleGAN (a direction to pick).
using GpuGan.Cli;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using GpuGan.Tests.Gan;
using GpuGan.Tests.Translation;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using NUnit.Framework;
using Tensor = GpuGan.Tensors.Tensor;

namespace GpuGan.Tests.Export;

[TestFixture, NonParallelizable]
public sealed class ExportCommandTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-export-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    [Test]
    public void ConditionalRunExportsToOnnxAndSafetensors()
    {
        string run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Cdcgan, DataSource.ImageFolder(TinyRuns.ImageFolder(_root)), run, steps: 1));
        string onnx = Path.Combine(_root, "out", "g.onnx"), weights = Path.Combine(_root, "out", "g.safetensors");

        // From the training checkpoint (the generator is found under its prefix).
        var (code, output, err) = TinyRuns.Cli("export", "--checkpoint", Path.Combine(run, RunLayout.CheckpointFile), "--format", "onnx", "--out", onnx);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), err);
        Assert.That(output, Does.Contain("wrote").And.Contain("cdcgan generator"));
        (code, _, err) = TinyRuns.Cli("export", "--run", run, "--format", "safetensors", "--out", weights);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), err);

        var original = Sampler.Load(Path.Combine(run, RunLayout.GeneratorFile), Device.Cpu);
        using (var scope = TensorScope.Begin())
        using (var noGrad = Autograd.NoGrad())
        {
            var z = original.Generator.SampleLatent(4, new RandomStream(5), Device.Cpu);
            int[] labels = [1, 0, 1, 1];
            float[] ours = original.Generator.Generate(z, labels).ToArray();
            using var session = new InferenceSession(onnx);
            using var results = session.Run(
            [
                NamedOnnxValue.CreateFromTensor("z", new DenseTensor<float>(z.ToArray(), z.Shape.ToArray())),
                NamedOnnxValue.CreateFromTensor("class", new DenseTensor<long>(labels.Select(l => (long)l).ToArray(), [4])),
            ]);
            float[] theirs = results.Single().AsTensor<float>().ToArray();
            Assert.That(theirs.Zip(ours, (a, b) => MathF.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1e-4f));
            Assert.That(session.ModelMetadata.CustomMetadataMap["class_count"], Is.EqualTo("2"));
        }

        // The safetensors export reads back as the same generator: same names, same record, same samples.
        var file = SafeTensors.Read(weights);
        Assert.That(file.Tensors.Keys, Is.EquivalentTo(original.Generator.StateDict().Keys));
        Assert.That(GanSpec.FromJson(file.Metadata[GanSpec.MetadataKey], weights), Is.EqualTo(original.Spec));
        var reloaded = Sampler.Load(weights, Device.Cpu);
        Assert.That(reloaded.Generate(6, seed: 3).Values, Is.EqualTo(original.Generate(6, seed: 3).Values));
    }

    [Test]
    public void CycleGanExportsTheDirectionAsked()
    {
        string run = Path.Combine(_root, "run");
        TranslationRuns.Train(TranslationRuns.Options(ModelFamily.Cyclegan, DataSource.PetriStyles(8), run, steps: 1, size: 32));
        string onnx = Path.Combine(_root, "b2a.onnx"), weights = Path.Combine(_root, "pair.safetensors");
        var (code, _, err) = TinyRuns.Cli("export", "--checkpoint", Path.Combine(run, RunLayout.CheckpointFile), "--direction", "b2a", "--out", onnx);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), err);
        (code, _, err) = TinyRuns.Cli("export", "--run", run, "--format", "safetensors", "--out", weights);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), err);

        var b2a = Translator.Load(Path.Combine(run, RunLayout.GeneratorFile), Device.Cpu, TranslationDirection.BToA);
        var input = new float[2 * b2a.Input.Length];
        new RandomStream(9).FillUniform(input, -1, 1);
        float[] ours = b2a.Translate(input, 2);
        using var session = new InferenceSession(onnx);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("image",
            new DenseTensor<float>(input, [2, b2a.Input.Channels, b2a.Input.Height, b2a.Input.Width]))]);
        float[] theirs = results.Single().AsTensor<float>().ToArray();
        Assert.That(theirs.Zip(ours, (a, b) => MathF.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1e-4f));

        // The safetensors export keeps both generators: each direction translates as the run's file does.
        foreach (var direction in new[] { TranslationDirection.AToB, TranslationDirection.BToA })
        {
            var a = Translator.Load(Path.Combine(run, RunLayout.GeneratorFile), Device.Cpu, direction);
            var b = Translator.Load(weights, Device.Cpu, direction);
            var x = new float[a.Input.Length];
            new RandomStream(2).FillUniform(x, -1, 1);
            Assert.That(b.Translate(x, 1), Is.EqualTo(a.Translate(x, 1)), direction.ToString());
        }
    }

    [Test]
    public void UsageErrors()
    {
        var (code, _, err) = TinyRuns.Cli("export", "--out", Path.Combine(_root, "x.onnx"));
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(err, Does.Contain("--run DIR or --checkpoint FILE"));
        (code, _, err) = TinyRuns.Cli("export", "--checkpoint", Path.Combine(_root, "missing.safetensors"), "--format", "tflite", "--out", Path.Combine(_root, "x"));
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(err, Does.Contain("--format: unknown value 'tflite'"));
    }
}
