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
    protected virtual bool SkipHeavy(OpCase op) => false;

    /// <summary>Inputs up to this size get the per-element second-order check; larger ones the random-direction check.</summary>
    protected virtual int MaxElementwiseSecondOrder => 64;

    /// <summary>Random directions per input in the directional second-order check.</summary>
    protected virtual int SecondOrderDirections => 3;

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
        if (SkipHeavy(op)) Assert.Ignore($"{op.Name}: too slow on the ILGPU CPU simulator; kernel parity covers it");
        if (!op.InputShapes.Select((_, i) => op.IsDifferentiable(i)).Any(b => b)) Assert.Ignore($"{op.Name} is a mask: it has no gradient");
        GradCheck.Check(op, Device);
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.SecondOrderRows))]
    public void GradGradCheckPasses(OpCase op)
    {
        if (SkipHeavy(op)) Assert.Ignore($"{op.Name}: too slow on the ILGPU CPU simulator; kernel parity covers it");
        GradCheck.CheckSecondOrder(op, Device, maxElementwise: MaxElementwiseSecondOrder, directions: SecondOrderDirections);
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuOpTableTests : OpTableTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

/// <summary>
/// The ILGPU kernels on ILGPU's CPU accelerator. Gradgradcheck evaluates the op hundreds of
/// times; on the simulator only the light rows run it, kernel parity covers the rest.
/// </summary>
[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuOpTableTests : OpTableTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
    protected override bool SkipHeavy(OpCase op) => op.HeavyOnIlgpu;
    protected override int MaxElementwiseSecondOrder => 0;
    // One direction per input on the simulator keeps the suite inside its time budget.
    protected override int SecondOrderDirections => 1;
}

/// <summary>ILGPU-vs-SIMD parity of every forward and backward kernel (the backward through a random upstream gradient).</summary>
[TestFixture, Category("parity")]
public sealed class KernelParityTests
{
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
}
