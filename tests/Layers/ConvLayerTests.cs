// The conv and normalisation layers: each layer's forward against its op family's float64
// reference in src (ConvKernels, NormalizationKernels), running statistics, and a DCGAN-style
// block that trains one step.
using GpuGan.Layers;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Layers;

[TestFixture, Category("cpu")]
public sealed class ConvLayerTests
{
    private static float[] Randn(RandomStream gen, int n)
    {
        var v = new float[n];
        gen.FillNormal(v);
        return v;
    }

    private static double[] D(float[] v) => GradCheck.ToDouble(v);

    [TestCase(1, 0, 1, true)]
    [TestCase(2, 1, 1, false)]
    [TestCase(1, 2, 2, true)]
    public void Conv2dLayerMatchesFloat64Reference(int stride, int padding, int dilation, bool bias)
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(1);
        var conv = new Conv2d(3, 4, 3, stride, padding, dilation, bias, gen);
        var x = Randn(gen, 2 * 3 * 7 * 6);
        var y = conv.Forward(Tensor.FromArray(x, new Shape(2, 3, 7, 6)));
        int ho = ConvGeometry.OutputSize(7, 3, stride, padding, dilation), wo = ConvGeometry.OutputSize(6, 3, stride, padding, dilation);
        var g = new ConvGeometry(2, 3, 7, 6, 4, 3, 3, ho, wo, stride, padding, dilation);
        var expected = ConvKernels.Conv2dReference(D(x), D(conv.Weight.ToArray()), conv.Bias is null ? null : D(conv.Bias.ToArray()), g);
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 4, ho, wo)));
        LayerTests.AssertClose(y.ToArray(), expected, 1e-5, 1e-4, "Conv2d layer");
    }

    [TestCase(2, 1, 0, false)]   // DCGAN upsampling block
    [TestCase(1, 0, 0, true)]    // DCGAN first block (1×1 → 4×4)
    [TestCase(2, 1, 1, true)]    // output padding
    public void ConvTranspose2dLayerMatchesFloat64Reference(int stride, int padding, int outputPadding, bool bias)
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(2);
        var convT = new ConvTranspose2d(3, 2, 4, stride, padding, outputPadding, 1, bias, gen);
        Assert.That(convT.Weight.Shape, Is.EqualTo(new Shape(3, 2, 4, 4)), "(Cin, Cout, k, k) as PyTorch");
        var x = Randn(gen, 2 * 3 * 3 * 5);
        var y = convT.Forward(Tensor.FromArray(x, new Shape(2, 3, 3, 5)));
        int ho = (3 - 1) * stride - 2 * padding + 3 + outputPadding + 1, wo = (5 - 1) * stride - 2 * padding + 3 + outputPadding + 1;
        // Conv orientation: the transposed conv's output (2, 2, ho, wo) is the conv's input.
        var g = new ConvGeometry(2, 2, ho, wo, 3, 4, 4, 3, 5, stride, padding, 1);
        var expected = ConvKernels.ConvTranspose2dReference(D(x), D(convT.Weight.ToArray()), convT.Bias is null ? null : D(convT.Bias.ToArray()), g);
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 2, ho, wo)));
        LayerTests.AssertClose(y.ToArray(), expected, 1e-5, 1e-4, "ConvTranspose2d layer");
    }

    [Test]
    public void BatchNorm2dTrainingUsesBatchStatisticsAndUpdatesRunningOnes()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(3);
        int n = 3, c = 2, h = 4, w = 3, m = n * h * w;
        var bn = new BatchNorm2d(c);
        Init.Normal(bn.Weight!, gen, 1f, 0.5f);
        Init.Normal(bn.Bias!, gen, 0f, 0.5f);
        var x = Randn(gen, n * c * h * w).Select(v => 2 * v + 1).ToArray();
        var y = bn.Forward(Tensor.FromArray(x, new Shape(n, c, h, w))).ToArray();
        var gamma = bn.Weight!.ToArray();
        var beta = bn.Bias!.ToArray();
        var view = NormView.Batch([n, c, h, w]);
        var (expected, mean, variance) = NormalizationKernels.ForwardReference(D(x), view, D(gamma), D(beta));
        // PyTorch's running statistics from their defaults (0, 1) with momentum 0.1; running_var takes the unbiased variance.
        var runMean = mean.Select(mu => 0.9 * 0 + 0.1 * mu).ToArray();
        var runVar = variance.Select(v => 0.9 * 1 + 0.1 * v * m / (m - 1)).ToArray();
        LayerTests.AssertClose(y, expected, 1e-5, 1e-4, "BatchNorm2d training output");
        LayerTests.AssertClose(bn.RunningMean!.ToArray(), runMean, 1e-6, 1e-5, "running_mean");
        LayerTests.AssertClose(bn.RunningVar!.ToArray(), runVar, 1e-6, 1e-5, "running_var");
        Assert.That(bn.NumBatchesTracked, Is.EqualTo(1));

        bn.Eval();
        var ye = bn.Forward(Tensor.FromArray(x, new Shape(n, c, h, w))).ToArray();
        var expectedEval = NormView.Forward(D(x), view, D(gamma), D(beta), runMean, runVar);
        LayerTests.AssertClose(ye, expectedEval, 1e-5, 1e-4, "BatchNorm2d eval output (running statistics)");
        Assert.That(bn.NumBatchesTracked, Is.EqualTo(1), "eval does not count batches");
    }

    [Test]
    public void LayerNormNormalisesEachSampleOverAllOtherDimensions()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(4);
        var ln = new LayerNorm([2, 3, 3]);
        Init.Normal(ln.Weight!, gen, 1f, 0.3f);
        var x = Randn(gen, 2 * 18);
        var y = ln.Forward(Tensor.FromArray(x, new Shape(2, 2, 3, 3))).ToArray();
        var expected = NormView.LayerNorm(D(x), [2, 2, 3, 3], D(ln.Weight!.ToArray()), D(ln.Bias!.ToArray()));
        LayerTests.AssertClose(y, expected, 1e-5, 1e-4, "LayerNorm");
    }

    [Test]
    public void InstanceNorm2dNormalisesEachSampleAndChannel()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(5);
        var inorm = new InstanceNorm2d(3, affine: true);
        Init.Normal(inorm.Weight!, gen, 1f, 0.3f);
        Init.Normal(inorm.Bias!, gen, 0f, 0.3f);
        var x = Randn(gen, 2 * 3 * 4 * 5);
        var y = inorm.Forward(Tensor.FromArray(x, new Shape(2, 3, 4, 5))).ToArray();
        var expected = NormView.Forward(D(x), NormView.Instance([2, 3, 4, 5]), D(inorm.Weight!.ToArray()), D(inorm.Bias!.ToArray()));
        LayerTests.AssertClose(y, expected, 1e-5, 1e-4, "InstanceNorm2d");
    }

    [Test]
    public void DcganStyleGeneratorProducesImagesAndTrainsOneStep()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(6);
        var g = new Sequential(
            new ConvTranspose2d(8, 16, 4, 1, 0, bias: false, gen: gen), new BatchNorm2d(16), new ReLU(),
            new ConvTranspose2d(16, 3, 4, 2, 1, bias: false, gen: gen), new Tanh());
        Init.Dcgan(g, gen);
        var z = Tensor.RandN(new Shape(2, 8, 1, 1), gen);
        var img = g.Forward(z);
        Assert.That(img.Shape, Is.EqualTo(new Shape(2, 3, 8, 8)));
        var opt = new GpuGan.Layers.Optim.Adam(g, lr: 2e-4f, beta1: 0.5);
        img.Square().Mean().Backward();
        Assert.That(g.Parameters().All(p => p.Grad is not null), Is.True);
        opt.Step();
    }
}
