// The fused WGAN-GP penalty's ILGPU kernels where the op-table rows do not reach: samples longer than one chunk
// (a private simulator with 2 elements per thread cuts a 1,300-element sample into three 512-element chunks,
// and 300 samples give the combine group more samples than threads), against the float64 reference and the
// SIMD set, and run twice for identical bits.
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Penalty;

[TestFixture, Category("ilgpu-cpu")]
public sealed class GradientPenaltyKernelTests
{
    private Device _fine = null!;

    [OneTimeSetUp]
    public void OpenDevice() => _fine = Device.CreateIlgpuCpu(new GpuKernelOptions { ReductionElementsPerThread = 2 });

    [OneTimeTearDown]
    public void CloseDevice() => _fine.Dispose();

    [TestCase(3, 1300)]
    [TestCase(300, 5)]
    public void ChunkedPenaltyMatchesTheReferenceAndTheSimdSet(int n, int l)
    {
        var v = new float[n * l];
        new RandomStream(11).FillNormal(v, 0f, 1.5f / MathF.Sqrt(l));
        var shape = new Shape(n, l);
        float[] Run(Device d, out float[] grad)
        {
            using var scope = TensorScope.Begin();
            var g = Tensor.FromArray(v, shape, d);
            g.RequiresGrad = true;
            var p = Losses.GradientPenalty(g, 10f, 1e-12f);
            grad = Autograd.Grad([p], [g])[0].ToArray();
            return p.ToArray();
        }
        var ilgpu = Run(_fine, out var gIlgpu);
        var again = Run(_fine, out var gAgain);
        var simd = Run(Device.Cpu, out var gSimd);
        var x = GradCheck.ToDouble(v);
        double expected = PenaltyKernels.Reference(x, n, 10, 1e-12);
        var expectedGrad = PenaltyKernels.BackwardReference(1, x, n, 10, 1e-12);
        // Float sums of ≤ 1,300 squares: relative ~1e-6 of the penalty and of each gradient's scale.
        GradCheck.AssertClose(ilgpu, [expected], 1e-6, 1e-5, "penalty (ilgpu)");
        GradCheck.AssertClose(simd, [expected], 1e-6, 1e-5, "penalty (simd)");
        double scale = expectedGrad.Max(v => Math.Abs(v));
        GradCheck.AssertClose(gIlgpu, expectedGrad, 1e-5 * scale, 1e-5, "gradient (ilgpu)");
        GradCheck.AssertClose(gSimd, expectedGrad, 1e-5 * scale, 1e-5, "gradient (simd)");
        Assert.That(again, Is.EqualTo(ilgpu), "the same bits on a second run");
        Assert.That(gAgain, Is.EqualTo(gIlgpu), "the same gradient bits on a second run");
    }

    [Test]
    public void AnEmptyBatchIsRefused()
    {
        using var scope = TensorScope.Begin();
        Assert.Throws<ShapeMismatchException>(() => Losses.GradientPenalty(Tensor.Zeros(new Shape(0, 3)), 10f, 1e-12f));
    }
}
