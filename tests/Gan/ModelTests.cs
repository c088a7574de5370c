using GpuGan.Gan.Models;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

[TestFixture]
public sealed class ModelTests
{
    [TestCase(ModelFamily.Dcgan, 64), TestCase(ModelFamily.Dcgan, 32), TestCase(ModelFamily.Dcgan, 28), TestCase(ModelFamily.WganGp, 28), TestCase(ModelFamily.Cdcgan, 32)]
    public void NetworksProduceTheRightShapes(ModelFamily kind, int size)
    {
        using var scope = TensorScope.Begin();
        var m = GanModel.Create(GanSpec.Canonical(kind, new ImageShape(3, size, size), 16, 4, 4), 1, Device.Cpu);
        int[]? labels = m.Spec.IsConditional ? [0, 3] : null;
        var x = m.G.Generate(Tensor.RandN(m.G.LatentShape(2), new RandomStream(1)), labels);
        Assert.That(x.Shape, Is.EqualTo(new Shape(2, 3, size, size)));
        Assert.That(m.D.Score(x, labels).Shape, Is.EqualTo(new Shape(2)));
        Assert.That(x.ToArray().Max(Math.Abs), Is.LessThanOrEqualTo(1f), "Tanh output");
    }

    [Test]
    public void CanonicalDcgan64HasPytorchParameterNamesAndCounts()
    {
        var m = GanModel.Create(GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(3, 64, 64), 100, 64, 0), 1, Device.Cpu);
        var names = m.G.StateDict().Keys.ToList();
        Assert.That(names, Does.Contain("main.0.weight").And.Contain("main.1.running_var").And.Contain("main.12.weight"));
        // pytorch/examples DCGAN: netG 3,576,704 parameters, netD 2,765,568.
        Assert.That(m.G.ParameterCount(), Is.EqualTo(3576704));
        Assert.That(m.D.ParameterCount(), Is.EqualTo(2765568));
    }

    /// <summary>
    /// The WGAN-GP penalty's gradient w.r.t. a tiny critic's weights (a second-order gradient: the
    /// penalty contains ∇x D) against central differences of the penalty along random directions.
    /// The critic uses tanh: with (leaky) ReLU, ∇x D is piecewise constant in the weights and jumps
    /// whenever a unit crosses zero, so finite differences of the penalty are meaningless there.
    /// </summary>
    [Test]
    public void GradientPenaltyGradientMatchesFiniteDifferences()
    {
        var gen = new RandomStream(21);
        var w1 = Tensor.RandN(new Shape(4, 1, 3, 3), gen, std: 0.7f).KeepAlive();   // conv 1→4, k3 s2 p1
        var w2 = Tensor.RandN(new Shape(1, 4, 3, 3), gen, std: 0.7f).KeepAlive();   // conv 4→1, k3 (3×3 → 1×1)
        var b1 = Tensor.RandN(new Shape(4), gen, std: 0.3f).KeepAlive();
        Tensor[] weights = [w1, w2, b1];
        foreach (var w in weights) w.RequiresGrad = true;
        var real = Tensor.RandU(new Shape(3, 1, 6, 6), gen, low: -1, high: 1).KeepAlive();
        var fake = Tensor.RandU(new Shape(3, 1, 6, 6), gen, low: -1, high: 1).KeepAlive();
        Tensor Critic(Tensor x) => x.Conv2d(w1, b1, 2, 1).Tanh().Conv2d(w2).Reshape(x.Shape[0]);
        Tensor Penalty() => WassersteinGradientPenalty.GradientPenalty(Critic, real, fake, new RandomStream(5), Device.Cpu);

        float[][] analytic;
        using (var scope = TensorScope.Begin())
            analytic = Autograd.Grad([Penalty()], weights).Select(g => g.ToArray()).ToArray();
        Assert.That(analytic.Sum(a => a.Sum(v => (double)v * v)), Is.GreaterThan(1e-4), "the penalty must depend on the weights");

        var saved = weights.Select(w => w.ToArray()).ToArray();
        for (int dir = 0; dir < 4; dir++)
        {
            var directions = weights.Select(w => { var r = new float[w.Size]; gen.FillNormal(r); return r; }).ToArray();
            double projected = 0;
            for (int i = 0; i < weights.Length; i++)
                for (int k = 0; k < directions[i].Length; k++) projected += analytic[i][k] * (double)directions[i][k];
            const double h = 1e-3;
            double At(double s)
            {
                for (int i = 0; i < weights.Length; i++)
                    weights[i].CopyFrom(saved[i].Select((v, k) => (float)(v + s * directions[i][k])).ToArray());
                using var scope = TensorScope.Begin();
                return Penalty().Item();
            }
            // Richardson extrapolation of two central differences: O(h⁴) truncation error.
            double d1 = (At(h) - At(-h)) / (2 * h), d2 = (At(2 * h) - At(-2 * h)) / (4 * h);
            double numeric = (4 * d1 - d2) / 3;
            At(0);
            Assert.That(projected, Is.EqualTo(numeric).Within(0.01 * Math.Abs(numeric) + 2e-3), $"direction {dir}");
        }
    }

    /// <summary>The whole GPU code path: a DCGAN step on ilgpu-cpu gives the losses of the cpu set.</summary>
    [Test]
    public void DcganStepOnIlgpuMatchesCpu()
    {
        var results = new List<double[]>();
        foreach (var device in new[] { Device.Cpu, Device.IlgpuCpu })
        {
            var model = GanModel.Create(GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(1, 28, 28), 8, 4, 0), 9, device);
            var noise = new RandomStream(3);
            var data = new float[4 * 28 * 28];
            new RandomStream(8).FillUniform(data, -1, 1);
            var rows = new List<double>();
            for (int step = 0; step < 1; step++)
            {
                using var scope = TensorScope.Begin();
                var m = model.TrainStep(() => (Tensor.FromArray(data, new Shape(4, 1, 28, 28), device), new int[4]), noise);
                rows.AddRange([m.DLoss, m.GLoss, m.DReal, m.DFake, m.GradNormD, m.GradNormG]);
            }
            results.Add(rows.ToArray());
        }
        GradCheck.AssertClose(results[1].Select(v => (float)v).ToArray(), results[0], 1e-4, 1e-3, "DCGAN step metrics, ilgpu-cpu vs cpu");
    }

    [Test]
    public void SpecRoundTripsThroughJsonAndRefusesCraftedValues()
    {
        var spec = GanSpec.Canonical(ModelFamily.Cdcgan, new ImageShape(1, 28, 28), 32, 16, 10);
        Assert.That(GanSpec.FromJson(spec.ToJson(), "f"), Is.EqualTo(spec));
        Assert.That(spec.ToJson(), Does.Contain("\"family\":\"cdcgan\"").And.Contain("\"discriminator-norm\":\"batch\""));
        Assert.That(GanSpec.Canonical(ModelFamily.WganGp, new ImageShape(3, 64, 64), 100, 64, 10),
            Has.Property(nameof(GanSpec.DiscriminatorNorm)).EqualTo(NormKind.None).And.Property(nameof(GanSpec.ClassCount)).EqualTo(0));

        // A file could claim anything: every size is bounded before a network is built.
        foreach (var (crafted, problem) in new[]
        {
            (spec with { LatentDim = 1_000_000_000 }, "latent size"),
            (spec with { Image = new ImageShape(1, 48, 48) }, "square images of 28, 32, 64"),
            (spec with { Image = new ImageShape(2, 28, 28) }, "channels"),
            (spec with { ClassCount = 1 }, "classes"),
            (spec with { GeneratorWidth = 0 }, "widths"),
            (GanSpec.Canonical(ModelFamily.Gan, new ImageShape(3, 512, 512), 8, 4, 0), "too large"),
        })
        {
            var e = Assert.Throws<GpuGan.Gan.ArchitectureRecordException>(() => GanSpec.FromJson(crafted.ToJson(), "crafted.safetensors"));
            Assert.That(e!.Message, Does.StartWith("crafted.safetensors: ").And.Contain(problem));
        }
        Assert.Throws<GpuGan.Gan.ArchitectureRecordException>(() => GanSpec.FromJson("{\"family\":\"vae\"}", "f"));
        Assert.Throws<GpuGan.Gan.ArchitectureRecordException>(() => GanSpec.FromJson("not json", "f"));
    }

    /// <summary>An objective written outside the library drives the step: its critic steps, its losses, its hook after each critic update.</summary>
    [Test]
    public void TrainStepFollowsTheObjective()
    {
        var objective = new CountingObjective();
        var model = GanModel.Create(GanSpec.Canonical(ModelFamily.Dcgan, new ImageShape(1, 28, 28), 8, 4, 0), 9, Device.Cpu, objective: objective);
        var data = new float[2 * 28 * 28];
        new RandomStream(8).FillUniform(data, -1, 1);
        int batches = 0;
        using var scope = TensorScope.Begin();
        var m = model.TrainStep(() => { batches++; return (Tensor.FromArray(data, new Shape(2, 1, 28, 28)), new int[2]); }, new RandomStream(3));
        Assert.That((batches, objective.CriticCalls, objective.Updates, objective.GeneratorCalls), Is.EqualTo((3, 3, 3, 1)));
        Assert.That(m.DLoss, Is.EqualTo(objective.LastCriticLoss), "the logged D loss is the objective's");
        Assert.That(m.GradientPenalty, Is.EqualTo(0.25), "the logged penalty is the objective's");
    }

    private sealed class CountingObjective : IGanObjective
    {
        public int CriticCalls, Updates, GeneratorCalls;
        public double LastCriticLoss;
        public int CriticSteps => 3;
        public bool GeneratorReusesCriticFakes => false;

        public CriticLoss CriticLoss(in CriticBatch b)
        {
            CriticCalls++;
            var loss = b.FakeScores.Mean().Sub(b.RealScores.Mean()).MulScalar(0.5f);
            LastCriticLoss = loss.Item();
            return new CriticLoss(loss, Tensor.Scalar(0f), Tensor.Scalar(0f), Tensor.Scalar(0.25f));
        }

        public void AfterCriticUpdate(Discriminator critic) => Updates++;

        public Tensor GeneratorLoss(Tensor fakeScores)
        {
            GeneratorCalls++;
            return fakeScores.Mean().Neg();
        }
    }
}
