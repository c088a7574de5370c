// The ONNX export checked against ONNX Runtime: every model kind at every image size it can be
// trained at, with random weights and random batch-norm running statistics (a fresh model's
// μ = 0, σ² = 1, γ = 1, β = 0 would let a wrong batch-norm mapping pass), run by our forward and
// by ONNX Runtime on the same inputs. The tolerance is the issue's: max |ours − ORT| ≤ 1e-4.
using GpuGan.Gan.Export;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Layers;
using GpuGan.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = GpuGan.Tensors.Tensor;
using NUnit.Framework;

namespace GpuGan.Tests.Export;

[TestFixture]
public sealed class OnnxExportTests
{
    private const float Tolerance = 1e-4f;
    private const int Batch = 3;

    public static IEnumerable<TestCaseData> Generators()
    {
        // (family, channels, height, width, network width, classes)
        yield return new TestCaseData(ModelFamily.Gan, 1, 1, 64, 16, 0).SetName("Gan_Sines_1x1x64");
        yield return new TestCaseData(ModelFamily.Gan, 1, 28, 28, 16, 0).SetName("Gan_1x28x28");
        foreach (int size in GanSpec.ConvolutionalSizes)
        {
            yield return new TestCaseData(ModelFamily.Dcgan, 3, size, size, 16, 0).SetName($"Dcgan_3x{size}x{size}");
            yield return new TestCaseData(ModelFamily.Wgan, 1, size, size, 8, 0).SetName($"Wgan_1x{size}x{size}");
            yield return new TestCaseData(ModelFamily.WganGp, 1, size, size, 8, 0).SetName($"WganGp_1x{size}x{size}");
            yield return new TestCaseData(ModelFamily.Cdcgan, size == 32 ? 3 : 1, size, size, 8, 10).SetName($"Cdcgan_{(size == 32 ? 3 : 1)}x{size}x{size}");
        }
        yield return new TestCaseData(ModelFamily.Aae, 1, 28, 28, 8, 0).SetName("Aae_1x28x28");
    }

    [TestCaseSource(nameof(Generators))]
    public void GeneratorMatchesOnnxRuntime(ModelFamily family, int channels, int height, int width, int networkWidth, int classes)
    {
        var image = new ImageShape(channels, height, width);
        var spec = family == ModelFamily.Aae
            ? GanSpec.Autoencoder(image, latentDim: 6, width: 32, LatentPrior.Mixture10)
            : GanSpec.Canonical(family, image, latentDim: 12, width: networkWidth, classCount: classes);
        Generator g = family == ModelFamily.Aae ? AaeModel.CreateGenerator(spec, Device.Cpu) : GanModel.CreateGenerator(spec, Device.Cpu);
        Randomise(g, seed: 7);
        g.Eval();

        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        var z = g.SampleLatent(Batch, new RandomStream(11), Device.Cpu);
        int[]? labels = spec.IsConditional ? [3, 0, 9] : null;
        float[] ours = g.Generate(z, labels).ToArray();

        byte[] model = OnnxExport.FromGenerator(g);
        using var session = new InferenceSession(model);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor(OnnxExport.LatentInput, new DenseTensor<float>(z.ToArray(), z.Shape.ToArray())),
        };
        if (labels is not null)
            inputs.Add(NamedOnnxValue.CreateFromTensor(OnnxExport.ClassInput, new DenseTensor<long>(labels.Select(l => (long)l).ToArray(), [Batch])));
        float[] theirs = Run(session, inputs, [Batch, channels, height, width]);

        AssertClose(ours, theirs);
        var meta = session.ModelMetadata.CustomMetadataMap;
        Assert.That(meta["latent_size"], Is.EqualTo(spec.LatentDim.ToString()));
        Assert.That(meta["image_shape"], Is.EqualTo($"{channels},{height},{width}"));
        Assert.That(GanSpec.FromJson(meta[GanSpec.MetadataKey], null), Is.EqualTo(spec));
        Assert.That(session.InputMetadata.Keys, Is.EquivalentTo(labels is null ? [OnnxExport.LatentInput] : new[] { OnnxExport.LatentInput, OnnxExport.ClassInput }));
    }

    public static IEnumerable<TestCaseData> Translators()
    {
        foreach (int size in GanSpec.TranslationSizes)
        {
            yield return new TestCaseData(ModelFamily.Pix2pix, size, TranslationDirection.AToB).SetName($"Pix2pix_{size}");
            yield return new TestCaseData(ModelFamily.Cyclegan, size, TranslationDirection.AToB).SetName($"Cyclegan_{size}_AToB");
        }
        yield return new TestCaseData(ModelFamily.Cyclegan, 32, TranslationDirection.BToA).SetName("Cyclegan_32_BToA");
    }

    [TestCaseSource(nameof(Translators))]
    public void TranslatorMatchesOnnxRuntime(ModelFamily family, int size, TranslationDirection direction)
    {
        // Domain A grey, B colour, so a swapped channel count or direction cannot pass.
        var spec = GanSpec.Translation(family, inputChannels: 1, new ImageShape(3, size, size), width: 4);
        ImageTranslator g;
        if (family == ModelFamily.Pix2pix) g = Pix2PixModel.CreateGenerator(spec, Device.Cpu);
        else
        {
            var pair = CycleGanModel.CreateGenerators(spec, Device.Cpu);
            g = direction == TranslationDirection.AToB ? pair.GA : pair.GB;
        }
        Randomise(g, seed: 5);
        g.Eval();

        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        int n = size >= 128 ? 1 : 2;
        var x = Tensor.RandN(new Shape(n, g.InChannels, size, size), new RandomStream(3), Device.Cpu).Tanh();
        float[] ours = g.Forward(x).ToArray();

        using var session = new InferenceSession(OnnxExport.FromTranslator(g, spec, direction));
        float[] theirs = Run(session, [NamedOnnxValue.CreateFromTensor(OnnxExport.ImageInput, new DenseTensor<float>(x.ToArray(), x.Shape.ToArray()))],
            [n, g.OutChannels, size, size]);

        AssertClose(ours, theirs);
        var meta = session.ModelMetadata.CustomMetadataMap;
        Assert.That(meta["direction"], Is.EqualTo(direction == TranslationDirection.AToB ? "a2b" : "b2a"));
        Assert.That(meta["image_shape"], Is.EqualTo($"{g.OutChannels},{size},{size}"));
    }

    [Test]
    public void TheFileDeclaresOpsetAndSymbolicBatch()
    {
        var g = GanModel.CreateGenerator(GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(1, 28, 28), 8, 4, 0), Device.Cpu);
        g.Eval();
        using var session = new InferenceSession(OnnxExport.FromGenerator(g));
        var input = session.InputMetadata[OnnxExport.LatentInput];
        Assert.That(input.Dimensions, Is.EqualTo(new[] { -1, 8, 1, 1 }), "batch is symbolic");
        Assert.That(input.SymbolicDimensions[0], Is.EqualTo("N"));
        Assert.That(session.OutputMetadata[OnnxExport.Output].Dimensions, Is.EqualTo(new[] { -1, 1, 28, 28 }));
        Assert.That(session.ModelMetadata.ProducerName, Is.EqualTo("GpuGan"));
        Assert.That(OnnxExport.OpsetVersion, Is.GreaterThanOrEqualTo(13));
    }

    [Test]
    public void TrainingModeIsRefused()
    {
        var g = GanModel.CreateGenerator(GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(1, 28, 28), 8, 4, 0), Device.Cpu);
        g.Train();
        Assert.That(() => OnnxExport.FromGenerator(g), Throws.TypeOf<NotSupportedException>().With.Message.Contains("evaluation mode"));
    }

    private static float[] Run(InferenceSession session, IReadOnlyCollection<NamedOnnxValue> inputs, int[] expectedShape)
    {
        using var results = session.Run(inputs);
        var output = results.Single(r => r.Name == OnnxExport.Output).AsTensor<float>();
        Assert.That(output.Dimensions.ToArray(), Is.EqualTo(expectedShape));
        return output.ToArray();
    }

    private static void AssertClose(float[] ours, float[] theirs)
    {
        Assert.That(theirs, Has.Length.EqualTo(ours.Length));
        float max = 0f;
        int at = -1;
        for (int i = 0; i < ours.Length; i++)
        {
            float d = MathF.Abs(ours[i] - theirs[i]);
            if (!(d <= max)) (max, at) = (d, i);
        }
        TestContext.Out.WriteLine($"max |ours − ONNX Runtime| = {max:G3} over {ours.Length} values in [{ours.Min():F3}, {ours.Max():F3}]");
        Assert.That(max, Is.LessThanOrEqualTo(Tolerance), $"max |ours − ONNX Runtime| = {max:G3} at {at} (ours {(at >= 0 ? ours[at] : 0)}, theirs {(at >= 0 ? theirs[at] : 0)})");
        // Not a constant output that would match anything: the samples vary.
        Assert.That(ours.Max() - ours.Min(), Is.GreaterThan(0.1f));
    }

    /// <summary>
    /// Random weights of unit gain (the models' N(0, 0.02²) initialisation makes outputs of about ±0.02, where an
    /// absolute tolerance of 1e-4 says little), random biases, affine norm parameters and running statistics.
    /// </summary>
    internal static void Randomise(Module module, int seed)
    {
        var random = new Random(seed);
        float U(float lo, float hi) => lo + (hi - lo) * (float)random.NextDouble();
        foreach (var (_, m) in module.NamedModules())
        {
            Tensor? w = m switch { Linear l => l.Weight, Conv2d c => c.Weight, ConvTranspose2d t => t.Weight, _ => null };
            if (w is not null)
            {
                // Inputs per output: in·k·k ((out, in, k, k) and Linear's (out, in)); in·k·k / stride² for the transposed
                // conv, whose (in, out, k, k) taps reach each output only every stride-th position.
                int fanIn = m is ConvTranspose2d ct ? Math.Max(1, w.Size / w.Shape[1] / (ct.Stride * ct.Stride)) : w.Size / w.Shape[0];
                float a = MathF.Sqrt(3f / fanIn);
                Fill(w, () => U(-a, a));
            }
            if (m is BatchNorm2d bn)
            {
                Fill(bn.Weight, () => U(0.5f, 1.5f));
                Fill(bn.Bias, () => U(-0.2f, 0.2f));
                Fill(bn.RunningMean, () => U(-0.3f, 0.3f));
                Fill(bn.RunningVar, () => U(0.5f, 2f));
            }
        }
        foreach (var (name, p) in module.NamedParameters())
            if (name.EndsWith(".bias", StringComparison.Ordinal) && !module.NamedModules().Any(m => m.Module is BatchNorm2d && name == m.Name + ".bias"))
                Fill(p, () => U(-0.1f, 0.1f));
    }

    private static void Fill(Tensor? t, Func<float> next)
    {
        if (t is null) return;
        var v = new float[t.Size];
        for (int i = 0; i < v.Length; i++) v[i] = next();
        t.CopyFrom(v);
    }
}
