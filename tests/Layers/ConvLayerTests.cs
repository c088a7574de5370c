// LAYERS THAT NEED THE ISSUE-3 OPS (Tensor.Conv2d, ConvTranspose2d, BatchNorm2d, LayerNorm,
// InstanceNorm2d). On branch `layers` those ops are stubs that throw NotImplementedException, so
// EVERY TEST IN THIS FILE FAILS HERE BY DESIGN; they are expected to pass once the conv and
// normalisation branch is merged. Category "NeedsIssue3Ops" lets CI select or exclude them.
using GpuGan.Layers;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Layers;

[TestFixture, Category("cpu"), Category("NeedsIssue3Ops")]
public sealed class ConvLayerTests
{
    private static float[] Randn(RandomStream gen, int n)
    {
        var v = new float[n];
        gen.FillNormal(v);
        return v;
    }

    /// <summary>Cross-correlation, (N, Ci, H, W) * (Co, Ci, k, k) → (N, Co, Ho, Wo), in double.</summary>
    private static double[] Conv2dReference(float[] x, int n, int ci, int h, int w, float[] wt, float[]? b, int co, int k, int s, int p, int d, out int ho, out int wo)
    {
        int oh = (h + 2 * p - d * (k - 1) - 1) / s + 1, ow = (w + 2 * p - d * (k - 1) - 1) / s + 1;
        (ho, wo) = (oh, ow);
        var y = new double[n * co * oh * ow];
        for (int b0 = 0; b0 < n; b0++)
            for (int o = 0; o < co; o++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double acc = b is null ? 0 : b[o];
                        for (int c = 0; c < ci; c++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                {
                                    int yy = i * s - p + u * d, xx = j * s - p + v * d;
                                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                                    acc += (double)x[((b0 * ci + c) * h + yy) * w + xx] * wt[((o * ci + c) * k + u) * k + v];
                                }
                        y[((b0 * co + o) * oh + i) * ow + j] = acc;
                    }
        return y;
    }

    /// <summary>Transposed convolution (scatter form), weight (Ci, Co, k, k), in double.</summary>
    private static double[] ConvTranspose2dReference(float[] x, int n, int ci, int h, int w, float[] wt, float[]? b, int co, int k, int s, int p, int op, out int ho, out int wo)
    {
        int oh = (h - 1) * s - 2 * p + (k - 1) + op + 1, ow = (w - 1) * s - 2 * p + (k - 1) + op + 1;
        (ho, wo) = (oh, ow);
        var y = new double[n * co * oh * ow];
        for (int b0 = 0; b0 < n; b0++)
        {
            for (int o = 0; o < co; o++)
                for (int q = 0; q < oh * ow; q++) y[(b0 * co + o) * oh * ow + q] = b is null ? 0 : b[o];
            for (int c = 0; c < ci; c++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        for (int o = 0; o < co; o++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                {
                                    int yy = i * s - p + u, xx = j * s - p + v;
                                    if (yy < 0 || yy >= oh || xx < 0 || xx >= ow) continue;
                                    y[((b0 * co + o) * oh + yy) * ow + xx] += (double)x[((b0 * ci + c) * h + i) * w + j] * wt[((c * co + o) * k + u) * k + v];
                                }
        }
        return y;
    }

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
        var expected = Conv2dReference(x, 2, 3, 7, 6, conv.Weight.ToArray(), conv.Bias?.ToArray(), 4, 3, stride, padding, dilation, out int ho, out int wo);
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
        var expected = ConvTranspose2dReference(x, 2, 3, 3, 5, convT.Weight.ToArray(), convT.Bias?.ToArray(), 2, 4, stride, padding, outputPadding, out int ho, out int wo);
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
        var expected = new double[x.Length];
        var runMean = new double[c];
        var runVar = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            var vals = new List<(int Index, double Value)>();
            for (int b = 0; b < n; b++)
                for (int q = 0; q < h * w; q++) vals.Add(((b * c + ch) * h * w + q, x[(b * c + ch) * h * w + q]));
            double mean = vals.Average(v => v.Value);
            double var = vals.Sum(v => (v.Value - mean) * (v.Value - mean)) / m;
            foreach (var (i, v) in vals) expected[i] = (v - mean) / Math.Sqrt(var + 1e-5) * gamma[ch] + beta[ch];
            runMean[ch] = 0.9 * 0 + 0.1 * mean;
            runVar[ch] = 0.9 * 1 + 0.1 * var * m / (m - 1); // unbiased variance in running_var (PyTorch)
        }
        LayerTests.AssertClose(y, expected, 1e-5, 1e-4, "BatchNorm2d training output");
        LayerTests.AssertClose(bn.RunningMean!.ToArray(), runMean, 1e-6, 1e-5, "running_mean");
        LayerTests.AssertClose(bn.RunningVar!.ToArray(), runVar, 1e-6, 1e-5, "running_var");
        Assert.That(bn.NumBatchesTracked, Is.EqualTo(1));

        bn.Eval();
        var ye = bn.Forward(Tensor.FromArray(x, new Shape(n, c, h, w))).ToArray();
        var expectedEval = x.Select((v, i) => { int ch = i / (h * w) % c; return (v - runMean[ch]) / Math.Sqrt(runVar[ch] + 1e-5) * gamma[ch] + beta[ch]; }).ToArray();
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
        var g = ln.Weight!.ToArray();
        var expected = new double[x.Length];
        for (int s = 0; s < 2; s++)
        {
            var seg = x.Skip(s * 18).Take(18).Select(v => (double)v).ToArray();
            double mean = seg.Average(), var = seg.Sum(v => (v - mean) * (v - mean)) / 18;
            for (int i = 0; i < 18; i++) expected[s * 18 + i] = (seg[i] - mean) / Math.Sqrt(var + 1e-5) * g[i];
        }
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
        var g = inorm.Weight!.ToArray();
        var b = inorm.Bias!.ToArray();
        var expected = new double[x.Length];
        for (int plane = 0; plane < 6; plane++)
        {
            var seg = x.Skip(plane * 20).Take(20).Select(v => (double)v).ToArray();
            double mean = seg.Average(), var = seg.Sum(v => (v - mean) * (v - mean)) / 20;
            for (int i = 0; i < 20; i++) expected[plane * 20 + i] = (seg[i] - mean) / Math.Sqrt(var + 1e-5) * g[plane % 3] + b[plane % 3];
        }
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
