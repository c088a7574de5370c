using System.Reflection;
using GpuGan.Tensors;
using GpuGan.Tests.Ops;
using NUnit.Framework;

namespace GpuGan.Tests.OpTable;

/// <summary>
/// The op table: every static method of <see cref="OpCases"/> that returns IEnumerable&lt;OpCase&gt;
/// contributes rows (one file per op family, tests/Ops/&lt;Family&gt;/*Cases.cs).
/// </summary>
public static partial class OpCases
{
    public static IEnumerable<OpCase> All() => typeof(OpCases)
        .GetMethods(BindingFlags.Public | BindingFlags.Static)
        .Where(m => m.ReturnType == typeof(IEnumerable<OpCase>) && m.GetParameters().Length == 0 && m.Name != nameof(All))
        .OrderBy(m => m.Name)
        .SelectMany(m => (IEnumerable<OpCase>)m.Invoke(null, null)!);

    public static IEnumerable<TestCaseData> Rows() => All().Select(c => new TestCaseData(c).SetArgDisplayNames(c.Name));

    public static IEnumerable<TestCaseData> SecondOrderRows() => All().Where(c => c.SupportsGradGrad).Select(c => new TestCaseData(c).SetArgDisplayNames(c.Name));
}

/// <summary>Backend tests written once; one subclass per device (STYLE 8).</summary>
public abstract class OpTableTests : DeviceFixture
{
    /// <summary>Rows whose gradient checks are left to GPUGAN_FULL_CHECKS on this device (kernel parity still covers them).</summary>
    protected virtual bool SkipHeavy(OpCase op) => false;

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Rows))]
    public void ForwardMatchesFloat64Reference(OpCase op)
    {
        var gen = new RandomStream(7);
        var inputs = op.InputShapes.Select((_, i) => op.Sample(gen, i)).ToArray();
        using var scope = TensorScope.Begin();
        var xs = inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], Device)).ToArray();
        var y = op.Forward(xs);
        var expected = op.Reference(inputs.Select(GradCheck.ToDouble).ToArray());
        GradCheck.AssertClose(y.ToArray(), expected, op.Atol, op.Rtol, $"{op.Name} forward on {Device.Kind}");
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Rows))]
    public void GradCheckPasses(OpCase op)
    {
        if (Kind == DeviceKind.IlgpuCpu)
            FullChecks.RequireImplied($"{op.Name} gradcheck on the ILGPU simulator", "KernelParityTests.IlgpuMatchesSimd (ILGPU's forward and gradients equal SIMD's) and the cpu gradcheck");
        if (SkipHeavy(op)) Assert.Ignore($"{op.Name}: slow on the ILGPU CPU simulator; runs with {FullChecks.Variable}=1, kernel parity covers it always");
        if (!op.InputShapes.Select((_, i) => op.IsDifferentiable(i)).Any(b => b)) Assert.Ignore($"{op.Name} is a mask: it has no gradient");
        GradCheck.Check(op, Device);
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.SecondOrderRows))]
    public void GradGradCheckPasses(OpCase op)
    {
        if (Kind == DeviceKind.IlgpuCpu)
            FullChecks.RequireImplied($"{op.Name} gradgradcheck on the ILGPU simulator", "KernelParityTests.SecondOrderIlgpuMatchesSimd and the cpu gradgradcheck");
        if (SkipHeavy(op)) Assert.Ignore($"{op.Name}: slow on the ILGPU CPU simulator; runs with {FullChecks.Variable}=1, kernel parity covers it always");
        GradCheck.CheckSecondOrder(op, Device);
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuOpTableTests : OpTableTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

/// <summary>The ILGPU kernels on ILGPU's CPU accelerator: the forward against float64 always; the gradchecks and gradgradchecks (implied by kernel parity and the cpu checks) with GPUGAN_FULL_CHECKS=2.</summary>
[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuOpTableTests : OpTableTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
    protected override bool SkipHeavy(OpCase op) => op.HeavyOnIlgpu && !FullChecks.Enabled;
}

/// <summary>Device-free checks of the rows' float64 oracles.</summary>
[TestFixture]
public sealed class ReferenceTests
{
    /// <summary>The explicit float64 VJP of every row agrees with central differences of its float64 reference.</summary>
    [TestCaseSource(typeof(OpCases), nameof(OpCases.Rows))]
    public void ReferenceVjpMatchesFiniteDifferences(OpCase op)
    {
        if (op.Vjp is null) Assert.Ignore($"{op.Name} has no explicit float64 VJP: gradgradcheck uses nested differences of its reference");
        if (GradCheck.TryCheckReferenceVjp(op) is { } failure) Assert.Fail(failure);
    }
}

/// <summary>ILGPU-vs-SIMD parity of every forward and backward kernel, first and second order.</summary>
[TestFixture, Category("parity")]
public sealed class KernelParityTests
{
    /// <summary>Forward and first-order gradients (through a random upstream gradient).</summary>
    [TestCaseSource(typeof(OpCases), nameof(OpCases.Rows))]
    public void IlgpuMatchesSimd(OpCase op)
    {
        var results = new List<float[]>[2];
        var devices = new[] { Device.Cpu, Device.IlgpuCpu };
        for (int d = 0; d < 2; d++)
        {
            var gen = new RandomStream(11);
            var inputs = op.InputShapes.Select((_, i) => op.Sample(gen, i)).ToArray();
            using var scope = TensorScope.Begin();
            var xs = inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], devices[d])).ToArray();
            for (int i = 0; i < xs.Length; i++) xs[i].RequiresGrad = op.IsDifferentiable(i);
            var y = op.Forward(xs);
            var u = new float[y.Size];
            gen.FillNormal(u);
            var wrt = Enumerable.Range(0, xs.Length).Where(op.IsDifferentiable).Select(i => xs[i]).ToArray();
            if (wrt.Length == 0) { results[d] = [y.ToArray()]; continue; }
            var grads = Autograd.Grad([y], wrt, [Tensor.FromArray(u, y.Shape, devices[d])], allowUnused: true);
            results[d] = [y.ToArray(), .. grads.Select(g => g.ToArray())];
        }
        for (int k = 0; k < results[0].Count; k++)
            GradCheck.AssertClose(results[1][k], results[0][k], op.ParityAtol, op.ParityRtol,
                $"{op.Name}: {(k == 0 ? "forward" : $"gradient {k - 1}")} ilgpu-cpu vs cpu");
    }

    /// <summary>
    /// The createGraph gradient differentiated again (w.r.t. every input and the upstream gradient), ILGPU against SIMD,
    /// for every row, the heavy ones included: the GPU path's double backward is checked everywhere.
    /// </summary>
    [TestCaseSource(typeof(OpCases), nameof(OpCases.SecondOrderRows))]
    public void SecondOrderIlgpuMatchesSimd(OpCase op)
    {
        if (op.Name.StartsWith("NormBackward[", StringComparison.Ordinal))
            FullChecks.RequireSlow($"{op.Name} second-order ILGPU parity",
                "the third derivative of a norm, which no training loop takes (WGAN-GP's penalty takes the second, which the " +
                "BatchNorm2d, InstanceNorm2d and LayerNorm rows' second-order parity checks); ~2 s a row on the ILGPU simulator, 19 s for the nine");
        if (op.Name.StartsWith("SyncBatchNorm2d[", StringComparison.Ordinal))
            FullChecks.RequireImplied($"{op.Name} second-order ILGPU parity",
                "the second-order parity rows of the ops it is composed of (Sum, AllReduceSum, MulScalar, Sub, Square, AddScalar, Pow, Mul, Add; Ops/Collective/Collective.cs)");
        if (GradCheck.TryCheckSecondOrderParity(op, Device.IlgpuCpu, Device.Cpu) is { } failure) Assert.Fail(failure);
    }
}

/// <summary>
/// How much of the slow checking a run does, from GPUGAN_FULL_CHECKS: unset or 0, a developer's run (the slowest
/// checks report Ignored with the reason, never pass silently); 1, what .ci/run sets (the slow simulator and
/// fixture checks too); 2, also the checks that other checks already imply (the ILGPU gradcheck and gradgradcheck of every row,
/// the gradcheck implied by IlgpuMatchesSimd together with the cpu gradcheck, and the gradgradcheck
/// implied by SecondOrderIlgpuMatchesSimd — ILGPU's double backward equals SIMD's — together with the cpu
/// gradgradcheck against float64; the CycleGAN whole step on the simulator, whose every op has ILGPU parity rows and
/// whose trainer path the pix2pix and AAE step parities run; the 64-pixel WGAN-GP critics against PyTorch on the
/// simulator, whose ops the 28-pixel ones run there), and checks too slow for the suite's budget (the score calibration
/// on 1,000 held-out dishes). Level 2 costs about 120 s more on 2 cores, which is
/// why CI keeps to 1. Read once from the environment: a fact about the run, not a setting code can change.
/// </summary>
public static class FullChecks
{
    public const string Variable = "GPUGAN_FULL_CHECKS";

    /// <summary>0, 1 or 2 (see the type's summary); anything else set in the variable counts as 1.</summary>
    public static int Level { get; } = Environment.GetEnvironmentVariable(Variable) switch
    {
        null or "" or "0" => 0,
        "2" => 2,
        _ => 1,
    };

    public static bool Enabled => Level >= 1;

    /// <summary>Ignores the calling test unless the full checks are on.</summary>
    public static void Require(string what)
    {
        if (!Enabled) Assert.Ignore($"{what}: runs with {Variable}=1 (as .ci/run sets it)");
    }

    /// <summary>Ignores the calling test below level 2: a check too slow for the suite's budget; <paramref name="why"/> says why it is slow.</summary>
    public static void RequireSlow(string what, string why)
    {
        if (Level < 2) Assert.Ignore($"{what}: {why}; runs with {Variable}=2");
    }

    /// <summary>Ignores the calling test unless the implied checks are asked for too (level 2); <paramref name="impliedBy"/> says what covers it.</summary>
    public static void RequireImplied(string what, string impliedBy)
    {
        if (Level < 2) Assert.Ignore($"{what}: implied by {impliedBy}; runs with {Variable}=2");
    }
}
