// Elementwise ops: y = f(x) and y = f(a, b) with NumPy broadcasting over up to 4 dimensions,
// plus the fused activation backward ops (tanh_backward, sigmoid_backward, relu/leaky masks).
//
// Broadcasting: both operands get 4-D strides against the output, 0 along broadcast
// dimensions. Before the CPU loop runs, adjacent dimensions that are laid out alike in both
// operands are merged, so the CNN patterns — same shape, scalar, per-channel (1,C,1,1),
// per-sample (N,1,1,1) — all become a few long SIMD rows with a vector or a scalar operand.
// The ILGPU kernel does the index arithmetic per element (one thread each, coalesced writes).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>Unary elementwise op codes (one kernel, a switch; the switch is uniform across a launch).</summary>
internal enum UnaryOp
{
    Affine,     // alpha·x + beta
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Sign,
    PowScalar,  // x^alpha
    Clamp,      // min(max(x, alpha), beta)
    InRangeMask,// alpha ≤ x ≤ beta ? 1 : 0
    GtMask,     // x > alpha ? 1 : 0
    Relu,
    LeakyRelu,  // x > 0 ? x : alpha·x
    Tanh,
    Sigmoid,
    Square,
}

/// <summary>Binary elementwise op codes.</summary>
internal enum BinaryOp
{
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    GeMask,         // a ≥ b ? 1 : 0
    Copy,           // a (broadcast copy; b is ignored)
    TanhBackward,   // a·(1 − b²), b = tanh output
    SigmoidBackward,// a·b·(1 − b), b = sigmoid output
    LeakyBackward,  // b > 0 ? a : alpha·a, b = the activation's input (alpha = 0 gives ReLU)
}

/// <summary>4-D output extents and per-operand strides (0 where an operand is broadcast).</summary>
internal struct Broadcast4
{
    public int D0, D1, D2, D3;
    public int A0, A1, A2, A3;
    public int B0, B1, B2, B3;
}

internal static class ElementwiseKernels
{
    // ============================================================ float64 reference

    public static double UnaryReference(UnaryOp op, double x, double alpha, double beta) => op switch
    {
        UnaryOp.Affine => alpha * x + beta,
        UnaryOp.Neg => -x,
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Log => Math.Log(x),
        UnaryOp.Sqrt => Math.Sqrt(x),
        UnaryOp.Abs => Math.Abs(x),
        UnaryOp.Sign => Math.Sign(x),
        UnaryOp.PowScalar => Math.Pow(x, alpha),
        UnaryOp.Clamp => Math.Min(Math.Max(x, alpha), beta),
        UnaryOp.InRangeMask => x >= alpha && x <= beta ? 1 : 0,
        UnaryOp.GtMask => x > alpha ? 1 : 0,
        UnaryOp.Relu => x > 0 ? x : 0,
        UnaryOp.LeakyRelu => x > 0 ? x : alpha * x,
        UnaryOp.Tanh => Math.Tanh(x),
        UnaryOp.Sigmoid => 1 / (1 + Math.Exp(-x)),
        UnaryOp.Square => x * x,
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    public static double BinaryReference(BinaryOp op, double a, double b, double alpha) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Sub => a - b,
        BinaryOp.Mul => a * b,
        BinaryOp.Div => a / b,
        BinaryOp.Maximum => Math.Max(a, b),
        BinaryOp.Minimum => Math.Min(a, b),
        BinaryOp.GeMask => a >= b ? 1 : 0,
        BinaryOp.Copy => a,
        BinaryOp.TanhBackward => a * (1 - b * b),
        BinaryOp.SigmoidBackward => a * b * (1 - b),
        BinaryOp.LeakyBackward => b > 0 ? a : alpha * a,
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    // ============================================================ ILGPU kernels

    private static float UnaryScalar(int op, float x, float alpha, float beta)
    {
        switch ((UnaryOp)op)
        {
            case UnaryOp.Affine: return alpha * x + beta;
            case UnaryOp.Neg: return -x;
            case UnaryOp.Exp: return MathF.Exp(x);
            case UnaryOp.Log: return MathF.Log(x);
            case UnaryOp.Sqrt: return MathF.Sqrt(x);
            case UnaryOp.Abs: return MathF.Abs(x);
            case UnaryOp.Sign: return x > 0 ? 1f : x < 0 ? -1f : 0f;
            case UnaryOp.PowScalar: return MathF.Pow(x, alpha);
            case UnaryOp.Clamp: return x < alpha ? alpha : x > beta ? beta : x;
            case UnaryOp.InRangeMask: return x >= alpha && x <= beta ? 1f : 0f;
            case UnaryOp.GtMask: return x > alpha ? 1f : 0f;
            case UnaryOp.Relu: return x > 0 ? x : 0f;
            case UnaryOp.LeakyRelu: return x > 0 ? x : alpha * x;
            // tanh through exp: the same formula as the SIMD set, and no fast-math tanh in PTX.
            case UnaryOp.Tanh: return 1f - 2f / (MathF.Exp(2f * x) + 1f);
            case UnaryOp.Sigmoid: return 1f / (1f + MathF.Exp(-x));
            case UnaryOp.Square: return x * x;
            default: return float.NaN;
        }
    }

    private static float BinaryScalar(int op, float a, float b, float alpha)
    {
        switch ((BinaryOp)op)
        {
            case BinaryOp.Add: return a + b;
            case BinaryOp.Sub: return a - b;
            case BinaryOp.Mul: return a * b;
            case BinaryOp.Div: return a / b;
            case BinaryOp.Maximum: return a >= b ? a : b;
            case BinaryOp.Minimum: return a <= b ? a : b;
            case BinaryOp.GeMask: return a >= b ? 1f : 0f;
            case BinaryOp.Copy: return a;
            case BinaryOp.TanhBackward: return a * (1f - b * b);
            case BinaryOp.SigmoidBackward: return a * b * (1f - b);
            case BinaryOp.LeakyBackward: return b > 0 ? a : alpha * a;
            default: return float.NaN;
        }
    }

    [GpuKernel]
    public static void FillKernel(Index1D i, ArrayView<float> y, float value) => y[i] = value;

    [GpuKernel]
    public static void UnaryKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int op, float alpha, float beta)
        => y[i] = UnaryScalar(op, x[i], alpha, beta);

    [GpuKernel]
    public static void BinaryKernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, Broadcast4 s, int op, float alpha)
    {
        int r = i;
        int i3 = r % s.D3; r /= s.D3;
        int i2 = r % s.D2; r /= s.D2;
        int i1 = r % s.D1;
        int i0 = r / s.D1;
        float av = a[i0 * s.A0 + i1 * s.A1 + i2 * s.A2 + i3 * s.A3];
        float bv = b[i0 * s.B0 + i1 * s.B1 + i2 * s.B2 + i3 * s.B3];
        y[i] = BinaryScalar(op, av, bv, alpha);
    }

    /// <summary>y += alpha·x (in place; gradient accumulation, optimiser helpers).</summary>
    [GpuKernel]
    public static void AxpyKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, float alpha) => y[i] += alpha * x[i];

    public static void FillIlgpu(Device d, ArrayView<float> y, int n, float value)
        => d.Kernel(nameof(FillKernel), acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(FillKernel))(n, y, value);

    // ============================================================ CPU SIMD kernels

    private interface IUnary
    {
        static abstract float Apply(float x, float alpha, float beta);
        static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> alpha, Vector256<float> beta);
    }

    private interface IBinary
    {
        static abstract float Apply(float a, float b, float alpha);
        static abstract Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> alpha);
    }

    private static readonly Vector256<float> One = Vector256.Create(1f);
    private static readonly Vector256<float> Two = Vector256.Create(2f);

    private struct AffineOp : IUnary
    {
        public static float Apply(float x, float a, float b) => a * x + b;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.FusedMultiplyAdd(a, x, b);
    }
    private struct NegOp : IUnary
    {
        public static float Apply(float x, float a, float b) => -x;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => -x;
    }
    private struct ExpOp : IUnary
    {
        public static float Apply(float x, float a, float b) => MathF.Exp(x);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Exp(x);
    }
    private struct LogOp : IUnary
    {
        public static float Apply(float x, float a, float b) => MathF.Log(x);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Log(x);
    }
    private struct SqrtOp : IUnary
    {
        public static float Apply(float x, float a, float b) => MathF.Sqrt(x);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Sqrt(x);
    }
    private struct AbsOp : IUnary
    {
        public static float Apply(float x, float a, float b) => MathF.Abs(x);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Abs(x);
    }
    private struct SignOp : IUnary
    {
        public static float Apply(float x, float a, float b) => x > 0 ? 1f : x < 0 ? -1f : 0f;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
            => (Vector256.GreaterThan(x, Vector256<float>.Zero) & One) - (Vector256.LessThan(x, Vector256<float>.Zero) & One);
    }
    private struct PowOp : IUnary
    {
        public static float Apply(float x, float a, float b) => MathF.Pow(x, a);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        {
            // No vector pow: go element by element (pow is rare on hot paths).
            Span<float> t = stackalloc float[8];
            x.CopyTo(t);
            float e = a.GetElement(0);
            for (int i = 0; i < 8; i++) t[i] = MathF.Pow(t[i], e);
            return Vector256.Create<float>(t);
        }
    }
    private struct ClampOp : IUnary
    {
        public static float Apply(float x, float a, float b) => x < a ? a : x > b ? b : x;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
            => Vector256.ConditionalSelect(Vector256.LessThan(x, a), a, Vector256.ConditionalSelect(Vector256.GreaterThan(x, b), b, x));
    }
    private struct InRangeMaskOp : IUnary
    {
        public static float Apply(float x, float a, float b) => x >= a && x <= b ? 1f : 0f;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
            => Vector256.GreaterThanOrEqual(x, a) & Vector256.LessThanOrEqual(x, b) & One;
    }
    private struct GtMaskOp : IUnary
    {
        public static float Apply(float x, float a, float b) => x > a ? 1f : 0f;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(x, a) & One;
    }
    private struct ReluOp : IUnary
    {
        public static float Apply(float x, float a, float b) => x > 0 ? x : 0f;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(x, Vector256<float>.Zero) & x;
    }
    private struct LeakyReluOp : IUnary
    {
        public static float Apply(float x, float a, float b) => x > 0 ? x : a * x;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
            => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, a * x);
    }
    private struct TanhOp : IUnary
    {
        public static float Apply(float x, float a, float b) => 1f - 2f / (MathF.Exp(2f * x) + 1f);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => One - Two / (Vector256.Exp(Two * x) + One);
    }
    private struct SigmoidOp : IUnary
    {
        public static float Apply(float x, float a, float b) => 1f / (1f + MathF.Exp(-x));
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => One / (One + Vector256.Exp(-x));
    }
    private struct SquareOp : IUnary
    {
        public static float Apply(float x, float a, float b) => x * x;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => x * x;
    }

    private struct AddOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a + b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a + b;
    }
    private struct SubOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a - b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a - b;
    }
    private struct MulOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a * b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a * b;
    }
    private struct DivOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a / b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a / b;
    }
    private struct MaxOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a >= b ? a : b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, b), a, b);
    }
    private struct MinOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a <= b ? a : b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => Vector256.ConditionalSelect(Vector256.LessThanOrEqual(a, b), a, b);
    }
    private struct GeMaskOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a >= b ? 1f : 0f;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => Vector256.GreaterThanOrEqual(a, b) & One;
    }
    private struct CopyOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a;
    }
    private struct TanhBackwardOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a * (1f - b * b);
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a * (One - b * b);
    }
    private struct SigmoidBackwardOp : IBinary
    {
        public static float Apply(float a, float b, float s) => a * b * (1f - b);
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s) => a * b * (One - b);
    }
    private struct LeakyBackwardOp : IBinary
    {
        public static float Apply(float a, float b, float s) => b > 0 ? a : s * a;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b, Vector256<float> s)
            => Vector256.ConditionalSelect(Vector256.GreaterThan(b, Vector256<float>.Zero), a, s * a);
    }

    private const int ChunkSize = 1 << 15; // elements per parallel work item

    public static unsafe void UnaryCpu(UnaryOp op, float* x, float* y, int n, float alpha, float beta)
    {
        switch (op)
        {
            case UnaryOp.Affine: UnaryCpu<AffineOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Neg: UnaryCpu<NegOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Exp: UnaryCpu<ExpOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Log: UnaryCpu<LogOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Sqrt: UnaryCpu<SqrtOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Abs: UnaryCpu<AbsOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Sign: UnaryCpu<SignOp>(x, y, n, alpha, beta); break;
            case UnaryOp.PowScalar: UnaryCpu<PowOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Clamp: UnaryCpu<ClampOp>(x, y, n, alpha, beta); break;
            case UnaryOp.InRangeMask: UnaryCpu<InRangeMaskOp>(x, y, n, alpha, beta); break;
            case UnaryOp.GtMask: UnaryCpu<GtMaskOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Relu: UnaryCpu<ReluOp>(x, y, n, alpha, beta); break;
            case UnaryOp.LeakyRelu: UnaryCpu<LeakyReluOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Tanh: UnaryCpu<TanhOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Sigmoid: UnaryCpu<SigmoidOp>(x, y, n, alpha, beta); break;
            case UnaryOp.Square: UnaryCpu<SquareOp>(x, y, n, alpha, beta); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    private static unsafe void UnaryCpu<T>(float* x, float* y, int n, float alpha, float beta) where T : struct, IUnary
    {
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        nint xp = (nint)x, yp = (nint)y;
        CpuParallel.For(chunks, c =>
        {
            int start = c * ChunkSize, end = Math.Min(n, start + ChunkSize);
            float* xs = (float*)xp, ys = (float*)yp;
            var va = Vector256.Create(alpha);
            var vb = Vector256.Create(beta);
            int i = start;
            for (; i <= end - 8; i += 8) T.Apply(Vector256.Load(xs + i), va, vb).Store(ys + i);
            for (; i < end; i++) ys[i] = T.Apply(xs[i], alpha, beta);
        });
    }

    public static unsafe void BinaryCpu(BinaryOp op, float* a, float* b, float* y, in Broadcast4 s, float alpha)
    {
        switch (op)
        {
            case BinaryOp.Add: BinaryCpu<AddOp>(a, b, y, s, alpha); break;
            case BinaryOp.Sub: BinaryCpu<SubOp>(a, b, y, s, alpha); break;
            case BinaryOp.Mul: BinaryCpu<MulOp>(a, b, y, s, alpha); break;
            case BinaryOp.Div: BinaryCpu<DivOp>(a, b, y, s, alpha); break;
            case BinaryOp.Maximum: BinaryCpu<MaxOp>(a, b, y, s, alpha); break;
            case BinaryOp.Minimum: BinaryCpu<MinOp>(a, b, y, s, alpha); break;
            case BinaryOp.GeMask: BinaryCpu<GeMaskOp>(a, b, y, s, alpha); break;
            case BinaryOp.Copy: BinaryCpu<CopyOp>(a, b, y, s, alpha); break;
            case BinaryOp.TanhBackward: BinaryCpu<TanhBackwardOp>(a, b, y, s, alpha); break;
            case BinaryOp.SigmoidBackward: BinaryCpu<SigmoidBackwardOp>(a, b, y, s, alpha); break;
            case BinaryOp.LeakyBackward: BinaryCpu<LeakyBackwardOp>(a, b, y, s, alpha); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    /// <summary>
    /// Rows of the innermost (merged) dimension; each row is one SIMD loop whose operands are
    /// each either contiguous (stride 1) or a repeated scalar (stride 0).
    /// </summary>
    private static unsafe void BinaryCpu<T>(float* a, float* b, float* y, Broadcast4 s, float alpha) where T : struct, IBinary
    {
        int rows = s.D0 * s.D1 * s.D2, len = s.D3;
        if (rows == 0 || len == 0) return;
        int rowsPerChunk = Math.Max(1, ChunkSize / len);
        int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        nint ap = (nint)a, bp = (nint)b, yp = (nint)y;
        CpuParallel.For(chunks, c =>
        {
            var va = Vector256.Create(alpha);
            int rEnd = Math.Min(rows, (c + 1) * rowsPerChunk);
            for (int r = c * rowsPerChunk; r < rEnd; r++)
            {
                int i2 = r % s.D2, q = r / s.D2, i1 = q % s.D1, i0 = q / s.D1;
                float* ar = (float*)ap + i0 * s.A0 + i1 * s.A1 + i2 * s.A2;
                float* br = (float*)bp + i0 * s.B0 + i1 * s.B1 + i2 * s.B2;
                float* yr = (float*)yp + (long)r * len;
                Row<T>(ar, s.A3, br, s.B3, yr, len, alpha, va);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Row<T>(float* a, int sa, float* b, int sb, float* y, int len, float alpha, Vector256<float> va) where T : struct, IBinary
    {
        int i = 0;
        if (sa == 1 && sb == 1)
        {
            for (; i <= len - 8; i += 8) T.Apply(Vector256.Load(a + i), Vector256.Load(b + i), va).Store(y + i);
            for (; i < len; i++) y[i] = T.Apply(a[i], b[i], alpha);
        }
        else if (sa == 1 && sb == 0)
        {
            var vb = Vector256.Create(*b);
            for (; i <= len - 8; i += 8) T.Apply(Vector256.Load(a + i), vb, va).Store(y + i);
            for (; i < len; i++) y[i] = T.Apply(a[i], *b, alpha);
        }
        else if (sa == 0 && sb == 1)
        {
            var vA = Vector256.Create(*a);
            for (; i <= len - 8; i += 8) T.Apply(vA, Vector256.Load(b + i), va).Store(y + i);
            for (; i < len; i++) y[i] = T.Apply(*a, b[i], alpha);
        }
        else
        {
            for (; i < len; i++) y[i] = T.Apply(a[i * sa], b[i * sb], alpha);
        }
    }

    public static unsafe void AxpyCpu(float* x, float* y, int n, float alpha)
    {
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        nint xp = (nint)x, yp = (nint)y;
        CpuParallel.For(chunks, c =>
        {
            int start = c * ChunkSize, end = Math.Min(n, start + ChunkSize);
            float* xs = (float*)xp, ys = (float*)yp;
            var va = Vector256.Create(alpha);
            int i = start;
            for (; i <= end - 8; i += 8) Vector256.FusedMultiplyAdd(va, Vector256.Load(xs + i), Vector256.Load(ys + i)).Store(ys + i);
            for (; i < end; i++) ys[i] += alpha * xs[i];
        });
    }

    // ============================================================ broadcast layout

    /// <summary>
    /// Output-aligned 4-D strides of a and b, with adjacent dimensions merged where both
    /// operands are laid out alike, so the CPU inner loop runs over the longest possible rows.
    /// </summary>
    public static Broadcast4 Layout(Shape a, Shape b, Shape output, bool merge)
    {
        Span<int> d = stackalloc int[4], da = stackalloc int[4], db = stackalloc int[4];
        output.To4(d);
        PadTo4(a, output.Rank, da);
        PadTo4(b, output.Rank, db);
        Span<int> sa = stackalloc int[4], sb = stackalloc int[4];
        int ra = 1, rb = 1;
        for (int i = 3; i >= 0; i--)
        {
            sa[i] = da[i] == 1 && d[i] != 1 ? 0 : ra;
            sb[i] = db[i] == 1 && d[i] != 1 ? 0 : rb;
            ra *= da[i];
            rb *= db[i];
        }
        if (merge)
        {
            // Drop size-1 dimensions, then fold dimension i into i+1 whenever that keeps both
            // operands' addressing linear (contiguous in both, or broadcast in both).
            Span<int> md = stackalloc int[4], ma = stackalloc int[4], mb = stackalloc int[4];
            int k = 0;
            for (int i = 0; i < 4; i++)
            {
                if (d[i] == 1) continue;
                if (k > 0 && ma[k - 1] == sa[i] * d[i] && mb[k - 1] == sb[i] * d[i])
                {
                    md[k - 1] *= d[i];
                    ma[k - 1] = sa[i];
                    mb[k - 1] = sb[i];
                    continue;
                }
                md[k] = d[i]; ma[k] = sa[i]; mb[k] = sb[i];
                k++;
            }
            for (int i = 0; i < 4; i++)
            {
                int src = i - (4 - k);
                d[i] = src >= 0 ? md[src] : 1;
                sa[i] = src >= 0 ? ma[src] : 0;
                sb[i] = src >= 0 ? mb[src] : 0;
            }
        }
        return new Broadcast4
        {
            D0 = d[0], D1 = d[1], D2 = d[2], D3 = d[3],
            A0 = sa[0], A1 = sa[1], A2 = sa[2], A3 = sa[3],
            B0 = sb[0], B1 = sb[1], B2 = sb[2], B3 = sb[3],
        };
    }

    private static void PadTo4(Shape s, int outRank, Span<int> dims4)
    {
        // Right-align against the output rank first (NumPy rule), then into 4 slots.
        int pad = 4 - outRank, inner = outRank - s.Rank;
        for (int i = 0; i < 4; i++)
        {
            int k = i - pad - inner;
            dims4[i] = k >= 0 ? s[k] : 1;
        }
    }
}

public sealed partial class Tensor
{
    // ============================================================ launchers

    internal unsafe Tensor UnaryRaw(UnaryOp op, float alpha = 0, float beta = 0)
    {
        var y = Empty(Shape, Device);
        if (Size == 0) return y;
        if (Device.IsHost)
        {
            fixed (float* xp = HostSpan, yp = y.HostSpan) ElementwiseKernels.UnaryCpu(op, xp, yp, Size, alpha, beta);
        }
        else
        {
            Device.Kernel(nameof(ElementwiseKernels.UnaryKernel), acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float, float>(ElementwiseKernels.UnaryKernel))
                (Size, View, y.View, (int)op, alpha, beta);
        }
        return y;
    }

    internal unsafe Tensor BinaryRaw(BinaryOp op, Tensor b, float alpha = 0, string? opName = null)
    {
        CheckSameDevice(b, opName ?? op.ToString());
        var outShape = Shape.Broadcast(Shape, b.Shape, opName ?? op.ToString());
        var y = Empty(outShape, Device);
        if (outShape.Size == 0) return y;
        if (Device.IsHost)
        {
            var s = ElementwiseKernels.Layout(Shape, b.Shape, outShape, merge: true);
            fixed (float* ap = HostSpan, bp = b.HostSpan, yp = y.HostSpan) ElementwiseKernels.BinaryCpu(op, ap, bp, yp, s, alpha);
        }
        else
        {
            var s = ElementwiseKernels.Layout(Shape, b.Shape, outShape, merge: false);
            Device.Kernel(nameof(ElementwiseKernels.BinaryKernel), acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Broadcast4, int, float>(ElementwiseKernels.BinaryKernel))
                (outShape.Size, View, b.View, y.View, s, (int)op, alpha);
        }
        return y;
    }

    /// <summary>this += alpha·other, in place and unrecorded (gradient accumulation, optimisers).</summary>
    public unsafe void AddInPlace(Tensor other, float alpha = 1f)
    {
        CheckSameDevice(other, "AddInPlace");
        if (other.Shape != Shape) throw new ShapeMismatchException($"AddInPlace: {other.Describe()} into {Describe()}");
        if (Size == 0) return;
        if (Device.IsHost)
        {
            fixed (float* xp = other.HostSpan, yp = HostSpan) ElementwiseKernels.AxpyCpu(xp, yp, Size, alpha);
        }
        else
        {
            Device.Kernel(nameof(ElementwiseKernels.AxpyKernel), acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(ElementwiseKernels.AxpyKernel))
                (Size, other.View, View, alpha);
        }
    }

    // ============================================================ public ops and derivative rules

    public Tensor Add(Tensor b)
    {
        var y = BinaryRaw(BinaryOp.Add, b, opName: "Add");
        Shape sa = Shape, sb = b.Shape;
        return Autograd.Record(y, "Add", [this, b], g => [g[0].SumTo(sa), g[0].SumTo(sb)]);
    }

    public Tensor Sub(Tensor b)
    {
        var y = BinaryRaw(BinaryOp.Sub, b, opName: "Sub");
        Shape sa = Shape, sb = b.Shape;
        return Autograd.Record(y, "Sub", [this, b], g => [g[0].SumTo(sa), g[0].Neg().SumTo(sb)]);
    }

    public Tensor Mul(Tensor b)
    {
        var y = BinaryRaw(BinaryOp.Mul, b, opName: "Mul");
        var a = this;
        return Autograd.Record(y, "Mul", [this, b], (g, need) =>
            [need[0] ? g[0].Mul(b).SumTo(a.Shape) : null, need[1] ? g[0].Mul(a).SumTo(b.Shape) : null]);
    }

    public Tensor Div(Tensor b)
    {
        var y = BinaryRaw(BinaryOp.Div, b, opName: "Div");
        var a = this;
        // d(a/b)/db = −a/b² = −y/b
        return Autograd.Record(y, "Div", [this, b], (g, need) =>
            [need[0] ? g[0].Div(b).SumTo(a.Shape) : null, need[1] ? g[0].Mul(a.Div(b.Square())).Neg().SumTo(b.Shape) : null]);
    }

    /// <summary>Elementwise max; ties send the gradient to the first operand.</summary>
    public Tensor Maximum(Tensor b)
    {
        var y = BinaryRaw(BinaryOp.Maximum, b, opName: "Maximum");
        var a = this;
        return Autograd.Record(y, "Maximum", [this, b], g =>
        {
            using var _ = Autograd.NoGrad();
            var mask = a.BinaryRaw(BinaryOp.GeMask, b);
            var inv = mask.UnaryRaw(UnaryOp.Affine, -1f, 1f);
            return [g[0].Mul(mask).SumTo(a.Shape), g[0].Mul(inv).SumTo(b.Shape)];
        });
    }

    /// <summary>mask ? a : b for a 0/1 mask (no gradient flows into the mask).</summary>
    public static Tensor Where(Tensor mask, Tensor a, Tensor b)
    {
        Tensor m = mask.Detach(), inv;
        using (Autograd.NoGrad()) inv = m.UnaryRaw(UnaryOp.Affine, -1f, 1f);
        return a.Mul(m).Add(b.Mul(inv));
    }

    /// <summary>1 where this ≥ other, else 0; not differentiable (a mask).</summary>
    public Tensor GreaterEqualMask(Tensor other) => BinaryRaw(BinaryOp.GeMask, other, opName: "GreaterEqualMask");

    /// <summary>1 where this &gt; threshold, else 0; not differentiable.</summary>
    public Tensor GreaterMask(float threshold) => UnaryRaw(UnaryOp.GtMask, threshold);

    public Tensor Neg() => Autograd.Record(UnaryRaw(UnaryOp.Neg), "Neg", [this], g => [g[0].Neg()]);

    public Tensor AddScalar(float c) => Affine(1f, c);
    public Tensor MulScalar(float c) => Affine(c, 0f);

    /// <summary>alpha·x + beta.</summary>
    public Tensor Affine(float alpha, float beta)
        => Autograd.Record(UnaryRaw(UnaryOp.Affine, alpha, beta), "Affine", [this], g => [g[0].MulScalar(alpha)]);

    public Tensor Exp()
    {
        var y = UnaryRaw(UnaryOp.Exp);
        return Autograd.Record(y, "Exp", [this], g => [g[0].Mul(y)]);
    }

    public Tensor Log()
    {
        var x = this;
        return Autograd.Record(UnaryRaw(UnaryOp.Log), "Log", [this], g => [g[0].Div(x)]);
    }

    public Tensor Sqrt()
    {
        var y = UnaryRaw(UnaryOp.Sqrt);
        return Autograd.Record(y, "Sqrt", [this], g => [g[0].Div(y).MulScalar(0.5f)]);
    }

    public Tensor Square()
    {
        var x = this;
        return Autograd.Record(UnaryRaw(UnaryOp.Square), "Square", [this], g => [g[0].Mul(x).MulScalar(2f)]);
    }

    /// <summary>x^p for a scalar exponent p.</summary>
    public Tensor Pow(float p)
    {
        var x = this;
        return Autograd.Record(UnaryRaw(UnaryOp.PowScalar, p), "Pow", [this], g => [g[0].Mul(x.Pow(p - 1f)).MulScalar(p)]);
    }

    /// <summary>|x|; the derivative at 0 is taken as 0.</summary>
    public Tensor Abs()
    {
        var x = this;
        return Autograd.Record(UnaryRaw(UnaryOp.Abs), "Abs", [this], g =>
        {
            Tensor sign;
            using (Autograd.NoGrad()) sign = x.UnaryRaw(UnaryOp.Sign);
            return [g[0].Mul(sign)];
        });
    }

    /// <summary>Clamps into [min, max]; the gradient passes where min ≤ x ≤ max.</summary>
    public Tensor Clamp(float min, float max)
    {
        if (!(min <= max)) throw new ArgumentException($"Clamp: min {min} is greater than max {max}");
        var x = this;
        return Autograd.Record(UnaryRaw(UnaryOp.Clamp, min, max), "Clamp", [this], g =>
        {
            Tensor mask;
            using (Autograd.NoGrad()) mask = x.UnaryRaw(UnaryOp.InRangeMask, min, max);
            return [g[0].Mul(mask)];
        });
    }

    // ------------------------------------------------------------ activations

    public Tensor Relu() => LeakyRelu(0f);

    /// <summary>x &gt; 0 ? x : slope·x. Backward is the fused LeakyBackward op (its own rule).</summary>
    public Tensor LeakyRelu(float slope)
    {
        var x = this;
        var y = slope == 0f ? UnaryRaw(UnaryOp.Relu) : UnaryRaw(UnaryOp.LeakyRelu, slope);
        return Autograd.Record(y, slope == 0f ? "Relu" : "LeakyRelu", [this], g => [LeakyBackward(g[0], x, slope)]);
    }

    /// <summary>g where x &gt; 0, slope·g elsewhere: linear in g, piecewise constant in x.</summary>
    internal static Tensor LeakyBackward(Tensor g, Tensor x, float slope)
    {
        var y = g.BinaryRaw(BinaryOp.LeakyBackward, x, slope, "LeakyBackward");
        return Autograd.Record(y, "LeakyBackward", [g, x], gg => [LeakyBackward(gg[0], x, slope), null]);
    }

    public Tensor Tanh()
    {
        var y = UnaryRaw(UnaryOp.Tanh);
        return Autograd.Record(y, "Tanh", [this], g => [TanhBackward(g[0], y)]);
    }

    /// <summary>g·(1 − y²) in one pass; its rule: d/dg = 1 − y², d/dy = −2·g·y.</summary>
    internal static Tensor TanhBackward(Tensor g, Tensor y)
    {
        var r = g.BinaryRaw(BinaryOp.TanhBackward, y, opName: "TanhBackward");
        return Autograd.Record(r, "TanhBackward", [g, y], (gg, need) =>
            [need[0] ? TanhBackward(gg[0], y) : null, need[1] ? gg[0].Mul(g).Mul(y).MulScalar(-2f) : null]);
    }

    public Tensor Sigmoid()
    {
        var y = UnaryRaw(UnaryOp.Sigmoid);
        return Autograd.Record(y, "Sigmoid", [this], g => [SigmoidBackward(g[0], y)]);
    }

    /// <summary>g·y·(1 − y) in one pass; its rule: d/dg = y(1 − y), d/dy = g·(1 − 2y).</summary>
    internal static Tensor SigmoidBackward(Tensor g, Tensor y)
    {
        var r = g.BinaryRaw(BinaryOp.SigmoidBackward, y, opName: "SigmoidBackward");
        return Autograd.Record(r, "SigmoidBackward", [g, y], (gg, need) =>
            [need[0] ? SigmoidBackward(gg[0], y) : null, need[1] ? gg[0].Mul(g).Mul(y.Affine(-2f, 1f)) : null]);
    }

    // ------------------------------------------------------------ operators

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator -(Tensor a) => a.Neg();
    public static Tensor operator +(Tensor a, float c) => a.AddScalar(c);
    public static Tensor operator -(Tensor a, float c) => a.AddScalar(-c);
    public static Tensor operator *(Tensor a, float c) => a.MulScalar(c);
    public static Tensor operator *(float c, Tensor a) => a.MulScalar(c);
}
