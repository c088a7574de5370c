// The launch costs that the elementwise, optimiser and random-fill launchers declare, as the launch
// recorder sees them on the ILGPU device: the kernel (a generic instantiation names its op struct),
// the op scope, the extent and the compulsory traffic. A wrong count would mislead every GPU-time
// estimate built on the recorder.
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Ops;

[TestFixture, Category("ilgpu-cpu")]
public sealed class LaunchCostTests
{
    private static LaunchRecord Single(LaunchRecorder r)
    {
        Assert.That(r.Launches, Has.Count.EqualTo(1), string.Join(", ", r.Launches.Select(l => l.Kernel)));
        return r.Launches[0];
    }

    [Test]
    public void ElementwiseLaunchesNameTheirOpAndCountTheirTraffic()
    {
        var d = Device.IlgpuCpu;
        using var scope = TensorScope.Begin();
        var x = Tensor.Ones(new Shape(2, 3, 4, 5), d);
        var c = Tensor.Ones(new Shape(1, 3, 1, 1), d);
        var r = new LaunchRecorder();
        using (d.Attach(r))
        {
            x.Tanh();
            var tanh = Single(r);
            Assert.That(tanh.Kernel, Is.EqualTo("ElementwiseKernels.UnaryKernel<TanhOp>"));
            Assert.That(tanh.Op, Is.EqualTo("Tanh"));
            Assert.That(tanh.Extent, Is.EqualTo(120));
            Assert.That(tanh.Cost, Is.EqualTo(new LaunchCost(5 * 120, 4 * 120, 4 * 120, 1)));

            r.Clear();
            x.Add(c);
            var add = Single(r);
            Assert.That(add.Kernel, Is.EqualTo("ElementwiseKernels.BinaryKernel<AddOp>"));
            Assert.That(add.Cost, Is.EqualTo(new LaunchCost(120, 4 * (120 + 3), 4 * 120, 1)), "the per-channel operand is read once");

            r.Clear();
            c.BroadcastTo(x.Shape);
            Assert.That(Single(r).Cost, Is.EqualTo(new LaunchCost(0, 4 * 3, 4 * 120, 1)), "BroadcastTo reads its source once");

            r.Clear();
            x.AddInPlace(x, 0.5f);
            Assert.That(Single(r).Kernel, Is.EqualTo("ElementwiseKernels.BinaryKernel<AxpyOp>"));
        }
    }

    [Test]
    public void OptimiserAndRandomLaunchesCountTheirTraffic()
    {
        var d = Device.IlgpuCpu;
        using var scope = TensorScope.Begin();
        const int n = 1000;
        Tensor Z() => Tensor.Zeros(new Shape(n), d);
        Tensor p = Z(), g = Z(), m = Z(), v = Z();
        var r = new LaunchRecorder();
        using (d.Attach(r))
        {
            OptimizerUpdates.AdamStep(p, g, m, v, new AdamHyperparameters(1e-3), 1);
            var adam = Single(r);
            Assert.That(adam.Op, Is.EqualTo("AdamStep"));
            Assert.That(adam.Cost, Is.EqualTo(new LaunchCost(13 * n, 4 * 4 * n, 3 * 4 * n, 1)), "p, g, m, v read; p, m, v written");

            r.Clear();
            OptimizerUpdates.SgdStep(p, g, m, new SgdHyperparameters(0.1, Momentum: 0.9), firstStep: true);
            Assert.That(Single(r).Cost, Is.EqualTo(new LaunchCost(2 * n, 2 * 4 * n, 2 * 4 * n, 1)), "the first step sets the buffer without reading it");

            r.Clear();
            p.FillUniform(new RandomStream(1));
            var fill = Single(r);
            Assert.That(fill.Op, Is.EqualTo("FillUniform"));
            Assert.That(fill.Cost, Is.EqualTo(new LaunchCost(4 * n, 0, 4 * n, 1)));
        }
    }
}
