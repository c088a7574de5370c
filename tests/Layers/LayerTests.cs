// Layers whose ops exist on this branch: outputs vs float64 references, gradients where the
// layer adds its own logic (Embedding's one-hot product), module naming and state handling.
// Conv and normalisation layers are in ConvLayerTests.cs (they need the issue-3 ops).
using GpuGan.Layers;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Layers;

[TestFixture, Category("cpu")]
public sealed class LayerTests
{
    // Linear/Embedding/Sequential: float32 GEMM of short rows vs float64 — 1e-5 abs + 1e-5 rel.
    private const double Atol = 1e-5, Rtol = 1e-5;

    internal static void AssertClose(float[] actual, double[] expected, double atol, double rtol, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= atol + rtol * Math.Abs(expected[i])))
                Assert.Fail($"{what}: element {i}: got {actual[i]:R}, expected {expected[i]:R} (|err| {err:E3} > {atol} + {rtol}·|ref|)");
        }
    }

    internal static double[] LinearReference(float[] x, int rows, float[] w, float[]? b, int inF, int outF)
    {
        var y = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = b is null ? 0 : b[o];
                for (int i = 0; i < inF; i++) s += (double)x[r * inF + i] * w[o * inF + i];
                y[r * outF + o] = s;
            }
        return y;
    }

    private static float[] Randn(RandomStream gen, int n)
    {
        var v = new float[n];
        gen.FillNormal(v);
        return v;
    }

    [TestCase(true)]
    [TestCase(false)]
    public void LinearMatchesFloat64Reference(bool bias)
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(1);
        var lin = new Linear(7, 5, bias, gen);
        Assert.That(lin.Weight.Shape, Is.EqualTo(new Shape(5, 7)), "weight is (out, in) as PyTorch");
        var x = Randn(gen, 3 * 7);
        var y = lin.Forward(Tensor.FromArray(x, 3, 7));
        Assert.That(y.Shape, Is.EqualTo(new Shape(3, 5)));
        AssertClose(y.ToArray(), LinearReference(x, 3, lin.Weight.ToArray(), lin.Bias?.ToArray(), 7, 5), Atol, Rtol, "Linear");
    }

    [Test]
    public void LinearAcceptsHigherRankInput()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(2);
        var lin = new Linear(4, 3, gen: gen);
        var x = Randn(gen, 2 * 5 * 4);
        var y = lin.Forward(Tensor.FromArray(x, 2, 5, 4));
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 5, 3)));
        AssertClose(y.ToArray(), LinearReference(x, 10, lin.Weight.ToArray(), lin.Bias!.ToArray(), 4, 3), Atol, Rtol, "Linear rank 3");
    }

    [Test]
    public void LinearGradientsMatchHandDerivation()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(3);
        var lin = new Linear(3, 2, gen: gen);
        var x = Randn(gen, 4 * 3);
        lin.Forward(Tensor.FromArray(x, 4, 3)).Sum().Backward();
        // d(sum y)/dW[o,i] = Σ_r x[r,i]; d/db[o] = rows.
        var expectedW = new double[6];
        for (int o = 0; o < 2; o++)
            for (int i = 0; i < 3; i++)
                for (int r = 0; r < 4; r++) expectedW[o * 3 + i] += x[r * 3 + i];
        AssertClose(lin.Weight.Grad!.ToArray(), expectedW, 1e-5, 1e-5, "dW");
        AssertClose(lin.Bias!.Grad!.ToArray(), [4, 4], 0, 0, "db");
        lin.ZeroGrad();
        Assert.That(lin.Weight.Grad, Is.Null);
    }

    [Test]
    public void LinearShapeErrorNamesBothSizes()
    {
        using var scope = TensorScope.Begin();
        var lin = new Linear(4, 3, gen: new RandomStream(0));
        var e = Assert.Throws<ShapeMismatchException>(() => lin.Forward(Tensor.Zeros(new Shape(2, 5))));
        Assert.That(e!.Message, Does.Contain("(2, 5)").And.Contain("4"));
    }

    [Test]
    public void EmbeddingLooksUpRowsAndScattersGradients()
    {
        using var scope = TensorScope.Begin();
        var emb = new Embedding(5, 3, new RandomStream(4));
        var w = emb.Weight.ToArray();
        int[] labels = [3, 0, 3, 4];
        var y = emb.Forward(labels);
        Assert.That(y.Shape, Is.EqualTo(new Shape(4, 3)));
        var expected = labels.SelectMany(l => w.Skip(l * 3).Take(3).Select(v => (double)v)).ToArray();
        AssertClose(y.ToArray(), expected, 0, 0, "Embedding rows (exact: one-hot product adds zeros)");

        // Weighted sum so each row gets a distinct upstream gradient: dW[l] = Σ over samples with label l of g.
        var g = Enumerable.Range(0, 12).Select(i => (float)(i + 1)).ToArray();
        y.Mul(Tensor.FromArray(g, 4, 3)).Sum().Backward();
        var dW = new double[15];
        for (int s = 0; s < 4; s++)
            for (int d = 0; d < 3; d++) dW[labels[s] * 3 + d] += g[s * 3 + d];
        AssertClose(emb.Weight.Grad!.ToArray(), dW, 0, 0, "Embedding weight gradient");
    }

    [Test]
    public void EmbeddingAcceptsFloatLabelTensorAndRejectsOutOfRangeInts()
    {
        using var scope = TensorScope.Begin();
        var emb = new Embedding(4, 2, new RandomStream(5));
        var y = emb.Forward(Tensor.FromArray([2f, 1f], 2, 1));
        var w = emb.Weight.ToArray();
        AssertClose(y.ToArray(), [w[4], w[5], w[2], w[3]], 0, 0, "float labels");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => emb.Forward([0, 4]));
        Assert.That(e!.Message, Does.Contain("label 4 at index 1"));
    }

    [Test]
    public void EmbeddingSecondOrderGradientExists()
    {
        // d/dW of ||dL/dW||² with L = Σ (E(l)·c)²: the one-hot product gives it without a gather rule.
        using var scope = TensorScope.Begin();
        var emb = new Embedding(3, 2, new RandomStream(6));
        var y = emb.Forward([1, 1, 2]);
        var loss = y.Square().Sum();
        var g = Autograd.Grad([loss], [emb.Weight], createGraph: true)[0];
        var gg = Autograd.Grad([g.Square().Sum()], [emb.Weight])[0];
        // loss = Σ_rows count_l·W[l]², dL/dW[l] = 2·count_l·W[l], ||.||² = Σ 4count²W², d/dW = 8count²W.
        var w = emb.Weight.ToArray();
        int[] count = [0, 2, 1];
        var expected = w.Select((v, i) => 8.0 * count[i / 2] * count[i / 2] * v).ToArray();
        AssertClose(gg.ToArray(), expected, 1e-5, 1e-5, "second order");
    }

    // The oracles are the activations' op-struct references in src (Ops/Elementwise/UnaryOps.cs).
    private static IEnumerable<TestCaseData> Activations()
    {
        yield return new TestCaseData(new ReLU(), (Func<double, double>)(x => ReluOp.Reference(x, 0, 0))).SetArgDisplayNames("ReLU");
        yield return new TestCaseData(new LeakyReLU(0.2f), (Func<double, double>)(x => LeakyReluOp.Reference(x, 0.2f, 0))).SetArgDisplayNames("LeakyReLU(0.2)");
        yield return new TestCaseData(new Tanh(), (Func<double, double>)(x => TanhOp.Reference(x, 0, 0))).SetArgDisplayNames("Tanh");
        yield return new TestCaseData(new Sigmoid(), (Func<double, double>)(x => SigmoidOp.Reference(x, 0, 0))).SetArgDisplayNames("Sigmoid");
    }

    [TestCaseSource(nameof(Activations))]
    public void ActivationMatchesFloat64Reference(Module act, Func<double, double> reference)
    {
        using var scope = TensorScope.Begin();
        var x = Randn(new RandomStream(7), 2 * 3 * 5 * 3).Select(v => 3 * v).ToArray();
        var y = act.Forward(Tensor.FromArray(x, new Shape(2, 3, 5, 3)));
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 3, 5, 3)));
        // tanh/sigmoid through exp in float32: 2e-6 abs + 1e-5 rel.
        AssertClose(y.ToArray(), x.Select(v => reference(v)).ToArray(), 2e-6, 1e-5, act.GetType().Name);
    }

    [Test]
    public void FlattenAndReshapeKeepTheBatchDimension()
    {
        using var scope = TensorScope.Begin();
        var x = Enumerable.Range(0, 2 * 3 * 2 * 2).Select(i => (float)i).ToArray();
        var f = new Flatten().Forward(Tensor.FromArray(x, new Shape(2, 3, 2, 2)));
        Assert.That(f.Shape, Is.EqualTo(new Shape(2, 12)));
        Assert.That(f.ToArray(), Is.EqualTo(x));
        var r = new Reshape(3, 4).Forward(f);
        Assert.That(r.Shape, Is.EqualTo(new Shape(2, 3, 4)));
        Assert.That(new Reshape(-1, 2, 2).Forward(f).Shape, Is.EqualTo(new Shape(2, 3, 2, 2)));
        Assert.That(r.ToArray(), Is.EqualTo(x));
    }

    [Test]
    public void DropoutIsSeededScaledAndIdentityInEval()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Ones(new Shape(4000));
        var d1 = new Dropout(0.25f, new RandomStream(11));
        var y1 = d1.Forward(x).ToArray();
        var y2 = new Dropout(0.25f, new RandomStream(11)).Forward(x).ToArray();
        Assert.That(y1, Is.EqualTo(y2), "same seed, same mask");
        Assert.That(y1.All(v => v == 0f || Math.Abs(v - 1 / 0.75f) < 1e-6), Is.True, "kept values scaled by 1/(1 − p)");
        double dropped = y1.Count(v => v == 0f) / 4000.0;
        Assert.That(dropped, Is.EqualTo(0.25).Within(0.03), "drop rate ≈ p (±3σ ≈ 0.021)");
        d1.Eval();
        Assert.That(d1.Forward(x), Is.SameAs(x), "eval: identity");
    }

    [Test]
    public void SequentialChainsChildrenNamedByIndex()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(8);
        var l0 = new Linear(3, 4, gen: gen);
        var l2 = new Linear(4, 2, gen: gen);
        var seq = new Sequential(l0, new LeakyReLU(0.2f), l2);
        Assert.That(seq.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }));
        var x = Randn(gen, 5 * 3);
        var y = seq.Forward(Tensor.FromArray(x, 5, 3));
        var h = LinearReference(x, 5, l0.Weight.ToArray(), l0.Bias!.ToArray(), 3, 4).Select(v => v > 0 ? v : 0.2 * v).Select(v => (float)v).ToArray();
        AssertClose(y.ToArray(), LinearReference(h, 5, l2.Weight.ToArray(), l2.Bias!.ToArray(), 4, 2), 1e-5, 1e-5, "Sequential");
    }

    private sealed class Net : Module
    {
        public Net()
        {
            Main = RegisterModule("main", new Sequential(new Linear(2, 3, bias: false, gen: new RandomStream(1)), new BatchNorm2d(3), new Tanh()));
        }
        public Sequential Main { get; }
        public override Tensor Forward(Tensor input) => Main.Forward(input);
    }

    [Test]
    public void StateDictUsesPyTorchNamesAndOrder()
    {
        var net = new Net();
        Assert.That(net.StateDict().Keys, Is.EqualTo(new[]
        {
            "main.0.weight", "main.1.weight", "main.1.bias", "main.1.running_mean", "main.1.running_var", "main.1.num_batches_tracked",
        }));
        Assert.That(net.Parameters().Count(), Is.EqualTo(3));
        Assert.That(net.NamedBuffers().Select(b => b.Name), Is.EqualTo(new[] { "main.1.running_mean", "main.1.running_var", "main.1.num_batches_tracked" }));
        Assert.That(net.StateDict()["main.1.num_batches_tracked"].Shape.Rank, Is.EqualTo(0), "num_batches_tracked is a rank-0 scalar as in PyTorch");
        Assert.That(net.Parameters().All(p => p.IsLeaf && p.RequiresGrad), Is.True);
        Assert.That(net.ParameterCount(), Is.EqualTo(6 + 3 + 3));
    }

    [Test]
    public void TrainAndEvalPropagateToDescendants()
    {
        var net = new Net();
        Assert.That(net.Modules().All(m => m.IsTraining), Is.True);
        net.Eval();
        Assert.That(net.Modules().Any(m => m.IsTraining), Is.False);
        net.Train();
        Assert.That(net.Main[1].IsTraining, Is.True);
    }

    [Test]
    public void LoadStateDictRefusesWrongShapeNamingKeyAndBothShapes()
    {
        var net = new Net();
        var state = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value);
        state["main.0.weight"] = Tensor.Zeros(new Shape(2, 3)).KeepAlive();
        var e = Assert.Throws<StateDictException>(() => net.LoadStateDict(state));
        Assert.That(e!.Message, Does.Contain("main.0.weight").And.Contain("(2, 3)").And.Contain("(3, 2)"));
    }

    [Test]
    public void LoadStateDictStrictReportsMissingAndUnexpected()
    {
        var net = new Net();
        var state = net.StateDict().Where(kv => kv.Key != "main.1.running_var").ToDictionary(kv => kv.Key, kv => kv.Value);
        state["main.9.weight"] = Tensor.Zeros(new Shape(1)).KeepAlive();
        var e = Assert.Throws<StateDictException>(() => net.LoadStateDict(state));
        Assert.That(e!.Message, Does.Contain("missing key 'main.1.running_var'").And.Contain("unexpected key 'main.9.weight'"));
        var result = net.LoadStateDict(state, strict: false);
        Assert.That(result.MissingKeys, Is.EqualTo(new[] { "main.1.running_var" }));
        Assert.That(result.UnexpectedKeys, Is.EqualTo(new[] { "main.9.weight" }));
    }

    [TestCase("cpu"), TestCase("ilgpu-cpu")]
    public void BatchNormCumulativeAverageIsThePlainAverageOfTheBatchesStatistics(string device)
    {
        var dev = device == "cpu" ? Device.Cpu : Device.IlgpuCpu;
        var bn = new BatchNorm2d(2, device: dev) { CumulativeAverage = true };
        bn.Weight!.Fill(1.5f);
        bn.RunningMean!.Fill(4f);
        bn.ResetRunningStats();
        Assert.That((bn.Weight.ToArray()[0], bn.RunningMean.ToArray()[0], bn.RunningVar!.ToArray()[0], bn.NumBatchesTracked), Is.EqualTo((1.5f, 0f, 1f, 0L)));
        bn.Train();
        var r = new RandomStream(5);
        double[] mean = new double[2], variance = new double[2];
        const int batches = 3, n = 4, hw = 9;
        for (int k = 0; k < batches; k++)
        {
            var x = Tensor.RandN(new Shape(n, 2, 3, 3), r, dev).MulScalar(k + 1f).AddScalar(k - 1f);
            var v = x.ToArray();
            for (int c = 0; c < 2; c++)
            {
                var values = Enumerable.Range(0, n).SelectMany(s => v.Skip((s * 2 + c) * hw).Take(hw)).Select(f => (double)f).ToArray();
                double m = values.Average();
                mean[c] += m / batches;
                variance[c] += values.Sum(f => (f - m) * (f - m)) / (values.Length - 1) / batches;
            }
            using (Autograd.NoGrad()) bn.Forward(x);
        }
        Assert.That(bn.NumBatchesTracked, Is.EqualTo(batches));
        Assert.That(bn.RunningMean.ToArray(), Is.EqualTo(mean).Within(1e-5));
        Assert.That(bn.RunningVar.ToArray(), Is.EqualTo(variance).Within(1e-4));
    }

    [Test]
    public void LoadStateDictCopiesValuesAndCounter()
    {
        var a = new Net();
        var b = new Net();
        Init.Normal(a.Main[0] is Linear l ? l.Weight : throw new InconclusiveException("layout"), new RandomStream(99));
        a.StateDict()["main.1.num_batches_tracked"].Fill(7);
        b.LoadStateDict(a.StateDict());
        Assert.That(b.StateDict()["main.0.weight"].ToArray(), Is.EqualTo(a.StateDict()["main.0.weight"].ToArray()));
        Assert.That(((BatchNorm2d)b.Main[1]).NumBatchesTracked, Is.EqualTo(7));
    }

    [Test]
    public void ToDeviceMovesParametersAndBuffersAsLeaves()
    {
        var net = new Net();
        var w = net.StateDict()["main.0.weight"].ToArray();
        net.To(Device.IlgpuCpu);
        Assert.That(net.StateDict().Values.All(t => t.Device == Device.IlgpuCpu), Is.True);
        Assert.That(net.Parameters().All(p => p.IsLeaf && p.RequiresGrad), Is.True);
        Assert.That(net.StateDict()["main.0.weight"].ToArray(), Is.EqualTo(w));
        Assert.That(net.Device, Is.EqualTo(Device.IlgpuCpu));
        net.To(Device.Cpu);
        Assert.That(net.StateDict()["main.0.weight"].ToArray(), Is.EqualTo(w));
    }

    [Test]
    public void ToStringLooksLikePyTorch()
    {
        var seq = new Sequential(new Linear(2, 3, gen: new RandomStream(0)), new LeakyReLU(0.2f));
        Assert.That(seq.ToString(), Is.EqualTo("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): LeakyReLU(negative_slope=0.2)\n)"));
    }
}
