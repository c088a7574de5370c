// The parallel ILGPU reductions (rows, columns, chunked with a second pass), the global norm's
// multi-tensor kernel and the spread (chunked) normalisation statistics, on ILGPU's CPU accelerator:
// against the float64 references, against the SIMD set, and run twice for identical bits.
// A private simulator with 2 elements per thread forces the chunked paths at shapes small enough
// for the simulator; the shared one (16) covers the default cut.
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Reduction;

[TestFixture, Category("ilgpu-cpu")]
public sealed class ReductionKernelTests
{
    private Device _fine = null!;

    [OneTimeSetUp]
    public void OpenDevice() => _fine = Device.CreateIlgpuCpu(new GpuKernelOptions { ReductionElementsPerThread = 2 });

    [OneTimeTearDown]
    public void CloseDevice() => _fine.Dispose();

    private Device Pick(bool fine) => fine ? _fine : Device.IlgpuCpu;

    private static float[] Sample(int n, int seed, float scale = 1f)
    {
        var v = new float[n];
        new RandomStream((ulong)seed).FillNormal(v, 0.25f, scale);
        return v;
    }

    /// <summary>Rows (innermost reduced), columns (innermost kept), interleaved groups, one chunk and many.</summary>
    [TestCase(new[] { 3000 }, new[] { 0 }, false)]
    [TestCase(new[] { 3000 }, new[] { 0 }, true)]
    [TestCase(new[] { 5, 7, 33 }, new[] { 0, 2 }, true)]
    [TestCase(new[] { 5, 7, 33 }, new[] { 0, 2 }, false)]
    [TestCase(new[] { 9, 13, 3 }, new[] { 0 }, true)]
    [TestCase(new[] { 300, 3 }, new[] { 0 }, true)]
    [TestCase(new[] { 4, 130 }, new[] { 1 }, true)]
    [TestCase(new[] { 2, 3, 4, 5 }, new[] { 1, 3 }, true)]
    [TestCase(new[] { 2, 3, 4, 5 }, new[] { 0, 2 }, true)]
    [TestCase(new[] { 3, 70, 2 }, new[] { 1 }, true)]
    [TestCase(new[] { 6, 1, 5 }, new[] { 1 }, true)]
    public void SumMatchesTheFloat64Reference(int[] shape, int[] axes, bool fine)
    {
        var device = Pick(fine);
        var shp = new Shape(shape);
        var x = Sample(shp.Size, 3);
        var outDims = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        using var scope = TensorScope.Begin();
        var y = Tensor.FromArray(x, shp, device).Sum(axes, keepDim: true);
        var expected = ReductionKernels.SumReference(GradCheck.ToDouble(x), shape, outDims);
        // Float sums of up to 3,000 terms of |x| ~ 1: a few ulps of the magnitude sum.
        GradCheck.AssertClose(y.ToArray(), expected, 2e-5 * Math.Sqrt(shp.Size / (double)expected.Length), 1e-5, $"Sum{string.Join(",", axes)} of {shp}");
    }

    [Test]
    public void MeanScalesInTheLastPass()
    {
        var x = Sample(2 * 3 * 500, 4);
        using var scope = TensorScope.Begin();
        var y = Tensor.FromArray(x, new Shape(2, 3, 500), _fine).Mean([0, 2]);
        var sums = ReductionKernels.SumReference(GradCheck.ToDouble(x), [2, 3, 500], [1, 3, 1]);
        GradCheck.AssertClose(y.ToArray(), sums.Select(v => v / 1000).ToArray(), 1e-6, 1e-5, "Mean[0,2]");
    }

    [Test]
    public void SumsAreBitIdenticalRunToRun()
    {
        var x = Sample(7 * 1100, 5);
        foreach (var (shape, axes) in new (int[], int[])[] { ([7 * 1100], [0]), ([7, 1100], [1]), ([7, 1100], [0]), ([7, 11, 100], [0, 2]) })
        {
            float[] Run()
            {
                using var scope = TensorScope.Begin();
                return Tensor.FromArray(x, new Shape(shape), _fine).Sum(axes).ToArray();
            }
            var first = Run();
            var second = Run();
            Assert.That(second.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Select(BitConverter.SingleToInt32Bits)),
                $"Sum over {string.Join(",", axes)} of ({string.Join(", ", shape)})");
        }
    }

    [Test]
    public void SumMatchesTheSimdSet()
    {
        var x = Sample(4 * 6 * 90, 6);
        using var scope = TensorScope.Begin();
        foreach (var axes in new[] { new[] { 0, 2 }, [1], [2], [0, 1, 2] })
        {
            var cpu = Tensor.FromArray(x, new Shape(4, 6, 90), Device.Cpu).Sum(axes).ToArray();
            var gpu = Tensor.FromArray(x, new Shape(4, 6, 90), _fine).Sum(axes).ToArray();
            GradCheck.AssertClose(gpu, cpu, 1e-4, 1e-5, $"Sum[{string.Join(",", axes)}] ilgpu-cpu vs cpu");
        }
    }

    /// <summary>Eleven tensors (two launches of the 8-tensor kernel), several chunks each, one empty.</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void GlobalNormOfManyTensors(bool fine)
    {
        var device = Pick(fine);
        int[] sizes = [1, 700, 3, 1025, 64, 0, 9, 2048, 5, 130, 17];
        var values = sizes.Select((n, i) => Sample(n, 10 + i, 0.1f)).ToArray();
        using var scope = TensorScope.Begin();
        var tensors = values.Select(v => Tensor.FromArray(v, new Shape(v.Length), device)).ToArray();
        var norm = Tensor.GlobalNorm(tensors);
        double expected = Tensor.GlobalNormReference(values.Select(GradCheck.ToDouble));
        GradCheck.AssertClose([norm.Item()], [expected], 0, 1e-6, "GlobalNorm");
        var again = Tensor.GlobalNorm(tensors).Item();
        Assert.That(BitConverter.SingleToInt32Bits(again), Is.EqualTo(BitConverter.SingleToInt32Bits(norm.Item())), "bit-identical run to run");
    }

    [Test]
    public void GlobalNormIsDifferentiable()
    {
        var a = Sample(40, 1);
        var b = Sample(7, 2);
        using var scope = TensorScope.Begin();
        var ta = Tensor.FromArray(a, new Shape(40), _fine);
        var tb = Tensor.FromArray(b, new Shape(7), _fine);
        ta.RequiresGrad = tb.RequiresGrad = true;
        var norm = Tensor.GlobalNorm([ta, tb]);
        var grads = Autograd.Grad([norm], [ta, tb]);
        double n = Tensor.GlobalNormReference([GradCheck.ToDouble(a), GradCheck.ToDouble(b)]);
        GradCheck.AssertClose(grads[0].ToArray(), a.Select(v => v / n).ToArray(), 1e-7, 1e-5, "d‖x‖/da");
        GradCheck.AssertClose(grads[1].ToArray(), b.Select(v => v / n).ToArray(), 1e-7, 1e-5, "d‖x‖/db");
    }

    /// <summary>
    /// Batch and instance norm with statistics groups larger than one chunk (over 256 threads × 2 elements):
    /// forward against the float64 reference, backward against the SIMD set, bits stable run to run.
    /// </summary>
    [TestCase("batch", 3, 4, 12, 16)]
    [TestCase("batch", 2, 2, 20, 20)]
    [TestCase("instance", 2, 3, 24, 25)]
    public void SpreadNormalisationStatistics(string kind, int n, int c, int h, int w)
    {
        var shape = new Shape(n, c, h, w);
        var x = Sample(shape.Size, 21, 2f);
        var u = Sample(shape.Size, 22);
        var gamma = Sample(c, 23);
        var beta = Sample(c, 24);
        (float[] Y, float[] Dx, float[] Dg, float[] Db) Run(Device device)
        {
            using var scope = TensorScope.Begin();
            var xt = Tensor.FromArray(x, shape, device);
            var gt = Tensor.FromArray(gamma, new Shape(c), device);
            var bt = Tensor.FromArray(beta, new Shape(c), device);
            xt.RequiresGrad = gt.RequiresGrad = bt.RequiresGrad = true;
            var y = kind == "batch" ? xt.BatchNorm2d(gt, bt, null, null, training: true) : xt.InstanceNorm2d(gt, bt);
            var g = Autograd.Grad([y], [xt, gt, bt], [Tensor.FromArray(u, shape, device)]);
            return (y.ToArray(), g[0].ToArray(), g[1].ToArray(), g[2].ToArray());
        }
        var gpu = Run(_fine);
        var cpu = Run(Device.Cpu);
        var s = kind == "batch"
            ? new NormParams { A = n, B = 1, P = c, L = h * w, Eps = 1e-5f }
            : new NormParams { A = 1, B = n, P = c, L = h * w, Eps = 1e-5f };
        Assert.That(NormalizationKernels.Chunking(s, _fine.GpuOptions), Is.Not.Null, "the shape must exercise the spread kernels");
        var (yRef, _, _) = NormalizationKernels.ForwardReference(GradCheck.ToDouble(x), s, GradCheck.ToDouble(gamma), GradCheck.ToDouble(beta));
        GradCheck.AssertClose(gpu.Y, yRef, 1e-5, 1e-5, $"{kind} norm forward");
        GradCheck.AssertClose(gpu.Dx, cpu.Dx, 1e-5, 1e-4, $"{kind} norm dx ilgpu-cpu vs cpu");
        GradCheck.AssertClose(gpu.Dg, cpu.Dg, 1e-4, 1e-4, $"{kind} norm dγ ilgpu-cpu vs cpu");
        GradCheck.AssertClose(gpu.Db, cpu.Db, 1e-4, 1e-4, $"{kind} norm dβ ilgpu-cpu vs cpu");
        var again = Run(_fine);
        Assert.That(again.Y.Concat(again.Dx).Concat(again.Dg).Concat(again.Db).Select(BitConverter.SingleToInt32Bits),
            Is.EqualTo(gpu.Y.Concat(gpu.Dx).Concat(gpu.Dg).Concat(gpu.Db).Select(BitConverter.SingleToInt32Bits)), "bit-identical run to run");
    }
}
