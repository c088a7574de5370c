// Initialisers: fans, gains, bounds and moments of the drawn values (seeded), the PyTorch default
// and the DCGAN rule. Moment tolerances are ~5 standard errors of the sample statistic.
using GpuGan.Layers;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Layers;

[TestFixture, Category("cpu")]
public sealed class InitTests
{
    private static (double Mean, double Std, double Min, double Max) Moments(Tensor t)
    {
        var v = t.ToArray().Select(x => (double)x).ToArray();
        double mean = v.Average();
        return (mean, Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Average()), v.Min(), v.Max());
    }

    [Test]
    public void FansFollowPyTorch()
    {
        Assert.That(Init.Fans(new Shape(5, 7)), Is.EqualTo((7, 5)));
        Assert.That(Init.Fans(new Shape(8, 3, 4, 4)), Is.EqualTo((48, 128)));
        // ConvTranspose2d weight (Cin, Cout, k, k): PyTorch takes fan_in from dimension 1.
        Assert.That(Init.Fans(new Shape(100, 512, 4, 4)), Is.EqualTo((512 * 16, 100 * 16)));
        Assert.Throws<ArgumentException>(() => Init.Fans(new Shape(3)));
    }

    [Test]
    public void GainsFollowPyTorch()
    {
        Assert.That(Init.CalculateGain(Nonlinearity.Relu), Is.EqualTo(MathF.Sqrt(2)));
        Assert.That(Init.CalculateGain(Nonlinearity.Tanh), Is.EqualTo(5f / 3f));
        Assert.That(Init.CalculateGain(Nonlinearity.LeakyRelu, 0.2f), Is.EqualTo((float)Math.Sqrt(2 / 1.04)).Within(1e-6));
    }

    [Test]
    public void NormalAndUniformHaveTheRequestedMoments()
    {
        using var scope = TensorScope.Begin();
        var n = Moments(Init.Normal(Tensor.Zeros(new Shape(100, 100)), new RandomStream(1), 1f, 0.02f));
        Assert.That(n.Mean, Is.EqualTo(1).Within(5 * 0.02 / 100));
        Assert.That(n.Std, Is.EqualTo(0.02).Within(0.02 * 5 / Math.Sqrt(2 * 10000)));
        var u = Moments(Init.Uniform(Tensor.Zeros(new Shape(100, 100)), new RandomStream(2), -3f, 1f));
        Assert.That(u.Min, Is.GreaterThanOrEqualTo(-3));
        Assert.That(u.Max, Is.LessThan(1));
        Assert.That(u.Mean, Is.EqualTo(-1).Within(5 * 4 / Math.Sqrt(12) / 100));
    }

    [Test]
    public void XavierAndKaimingBoundsAndStds()
    {
        using var scope = TensorScope.Begin();
        var shape = new Shape(64, 32, 3, 3); // fan_in 288, fan_out 576
        var xu = Moments(Init.XavierUniform(Tensor.Zeros(shape), new RandomStream(3)));
        double xb = Math.Sqrt(6.0 / (288 + 576));
        Assert.That(xu.Max, Is.LessThanOrEqualTo(xb).And.GreaterThan(0.99 * xb));
        Assert.That(xu.Min, Is.GreaterThanOrEqualTo(-xb).And.LessThan(-0.99 * xb));
        var xn = Moments(Init.XavierNormal(Tensor.Zeros(shape), new RandomStream(4)));
        Assert.That(xn.Std, Is.EqualTo(Math.Sqrt(2.0 / 864)).Within(0.02 * Math.Sqrt(2.0 / 864)));
        var ku = Moments(Init.KaimingUniform(Tensor.Zeros(shape), new RandomStream(5), nonlinearity: Nonlinearity.Relu));
        double kb = Math.Sqrt(2) * Math.Sqrt(3.0 / 288);
        Assert.That(ku.Max, Is.LessThanOrEqualTo(kb).And.GreaterThan(0.99 * kb));
        var kn = Moments(Init.KaimingNormal(Tensor.Zeros(shape), new RandomStream(6), a: 0.2f));
        double ks = Math.Sqrt(2 / 1.04) / Math.Sqrt(288);
        Assert.That(kn.Std, Is.EqualTo(ks).Within(0.02 * ks));
    }

    [Test]
    public void LinearDefaultIsUniformOverOneOverSqrtFanIn()
    {
        using var scope = TensorScope.Begin();
        var lin = new Linear(400, 300, gen: new RandomStream(7));
        double bound = 1 / Math.Sqrt(400);
        var w = Moments(lin.Weight);
        Assert.That(w.Max, Is.LessThanOrEqualTo(bound).And.GreaterThan(0.99 * bound));
        Assert.That(w.Min, Is.GreaterThanOrEqualTo(-bound).And.LessThan(-0.99 * bound));
        var b = Moments(lin.Bias!);
        Assert.That(b.Max, Is.LessThanOrEqualTo(bound));
        Assert.That(b.Min, Is.GreaterThanOrEqualTo(-bound));
    }

    [Test]
    public void SameSeedSameWeightsOnBothDevices()
    {
        var a = new Linear(9, 5, gen: new RandomStream(42));
        var b = new Linear(9, 5, gen: new RandomStream(42), device: Device.IlgpuCpu);
        Assert.That(b.Weight.Device, Is.EqualTo(Device.IlgpuCpu));
        Assert.That(b.Weight.ToArray(), Is.EqualTo(a.Weight.ToArray()));
        Assert.That(b.Bias!.ToArray(), Is.EqualTo(a.Bias!.ToArray()));
        Init.PytorchDefault(a, new RandomStream(43));
        Assert.That(a.Weight.ToArray(), Is.Not.EqualTo(b.Weight.ToArray()), "re-initialised from another seed");
    }

    [Test]
    public void DcganRuleSetsConvWeightsAndBatchNormAffine()
    {
        // Layers are only constructed here (no forward), so this runs without the conv/norm ops.
        var g = new Sequential(
            new ConvTranspose2d(100, 64, 4, 1, 0, bias: false, gen: new RandomStream(1)),
            new BatchNorm2d(64),
            new ReLU(),
            new Conv2d(64, 32, 4, 2, 1, bias: true, gen: new RandomStream(2)));
        var biasBefore = ((Conv2d)g[3]).Bias!.ToArray();
        Init.Dcgan(g, new RandomStream(3));
        var ct = Moments(((ConvTranspose2d)g[0]).Weight);
        Assert.That(ct.Mean, Is.EqualTo(0).Within(5 * 0.02 / Math.Sqrt(100 * 64 * 16)));
        Assert.That(ct.Std, Is.EqualTo(0.02).Within(0.001));
        var bn = (BatchNorm2d)g[1];
        var gamma = Moments(bn.Weight!);
        Assert.That(gamma.Mean, Is.EqualTo(1).Within(5 * 0.02 / 8));
        Assert.That(gamma.Std, Is.EqualTo(0.02).Within(0.01));
        Assert.That(bn.Bias!.ToArray(), Is.All.EqualTo(0f));
        Assert.That(Moments(((Conv2d)g[3]).Weight).Std, Is.EqualTo(0.02).Within(0.001));
        Assert.That(((Conv2d)g[3]).Bias!.ToArray(), Is.EqualTo(biasBefore), "biases are left alone");
    }
}
