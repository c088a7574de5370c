// The launch costs that the slicing, padding and upsampling launchers declare, as the launch recorder
// sees them on the ILGPU device: one launch per op (Concat of up to 8 parts too), the op scope, the
// extent and the compulsory traffic.
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Ops;

[TestFixture, Category("ilgpu-cpu")]
public sealed class ResamplingLaunchTests
{
    [Test]
    public void SliceLaunchesCountTheirTraffic()
    {
        var d = Device.IlgpuCpu;
        using var scope = TensorScope.Begin();
        var a = Tensor.Ones(new Shape(2, 3, 4, 5), d);
        var b = Tensor.Ones(new Shape(2, 1, 4, 5), d);
        var r = new LaunchRecorder();
        using (d.Attach(r))
        {
            Tensor.Concat([a, b], 1);
            Assert.That(r.Launches.Select(l => (l.Kernel, l.Op, l.Extent)), Is.EqualTo(new[]
            {
                ("SliceKernels.ConcatKernel", "Concat", 160),
            }));
            Assert.That(r.Launches[0].Cost, Is.EqualTo(new LaunchCost(0, 4 * 160, 4 * 160, 1)));

            r.Clear();
            a.Narrow(3, 1, 2);
            Assert.That(r.Launches.Single().Cost, Is.EqualTo(new LaunchCost(0, 4 * 48, 4 * 48, 1)));

            r.Clear();
            Tensor.SliceBackward(b, 1, 4, 3);
            var back = r.Launches.Single();
            Assert.That((back.Kernel, back.Extent, back.Cost), Is.EqualTo(("SliceKernels.SliceBackwardKernel", 160, new LaunchCost(0, 4 * 40, 4 * 160, 1))));
        }
    }

    [Test]
    public void PaddingAndUpsamplingLaunchesCountTheirTraffic()
    {
        var d = Device.IlgpuCpu;
        using var scope = TensorScope.Begin();
        var x = Tensor.Ones(new Shape(1, 2, 4, 5), d);
        var r = new LaunchRecorder();
        using (d.Attach(r))
        {
            var y = x.Pad2d(1, 2, 3, 0, PadMode.Reflect);   // (1, 2, 7, 8)
            var pad = r.Launches.Single();
            Assert.That((pad.Kernel, pad.Op, pad.Extent, pad.Cost), Is.EqualTo(("PaddingKernels.Pad2dKernel", "Pad2d", 112, new LaunchCost(0, 4 * 40, 4 * 112, 1))));

            r.Clear();
            Tensor.Pad2dBackward(y, 4, 5, 1, 2, 3, 0, PadMode.Reflect);
            var back = r.Launches.Single();
            Assert.That((back.Extent, back.Cost), Is.EqualTo((40, new LaunchCost(112, 4 * 112, 4 * 40, 9))));

            r.Clear();
            var up = x.UpsampleNearest2d(2, 3);
            Assert.That(r.Launches.Single().Cost, Is.EqualTo(new LaunchCost(0, 4 * 40, 4 * 240, 1)));

            r.Clear();
            Tensor.UpsampleNearest2dBackward(up, 2, 3);
            var ub = r.Launches.Single();
            Assert.That((ub.Kernel, ub.Extent, ub.Cost), Is.EqualTo(("UpsampleKernels.UpsampleNearest2dBackwardKernel", 40, new LaunchCost(240, 4 * 240, 4 * 40, 6))));
        }
    }
}
