// The random fills against their float64 reference (the counter-based definition computed in
// double), on each device, at a size that crosses the parallel chunks and the Vector512 path of
// the uniform fill; the two kernel sets bit for bit; stream offsets; and the moments of the values.
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

// Not "...Ops.Random": that name would hide System.Random from every namespace under GpuGan.Tests.Ops.
namespace GpuGan.Tests.Ops.Randomness;

public abstract class RandomFillTests : DeviceFixture
{
    private const int N = 40_003; // past one chunk of both fills (8,192 normal, 32,768 uniform), a ragged end (16·k + 3)

    [TestCase(false, -1f, 3f)]
    [TestCase(true, 0.5f, 2f)]
    public void MatchesTheFloat64Reference(bool normal, float a, float b)
    {
        using var scope = TensorScope.Begin();
        var stream = new RandomStream(17, offset: 1234);
        var t = normal ? Tensor.RandN(new Shape(N), stream, Device, a, b) : Tensor.RandU(new Shape(N), stream, Device, a, b);
        Assert.That(stream.Offset, Is.EqualTo(1234UL + N), "the stream advances by the size");
        var expected = RandomFill.Reference(17, 1234, N, normal, a, b);
        // One float32 rounding of a value of order |a| + |b|·4.
        GradCheck.AssertClose(t.ToArray(), expected, 1e-6, 1e-6, $"{(normal ? "normal" : "uniform")} fill on {Device.Kind}");
    }

    [Test]
    public void InPlaceFillsContinueTheStream()
    {
        using var scope = TensorScope.Begin();
        var stream = new RandomStream(5);
        var t = Tensor.Zeros(new Shape(7, 11), Device);
        t.FillUniform(stream, -2f, 2f);
        var u = t.ToArray();
        t.FillNormal(stream, 0f, 3f);
        GradCheck.AssertClose(u, RandomFill.Reference(5, 0, 77, false, -2f, 2f), 1e-6, 1e-6, "FillUniform");
        GradCheck.AssertClose(t.ToArray(), RandomFill.Reference(5, 77, 77, true, 0f, 3f), 1e-6, 1e-6, "FillNormal from the next counter");
        Assert.That(stream.Offset, Is.EqualTo(154UL));
    }

    [Test]
    public void ValuesHaveTheirDistributionsMoments()
    {
        using var scope = TensorScope.Begin();
        var n = Tensor.RandN(new Shape(N), new RandomStream(9), Device, 1f, 2f).ToArray();
        var u = Tensor.RandU(new Shape(N), new RandomStream(9), Device, -1f, 1f).ToArray();
        double mean = n.Average(), sd = Math.Sqrt(n.Select(v => (v - mean) * (v - mean)).Average());
        // Standard errors: 2/√N = 0.01 for the mean, ≈ 2/√(2N) = 0.007 for the deviation; 5 of them.
        Assert.That(mean, Is.EqualTo(1).Within(0.05));
        Assert.That(sd, Is.EqualTo(2).Within(0.035));
        Assert.That(u.Min(), Is.GreaterThanOrEqualTo(-1f));
        Assert.That(u.Max(), Is.LessThan(1f));
        Assert.That(u.Average(), Is.EqualTo(0).Within(5 * Math.Sqrt(1.0 / 3 / N)));
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuRandomFillTests : RandomFillTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuRandomFillTests : RandomFillTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
}

/// <summary>The fills are functions of (seed, counter): both kernel sets and the host-span fills give the same floats.</summary>
[TestFixture, Category("parity")]
public sealed class RandomFillParityTests
{
    [TestCase(false)]
    [TestCase(true)]
    public void SimdAndIlgpuAgreeBitForBit(bool normal)
    {
        using var scope = TensorScope.Begin();
        float[] Fill(Device d) => (normal ? Tensor.RandN(new Shape(40_003), new RandomStream(9), d, 0.5f, 2f) : Tensor.RandU(new Shape(40_003), new RandomStream(9), d, -1f, 1f)).ToArray();
        var cpu = Fill(Device.Cpu);
        Assert.That(Fill(Device.IlgpuCpu), Is.EqualTo(cpu));
        var host = new float[cpu.Length];
        if (normal) new RandomStream(9).FillNormal(host, 0.5f, 2f);
        else new RandomStream(9).FillUniform(host, -1f, 1f);
        Assert.That(host, Is.EqualTo(cpu), "RandomStream's host-span fill");
    }

    [Test]
    public void StreamResumesFromItsOffset()
    {
        var g = new RandomStream(12);
        g.FillNormal(new float[10]);
        var resumed = new RandomStream(12, g.Offset);
        var x = new float[5];
        var y = new float[5];
        g.FillNormal(x);
        resumed.FillNormal(y);
        Assert.That(y, Is.EqualTo(x));
    }
}
