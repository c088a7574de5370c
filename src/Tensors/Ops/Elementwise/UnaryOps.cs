// The unary elementwise ops, one struct each: y = f(x; α, β) with two scalar parameters α, β
// (unused by most ops). Each struct holds, in this order, the float64 reference (the op table's
// oracle) and, for differentiable ops, its float64 derivative f'(x) (the oracle of the rule: the
// op table builds the reference VJP u·f'(x) from it), the float32 scalar math (the ILGPU kernel and the SIMD tails run it), the Vector256 and
// Vector512 forms (the SIMD loop), and the derivative rule as differentiable tensor ops.
// UnaryKernel<TOp> and the SIMD loop in ElementwiseKernels run any of them.
//
// Kernel-set agreement: the scalar and vector forms use the same formulas, so the two kernel sets
// differ only where the vector exp/log approximations differ from MathF's (a few ulps). tanh is
// written through exp, 1 − 2/(e^2x + 1), on both sets: PTX has no accurate tanh without fast math.
// Masks (1/0 results) are not differentiable: they implement IUnaryOp only and are never recorded.
using System.Runtime.Intrinsics;

namespace GpuGan.Tensors;

/// <summary>A unary elementwise op: its reference, scalar and SIMD math (see UnaryOps.cs).</summary>
internal interface IUnaryOp
{
    /// <summary>Name on the autograd tape and in error messages.</summary>
    static abstract string Name { get; }

    /// <summary>Floating-point operations per element, as LaunchCost counts them (an exp or a comparison is one).</summary>
    static abstract int Flops { get; }

    /// <summary>The float64 reference (the test oracle).</summary>
    static abstract double Reference(double x, double alpha, double beta);

    /// <summary>The float32 math of the ILGPU kernel and of the SIMD loop's tail.</summary>
    static abstract float Apply(float x, float alpha, float beta);

    static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> alpha, Vector256<float> beta);

    static abstract Vector512<float> Apply(Vector512<float> x, Vector512<float> alpha, Vector512<float> beta);
}

/// <summary>A unary op with a derivative rule written in differentiable tensor ops.</summary>
internal interface IDifferentiableUnaryOp : IUnaryOp
{
    /// <summary>dL/dx from the upstream g = dL/dy, the input x and the output y.</summary>
    static abstract Tensor Derivative(Tensor g, Tensor x, Tensor y, float alpha, float beta);

    /// <summary>The float64 derivative f'(x) of <see cref="IUnaryOp.Reference"/> (the oracle of <see cref="Derivative"/>).</summary>
    static abstract double ReferenceDerivative(double x, double alpha, double beta);
}

/// <summary>α·x + β.</summary>
internal readonly struct AffineOp : IDifferentiableUnaryOp
{
    public static string Name => "Affine";
    public static int Flops => 2;
    public static double Reference(double x, double a, double b) => a * x + b;
    public static double ReferenceDerivative(double x, double a, double b) => a;
    public static float Apply(float x, float a, float b) => a * x + b;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.FusedMultiplyAdd(a, x, b);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.FusedMultiplyAdd(a, x, b);
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => g.MulScalar(a);
}

internal readonly struct NegOp : IDifferentiableUnaryOp
{
    public static string Name => "Neg";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => -x;
    public static double ReferenceDerivative(double x, double a, double b) => -1;
    public static float Apply(float x, float a, float b) => -x;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => -x;
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => -x;
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => g.Neg();
}

/// <summary>eˣ; d/dx = y.</summary>
internal readonly struct ExpOp : IDifferentiableUnaryOp
{
    public static string Name => "Exp";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => Math.Exp(x);
    public static double ReferenceDerivative(double x, double a, double b) => Math.Exp(x);
    public static float Apply(float x, float a, float b) => MathF.Exp(x);
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Exp(x);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.Exp(x);
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => g.Mul(y);
}

/// <summary>ln x; d/dx = 1/x.</summary>
internal readonly struct LogOp : IDifferentiableUnaryOp
{
    public static string Name => "Log";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => Math.Log(x);
    public static double ReferenceDerivative(double x, double a, double b) => 1 / x;
    public static float Apply(float x, float a, float b) => MathF.Log(x);
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Log(x);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.Log(x);
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => g.Div(x);
}

/// <summary>√x; d/dx = 1/(2y).</summary>
internal readonly struct SqrtOp : IDifferentiableUnaryOp
{
    public static string Name => "Sqrt";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => Math.Sqrt(x);
    public static double ReferenceDerivative(double x, double a, double b) => 0.5 / Math.Sqrt(x);
    public static float Apply(float x, float a, float b) => MathF.Sqrt(x);
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Sqrt(x);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.Sqrt(x);
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => g.Div(y).MulScalar(0.5f);
}

/// <summary>x²; d/dx = 2x.</summary>
internal readonly struct SquareOp : IDifferentiableUnaryOp
{
    public static string Name => "Square";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => x * x;
    public static double ReferenceDerivative(double x, double a, double b) => 2 * x;
    public static float Apply(float x, float a, float b) => x * x;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => x * x;
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => x * x;
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => g.Mul(x).MulScalar(2f);
}

/// <summary>x^α for a scalar exponent α; d/dx = α·x^(α−1).</summary>
internal readonly struct PowOp : IDifferentiableUnaryOp
{
    public static string Name => "Pow";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => Math.Pow(x, a);
    public static double ReferenceDerivative(double x, double a, double b) => a * Math.Pow(x, a - 1);
    public static float Apply(float x, float a, float b) => MathF.Pow(x, a);

    // No vector pow in the BCL: element by element (pow is on no hot path).
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
    {
        Span<float> t = stackalloc float[Vector256<float>.Count];
        x.CopyTo(t);
        float e = a.GetElement(0);
        for (int i = 0; i < t.Length; i++) t[i] = MathF.Pow(t[i], e);
        return Vector256.Create<float>(t);
    }

    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        => Vector512.Create(Apply(x.GetLower(), a.GetLower(), b.GetLower()), Apply(x.GetUpper(), a.GetLower(), b.GetLower()));

    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => g.Mul(x.Pow(a - 1f)).MulScalar(a);
}

/// <summary>|x|; the derivative at 0 is taken as 0 (sign x).</summary>
internal readonly struct AbsOp : IDifferentiableUnaryOp
{
    public static string Name => "Abs";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => Math.Abs(x);
    public static double ReferenceDerivative(double x, double a, double b) => Math.Sign(x);
    public static float Apply(float x, float a, float b) => MathF.Abs(x);
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Abs(x);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.Abs(x);

    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b)
    {
        Tensor sign;
        using (Autograd.NoGrad()) sign = x.UnaryRaw<SignOp>();
        return g.Mul(sign);
    }
}

/// <summary>min(max(x, α), β); the gradient passes where α ≤ x ≤ β.</summary>
internal readonly struct ClampOp : IDifferentiableUnaryOp
{
    public static string Name => "Clamp";
    public static int Flops => 2;
    public static double Reference(double x, double a, double b) => Math.Min(Math.Max(x, a), b);
    public static double ReferenceDerivative(double x, double a, double b) => x >= a && x <= b ? 1 : 0;
    public static float Apply(float x, float a, float b) => x < a ? a : x > b ? b : x;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        => Vector256.ConditionalSelect(Vector256.LessThan(x, a), a, Vector256.ConditionalSelect(Vector256.GreaterThan(x, b), b, x));
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        => Vector512.ConditionalSelect(Vector512.LessThan(x, a), a, Vector512.ConditionalSelect(Vector512.GreaterThan(x, b), b, x));

    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b)
    {
        Tensor mask;
        using (Autograd.NoGrad()) mask = x.UnaryRaw<InRangeMaskOp>(a, b);
        return g.Mul(mask);
    }
}

/// <summary>max(x, 0); its rule is the fused LeakyBackward with slope 0.</summary>
internal readonly struct ReluOp : IDifferentiableUnaryOp
{
    public static string Name => "Relu";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => x > 0 ? x : 0;
    public static double ReferenceDerivative(double x, double a, double b) => x > 0 ? 1 : 0;
    public static float Apply(float x, float a, float b) => x > 0 ? x : 0f;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(x, Vector256<float>.Zero) & x;
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(x, Vector512<float>.Zero) & x;
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => Tensor.LeakyBackward(g, x, 0f);
}

/// <summary>x &gt; 0 ? x : α·x; its rule is the fused LeakyBackward.</summary>
internal readonly struct LeakyReluOp : IDifferentiableUnaryOp
{
    public static string Name => "LeakyRelu";
    public static int Flops => 2;
    public static double Reference(double x, double a, double b) => x > 0 ? x : a * x;
    public static double ReferenceDerivative(double x, double a, double b) => x > 0 ? 1 : a;
    public static float Apply(float x, float a, float b) => x > 0 ? x : a * x;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, a * x);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), x, a * x);
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => Tensor.LeakyBackward(g, x, a);
}

/// <summary>tanh x = 1 − 2/(e^2x + 1); its rule is the fused TanhBackward(g, y).</summary>
internal readonly struct TanhOp : IDifferentiableUnaryOp
{
    public static string Name => "Tanh";
    public static int Flops => 5;
    public static double Reference(double x, double a, double b) => Math.Tanh(x);
    public static double ReferenceDerivative(double x, double a, double b) => 1 - Math.Tanh(x) * Math.Tanh(x);
    public static float Apply(float x, float a, float b) => 1f - 2f / (MathF.Exp(2f * x) + 1f);
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        => Vector256<float>.One - Vector256.Create(2f) / (Vector256.Exp(Vector256.Create(2f) * x) + Vector256<float>.One);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        => Vector512<float>.One - Vector512.Create(2f) / (Vector512.Exp(Vector512.Create(2f) * x) + Vector512<float>.One);
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => Tensor.TanhBackward(g, y);
}

/// <summary>σ(x) = 1/(1 + e^−x); its rule is the fused SigmoidBackward(g, y).</summary>
internal readonly struct SigmoidOp : IDifferentiableUnaryOp
{
    public static string Name => "Sigmoid";
    public static int Flops => 4;
    public static double Reference(double x, double a, double b) => 1 / (1 + Math.Exp(-x));
    public static double ReferenceDerivative(double x, double a, double b) { double y = 1 / (1 + Math.Exp(-x)); return y * (1 - y); }
    public static float Apply(float x, float a, float b) => 1f / (1f + MathF.Exp(-x));
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));
    public static Tensor Derivative(Tensor g, Tensor x, Tensor y, float a, float b) => Tensor.SigmoidBackward(g, y);
}

// ------------------------------------------------------------ masks (no derivative)

/// <summary>sign x ∈ {−1, 0, 1} (Abs's derivative).</summary>
internal readonly struct SignOp : IUnaryOp
{
    public static string Name => "Sign";
    public static int Flops => 2;
    public static double Reference(double x, double a, double b) => Math.Sign(x);
    public static float Apply(float x, float a, float b) => x > 0 ? 1f : x < 0 ? -1f : 0f;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        => (Vector256.GreaterThan(x, Vector256<float>.Zero) & Vector256<float>.One) - (Vector256.LessThan(x, Vector256<float>.Zero) & Vector256<float>.One);
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        => (Vector512.GreaterThan(x, Vector512<float>.Zero) & Vector512<float>.One) - (Vector512.LessThan(x, Vector512<float>.Zero) & Vector512<float>.One);
}

/// <summary>α ≤ x ≤ β ? 1 : 0 (Clamp's derivative).</summary>
internal readonly struct InRangeMaskOp : IUnaryOp
{
    public static string Name => "InRangeMask";
    public static int Flops => 2;
    public static double Reference(double x, double a, double b) => x >= a && x <= b ? 1 : 0;
    public static float Apply(float x, float a, float b) => x >= a && x <= b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        => Vector256.GreaterThanOrEqual(x, a) & Vector256.LessThanOrEqual(x, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        => Vector512.GreaterThanOrEqual(x, a) & Vector512.LessThanOrEqual(x, b) & Vector512<float>.One;
}

/// <summary>x &gt; α ? 1 : 0.</summary>
internal readonly struct GreaterMaskOp : IUnaryOp
{
    public static string Name => "GreaterMask";
    public static int Flops => 1;
    public static double Reference(double x, double a, double b) => x > a ? 1 : 0;
    public static float Apply(float x, float a, float b) => x > a ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(x, a) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(x, a) & Vector512<float>.One;
}
