using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops;

/// <summary>Batch-norm semantics (running statistics, eval mode, fused vs composed backward) and loss edge cases, on both kernel sets.</summary>
[TestFixture(DeviceKind.Cpu), TestFixture(DeviceKind.IlgpuCpu)]
public sealed class BatchNormTests(DeviceKind kind)
{
    private Device D => Device.Open(kind);

    // x (N=2, C=2, H=1, W=2): channel 0 holds 1, 2, 3, 4; channel 1 holds 0, 0, 2, 6.
    private static readonly float[] X = [1, 2, 0, 0, 3, 4, 2, 6];

    [Test]
    public void TrainingUpdatesRunningStatisticsLikePyTorch()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(X, new Shape(2, 2, 1, 2), D);
        var rm = Tensor.FromArray([0f, 1f], new Shape(2), D);
        var rv = Tensor.FromArray([1f, 2f], new Shape(2), D);
        var y = x.BatchNorm2d(null, null, rm, rv, training: true, momentum: 0.1f);
        // Channel 0: mean 2.5, biased var 1.25, unbiased 5/3. Channel 1: mean 2, biased var 6, unbiased 8.
        Assert.That(rm.ToArray(), Is.EqualTo(new[] { 0.9f * 0f + 0.1f * 2.5f, 0.9f * 1f + 0.1f * 2f }).Within(1e-6f));
        Assert.That(rv.ToArray(), Is.EqualTo(new[] { 0.9f * 1f + 0.1f * (5f / 3f), 0.9f * 2f + 0.1f * 8f }).Within(1e-6f));
        double s0 = Math.Sqrt(1.25 + 1e-5), s1 = Math.Sqrt(6 + 1e-5);
        GradCheck.AssertClose(y.ToArray(), new[] { -1.5 / s0, -0.5 / s0, -2 / s1, -2 / s1, 0.5 / s0, 1.5 / s0, 0 / s1, 4 / s1 }, 1e-6, 1e-6, "normalised output");

        // A second step with momentum 0.5 starts from the updated values.
        x.BatchNorm2d(null, null, rm, rv, training: true, momentum: 0.5f);
        Assert.That(rm.ToArray(), Is.EqualTo(new[] { 0.5f * 0.25f + 0.5f * 2.5f, 0.5f * 1.1f + 0.5f * 2f }).Within(1e-6f));
        Assert.That(rv.ToArray(), Is.EqualTo(new[] { 0.5f * (0.9f + 1f / 6f) + 0.5f * (5f / 3f), 0.5f * 2.6f + 0.5f * 8f }).Within(1e-5f));
    }

    [Test]
    public void EvalUsesRunningStatisticsAndLeavesThemAlone()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(X, new Shape(2, 2, 1, 2), D);
        var rm = Tensor.FromArray([0.5f, -1f], new Shape(2), D);
        var rv = Tensor.FromArray([4f, 0.25f], new Shape(2), D);
        var gamma = Tensor.FromArray([2f, -1f], new Shape(2), D);
        var beta = Tensor.FromArray([0.1f, 0.2f], new Shape(2), D);
        var y = x.BatchNorm2d(gamma, beta, rm, rv, training: false);
        var expected = new double[8];
        for (int i = 0; i < 8; i++)
        {
            int c = i / 2 % 2;
            expected[i] = (X[i] - new[] { 0.5, -1 }[c]) / Math.Sqrt(new[] { 4, 0.25 }[c] + 1e-5) * new[] { 2.0, -1 }[c] + new[] { 0.1, 0.2 }[c];
        }
        GradCheck.AssertClose(y.ToArray(), expected, 1e-6, 1e-6, "eval output");
        Assert.That(rm.ToArray(), Is.EqualTo(new[] { 0.5f, -1f }));
        Assert.That(rv.ToArray(), Is.EqualTo(new[] { 4f, 0.25f }));
    }

    [Test]
    public void TrainAndEvalDiffer()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(X, new Shape(2, 2, 1, 2), D);
        var rm = Tensor.Zeros(new Shape(2), D);
        var rv = Tensor.Ones(new Shape(2), D);
        var eval = x.BatchNorm2d(null, null, rm, rv, training: false).ToArray();
        var train = x.BatchNorm2d(null, null, rm, rv, training: true).ToArray();
        Assert.That(eval[0], Is.EqualTo(1f / MathF.Sqrt(1f + 1e-5f)).Within(1e-6f));
        Assert.That(train, Is.Not.EqualTo(eval));
        Assert.That(train.Take(2).Concat(train.Skip(4).Take(2)).Sum(), Is.EqualTo(0f).Within(1e-5f), "training output of channel 0 has zero mean");
    }

    [Test]
    public void TrainingRequiresMoreThanOneValuePerChannel()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Ones(new Shape(1, 3, 1, 1), D);
        Assert.Throws<ArgumentException>(() => x.BatchNorm2d(null, null, null, null, training: true));
    }

    /// <summary>The fused backward kernel against the composed formula that is its double-backward rule, for all three layouts.</summary>
    [TestCase("batch", 3, 5, 4, 7, true)]
    [TestCase("batch", 1, 3, 5, 5, false)]
    [TestCase("instance", 2, 3, 5, 3, true)]
    [TestCase("layer", 3, 2, 3, 5, false)]
    public void FusedBackwardEqualsComposedPath(string kind, int n, int c, int h, int w, bool affine)
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(5);
        var x = Tensor.RandN(new Shape(n, c, h, w), gen, D, mean: 0.7f, std: 1.3f);
        var g = Tensor.RandN(new Shape(n, c, h, w), gen, D);
        var gamma = affine ? Tensor.RandN(new Shape(c), gen, D) : null;
        x.RequiresGrad = true;
        if (gamma is not null) gamma.RequiresGrad = true;
        var y = kind switch
        {
            "batch" => x.BatchNorm2d(gamma, null, null, null, training: true),
            "instance" => x.InstanceNorm2d(gamma, null),
            _ => x.LayerNorm(null, null),
        };
        var wrt = gamma is null ? new[] { x } : [x, gamma];
        var fused = Autograd.Grad([y], wrt, [g]);
        var s = kind switch
        {
            "batch" => new NormParams { A = n, B = 1, P = c, L = h * w, Eps = 1e-5f },
            "instance" => new NormParams { A = 1, B = n, P = c, L = h * w, Eps = 1e-5f },
            _ => new NormParams { A = 1, B = n, P = 1, L = c * h * w, Eps = 1e-5f },
        };
        Tensor[] composed;
        using (Autograd.NoGrad()) composed = Tensor.NormBackwardComposed(g, x.Detach(), gamma?.Detach(), s);
        GradCheck.AssertClose(fused[0].ToArray(), composed[0].ToArray(), 2e-5, 1e-4, $"{kind}: dx fused vs composed");
        if (gamma is not null) GradCheck.AssertClose(fused[1].ToArray(), composed[1].ToArray(), 2e-5, 1e-4, $"{kind}: dgamma fused vs composed");
    }

    /// <summary>Third order through NormBackward's rule (its stand-ins stay connected under createGraph): finite differences of the second-order quantity.</summary>
    [Test]
    public void SecondOrderGradientIsItselfDifferentiable()
    {
        if (D.Kind == DeviceKind.IlgpuCpu)
            Assert.Ignore("third-order finite differences take ~5 minutes on the ILGPU simulator; the kernels involved are covered by kernel parity and gradgradcheck there");
        var gen = new RandomStream(9);
        var x0 = new float[2 * 3 * 2 * 2];
        gen.FillNormal(x0);
        double H(float[] xv, out float[]? grad)
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(xv, new Shape(2, 3, 2, 2), D);
            x.RequiresGrad = true;
            var y = x.BatchNorm2d(null, null, null, null, training: true).Tanh().Sum();
            var g1 = Autograd.Grad([y], [x], createGraph: true)[0];
            var g2 = Autograd.Grad([g1.Square().Sum()], [x], createGraph: true)[0];
            var h = g2.Square().Sum();
            grad = Autograd.Grad([h], [x])[0].ToArray();
            return h.Item();
        }
        H(x0, out var analytic);
        var numeric = new double[x0.Length];
        const float step = 1e-2f;
        for (int i = 0; i < x0.Length; i++)
        {
            var p = (float[])x0.Clone();
            p[i] += step;
            double fp = H(p, out _);
            p[i] -= 2 * step;
            double fm = H(p, out _);
            numeric[i] = (fp - fm) / (2 * step);
        }
        GradCheck.AssertClose(analytic!, numeric, 5e-2, 5e-2, "third-order gradient");
    }

    [Test]
    public void StatisticsStayAccurateUnderALargeOffset()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(4);
        var v = new float[4 * 2 * 33 * 33];
        gen.FillNormal(v, 1000f, 0.01f);
        var y = Tensor.FromArray(v, new Shape(4, 2, 33, 33), D).BatchNorm2d(null, null, null, null, training: true);
        var expected = NormRef.Normalize(GradCheck.ToDouble(v), [4, 2, 33, 33], NormRef.Kind.Batch, null, null, null, null);
        // float32 values near 1000 are spaced 6e-5 apart (6e-3 standard deviations): μ rounded to float32 is off by up
        // to 3e-3 σ, so that is the best any float32 output can do. A kernel computing x·scale − μ·scale loses ~1 σ.
        GradCheck.AssertClose(y.ToArray(), expected, 5e-3, 1e-3, "normalised output of 1000 + 0.01·N(0,1)");
    }

    [Test]
    public void CpuKernelsAreDeterministicAcrossThreadCounts()
    {
        if (!D.IsHost) Assert.Ignore("thread-count determinism is a property of the SIMD kernel set");
        var gen = new RandomStream(6);
        var v = new float[8 * 16 * 17 * 17];
        gen.FillNormal(v);
        float[][] Run(int threads)
        {
            using var device = Device.CreateCpu(new CpuKernelOptions { Threads = threads });
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(v, new Shape(8, 16, 17, 17), device);
            x.RequiresGrad = true;
            var y = x.BatchNorm2d(null, null, null, null, training: true);
            var g = Autograd.Grad([y], [x], [y.Detach().Tanh()])[0];
            return [y.ToArray(), g.ToArray()];
        }
        var one = Run(1);
        var two = Run(2);
        Assert.That(two[0], Is.EqualTo(one[0]));
        Assert.That(two[1], Is.EqualTo(one[1]));
    }

    // ------------------------------------------------------------ losses at the edges

    [Test]
    public void BceWithLogitsIsFiniteAndExactAtLargeLogits()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray([1e4f, -1e4f, 1e4f, -1e4f], new Shape(4), D);
        var t = Tensor.FromArray([1f, 0f, 0f, 1f], new Shape(4), D);
        x.RequiresGrad = true;
        var loss = Losses.BceWithLogits(x, t);
        Assert.That(loss.Item(), Is.EqualTo(5000f).Within(1e-3f), "(0 + 0 + 1e4 + 1e4) / 4");
        var g = Autograd.Grad([loss], [x])[0].ToArray();
        Assert.That(g, Is.EqualTo(new[] { 0f, 0f, 0.25f, -0.25f }).Within(1e-7f), "(sigmoid(x) − t)/n");
        Assert.That(Losses.BceWithLogits(x, 1f).Item(), Is.EqualTo(5000f).Within(1e-3f));
    }

    [Test]
    public void BceClampsTheLogAtMinus100()
    {
        using var scope = TensorScope.Begin();
        var p = Tensor.FromArray([0f, 1f, 0f, 1f], new Shape(4), D);
        var t = Tensor.FromArray([0f, 1f, 1f, 0f], new Shape(4), D);
        p.RequiresGrad = true;
        var loss = Losses.Bce(p, t);
        Assert.That(loss.Item(), Is.EqualTo(50f).Within(1e-4f), "(0 + 0 + 100 + 100) / 4");
        var g = Autograd.Grad([loss], [p])[0].ToArray();
        Assert.That(g.All(float.IsFinite), Is.True, $"gradient {string.Join(", ", g)}");
        Assert.That(g[0], Is.EqualTo(0f));
        Assert.That(g[2], Is.EqualTo(-0.25e12f).Within(1e6f), "PyTorch: (p − t)/max(p(1 − p), 1e-12)/n");
        Assert.That(Losses.Bce(p, 1f).Item(), Is.EqualTo(50f).Within(1e-4f));
    }
}
