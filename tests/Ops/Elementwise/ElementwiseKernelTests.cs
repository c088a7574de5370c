// Every elementwise op struct through the generic machinery, against its own float64 reference:
// the unary and binary kernels at sizes that cross the SIMD loop's paths (Vector512, Vector256,
// scalar tail) and its parallel chunks (2 × 32,768 + a ragged end), every broadcast layout the
// row loop distinguishes, and the in-place forms (AddInPlace, ClampInPlace). The op table
// (tests/OpTable/ElementwiseCases.cs) covers the public ops' gradients; this file covers every
// instantiation the library can launch, masks and fused backward ops included, so a new op struct
// without a row here fails CoversEveryKernelInstantiation.
//
// Tolerances: results are float32 roundings of the same formula (a few ulps: atol 1e-6, rtol 2e-6);
// the vector exp/log behind Exp, Log, Tanh and Sigmoid are accurate to a few ulps too.
using System.Reflection;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Elementwise;

public abstract class ElementwiseKernelTests : DeviceFixture
{
    /// <summary>A unary op struct, its parameters and an input range inside its domain.</summary>
    public sealed record UnaryRow(Type Op, float Alpha, float Beta, float Lo, float Hi)
    {
        public override string ToString() => Op.Name;
    }

    /// <summary>A binary op struct, its parameter, and the range of b (a is N(0, 1)).</summary>
    public sealed record BinaryRow(Type Op, float Alpha, float BLo, float BHi)
    {
        public override string ToString() => Op.Name;
    }

    public static readonly UnaryRow[] UnaryRows =
    [
        new(typeof(AffineOp), -1.5f, 0.25f, -3f, 3f),
        new(typeof(NegOp), 0, 0, -3f, 3f),
        new(typeof(ExpOp), 0, 0, -10f, 10f),
        new(typeof(LogOp), 0, 0, 1e-3f, 1e3f),
        new(typeof(SqrtOp), 0, 0, 0f, 100f),
        new(typeof(SquareOp), 0, 0, -3f, 3f),
        new(typeof(PowOp), 1.5f, 0, 0.1f, 5f),
        new(typeof(AbsOp), 0, 0, -3f, 3f),
        new(typeof(ClampOp), -0.5f, 0.75f, -2f, 2f),
        new(typeof(ReluOp), 0, 0, -3f, 3f),
        new(typeof(LeakyReluOp), 0.2f, 0, -3f, 3f),
        new(typeof(TanhOp), 0, 0, -12f, 12f),
        new(typeof(SigmoidOp), 0, 0, -20f, 20f),
        new(typeof(SignOp), 0, 0, -3f, 3f),
        new(typeof(InRangeMaskOp), -0.5f, 0.75f, -2f, 2f),
        new(typeof(GreaterMaskOp), 0.1f, 0, -2f, 2f),
    ];

    public static readonly BinaryRow[] BinaryRows =
    [
        new(typeof(AddOp), 0, -3f, 3f),
        new(typeof(SubOp), 0, -3f, 3f),
        new(typeof(MulOp), 0, -3f, 3f),
        new(typeof(DivOp), 0, 0.5f, 3f),
        new(typeof(MaximumOp), 0, -3f, 3f),
        new(typeof(TanhBackwardOp), 0, -1f, 1f),
        new(typeof(SigmoidBackwardOp), 0, 0f, 1f),
        new(typeof(LeakyBackwardOp), 0.2f, -3f, 3f),
        new(typeof(GreaterEqualMaskOp), 0, -1f, 1f),
        new(typeof(CopyOp), 0, -3f, 3f),
        new(typeof(AxpyOp), -0.75f, -3f, 3f),
    ];

    /// <summary>(a shape, b shape): same, scalar b, scalar a, per-channel, per-sample, both sides broadcast.</summary>
    private static readonly (int[] A, int[] B)[] Layouts =
    [
        ([70_001], [70_001]),
        ([29], [29]),
        ([3, 7, 1009], [1]),
        ([1], [4, 1001]),
        ([2, 3, 97, 131], [1, 3, 1, 1]),
        ([5, 2, 9, 9], [5, 1, 1, 1]),
        ([3, 1, 53], [1, 41, 1]),
    ];

    private const double Atol = 1e-6, Rtol = 2e-6;

    [Test]
    public void CoversEveryKernelInstantiation()
    {
        var launched = ElementwiseKernels.Instantiations().Select(m => m.GetGenericArguments()[0]).OrderBy(t => t.Name).ToArray();
        var tested = UnaryRows.Select(r => r.Op).Concat(BinaryRows.Select(r => r.Op)).OrderBy(t => t.Name).ToArray();
        Assert.That(tested, Is.EqualTo(launched), "every op struct the kernels can run has a row here");
    }

    [TestCaseSource(nameof(UnaryRows))]
    public void UnaryKernelMatchesReference(UnaryRow row) => Invoke(nameof(CheckUnary), row.Op, row);

    [TestCaseSource(nameof(BinaryRows))]
    public void BinaryKernelMatchesReference(BinaryRow row) => Invoke(nameof(CheckBinary), row.Op, row);

    private void Invoke(string method, Type op, object row)
    {
        var m = typeof(ElementwiseKernelTests).GetMethod(method, BindingFlags.NonPublic | BindingFlags.Instance)!.MakeGenericMethod(op);
        try { m.Invoke(this, [row]); }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
    }

    private void CheckUnary<TOp>(UnaryRow row) where TOp : struct, IUnaryOp
    {
        var gen = new RandomStream(3);
        foreach (int n in new[] { 70_001, 29 })
        {
            using var scope = TensorScope.Begin();
            var x = Ref.Uniform(gen, n, row.Lo, row.Hi);
            var y = Tensor.FromArray(x, new Shape(n), Device).UnaryRaw<TOp>(row.Alpha, row.Beta);
            var expected = ElementwiseKernels.UnaryReference<TOp>(GradCheck.ToDouble(x), row.Alpha, row.Beta);
            GradCheck.AssertClose(y.ToArray(), expected, Atol, Rtol, $"{TOp.Name} on {Device.Kind}, n = {n}");
        }
    }

    private void CheckBinary<TOp>(BinaryRow row) where TOp : struct, IBinaryOp
    {
        var gen = new RandomStream(4);
        foreach (var (sa, sb) in Layouts)
        {
            using var scope = TensorScope.Begin();
            var a = new float[sa.Aggregate(1, (p, d) => p * d)];
            gen.FillNormal(a);
            var b = Ref.Uniform(gen, sb.Aggregate(1, (p, d) => p * d), row.BLo, row.BHi);
            var y = Tensor.FromArray(a, new Shape(sa), Device).BinaryRaw<TOp>(Tensor.FromArray(b, new Shape(sb), Device), row.Alpha);
            var expected = ElementwiseKernels.BinaryReference<TOp>(GradCheck.ToDouble(a), sa, GradCheck.ToDouble(b), sb, row.Alpha);
            GradCheck.AssertClose(y.ToArray(), expected, Atol, Rtol, $"{TOp.Name} on {Device.Kind}, {Shape.Format(sa)} with {Shape.Format(sb)}");
        }
    }

    [Test]
    public void AddInPlaceAccumulatesIntoItsTarget()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(5);
        var y0 = new float[70_001];
        var x = new float[70_001];
        gen.FillNormal(y0);
        gen.FillNormal(x);
        var y = Tensor.FromArray(y0, new Shape(y0.Length), Device);
        y.AddInPlace(Tensor.FromArray(x, new Shape(x.Length), Device), -0.75f);
        var expected = ElementwiseKernels.BinaryReference<AxpyOp>(GradCheck.ToDouble(y0), [y0.Length], GradCheck.ToDouble(x), [x.Length], -0.75f);
        GradCheck.AssertClose(y.ToArray(), expected, Atol, Rtol, $"AddInPlace on {Device.Kind}");
        Assert.Throws<ShapeMismatchException>(() => y.AddInPlace(Tensor.Zeros(new Shape(3), Device)));
    }

    [Test]
    public void ClampInPlaceIsClampWrittenOverItsInput()
    {
        using var scope = TensorScope.Begin();
        var x0 = Ref.Uniform(new RandomStream(6), 70_001, -0.05f, 0.05f);
        var x = Tensor.FromArray(x0, new Shape(x0.Length), Device);
        x.ClampInPlace(-0.01f, 0.01f);
        var expected = ElementwiseKernels.UnaryReference<ClampOp>(GradCheck.ToDouble(x0), -0.01f, 0.01f);
        Assert.That(x.ToArray(), Is.EqualTo(expected.Select(v => (float)v).ToArray()), "clamping rounds nothing: exact");
        Assert.Throws<ArgumentException>(() => x.ClampInPlace(1f, -1f));
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuElementwiseKernelTests : ElementwiseKernelTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuElementwiseKernelTests : ElementwiseKernelTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
}
