using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Conv;

/// <summary>Convolution properties beyond the op table, written once per device (STYLE 8).</summary>
public abstract class ConvTests
{
    protected abstract Device Device { get; }

    private Tensor Rand(RandomStream gen, params int[] shape) => Tensor.RandN(new Shape(shape), gen, Device);

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    [TestCase(3, 2, 1, 1, 7, 7)]   // odd sizes need output padding 1
    [TestCase(3, 1, 1, 2, 5, 5)]   // dilation
    [TestCase(4, 2, 1, 1, 6, 6)]
    [TestCase(5, 2, 2, 1, 7, 5)]
    public void ConvInputGradientIsConvTransposeForward(int k, int stride, int padding, int dilation, int h, int w)
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(5);
        var x = Rand(gen, 2, 3, h, w);
        x.RequiresGrad = true;
        var weight = Rand(gen, 4, 3, k, k);
        var y = x.Conv2d(weight, null, stride, padding, dilation);
        var u = Rand(gen, y.Shape.ToArray());
        var dx = Autograd.Grad([y], [x], [u])[0];

        // ConvT of u with the same weight tensor, output padding chosen to give back x's size.
        int opH = h - ((y.Shape[2] - 1) * stride - 2 * padding + dilation * (k - 1) + 1);
        int opW = w - ((y.Shape[3] - 1) * stride - 2 * padding + dilation * (k - 1) + 1);
        Assert.That(opH, Is.EqualTo(opW), "test shapes must need the same output padding on both axes");
        var t = u.ConvTranspose2d(weight, null, stride, padding, opH, dilation);
        Assert.That(t.Shape, Is.EqualTo(x.Shape));
        Assert.That(dx.ToArray(), Is.EqualTo(t.ToArray()), "the conv input gradient must be the ConvTranspose2d kernel itself");

        // Adjoint identity ⟨Conv(x), u⟩ = ⟨x, Convᵀ(u)⟩.
        double lhs = Dot(y.ToArray(), u.ToArray()), rhs = Dot(x.ToArray(), t.ToArray());
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-4 * (1 + Math.Abs(lhs))));
    }

    [Test]
    public void ValidationNamesOpAndShapes()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Zeros(new Shape(1, 3, 5, 5), Device);
        var ex = Assert.Throws<ShapeMismatchException>(() => x.Conv2d(Tensor.Zeros(new Shape(4, 2, 3, 3), Device)))!;
        Assert.That(ex.Message, Does.Contain("Conv2d").And.Contain("(1, 3, 5, 5)").And.Contain("(4, 2, 3, 3)"));
        Assert.Throws<ShapeMismatchException>(() => x.Conv2d(Tensor.Zeros(new Shape(4, 3, 7, 7), Device)));
        Assert.Throws<ShapeMismatchException>(() => x.Conv2d(Tensor.Zeros(new Shape(4, 3, 3, 3), Device), Tensor.Zeros(new Shape(3), Device)));
        var ext = Assert.Throws<ShapeMismatchException>(() => x.ConvTranspose2d(Tensor.Zeros(new Shape(4, 2, 3, 3), Device)))!;
        Assert.That(ext.Message, Does.Contain("ConvTranspose2d"));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.ConvTranspose2d(Tensor.Zeros(new Shape(3, 2, 3, 3), Device), stride: 2, outputPadding: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Conv2d(Tensor.Zeros(new Shape(4, 3, 3, 3), Device), stride: 0));
    }

    /// <summary>The grouping of samples into GEMMs is a performance choice: results must match the reference for any grouping.</summary>
    [TestCase(1, 1L << 22)]   // one sample per GEMM (the direct/pointwise path on the host)
    [TestCase(16, 60)]        // budget forces groups of 2 over 3 samples (a partial last group)
    [TestCase(1 << 20, 1L << 30)] // the whole batch in one GEMM
    public void AnyGroupingMatchesReference(int columnTarget, long budget)
    {
        // A device of this fixture's kernel set with the given lowering.
        var lowering = new ConvLoweringOptions { ColumnTarget = columnTarget, WorkspaceBudget = budget };
        using var device = Device.IsHost
            ? Device.CreateCpu(new CpuKernelOptions { Conv = lowering })
            : Device.CreateIlgpuCpu(new GpuKernelOptions { Conv = lowering });
        Tensor Rand(RandomStream gen, params int[] shape) => Tensor.RandN(new Shape(shape), gen, device);
        foreach (var (k, s, p) in new[] { (3, 2, 1), (1, 1, 0) })
        {
            using var scope = TensorScope.Begin();
            var gen = new RandomStream(9);
            var x = Rand(gen, 3, 2, 5, 4);
            var w = Rand(gen, 3, 2, k, k);
            var b = Rand(gen, 3);
            x.RequiresGrad = w.RequiresGrad = true;
            var y = x.Conv2d(w, b, s, p);
            var u = Rand(gen, y.Shape.ToArray());
            var grads = Autograd.Grad([y], [x, w], [u]);
            var g = new ConvGeometry(3, 2, 5, 4, 3, k, k, y.Shape[2], y.Shape[3], s, p, 1);
            var x64 = GradCheck.ToDouble(x.ToArray());
            var w64 = GradCheck.ToDouble(w.ToArray());
            var u64 = GradCheck.ToDouble(u.ToArray());
            string what = $"k{k} s{s} target {columnTarget} budget {budget}";
            GradCheck.AssertClose(y.ToArray(), ConvKernels.Conv2dReference(x64, w64, GradCheck.ToDouble(b.ToArray()), g), 2e-5, 1e-5, what + " forward");
            GradCheck.AssertClose(grads[0].ToArray(), ConvKernels.ConvTranspose2dReference(u64, w64, null, g), 2e-5, 1e-5, what + " input grad");
            GradCheck.AssertClose(grads[1].ToArray(), ConvKernels.Conv2dWeightGradReference(x64, u64, g), 2e-5, 1e-5, what + " weight grad");
        }
    }

    /// <summary>WGAN-GP shape of use: the input gradient's graph differentiated w.r.t. the weight only.</summary>
    [Test]
    public void GradientPenaltyPathIsTwiceDifferentiable()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(3);
        var x = Rand(gen, 2, 2, 6, 6);
        x.RequiresGrad = true;
        var w = Rand(gen, 3, 2, 4, 4);
        w.RequiresGrad = true;
        var score = x.Conv2d(w, null, 2, 1).Tanh().Sum();
        var gx = Autograd.Grad([score], [x], createGraph: true)[0];
        var penalty = gx.Square().Sum();
        var gw = Autograd.Grad([penalty], [w])[0];
        Assert.That(gw.Shape, Is.EqualTo(w.Shape));
        Assert.That(gw.ToArray().All(float.IsFinite) && gw.ToArray().Any(v => v != 0f));
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuConvTests : ConvTests
{
    protected override Device Device => Device.Cpu;

    /// <summary>DCGAN-64 discriminator layer (2, 64, 32, 32) → k4 s2 p1 → 128 against the direct loop on sampled outputs.</summary>
    [Test]
    public void Dcgan64ShapedForwardMatchesReferenceOnSamples()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(21);
        var x = Tensor.RandN(new Shape(2, 64, 32, 32), gen, Device);
        var w = Tensor.RandN(new Shape(128, 64, 4, 4), gen, Device);
        var b = Tensor.RandN(new Shape(128), gen, Device);
        var y = x.Conv2d(w, b, 2, 1);
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 128, 16, 16)));
        var g = new ConvGeometry(2, 64, 32, 32, 128, 4, 4, 16, 16, 2, 1, 1);
        CheckSamples(y.ToArray(), x.ToArray(), w.ToArray(), b.ToArray(), g, transposed: false);

        // The generator's mirror: (2, 128, 16, 16) → ConvT k4 s2 p1 → (2, 64, 32, 32).
        var z = Tensor.RandN(new Shape(2, 128, 16, 16), gen, Device);
        var bt = Tensor.RandN(new Shape(64), gen, Device);
        var t = z.ConvTranspose2d(w, bt, 2, 1);
        Assert.That(t.Shape, Is.EqualTo(new Shape(2, 64, 32, 32)));
        CheckSamples(t.ToArray(), z.ToArray(), w.ToArray(), bt.ToArray(), g, transposed: true);
    }

    private static void CheckSamples(float[] actual, float[] input, float[] w, float[] b, ConvGeometry g, bool transposed)
    {
        var rng = new Random(4);
        for (int trial = 0; trial < 64; trial++)
        {
            int idx = rng.Next(actual.Length);
            double s;
            if (!transposed)
            {
                int ow = idx % g.Wo, oh = idx / g.Wo % g.Ho, co = idx / g.P % g.Cout, n = idx / (g.P * g.Cout);
                s = b[co];
                for (int ci = 0; ci < g.Cin; ci++)
                for (int i = 0; i < g.KH; i++)
                for (int j = 0; j < g.KW; j++)
                {
                    int ih = oh * g.Stride - g.Pad + i, iw = ow * g.Stride - g.Pad + j;
                    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                    s += (double)w[((co * g.Cin + ci) * g.KH + i) * g.KW + j] * input[((n * g.Cin + ci) * g.H + ih) * g.W + iw];
                }
            }
            else
            {
                int iw = idx % g.W, ih = idx / g.W % g.H, ci = idx / g.HW % g.Cin, n = idx / (g.HW * g.Cin);
                s = b[ci];
                for (int co = 0; co < g.Cout; co++)
                for (int i = 0; i < g.KH; i++)
                for (int j = 0; j < g.KW; j++)
                {
                    int th = ih + g.Pad - i, tw = iw + g.Pad - j;
                    if (th < 0 || tw < 0 || th % g.Stride != 0 || tw % g.Stride != 0 || th / g.Stride >= g.Ho || tw / g.Stride >= g.Wo) continue;
                    s += (double)w[((co * g.Cin + ci) * g.KH + i) * g.KW + j] * input[((n * g.Cout + co) * g.Ho + th / g.Stride) * g.Wo + tw / g.Stride];
                }
            }
            Assert.That(actual[idx], Is.EqualTo(s).Within(1e-4 + 1e-5 * Math.Abs(s)), $"{(transposed ? "ConvTranspose2d" : "Conv2d")} element {idx}");
        }
    }

    /// <summary>
    /// Same inputs, 1 or 2 threads (host devices created with those settings): bit-identical forward and both
    /// gradients (fixed-order sums). The ILGPU kernels have no thread setting: two runs must agree bit for bit.
    /// </summary>
    [Test]
    public void ResultsDoNotDependOnThreadCount()
    {
        float[][] Run(Device device)
        {
            using var scope = TensorScope.Begin();
            var gen = new RandomStream(17);
            var x = Tensor.RandN(new Shape(8, 16, 16, 16), gen, device);
            var w = Tensor.RandN(new Shape(32, 16, 4, 4), gen, device);
            x.RequiresGrad = w.RequiresGrad = true;
            var y = x.Conv2d(w, null, 2, 1);
            var u = Tensor.RandN(y.Shape, gen, device);
            var g = Autograd.Grad([y], [x, w], [u]);
            return [y.ToArray(), g[0].ToArray(), g[1].ToArray()];
        }
        using var first = Device.IsHost ? Device.CreateCpu(new CpuKernelOptions { Threads = 1 }) : null;
        using var second = Device.IsHost ? Device.CreateCpu(new CpuKernelOptions { Threads = 2 }) : null;
        var one = Run(first ?? Device);
        var two = Run(second ?? Device);
        for (int k = 0; k < 3; k++) Assert.That(two[k], Is.EqualTo(one[k]), $"output {k}");
    }

    /// <summary>Workspaces come from the pool: after a warm-up step, a training-like step allocates no new buffers.</summary>
    [Test]
    public void SteadyStateAllocatesNoBuffers()
    {
        var gen = new RandomStream(1);
        var w = Tensor.RandN(new Shape(8, 4, 4, 4), gen, Device).KeepAlive();
        var wt = Tensor.RandN(new Shape(8, 4, 4, 4), gen, Device).KeepAlive();
        w.RequiresGrad = wt.RequiresGrad = true;
        void Step()
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.RandN(new Shape(3, 4, 10, 10), new RandomStream(2), Device);
            var loss = x.Conv2d(w, null, 2, 1).ConvTranspose2d(wt, null, 2, 1).Square().Sum();
            var g = Autograd.Grad([loss], [w, wt]);
            _ = g[0].ToArray();
        }
        Step();
        Step();
        long before = Device.Pool.Allocations;
        Step();
        Assert.That(Device.Pool.Allocations, Is.EqualTo(before));
        w.Dispose();
        wt.Dispose();
    }
}

[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuConvTests : ConvTests
{
    protected override Device Device => Device.IlgpuCpu;
}
