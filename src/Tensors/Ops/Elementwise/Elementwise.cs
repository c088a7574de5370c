// Elementwise ops, the public API: y = f(x) and y = f(a, b) with NumPy broadcasting over up to 4
// dimensions, plus the fused activation backward ops (tanh_backward, sigmoid_backward, relu/leaky
// masks) and the in-place updates (AddInPlace, ClampInPlace).
//
// Where things are (the family is four files in Ops/Elementwise/):
//   UnaryOps.cs          one struct per unary op: reference, scalar, SIMD, derivative rule
//   BinaryOps.cs         one struct per binary op, the fused backward ops included
//   ElementwiseKernels.cs the generic ILGPU kernels, the SIMD loops, the reference loops,
//                         the broadcast layout and the launchers that run any op struct
//   Elementwise.cs       this file: the Tensor methods, each naming its op struct
namespace GpuGan.Tensors;

public sealed partial class Tensor
{
    // ============================================================ binary ops

    /// <summary>this + b, broadcast.</summary>
    public Tensor Add(Tensor b) => Binary<AddOp>(b);

    /// <summary>this − b, broadcast.</summary>
    public Tensor Sub(Tensor b) => Binary<SubOp>(b);

    /// <summary>this · b, broadcast.</summary>
    public Tensor Mul(Tensor b) => Binary<MulOp>(b);

    /// <summary>this / b, broadcast.</summary>
    public Tensor Div(Tensor b) => Binary<DivOp>(b);

    /// <summary>Elementwise max, broadcast; ties send the gradient to the first operand.</summary>
    public Tensor Maximum(Tensor b) => Binary<MaximumOp>(b);

    /// <summary>mask ? a : b for a 0/1 mask (no gradient flows into the mask).</summary>
    public static Tensor Where(Tensor mask, Tensor a, Tensor b)
    {
        Tensor m = mask.Detach(), inv;
        using (Autograd.NoGrad()) inv = m.UnaryRaw<AffineOp>(-1f, 1f);
        return a.Mul(m).Add(b.Mul(inv));
    }

    /// <summary>1 where this ≥ other, else 0; not differentiable (a mask).</summary>
    public Tensor GreaterEqualMask(Tensor other) => BinaryRaw<GreaterEqualMaskOp>(other);

    /// <summary>sign x ∈ {−1, 0, 1}; not differentiable (the kernel of Abs's derivative).</summary>
    public Tensor Sign() => UnaryRaw<SignOp>();

    /// <summary>1 where this &gt; threshold, else 0; not differentiable.</summary>
    public Tensor GreaterMask(float threshold) => UnaryRaw<GreaterMaskOp>(threshold);

    // ============================================================ unary ops

    /// <summary>−x.</summary>
    public Tensor Neg() => Unary<NegOp>();

    /// <summary>x + c.</summary>
    public Tensor AddScalar(float c) => Affine(1f, c);

    /// <summary>c·x.</summary>
    public Tensor MulScalar(float c) => Affine(c, 0f);

    /// <summary>alpha·x + beta.</summary>
    public Tensor Affine(float alpha, float beta) => Unary<AffineOp>(alpha, beta);

    /// <summary>eˣ.</summary>
    public Tensor Exp() => Unary<ExpOp>();

    /// <summary>ln x.</summary>
    public Tensor Log() => Unary<LogOp>();

    /// <summary>√x.</summary>
    public Tensor Sqrt() => Unary<SqrtOp>();

    /// <summary>x².</summary>
    public Tensor Square() => Unary<SquareOp>();

    /// <summary>x^p for a scalar exponent p.</summary>
    public Tensor Pow(float p) => Unary<PowOp>(p);

    /// <summary>|x|; the derivative at 0 is taken as 0.</summary>
    public Tensor Abs() => Unary<AbsOp>();

    /// <summary>Clamps into [min, max]; the gradient passes where min ≤ x ≤ max.</summary>
    public Tensor Clamp(float min, float max)
    {
        CheckClampRange(min, max, "Clamp");
        return Unary<ClampOp>(min, max);
    }

    // ============================================================ activations

    /// <summary>max(x, 0). Backward is the fused LeakyBackward op with slope 0.</summary>
    public Tensor Relu() => Unary<ReluOp>();

    /// <summary>x &gt; 0 ? x : slope·x. Backward is the fused LeakyBackward op (its own rule).</summary>
    public Tensor LeakyRelu(float slope) => slope == 0f ? Relu() : Unary<LeakyReluOp>(slope);

    /// <summary>tanh x. Backward is the fused TanhBackward op (its own rule).</summary>
    public Tensor Tanh() => Unary<TanhOp>();

    /// <summary>1/(1 + e^−x). Backward is the fused SigmoidBackward op (its own rule).</summary>
    public Tensor Sigmoid() => Unary<SigmoidOp>();

    /// <summary>g where x &gt; 0, slope·g elsewhere: linear in g, piecewise constant in x.</summary>
    internal static Tensor LeakyBackward(Tensor g, Tensor x, float slope) => g.Binary<LeakyBackwardOp>(x, slope);

    /// <summary>g·(1 − y²) in one pass; its rule: d/dg = 1 − y², d/dy = −2·g·y.</summary>
    internal static Tensor TanhBackward(Tensor g, Tensor y) => g.Binary<TanhBackwardOp>(y);

    /// <summary>g·y·(1 − y) in one pass; its rule: d/dg = y(1 − y), d/dy = g·(1 − 2y).</summary>
    internal static Tensor SigmoidBackward(Tensor g, Tensor y) => g.Binary<SigmoidBackwardOp>(y);

    // ============================================================ in place (unrecorded)

    /// <summary>this += alpha·other, in place and unrecorded (gradient accumulation, optimisers).</summary>
    public void AddInPlace(Tensor other, float alpha = 1f)
    {
        CheckSameDevice(other, "AddInPlace");
        if (other.Shape != Shape) throw new ShapeMismatchException($"AddInPlace: {other.Describe()} into {Describe()}");
        BinaryInto<AxpyOp>(this, other, this, alpha);
    }

    /// <summary>
    /// Clamps every element into [min, max] in place, unrecorded: the same kernel as
    /// <see cref="Clamp"/>, writing over its input (WGAN's weight clipping after each step).
    /// </summary>
    /// <exception cref="ArgumentException">min is greater than max, or either is NaN.</exception>
    public void ClampInPlace(float min, float max)
    {
        CheckClampRange(min, max, "ClampInPlace");
        UnaryInto<ClampOp>(this, this, min, max);
    }

    private static void CheckClampRange(float min, float max, string op)
    {
        if (!(min <= max)) throw new ArgumentException($"{op}: min {min} is greater than max {max}");
    }

    // ============================================================ operators

    /// <summary>a + b (<see cref="Add"/>).</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    /// <summary>a − b (<see cref="Sub"/>).</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    /// <summary>a · b elementwise (<see cref="Mul"/>).</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    /// <summary>a / b elementwise (<see cref="Div"/>).</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    /// <summary>−a (<see cref="Neg"/>).</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
    /// <summary>a + c (<see cref="AddScalar"/>).</summary>
    public static Tensor operator +(Tensor a, float c) => a.AddScalar(c);
    /// <summary>a − c.</summary>
    public static Tensor operator -(Tensor a, float c) => a.AddScalar(-c);
    /// <summary>a · c (<see cref="MulScalar"/>).</summary>
    public static Tensor operator *(Tensor a, float c) => a.MulScalar(c);
    /// <summary>c · a.</summary>
    public static Tensor operator *(float c, Tensor a) => a.MulScalar(c);
}
