using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using GpuGan.Tensors.Ops;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Conv;

/// <summary>Convolution properties beyond the op table, written once per device (STYLE 8).</summary>
public abstract class ConvTests : DeviceFixture
{
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

    /// <summary>
    /// A dense convolution (kernel = the whole unpadded input; DCGAN's D head and G stem) with a bias: one GEMM
    /// per kernel (plus the bias kernel on ILGPU), forward, input gradient, weight gradient and ConvTranspose2d.
    /// </summary>
    [Test]
    public void DenseConvolutionWithBiasIsOneGemm()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(12);
        var x = Rand(gen, 3, 2, 4, 4);
        var w = Rand(gen, 5, 2, 4, 4);
        var b = Rand(gen, 5);
        var bt = Rand(gen, 2);
        x.RequiresGrad = w.RequiresGrad = true;
        var recorder = Device.IsHost ? null : new LaunchRecorder();
        Tensor y, t;
        Tensor[] grads;
        using (recorder is null ? null : Device.Attach(recorder))
        {
            y = x.Conv2d(w, b);
            grads = Autograd.Grad([y], [x, w], [Rand(gen, 3, 5, 1, 1)]);
            t = y.Detach().ConvTranspose2d(w, bt);
        }
        var g = new ConvGeometry(3, 2, 4, 4, 5, 4, 4, 1, 1, 1, 0, 1);
        Assert.That(g.Dense);
        var x64 = GradCheck.ToDouble(x.ToArray());
        var w64 = GradCheck.ToDouble(w.ToArray());
        var y64 = GradCheck.ToDouble(y.ToArray());
        GradCheck.AssertClose(y.ToArray(), ConvKernels.Conv2dReference(x64, w64, GradCheck.ToDouble(b.ToArray()), g), 2e-5, 1e-5, "dense forward");
        GradCheck.AssertClose(t.ToArray(), ConvKernels.ConvTranspose2dReference(y64, w64, GradCheck.ToDouble(bt.ToArray()), g), 1e-4, 1e-5, "dense ConvTranspose2d");
        Assert.That(grads[0].Shape, Is.EqualTo(x.Shape));
        Assert.That(grads[1].Shape, Is.EqualTo(w.Shape));
        if (recorder is not null)
        {
            // Conv2d, its input and weight gradients, ConvTranspose2d: a GEMM each, and the two bias adds.
            var convLaunches = recorder.Launches.Where(l => l.OpPath?.Contains("Conv") == true).Select(l => l.Kernel.Split('.')[1]).ToArray();
            Assert.That(convLaunches.Count(k => k.StartsWith("Gemm", StringComparison.Ordinal) && !k.Contains("Combine")), Is.EqualTo(4), string.Join(", ", convLaunches));
            Assert.That(convLaunches.Count(k => k == "AddBiasKernel"), Is.EqualTo(2));
            Assert.That(convLaunches.Any(k => k.Contains("Im2Col") || k.Contains("Col2Im") || k.Contains("Ncp") || k.Contains("Cnp")), Is.False, "no lowering kernels");
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
    protected override DeviceKind Kind => DeviceKind.Cpu;

    /// <summary>DCGAN-64 discriminator layer (2, 64, 32, 32) → k4 s2 p1 → 128, and its transposed mirror, against the float64 reference.</summary>
    [Test]
    public void Dcgan64ShapedForwardMatchesReference()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(21);
        var x = Tensor.RandN(new Shape(2, 64, 32, 32), gen, Device);
        var w = Tensor.RandN(new Shape(128, 64, 4, 4), gen, Device);
        var b = Tensor.RandN(new Shape(128), gen, Device);
        var y = x.Conv2d(w, b, 2, 1);
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 128, 16, 16)));
        var g = new ConvGeometry(2, 64, 32, 32, 128, 4, 4, 16, 16, 2, 1, 1);
        CheckAgainstReference(y.ToArray(), x.ToArray(), w.ToArray(), b.ToArray(), g, transposed: false);

        // The generator's mirror: (2, 128, 16, 16) → ConvT k4 s2 p1 → (2, 64, 32, 32).
        var z = Tensor.RandN(new Shape(2, 128, 16, 16), gen, Device);
        var bt = Tensor.RandN(new Shape(64), gen, Device);
        var t = z.ConvTranspose2d(w, bt, 2, 1);
        Assert.That(t.Shape, Is.EqualTo(new Shape(2, 64, 32, 32)));
        CheckAgainstReference(t.ToArray(), z.ToArray(), w.ToArray(), bt.ToArray(), g, transposed: true);
    }

    /// <summary>Every output against the conv family's float64 reference (ConvKernels), tolerance 1e-4 + 1e-5·|ref| (1024-term fp32 sums).</summary>
    private static void CheckAgainstReference(float[] actual, float[] input, float[] w, float[] b, ConvGeometry g, bool transposed)
    {
        double[] x64 = GradCheck.ToDouble(input), w64 = GradCheck.ToDouble(w), b64 = GradCheck.ToDouble(b);
        var expected = transposed ? ConvKernels.ConvTranspose2dReference(x64, w64, b64, g) : ConvKernels.Conv2dReference(x64, w64, b64, g);
        GradCheck.AssertClose(actual, expected, 1e-4, 1e-5, transposed ? "ConvTranspose2d" : "Conv2d");
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

    /// <summary>
    /// The small-plane col2im (each pixel gathers its taps) against the row walk, bit for bit: same
    /// sums in the same (i, j) order, −0 for missing taps, with and without bias, including a −0 bias
    /// (x + −0 keeps its sign), pixels with no tap at all, and planes whose pixel count is not a multiple of 8.
    /// </summary>
    [TestCase(4, 2, 1, 1, 14, 14, 7, 7)]   // DCGAN-28 D.main.2 / G.main.3 (conv orientation)
    [TestCase(4, 2, 1, 1, 28, 28, 14, 14)] // DCGAN-28 D.main.0 input gradient
    [TestCase(3, 1, 1, 1, 7, 7, 7, 7)]
    [TestCase(3, 3, 0, 1, 11, 11, 3, 3)]   // stride 3: input pixels no tap reaches
    [TestCase(3, 2, 2, 2, 9, 9, 5, 5)]     // dilation 2
    [TestCase(5, 2, 2, 1, 7, 5, 4, 3)]
    public unsafe void Col2ImGatherMatchesRowWalk(int k, int s, int p, int d, int h, int w, int ho, int wo)
    {
        Assert.That(ho, Is.EqualTo(ConvGeometry.OutputSize(h, k, s, p, d)));
        Assert.That(wo, Is.EqualTo(ConvGeometry.OutputSize(w, k, s, p, d)));
        const int n = 5, cin = 3;
        var g = new ConvGeometry(n, cin, h, w, 2, k, k, ho, wo, s, p, d);
        Assert.That((long)ConvKernels.TapsPerPixelBound(g) * g.HW, Is.LessThanOrEqualTo(4096), "the case must be small enough for the gather path");
        var rng = new Random(3);
        // n0 = 1, gs = 3: a group in the middle of the batch.
        var col = new float[g.Ckk * 3 * g.P];
        for (int i = 0; i < col.Length; i++) col[i] = (float)(rng.NextDouble() * 2 - 1);
        col[0] = -0f;
        foreach (var bias in new float[]?[] { null, [0.5f, -0f, 1.25f], [-0f, -0f, -0f] })
        {
            var rows = new float[n * cin * h * w];
            var gather = new float[rows.Length];
            Array.Fill(rows, 7f);
            Array.Fill(gather, 7f);
            fixed (float* cp = col, rp = rows, gp = gather, bp = bias)
            {
                ConvKernels.Col2ImRowsCpu(Device.Parallel, cp, rp, bp, g, 1, 3);
                ConvKernels.Col2ImGatherCpu(Device.Parallel, cp, gp, bp, g, 1, 3);
            }
            var rowBits = rows.Select(BitConverter.SingleToInt32Bits).ToArray();
            var gatherBits = gather.Select(BitConverter.SingleToInt32Bits).ToArray();
            Assert.That(gatherBits, Is.EqualTo(rowBits), bias is null ? "no bias" : $"bias {string.Join(", ", bias)}");
        }
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
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;

    /// <summary>
    /// The implicit-GEMM convolution: the forward, the weight gradient and the input gradient (as ConvTranspose2d) are
    /// one tiled GEMM launch each, split over k or not, with the biases in the epilogue: no im2col, col2im, permute or
    /// bias kernels. The input gradient runs the S² sub-pixel classes in one launch. Against the float64 reference
    /// (tolerance 1e-4 + 1e-5·|ref|, ≤ 1024-term fp32 sums) and bit-identical run to run. Shapes: a ragged tile row and
    /// column with stride 2 and padding, a forward split over k, a 1×1 stride-2 conv (classes without taps), a dilated
    /// conv, stride 2 with dilation 2 (gcd 2: half the classes get no tap), stride 3 with dilation 2 and padding 2,
    /// and an input gradient split over k (Cout·taps per class ≥ 64 with few tiles).
    /// </summary>
    [TestCase(3, 3, 11, 9, 130, 3, 2, 1, 1)]
    [TestCase(2, 64, 6, 6, 8, 4, 2, 1, 1)]
    [TestCase(2, 5, 7, 7, 7, 1, 2, 0, 1)]
    [TestCase(2, 3, 9, 8, 5, 3, 1, 2, 2)]
    [TestCase(2, 3, 11, 9, 4, 3, 2, 1, 2)]
    [TestCase(2, 2, 13, 10, 3, 4, 3, 2, 2)]
    [TestCase(2, 4, 8, 8, 96, 4, 2, 1, 1)]
    public void ForwardAndWeightGradientAreImplicitGemms(int n, int cin, int h, int w, int cout, int k, int s, int p, int d)
    {
        int ho = ConvGeometry.OutputSize(h, k, s, p, d), wo = ConvGeometry.OutputSize(w, k, s, p, d);
        var g = new ConvGeometry(n, cin, h, w, cout, k, k, ho, wo, s, p, d);
        (float[] Y, float[] Dw, float[] Dx, string[] Kernels) Run()
        {
            using var scope = TensorScope.Begin();
            var gen = new RandomStream(31);
            var x = Tensor.RandN(new Shape(n, cin, h, w), gen, Device);
            var wt = Tensor.RandN(new Shape(cout, cin, k, k), gen, Device);
            var gy = Tensor.RandN(new Shape(n, cout, ho, wo), gen, Device);
            var b = Tensor.RandN(new Shape(cout), gen, Device);
            var bt = Tensor.RandN(new Shape(cin), gen, Device);
            var recorder = new LaunchRecorder();
            Tensor y, dw, dx;
            using (Device.Attach(recorder))
            {
                y = x.Conv2d(wt, b, s, p, d);
                dw = Tensor.Conv2dWeightGrad(x, gy, (k, k), s, p, d);
                dx = gy.ConvTranspose2d(wt, bt, s, p, h - ((ho - 1) * s - 2 * p + d * (k - 1) + 1), d);
            }
            var x64 = GradCheck.ToDouble(x.ToArray());
            var w64 = GradCheck.ToDouble(wt.ToArray());
            var gy64 = GradCheck.ToDouble(gy.ToArray());
            GradCheck.AssertClose(y.ToArray(), ConvKernels.Conv2dReference(x64, w64, GradCheck.ToDouble(b.ToArray()), g), 1e-4, 1e-5, $"{g} forward");
            GradCheck.AssertClose(dw.ToArray(), ConvKernels.Conv2dWeightGradReference(x64, gy64, g), 1e-4, 1e-5, $"{g} weight gradient");
            GradCheck.AssertClose(dx.ToArray(), ConvKernels.ConvTranspose2dReference(gy64, w64, GradCheck.ToDouble(bt.ToArray()), g), 1e-4, 1e-5, $"{g} input gradient");
            return (y.ToArray(), dw.ToArray(), dx.ToArray(), recorder.Launches.Select(l => l.Kernel).ToArray());
        }
        var first = Run();
        // One launch per kernel, split over k or not (the split combines in-kernel); the input gradient is the
        // sub-pixel implicit GEMM (no col2im).
        Assert.That(string.Join(" + ", first.Kernels), Is.EqualTo(
            "MatMulKernels.GemmTiledKernel<ARowMajor, BConvImage, CNchw> + "
            + "MatMulKernels.GemmTiledKernel<ANchwChannels, BConvImageT, CRowMajor> + "
            + "MatMulKernels.GemmTiledKernel<AConvWeightT, BConvGradGather, CNchwSubPixel>"));
        var second = Run();
        Assert.That(second.Y, Is.EqualTo(first.Y), "forward bit-identical run to run");
        Assert.That(second.Dw, Is.EqualTo(first.Dw), "weight gradient bit-identical run to run");
        Assert.That(second.Dx.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Dx.Select(BitConverter.SingleToInt32Bits)), "input gradient bit-identical run to run");
    }
}
