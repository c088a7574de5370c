// Tensor.GlobalNorm against its float64 reference on each device: several tensors of odd sizes,
// the empty list, and mixed devices.
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Optim;

public abstract class GlobalNormTests : DeviceFixture
{
    [Test]
    public void MatchesTheFloat64Reference()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(9);
        int[][] shapes = [[64, 64, 4, 4], [64], [3, 5], [1]];
        var values = shapes.Select(s => { var v = new float[s.Aggregate(1, (a, b) => a * b)]; gen.FillNormal(v, 0f, 0.1f); return v; }).ToArray();
        var norm = Tensor.GlobalNorm(values.Select((v, i) => Tensor.FromArray(v, new Shape(shapes[i]), Device)));
        Assert.That(norm.Shape, Is.EqualTo(new Shape()));
        Assert.That(norm.Device, Is.SameAs(Device), "stays on the device (no read-back)");
        double expected = Tensor.GlobalNormReference(values.Select(GradCheck.ToDouble));
        // 65,617 float32 squares. The SIMD set sums runs in float lanes and the runs in double (seen:
        // 1.2e-7 relative); the ILGPU kernels add ≤ 16 terms per thread, then trees and 17 chunk partials
        // (short float sums: the old one-thread-per-output kernel needed 1e-5 here). rtol 1e-6 for both.
        GradCheck.AssertClose([norm.Item()], [expected], 0, 1e-6, $"GlobalNorm on {Device.Kind}");
    }

    [Test]
    public void IsZeroForNoTensors() => Assert.That(Tensor.GlobalNorm([], Device).Item(), Is.Zero);

    [Test]
    public void RejectsMixedDevices()
    {
        using var scope = TensorScope.Begin();
        var other = Device.IsHost ? Device.IlgpuCpu : Device.Cpu;
        Assert.Throws<DeviceMismatchException>(() => Tensor.GlobalNorm([Tensor.Ones(new Shape(2), Device), Tensor.Ones(new Shape(2), other)]));
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuGlobalNormTests : GlobalNormTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuGlobalNormTests : GlobalNormTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
}
