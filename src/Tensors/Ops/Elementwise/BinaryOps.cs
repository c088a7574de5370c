// The binary elementwise ops, one struct each: y = f(a, b; α) with NumPy broadcasting of a and b
// and one scalar parameter α. Each struct holds the float64 reference (the op table's oracle),
// for differentiable ops its float64 partial derivatives (∂f/∂a, ∂f/∂b) (the oracle of the rule), the float32 scalar math (ILGPU kernel, SIMD tails), the Vector256 and Vector512 forms, and the
// derivative rule. BinaryKernel<TOp> and the SIMD row loop in ElementwiseKernels run any of them.
//
// The fused activation backward ops are binary ops too, with rules of their own (PyTorch's
// tanh_backward / sigmoid_backward / leaky_relu_backward), so double backward through an activation
// is again one fused kernel per step:
//   TanhBackward(g, y)       = g·(1 − y²)       d/dg = 1 − y²          d/dy = −2·g·y
//   SigmoidBackward(g, y)    = g·y·(1 − y)      d/dg = y(1 − y)        d/dy = g·(1 − 2y)
//   LeakyBackward(g, x; α)   = x > 0 ? g : α·g  d/dg = the same mask   d/dx = 0 (piecewise constant)
// Derivatives are returned at the output's (broadcast) shape; the launcher sums each back to its
// operand's shape (SumTo, the adjoint of broadcasting).
using System.Runtime.Intrinsics;

namespace GpuGan.Tensors;

/// <summary>A binary elementwise op: its reference, scalar and SIMD math (see BinaryOps.cs).</summary>
internal interface IBinaryOp
{
    /// <summary>Name on the autograd tape and in error messages.</summary>
    static abstract string Name { get; }

    /// <summary>Floating-point operations per element, as LaunchCost counts them (an exp or a comparison is one).</summary>
    static abstract int Flops { get; }

    /// <summary>The float64 reference (the test oracle).</summary>
    static abstract double Reference(double a, double b, double alpha);

    /// <summary>The float32 math of the ILGPU kernel and of the SIMD loop's tail.</summary>
    static abstract float Apply(float a, float b, float alpha);

    static abstract Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> alpha);

    static abstract Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> alpha);
}

/// <summary>A binary op with a derivative rule written in differentiable tensor ops.</summary>
internal interface IDifferentiableBinaryOp : IBinaryOp
{
    /// <summary>
    /// (dL/da, dL/db) at the output's shape from the upstream g = dL/dy; a gradient that is not
    /// <paramref name="needA"/>/<paramref name="needB"/> may be null, and null also means zero.
    /// </summary>
    static abstract (Tensor? A, Tensor? B) Derivative(Tensor g, Tensor a, Tensor b, Tensor y, float alpha, bool needA, bool needB);

    /// <summary>The float64 partial derivatives (∂f/∂a, ∂f/∂b) of <see cref="IBinaryOp.Reference"/> (the oracle of <see cref="Derivative"/>).</summary>
    static abstract (double A, double B) ReferenceDerivative(double a, double b, double alpha);
}

internal readonly struct AddOp : IDifferentiableBinaryOp
{
    public static string Name => "Add";
    public static int Flops => 1;
    public static double Reference(double a, double b, double s) => a + b;
    public static (double, double) ReferenceDerivative(double a, double b, double s) => (1, 1);
    public static float Apply(float a, float b, float s) => a + b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a + b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => a + b;
    public static (Tensor?, Tensor?) Derivative(Tensor g, Tensor a, Tensor b, Tensor y, float s, bool needA, bool needB) => (g, g);
}

internal readonly struct SubOp : IDifferentiableBinaryOp
{
    public static string Name => "Sub";
    public static int Flops => 1;
    public static double Reference(double a, double b, double s) => a - b;
    public static (double, double) ReferenceDerivative(double a, double b, double s) => (1, -1);
    public static float Apply(float a, float b, float s) => a - b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a - b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => a - b;
    public static (Tensor?, Tensor?) Derivative(Tensor g, Tensor a, Tensor b, Tensor y, float s, bool needA, bool needB)
        => (g, needB ? g.Neg() : null);
}

internal readonly struct MulOp : IDifferentiableBinaryOp
{
    public static string Name => "Mul";
    public static int Flops => 1;
    public static double Reference(double a, double b, double s) => a * b;
    public static (double, double) ReferenceDerivative(double a, double b, double s) => (b, a);
    public static float Apply(float a, float b, float s) => a * b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a * b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => a * b;
    public static (Tensor?, Tensor?) Derivative(Tensor g, Tensor a, Tensor b, Tensor y, float s, bool needA, bool needB)
        => (needA ? g.Mul(b) : null, needB ? g.Mul(a) : null);
}

/// <summary>a/b; d/db = −a/b².</summary>
internal readonly struct DivOp : IDifferentiableBinaryOp
{
    public static string Name => "Div";
    public static int Flops => 1;
    public static double Reference(double a, double b, double s) => a / b;
    public static (double, double) ReferenceDerivative(double a, double b, double s) => (1 / b, -a / (b * b));
    public static float Apply(float a, float b, float s) => a / b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a / b;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => a / b;
    public static (Tensor?, Tensor?) Derivative(Tensor g, Tensor a, Tensor b, Tensor y, float s, bool needA, bool needB)
        => (needA ? g.Div(b) : null, needB ? g.Mul(a.Div(b.Square())).Neg() : null);
}

/// <summary>max(a, b); ties send the gradient to a.</summary>
internal readonly struct MaximumOp : IDifferentiableBinaryOp
{
    public static string Name => "Maximum";
    public static int Flops => 1;
    public static double Reference(double a, double b, double s) => Math.Max(a, b);
    public static (double, double) ReferenceDerivative(double a, double b, double s) => a >= b ? (1, 0) : (0, 1);
    public static float Apply(float a, float b, float s) => a >= b ? a : b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, b), a, b);
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, b), a, b);

    public static (Tensor?, Tensor?) Derivative(Tensor g, Tensor a, Tensor b, Tensor y, float s, bool needA, bool needB)
    {
        Tensor mask, inv;
        using (Autograd.NoGrad())
        {
            mask = a.BinaryRaw<GreaterEqualMaskOp>(b);
            inv = mask.UnaryRaw<AffineOp>(-1f, 1f);
        }
        return (needA ? g.Mul(mask) : null, needB ? g.Mul(inv) : null);
    }
}

/// <summary>g·(1 − y²), y = tanh x.</summary>
internal readonly struct TanhBackwardOp : IDifferentiableBinaryOp
{
    public static string Name => "TanhBackward";
    public static int Flops => 3;
    public static double Reference(double g, double y, double s) => g * (1 - y * y);
    public static (double, double) ReferenceDerivative(double g, double y, double s) => (1 - y * y, -2 * g * y);
    public static float Apply(float g, float y, float s) => g * (1f - y * y);
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> y, Vector256<float> s) => g * (Vector256<float>.One - y * y);
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> y, Vector512<float> s) => g * (Vector512<float>.One - y * y);
    public static (Tensor?, Tensor?) Derivative(Tensor gg, Tensor g, Tensor y, Tensor r, float s, bool needG, bool needY)
        => (needG ? Tensor.TanhBackward(gg, y) : null, needY ? gg.Mul(g).Mul(y).MulScalar(-2f) : null);
}

/// <summary>g·y·(1 − y), y = σ(x).</summary>
internal readonly struct SigmoidBackwardOp : IDifferentiableBinaryOp
{
    public static string Name => "SigmoidBackward";
    public static int Flops => 3;
    public static double Reference(double g, double y, double s) => g * y * (1 - y);
    public static (double, double) ReferenceDerivative(double g, double y, double s) => (y * (1 - y), g * (1 - 2 * y));
    public static float Apply(float g, float y, float s) => g * y * (1f - y);
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> y, Vector256<float> s) => g * y * (Vector256<float>.One - y);
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> y, Vector512<float> s) => g * y * (Vector512<float>.One - y);
    public static (Tensor?, Tensor?) Derivative(Tensor gg, Tensor g, Tensor y, Tensor r, float s, bool needG, bool needY)
        => (needG ? Tensor.SigmoidBackward(gg, y) : null, needY ? gg.Mul(g).Mul(y.Affine(-2f, 1f)) : null);
}

/// <summary>x &gt; 0 ? g : α·g, x = the activation's input (α = 0 is ReLU's backward).</summary>
internal readonly struct LeakyBackwardOp : IDifferentiableBinaryOp
{
    public static string Name => "LeakyBackward";
    public static int Flops => 2;
    public static double Reference(double g, double x, double s) => x > 0 ? g : s * g;
    public static (double, double) ReferenceDerivative(double g, double x, double s) => (x > 0 ? 1 : s, 0);
    public static float Apply(float g, float x, float s) => x > 0 ? g : s * g;
    public static Vector256<float> Apply(Vector256<float> g, Vector256<float> x, Vector256<float> s)
        => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), g, s * g);
    public static Vector512<float> Apply(Vector512<float> g, Vector512<float> x, Vector512<float> s)
        => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), g, s * g);
    public static (Tensor?, Tensor?) Derivative(Tensor gg, Tensor g, Tensor x, Tensor r, float s, bool needG, bool needX)
        => (needG ? Tensor.LeakyBackward(gg, x, s) : null, null);
}

// ------------------------------------------------------------ not differentiable

/// <summary>a ≥ b ? 1 : 0 (a mask; Maximum's derivative).</summary>
internal readonly struct GreaterEqualMaskOp : IBinaryOp
{
    public static string Name => "GreaterEqualMask";
    public static int Flops => 1;
    public static double Reference(double a, double b, double s) => a >= b ? 1 : 0;
    public static float Apply(float a, float b, float s) => a >= b ? 1f : 0f;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => Vector256.GreaterThanOrEqual(a, b) & Vector256<float>.One;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => Vector512.GreaterThanOrEqual(a, b) & Vector512<float>.One;
}

/// <summary>a, broadcast to the output (b is ignored): BroadcastTo's kernel.</summary>
internal readonly struct CopyOp : IBinaryOp
{
    public static string Name => "BroadcastTo";
    public static int Flops => 0;
    public static double Reference(double a, double b, double s) => a;
    public static float Apply(float a, float b, float s) => a;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a;
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => a;
}

/// <summary>a + α·b: in-place gradient accumulation (AddInPlace, with the output aliasing a).</summary>
internal readonly struct AxpyOp : IBinaryOp
{
    public static string Name => "AddInPlace";
    public static int Flops => 2;
    public static double Reference(double a, double b, double s) => a + s * b;
    public static float Apply(float a, float b, float s) => a + s * b;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => Vector256.FusedMultiplyAdd(s, b, a);
    public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b, Vector512<float> s) => Vector512.FusedMultiplyAdd(s, b, a);
}
