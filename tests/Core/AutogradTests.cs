using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Core;

[TestFixture]
public sealed class AutogradTests
{
    private static Tensor Param(RandomStream gen, params int[] shape)
    {
        var t = Tensor.RandN(new Shape(shape), gen, std: 0.5f);
        t.RequiresGrad = true;
        return t;
    }

    /// <summary>
    /// The WGAN-GP pattern on a two-layer MLP: P(W) = Σ_i (‖∂f(x_i)/∂x_i‖² − 1)², where f(x) = w2·tanh(W1·x).
    /// dP/dW1 needs the gradient of a gradient; compare with central differences in float64 of P.
    /// </summary>
    [Test]
    public void MlpSecondOrderGradientMatchesFiniteDifferences()
    {
        var gen = new RandomStream(3);
        const int n = 4, din = 5, hidden = 6;
        var x0 = new float[n * din];
        gen.FillNormal(x0);
        var w1 = new float[din * hidden];
        gen.FillNormal(w1, 0, 0.5f);
        var w2 = new float[hidden];
        gen.FillNormal(w2, 0, 0.5f);

        double Penalty(float[] w1v, bool analytic, out float[]? gradW1)
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(x0, n, din);
            x.RequiresGrad = true;
            var W1 = Tensor.FromArray(w1v, din, hidden);
            W1.RequiresGrad = true;
            var W2 = Tensor.FromArray(w2, hidden, 1);
            W2.RequiresGrad = true;
            var f = x.MatMul(W1).Tanh().MatMul(W2);                           // (n, 1)
            var gx = Autograd.Grad([f], [x], [Tensor.Ones(f.Shape)], createGraph: true)[0]; // (n, din)
            var norm2 = gx.Square().Sum([1]);                                  // (n)
            var p = norm2.AddScalar(-1f).Square().Sum();
            gradW1 = analytic ? Autograd.Grad([p], [W1])[0].ToArray() : null;
            return p.Item();
        }

        // float64 reference of the same penalty, for the finite differences.
        double Penalty64(double[] w1v)
        {
            double total = 0;
            for (int s = 0; s < n; s++)
            {
                var h = new double[hidden];
                for (int j = 0; j < hidden; j++)
                {
                    double a = 0;
                    for (int i = 0; i < din; i++) a += x0[s * din + i] * w1v[i * hidden + j];
                    h[j] = Math.Tanh(a);
                }
                double norm2 = 0;
                for (int i = 0; i < din; i++)
                {
                    double g = 0;
                    for (int j = 0; j < hidden; j++) g += w2[j] * (1 - h[j] * h[j]) * w1v[i * hidden + j];
                    norm2 += g * g;
                }
                total += (norm2 - 1) * (norm2 - 1);
            }
            return total;
        }

        var w64 = GradCheck.ToDouble(w1);
        Assert.That(Penalty(w1, false, out _), Is.EqualTo(Penalty64(w64)).Within(1e-4).Percent);
        Penalty(w1, true, out var analyticGrad);
        var numeric = new double[w1.Length];
        for (int e = 0; e < w1.Length; e++)
        {
            double saved = w64[e];
            w64[e] = saved + 1e-6;
            double fp = Penalty64(w64);
            w64[e] = saved - 1e-6;
            double fm = Penalty64(w64);
            w64[e] = saved;
            numeric[e] = (fp - fm) / 2e-6;
        }
        GradCheck.AssertClose(analyticGrad!, numeric, 1e-4, 1e-3, "d(gradient penalty)/dW1");
        Assert.That(numeric.Max(Math.Abs), Is.GreaterThan(1e-2), "the test must exercise a non-trivial second-order gradient");
    }

    [Test]
    public void BackwardAccumulatesIntoLeavesAndFreesGraph()
    {
        var gen = new RandomStream(1);
        var w = Param(gen, 3, 2);
        var x = Tensor.RandN(new Shape(4, 3), gen);
        var loss = x.MatMul(w).Square().Sum();
        loss.Backward();
        var g1 = w.Grad!.ToArray();
        // Second backward through the same graph: freed.
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.That(ex!.Message, Does.Contain("second time"));
        // A fresh graph accumulates into the existing gradient.
        x.MatMul(w).Square().Sum().Backward();
        var g2 = w.Grad!.ToArray();
        for (int i = 0; i < g1.Length; i++) Assert.That(g2[i], Is.EqualTo(2 * g1[i]).Within(1e-5f));
    }

    [Test]
    public void RetainGraphAllowsSecondBackward()
    {
        var w = Param(new RandomStream(2), 5);
        var loss = w.Exp().Sum();
        loss.Backward(retainGraph: true);
        loss.Backward();
        var expected = w.ToArray().Select(v => 2 * MathF.Exp(v)).ToArray();
        GradCheck.AssertClose(w.Grad!.ToArray(), expected, 1e-5, 1e-5, "2·exp(w)");
    }

    [Test]
    public void NoGradAndDetachStopRecording()
    {
        var w = Param(new RandomStream(4), 3);
        using (Autograd.NoGrad())
        {
            var y = w.Mul(w);
            Assert.That(y.RequiresGrad, Is.False);
        }
        var d = w.Detach().Mul(w);
        var g = Autograd.Grad([d.Sum()], [w])[0].ToArray();
        // d(stop(w)·w)/dw = stop(w) = w, not 2w.
        GradCheck.AssertClose(g, w.ToArray(), 1e-6, 0, "detached factor");
    }

    [Test]
    public void GradOfUnusedInputIsAnErrorUnlessAllowed()
    {
        var gen = new RandomStream(5);
        var a = Param(gen, 2);
        var b = Param(gen, 2);
        var y = a.Square().Sum();
        Assert.Throws<InvalidOperationException>(() => Autograd.Grad([y], [b], retainGraph: true));
        var g = Autograd.Grad([y], [a, b], allowUnused: true);
        Assert.That(g[1].ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void ErrorsNameOpAndShapes()
    {
        var a = Tensor.Zeros(new Shape(2, 3));
        var b = Tensor.Zeros(new Shape(4, 3));
        var ex = Assert.Throws<ShapeMismatchException>(() => a.Add(b));
        Assert.That(ex!.Message, Does.Contain("Add").And.Contain("(2, 3)").And.Contain("(4, 3)"));
        var mm = Assert.Throws<ShapeMismatchException>(() => a.MatMul(b));
        Assert.That(mm!.Message, Does.Contain("MatMul"));
        var r = Assert.Throws<ShapeMismatchException>(() => a.Reshape(4, 2));
        Assert.That(r!.Message, Does.Contain("Reshape"));
        a.Dispose();
        var disposed = Assert.Throws<ObjectDisposedException>(() => a.ToArray());
        Assert.That(disposed!.Message, Does.Contain("(2, 3)"));
    }

    [Test]
    public void MixingDevicesIsRefused()
    {
        var a = Tensor.Zeros(new Shape(3), Device.Cpu);
        var b = Tensor.Zeros(new Shape(3), Device.IlgpuCpu);
        var ex = Assert.Throws<DeviceMismatchException>(() => a.Add(b));
        Assert.That(ex!.Message, Does.Contain("Cpu").And.Contain("IlgpuCpu"));
    }

    [Test]
    public void ReshapeSharesMemoryAndScopeReleasesToPool()
    {
        var pool = Device.Cpu.Pool;
        var gen = new RandomStream(6);
        var w = Param(gen, 64, 32);
        var x = Tensor.RandN(new Shape(16, 64), gen);
        long before = 0;
        for (int step = 0; step < 4; step++)
        {
            using var scope = TensorScope.Begin();
            var loss = x.MatMul(w).Tanh().Reshape(-1).Square().Mean();
            loss.Backward();
            w.Grad!.Fill(0f);
            if (step == 1) before = pool.Allocations;
        }
        Assert.That(pool.Allocations, Is.EqualTo(before), "steady-state steps must be served from the pool");
    }

    [Test]
    public void BackwardLeavesNoTemporariesBehind()
    {
        var gen = new RandomStream(13);
        var w = Param(gen, 16, 8);
        var x = Tensor.RandN(new Shape(32, 16), gen);
        using var scope = TensorScope.Begin();
        var loss = x.MatMul(w).Tanh().Add(x.MatMul(w).Sigmoid()).Square().Mean();
        int before = scope.Count;
        loss.Backward();
        Assert.That(scope.Count, Is.EqualTo(before), "every gradient temporary of the backward pass is released when it ends");
        var g = Autograd.Grad([x.MatMul(w).Square().Sum()], [w])[0];
        Assert.That(g.IsDisposed, Is.False, "results of Grad stay alive in the caller's scope");
        Assert.That(g.ToArray().Any(v => v != 0));
    }
}
