// The fused optimiser updates (OptimizerUpdates.AdamStep / SgdStep / RmsPropStep) against their
// float64 references over several steps, at a size that crosses the parallel chunks (2 × 32,768)
// and every SIMD path (Vector512, Vector256, scalar tail); the two kernel sets bit for bit; and the
// ops' argument checks.
//
// Tolerance: each step is a few float32 roundings of values of order 1 to 10 (RMSprop's first step
// divides by √((1 − α)·g²) = 0.1·|g|, amplifying g's rounding 10×); the float32 state carries its
// rounding into later steps, so after 4 steps the parameters stay within 1e-5 + 1e-5·|p|.
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Optim;

public abstract class OptimizerUpdateTests : DeviceFixture
{
    private const int N = 70_001;
    private const int Steps = 4;

    /// <summary>An update under test: one step of the op on tensors, and of its reference on doubles.</summary>
    public sealed record Case(string Name, int StateCount, Action<Tensor, Tensor, Tensor[], int> Op, Action<double[], double[], double[][], int> Reference)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<Case> Cases()
    {
        var adam = new AdamHyperparameters(1e-2, 0.9, 0.999, 1e-8, 1e-2);
        yield return new("Adam", 2,
            (p, g, s, t) => OptimizerUpdates.AdamStep(p, g, s[0], s[1], adam, t),
            (p, g, s, t) => OptimizerUpdates.AdamReference(p, g, s[0], s[1], adam, t));
        var adamPlain = new AdamHyperparameters(2e-4, 0.5);
        yield return new("Adam[dcgan, no decay]", 2,
            (p, g, s, t) => OptimizerUpdates.AdamStep(p, g, s[0], s[1], adamPlain, t),
            (p, g, s, t) => OptimizerUpdates.AdamReference(p, g, s[0], s[1], adamPlain, t));
        var sgd = new SgdHyperparameters(0.1, 0.9, 0.1, 1e-3);
        yield return new("SGD[momentum, dampening]", 1,
            (p, g, s, t) => OptimizerUpdates.SgdStep(p, g, s[0], sgd, t == 1),
            (p, g, s, t) => OptimizerUpdates.SgdReference(p, g, s[0], sgd, t == 1));
        var nesterov = new SgdHyperparameters(0.05, 0.9, Nesterov: true);
        yield return new("SGD[Nesterov]", 1,
            (p, g, s, t) => OptimizerUpdates.SgdStep(p, g, s[0], nesterov, t == 1),
            (p, g, s, t) => OptimizerUpdates.SgdReference(p, g, s[0], nesterov, t == 1));
        var plain = new SgdHyperparameters(0.5);
        yield return new("SGD[plain]", 0,
            (p, g, s, t) => OptimizerUpdates.SgdStep(p, g, null, plain, t == 1),
            (p, g, s, t) => OptimizerUpdates.SgdReference(p, g, null, plain, t == 1));
        var rms = new RmsPropHyperparameters(1e-2, 0.99, 1e-8, 0.1);
        yield return new("RMSprop", 1,
            (p, g, s, t) => OptimizerUpdates.RmsPropStep(p, g, s[0], null, null, rms),
            (p, g, s, t) => OptimizerUpdates.RmsPropReference(p, g, s[0], null, null, rms));
        var rmsFull = new RmsPropHyperparameters(1e-3, 0.9, 1e-6, 1e-3, 0.5);
        yield return new("RMSprop[centered, momentum]", 3,
            (p, g, s, t) => OptimizerUpdates.RmsPropStep(p, g, s[0], s[1], s[2], rmsFull),
            (p, g, s, t) => OptimizerUpdates.RmsPropReference(p, g, s[0], s[1], s[2], rmsFull));
    }

    private static (float[] P0, float[][] Grads) Inputs()
    {
        var gen = new RandomStream(8);
        var p0 = new float[N];
        gen.FillNormal(p0);
        var grads = Enumerable.Range(0, Steps).Select(_ => { var g = new float[N]; gen.FillNormal(g, 0f, 0.5f); return g; }).ToArray();
        // A run of zero gradients: RMSprop's and Adam's denominators are then ε alone.
        foreach (var g in grads) Array.Clear(g, 100, 37);
        return (p0, grads);
    }

    /// <summary>Runs the op for <see cref="Steps"/> steps on <paramref name="device"/>; returns p and the state.</summary>
    internal static float[][] Run(Case c, Device device)
    {
        using var scope = TensorScope.Begin();
        var (p0, grads) = Inputs();
        var p = Tensor.FromArray(p0, new Shape(N), device);
        var state = Enumerable.Range(0, c.StateCount).Select(_ => Tensor.Zeros(new Shape(N), device)).ToArray();
        for (int t = 1; t <= Steps; t++) c.Op(p, Tensor.FromArray(grads[t - 1], new Shape(N), device), state, t);
        return [p.ToArray(), .. state.Select(s => s.ToArray())];
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesTheFloat64Reference(Case c)
    {
        var actual = Run(c, Device);
        var (p0, grads) = Inputs();
        var p = GradCheck.ToDouble(p0);
        var state = Enumerable.Range(0, c.StateCount).Select(_ => new double[N]).ToArray();
        for (int t = 1; t <= Steps; t++) c.Reference(p, GradCheck.ToDouble(grads[t - 1]), state, t);
        GradCheck.AssertClose(actual[0], p, 1e-5, 1e-5, $"{c.Name} on {Device.Kind}: parameter after {Steps} steps");
        for (int k = 0; k < c.StateCount; k++)
            GradCheck.AssertClose(actual[k + 1], state[k], 1e-6, 1e-5, $"{c.Name} on {Device.Kind}: state {k} after {Steps} steps");
    }

    /// <summary>
    /// The multi-tensor Adam step (one launch per 8 tensors on ILGPU) gives the bits of one single-tensor step per tensor:
    /// 11 tensors of odd sizes (two launches, one of them partly filled), an empty one, and step counts that differ per tensor.
    /// </summary>
    [Test]
    public void MultiTensorAdamMatchesOneStepPerTensorBitForBit()
    {
        var h = new AdamHyperparameters(1e-2, 0.5, 0.9, 1e-8, 1e-3);
        int[] sizes = [1, 257, 31, 0, 4096, 3, 511, 1000, 7, 600, 2, 129];
        float[][] Run(bool multi)
        {
            using var scope = TensorScope.Begin();
            var gen = new RandomStream(5);
            var tensors = sizes.Select((n, i) =>
            {
                float[] R(float std) { var v = new float[n]; gen.FillNormal(v, 0f, std); return v; }
                var shape = new Shape(n);
                return new AdamTensors(Tensor.FromArray(R(1f), shape, Device), Tensor.FromArray(R(0.5f), shape, Device),
                    Tensor.FromArray(R(0.1f), shape, Device), Tensor.FromArray(R(0.1f).Select(x => Math.Abs(x)).ToArray(), shape, Device), 1 + i % 4);
            }).ToArray();
            for (int step = 0; step < 2; step++)
            {
                var now = tensors.Select(t => t with { Step = t.Step + step }).ToArray();
                if (multi) OptimizerUpdates.AdamStep(now, h);
                else foreach (var t in now) OptimizerUpdates.AdamStep(t.Param, t.Grad, t.ExpAvg, t.ExpAvgSq, h, t.Step);
            }
            return tensors.SelectMany(t => new[] { t.Param.ToArray(), t.ExpAvg.ToArray(), t.ExpAvgSq.ToArray() }).ToArray();
        }
        var single = Run(multi: false);
        var many = Run(multi: true);
        for (int k = 0; k < single.Length; k++) Assert.That(many[k], Is.EqualTo(single[k]), $"tensor {k / 3} ({sizes[k / 3]} elements), {(k % 3 == 0 ? "p" : k % 3 == 1 ? "m" : "v")} on {Device.Kind}");
    }

    /// <summary>The multi-tensor SGD (momentum, some tensors on their first step) and RMSprop (centred, momentum) steps, as Adam's above.</summary>
    [TestCase("sgd")]
    [TestCase("sgd-plain")]
    [TestCase("rmsprop")]
    [TestCase("rmsprop-centered")]
    public void MultiTensorSgdAndRmsPropMatchOneStepPerTensorBitForBit(string kind)
    {
        var sgd = kind == "sgd" ? new SgdHyperparameters(0.1, 0.9, 0.1, 1e-3, Nesterov: true) : new SgdHyperparameters(0.5);
        var rms = kind == "rmsprop" ? new RmsPropHyperparameters(1e-2, 0.99, 1e-8, 0.1) : new RmsPropHyperparameters(1e-3, 0.9, 1e-6, 1e-3, 0.5);
        bool centered = kind == "rmsprop-centered";
        int[] sizes = [1, 257, 31, 0, 4096, 3, 511, 1000, 7, 600, 2, 129];
        float[][] Run(bool multi)
        {
            using var scope = TensorScope.Begin();
            var gen = new RandomStream(6);
            var sets = sizes.Select(n =>
            {
                float[] R(float std) { var v = new float[n]; gen.FillNormal(v, 0f, std); return v; }
                var shape = new Shape(n);
                return new[] { R(1f), R(0.5f), R(0.1f).Select(x => Math.Abs(x)).ToArray(), R(0.01f), R(0.1f) }.Select(v => Tensor.FromArray(v, shape, Device)).ToArray();
            }).ToArray();
            for (int step = 0; step < 2; step++)
            {
                if (kind.StartsWith("sgd", StringComparison.Ordinal))
                {
                    var now = sets.Select((t, i) => new SgdTensors(t[0], t[1], sgd.Momentum != 0 ? t[3] : null, step == 0 && i % 2 == 0)).ToArray();
                    if (multi) OptimizerUpdates.SgdStep(now, sgd);
                    else foreach (var t in now) OptimizerUpdates.SgdStep(t.Param, t.Grad, t.MomentumBuffer, sgd, t.FirstStep);
                }
                else
                {
                    var now = sets.Select(t => new RmsPropTensors(t[0], t[1], t[2], centered ? t[3] : null, rms.Momentum > 0 ? t[4] : null)).ToArray();
                    if (multi) OptimizerUpdates.RmsPropStep(now, rms);
                    else foreach (var t in now) OptimizerUpdates.RmsPropStep(t.Param, t.Grad, t.SquareAvg, t.GradAvg, t.MomentumBuffer, rms);
                }
            }
            return sets.SelectMany(t => t.Select(x => x.ToArray())).ToArray();
        }
        var single = Run(multi: false);
        var many = Run(multi: true);
        for (int k = 0; k < single.Length; k++) Assert.That(many[k], Is.EqualTo(single[k]), $"{kind}: tensor {k / 5} ({sizes[k / 5]} elements), slot {k % 5} on {Device.Kind}");
    }

    [Test]
    public void RejectsMismatchedArguments()
    {
        using var scope = TensorScope.Begin();
        var p = Tensor.Zeros(new Shape(5), Device);
        var h = new AdamHyperparameters(1e-3);
        Assert.Throws<ShapeMismatchException>(() => OptimizerUpdates.AdamStep(p, Tensor.Zeros(new Shape(4), Device), Tensor.Zeros(new Shape(5), Device), Tensor.Zeros(new Shape(5), Device), h, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => OptimizerUpdates.AdamStep(p, p, p, p, h, 0));
        Assert.Throws<ArgumentException>(() => OptimizerUpdates.SgdStep(p, p, null, new SgdHyperparameters(0.1, Momentum: 0.9), firstStep: true));
        Assert.Throws<ArgumentException>(() => OptimizerUpdates.RmsPropStep(p, p, p, null, null, new RmsPropHyperparameters(Momentum: 0.9)));
        var other = Device.IsHost ? Device.IlgpuCpu : Device.Cpu;
        Assert.Throws<DeviceMismatchException>(() => OptimizerUpdates.SgdStep(p, Tensor.Zeros(new Shape(5), other), null, new SgdHyperparameters(0.1), true));
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuOptimizerUpdateTests : OptimizerUpdateTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuOptimizerUpdateTests : OptimizerUpdateTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
}

/// <summary>Both kernel sets do the same float32 operations in the same order without FMA: identical results.</summary>
[TestFixture, Category("parity")]
public sealed class OptimizerUpdateParityTests
{
    [TestCaseSource(typeof(OptimizerUpdateTests), nameof(OptimizerUpdateTests.Cases))]
    public void SimdAndIlgpuAgreeBitForBit(OptimizerUpdateTests.Case c)
    {
        var cpu = OptimizerUpdateTests.Run(c, Device.Cpu);
        var ilgpu = OptimizerUpdateTests.Run(c, Device.IlgpuCpu);
        for (int k = 0; k < cpu.Length; k++) Assert.That(ilgpu[k], Is.EqualTo(cpu[k]), $"{c.Name}: {(k == 0 ? "parameter" : $"state {k - 1}")} ilgpu-cpu vs cpu");
    }
}
