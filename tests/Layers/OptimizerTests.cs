// Optimisers: first steps vs the float64 references of the update ops (OptimizerUpdates.*Reference),
// state save/restore, weight clipping, gradient norm, and an MLP that learns XOR. The update ops
// themselves (large sizes, both kernel sets, bit-exact parity) are tested in tests/Ops/Optim.
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Layers;

[TestFixture, Category("cpu")]
public sealed class OptimizerTests
{
    private static readonly float[] P0 = [0.5f, -1.25f, 2f, 0f, -0.1f];
    // Three steps of different gradients (incl. a sign change and a zero gradient element).
    private static readonly float[][] Grads =
    [
        [0.1f, -0.2f, 0.3f, 0f, 4f],
        [-0.05f, 0.4f, 0.3f, 0f, -2f],
        [0.2f, 0.2f, -0.1f, 0f, 1f],
    ];

    private static Tensor Param(Device? device = null) => Parameter.From(Tensor.FromArray(P0, new Shape(P0.Length), device));

    private static void SetGrad(Tensor p, float[] g)
    {
        p.Grad?.Dispose();
        p.Grad = Tensor.FromArray(g, p.Shape, p.Device).KeepAlive();
    }

    // Float32 arithmetic vs float64: a few ulps per step on values of order 1.
    private const double Atol = 2e-6, Rtol = 2e-6;

    [TestCase(0f)]
    [TestCase(0.01f)]
    public void AdamFirstThreeStepsMatchTheReference(float weightDecay)
    {
        var p = Param();
        var adam = new Adam([p], lr: 0.01f, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay);
        var h = new AdamHyperparameters(0.01f, 0.9, 0.999, 1e-8, weightDecay);
        var pr = P0.Select(v => (double)v).ToArray();
        var m = new double[P0.Length];
        var v = new double[P0.Length];
        for (int t = 1; t <= 3; t++)
        {
            SetGrad(p, Grads[t - 1]);
            adam.Step();
            OptimizerUpdates.AdamReference(pr, GradCheck.ToDouble(Grads[t - 1]), m, v, h, t);
            LayerTests.AssertClose(p.ToArray(), pr, Atol, Rtol, $"Adam step {t}, weight decay {weightDecay}");
        }
        // Step 1 moves every element with a non-zero gradient by exactly lr (m̂/√v̂ = sign g).
        Assert.That(adam.StepCount(), Is.EqualTo(3));
        var state = adam.StateDict();
        LayerTests.AssertClose(state.Tensors["0.exp_avg"].ToArray(), m, 1e-7, 1e-6, "exp_avg");
        LayerTests.AssertClose(state.Tensors["0.exp_avg_sq"].ToArray(), v, 1e-9, 1e-6, "exp_avg_sq");
        Assert.That(state.Counters["0.step"], Is.EqualTo(3));
    }

    [Test]
    public void AdamFirstStepIsLrTimesSignOfGradient()
    {
        var p = Param();
        new Adam([p], lr: 0.1f).Also(a => { SetGrad(p, Grads[0]); a.Step(); });
        var expected = P0.Select((x, i) => x - 0.1 * Math.Sign(Grads[0][i]) * (Grads[0][i] == 0 ? 0 : 1)).ToArray();
        LayerTests.AssertClose(p.ToArray(), expected, 1e-6, 1e-6, "Adam step 1 = lr·sign(g)");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void SgdMomentumMatchesTheReference(bool nesterov)
    {
        var p = Param();
        var sgd = new Sgd([p], lr: 0.1f, momentum: 0.9f, weightDecay: 0.01f, nesterov: nesterov);
        var h = new SgdHyperparameters(0.1f, 0.9f, 0, 0.01f, nesterov);
        var pr = P0.Select(v => (double)v).ToArray();
        var buf = new double[P0.Length];
        for (int t = 0; t < 3; t++)
        {
            SetGrad(p, Grads[t]);
            sgd.Step();
            OptimizerUpdates.SgdReference(pr, GradCheck.ToDouble(Grads[t]), buf, h, firstStep: t == 0);
            LayerTests.AssertClose(p.ToArray(), pr, Atol, Rtol, $"SGD step {t + 1}");
        }
    }

    [Test]
    public void PlainSgdKeepsNoState()
    {
        var p = Param();
        var sgd = new Sgd([p], lr: 0.5f);
        SetGrad(p, Grads[0]);
        sgd.Step();
        LayerTests.AssertClose(p.ToArray(), P0.Select((x, i) => x - 0.5 * Grads[0][i]).ToArray(), 1e-6, 1e-6, "SGD");
        Assert.That(sgd.StateDict().Tensors, Is.Empty);
    }

    [TestCase(0f, false)]
    [TestCase(0.5f, true)]
    public void RmsPropMatchesTheReference(float momentum, bool centered)
    {
        var p = Param();
        var opt = new RmsProp([p], lr: 0.01f, momentum: momentum, centered: centered, weightDecay: 0.1f);
        var h = new RmsPropHyperparameters(0.01f, 0.99, 1e-8f, 0.1f, momentum);
        var pr = P0.Select(v => (double)v).ToArray();
        var sq = new double[P0.Length];
        var ga = new double[P0.Length];
        var buf = new double[P0.Length];
        for (int t = 0; t < 3; t++)
        {
            SetGrad(p, Grads[t]);
            opt.Step();
            OptimizerUpdates.RmsPropReference(pr, GradCheck.ToDouble(Grads[t]), sq, centered ? ga : null, momentum > 0 ? buf : null, h);
            // RMSprop's first step divides by √((1 − α)·g²) = 0.1·|g|: the update is lr·10·sign(g),
            // so float32 rounding of g is amplified 10×; 2e-5 covers it.
            LayerTests.AssertClose(p.ToArray(), pr, 2e-5, 2e-5, $"RMSprop step {t + 1}");
        }
    }

    [Test]
    public void ParametersWithoutGradientAreSkipped()
    {
        var a = Param();
        var b = Param();
        var adam = new Adam([a, b], lr: 0.1f);
        SetGrad(a, Grads[0]);
        adam.Step();
        Assert.That(b.ToArray(), Is.EqualTo(P0));
        Assert.That(adam.StepCount(0), Is.EqualTo(1));
        Assert.That(adam.StepCount(1), Is.EqualTo(0));
        adam.ZeroGrad();
        Assert.That(a.Grad, Is.Null);
    }

    // ------------------------------------------------------------ clipping and norms (the update kernels' own
    // tests, kernel-set parity included, are in tests/Ops/Optim)

    [Test]
    public void ClipWeightsClampsOnBothKernelSets()
    {
        var values = Enumerable.Range(0, 301).Select(i => (i - 150) / 1000f).ToArray();
        foreach (var d in new[] { Device.Cpu, Device.IlgpuCpu })
        {
            var p = Parameter.From(Tensor.FromArray(values, new Shape(values.Length), d));
            ParameterOps.ClipWeights([p], 0.01f);
            Assert.That(p.ToArray(), Is.EqualTo(values.Select(v => Math.Clamp(v, -0.01f, 0.01f)).ToArray()), d.Kind.ToString());
        }
    }

    [Test]
    public void GradNormIsTheTotalL2Norm()
    {
        var a = Param();
        var b = Parameter.From(Tensor.Zeros(new Shape(2, 2)));
        var c = Param();
        SetGrad(a, [3f, 0f, 0f, 0f, 0f]);
        SetGrad(b, [0f, 4f, 0f, 12f]);
        Assert.That(ParameterOps.GradNorm([a, b, c]), Is.EqualTo(13f), "c has no gradient and is skipped");
    }

    [Test]
    public void StateRoundTripsAndIsValidated()
    {
        var p = Param();
        var adam = new Adam([("w", p)], lr: 0.01f);
        SetGrad(p, Grads[0]);
        adam.Step();
        var saved = adam.StateDict();
        var q = Param();
        var fresh = new Adam([("w", q)], lr: 0.5f);
        fresh.LoadStateDict(saved);
        Assert.That(fresh.LearningRate, Is.EqualTo(0.01f), "lr restored");
        Assert.That(fresh.StepCount(), Is.EqualTo(1));

        var wrongName = new Adam([("v", Param())]);
        var e = Assert.Throws<StateDictException>(() => wrongName.LoadStateDict(saved));
        Assert.That(e!.Message, Does.Contain("unexpected key 'w.exp_avg'"));
        var wrongShape = new Adam([("w", Parameter.From(Tensor.Zeros(new Shape(4))))]);
        e = Assert.Throws<StateDictException>(() => wrongShape.LoadStateDict(saved));
        Assert.That(e!.Message, Does.Contain("w.exp_avg").And.Contain("(5)").And.Contain("(4)"));
    }

    // ------------------------------------------------------------ end to end

    [Test]
    public void MlpLearnsXorWithAdam()
    {
        // 2-16-1 tanh MLP, full batch of the 4 XOR points, MSE, Adam lr 0.05, fixed seed.
        // Stated target: MSE < 1e-3 within 300 steps (observed: see the assertion message on failure).
        using var outer = TensorScope.Begin();
        var gen = new RandomStream(2024);
        var mlp = new Sequential(new Linear(2, 16, gen: gen), new Tanh(), new Linear(16, 1, gen: gen));
        var opt = new Adam(mlp, lr: 0.05f);
        var x = Tensor.FromArray([0f, 0f, 0f, 1f, 1f, 0f, 1f, 1f], 4, 2);
        var y = Tensor.FromArray([0f, 1f, 1f, 0f], 4, 1);
        float loss = float.NaN;
        int step;
        for (step = 1; step <= 300; step++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            var l = mlp.Forward(x).Sub(y).Square().Mean();
            l.Backward();
            opt.Step();
            loss = l.Item();
            if (loss < 1e-3f) break;
        }
        TestContext.Out.WriteLine($"XOR: MSE {loss:G4} after {step} steps");
        Assert.That(loss, Is.LessThan(1e-3f), $"MSE after {step - 1} steps");
    }
}

internal static class TestExtensions
{
    public static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
