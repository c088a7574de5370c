// GEMM raw kernels: C(m×n) = alpha · op(A) · op(B) + beta · C, row-major, where
// op(A) is m×k (A stored m×k, or k×m when transA) and op(B) is k×n (B stored k×n, or n×k
// when transB); every operand is contiguous with its leading dimension equal to its row length.
// Convolutions in this project are lowered onto this (forward W·col, col2im for the input gradient,
// G·colᵀ for the weight gradient; on ILGPU the forward and the weight gradient are implicit GEMMs that
// gather the columns inside the kernel, on the CPU their B packing gathers them through a panel source,
// ICpuPanelSourceB), so it is the hottest kernel on both kernel sets.
//
// Sections: float64 reference, ILGPU kernels (+ launcher helper), CPU SIMD kernels.
// The Tensor-level launcher and the derivative rule live with the MatMul op, not here.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors.Ops;

/// <summary>How the ILGPU GEMM reads op(A) (m×k): element (i, p) and the (row, kk) of load idx of a 128×8 tile.</summary>
internal interface IGemmOperandA
{
    /// <summary>op(A)[i, p].</summary>
    static abstract float Load(ArrayView<float> a, int i, int p, int m, int k, GemmArgs g);
    /// <summary>Tile row of the tile's idx-th load (loads run along the stored rows, so a warp's loads coalesce).</summary>
    static abstract int TileRow(int idx);
    /// <summary>Tile k of the tile's idx-th load.</summary>
    static abstract int TileK(int idx);
}

/// <summary>How the ILGPU GEMM reads op(B) (k×n): element (p, j) and the (kk, col) of load idx of an 8×64 tile.</summary>
internal interface IGemmOperandB
{
    /// <summary>op(B)[p, j].</summary>
    static abstract float Load(ArrayView<float> b, int p, int j, int n, int k, GemmArgs g);
    /// <summary>Tile column of the tile's idx-th load.</summary>
    static abstract int TileCol(int idx);
    /// <summary>Tile k of the tile's idx-th load.</summary>
    static abstract int TileK(int idx);
    /// <summary>
    /// The launch's args for output class <paramref name="cls"/> (grid z = class·splits + split): the identity for one
    /// class; the sub-pixel input gradient sets that class's columns, k and tap geometry (<see cref="BConvGradGather"/>).
    /// </summary>
    static abstract GemmArgs ForClass(GemmArgs g, int cls);
}

/// <summary>A stored (m, k): a tile is loaded along k.</summary>
internal readonly struct ARowMajor : IGemmOperandA
{
    public static float Load(ArrayView<float> a, int i, int p, int m, int k, GemmArgs g) => a[i * k + p];
    public static int TileRow(int idx) => idx / 8;
    public static int TileK(int idx) => idx % 8;
}

/// <summary>A stored (k, m), op(A) = Aᵀ: a tile is loaded along m.</summary>
internal readonly struct AColMajor : IGemmOperandA
{
    public static float Load(ArrayView<float> a, int i, int p, int m, int k, GemmArgs g) => a[p * m + i];
    public static int TileRow(int idx) => idx % 128;
    public static int TileK(int idx) => idx / 128;
}

/// <summary>B stored (k, n): a tile is loaded along n.</summary>
internal readonly struct BRowMajor : IGemmOperandB
{
    public static float Load(ArrayView<float> b, int p, int j, int n, int k, GemmArgs g) => b[p * n + j];
    public static int TileCol(int idx) => idx % 64;
    public static int TileK(int idx) => idx / 64;
    public static GemmArgs ForClass(GemmArgs g, int cls) => g;
}

/// <summary>B stored (n, k), op(B) = Bᵀ: a tile is loaded along k.</summary>
internal readonly struct BColMajor : IGemmOperandB
{
    public static float Load(ArrayView<float> b, int p, int j, int n, int k, GemmArgs g) => b[j * k + p];
    public static int TileCol(int idx) => idx / 8;
    public static int TileK(int idx) => idx % 8;
    public static GemmArgs ForClass(GemmArgs g, int cls) => g;
}

/// <summary>
/// Implicit im2col for the convolution forward: op(B) (Cin·kH·kW × N·Ho·Wo) read straight from X (N, Cin, H, W),
/// op(B)[(ci, i, j), (s, oh, ow)] = X[s, ci, oh·S − Pad + i·D, ow·S − Pad + j·D], zero in the padding.
/// A tile is loaded along n (consecutive ow: a warp's loads are contiguous runs of an input row at stride 1).
/// </summary>
internal readonly struct BConvImage : IGemmOperandB
{
    public static float Load(ArrayView<float> x, int p, int j, int n, int k, GemmArgs g)
    {
        int kj = p % g.KW, t = p / g.KW, ki = t % g.KH, ci = t / g.KH;
        int s = j / g.P, pix = j - s * g.P, oh = pix / g.Wo, ow = pix - oh * g.Wo;
        int ih = oh * g.S - g.Pad + ki * g.D, iw = ow * g.S - g.Pad + kj * g.D;
        return (uint)ih < (uint)g.H && (uint)iw < (uint)g.W ? x[((s * g.Cin + ci) * g.H + ih) * g.W + iw] : 0f;
    }
    public static int TileCol(int idx) => idx % 64;
    public static int TileK(int idx) => idx / 64;
    public static GemmArgs ForClass(GemmArgs g, int cls) => g;
}

/// <summary>
/// dY (N, Cout, Ho, Wo) seen as op(A) (Cout × N·Ho·Wo) for the conv weight gradient: op(A)[co, (s, pix)] = dY[s, co, pix].
/// A tile is loaded along k (consecutive pixels of one channel plane).
/// </summary>
internal readonly struct ANchwChannels : IGemmOperandA
{
    public static float Load(ArrayView<float> dy, int i, int p, int m, int k, GemmArgs g)
    {
        int s = p / g.P, pix = p - s * g.P;
        return dy[(s * m + i) * g.P + pix];
    }
    public static int TileRow(int idx) => idx / 8;
    public static int TileK(int idx) => idx % 8;
}

/// <summary>
/// im2col(X)ᵀ for the conv weight gradient: op(B) (N·Ho·Wo × Cin·kH·kW), op(B)[(s, oh, ow), (ci, i, j)] as in
/// <see cref="BConvImage"/> with the roles of p and j exchanged. A tile is loaded along k (consecutive ow).
/// </summary>
internal readonly struct BConvImageT : IGemmOperandB
{
    public static float Load(ArrayView<float> x, int p, int j, int n, int k, GemmArgs g) => BConvImage.Load(x, j, p, k, n, g);
    public static int TileCol(int idx) => idx / 8;
    public static int TileK(int idx) => idx % 8;
    public static GemmArgs ForClass(GemmArgs g, int cls) => g;
}

/// <summary>
/// The conv input gradient as an implicit GEMM that gathers (no columns, no col2im), split into sub-pixel classes:
/// dX[s, ci, h, w] = Σ_{co, kh, kw} W[co, ci, kh, kw] · dY[s, co, (h + Pad − kh·D)/S, (w + Pad − kw·D)/S] over the taps
/// where both divisions are exact and in range. Whether kh contributes to row h depends only on the class
/// r = (h + Pad) mod S: kh·D ≡ r (mod S), i.e. kh = Kh0 + Sk·t with Sk = S/gcd(S, D) and Kh0 the smallest solution
/// (none when gcd(S, D) does not divide r: the class receives no tap). So the S² classes (rh, rw) are S² dense GEMMs:
/// class rows h = H0 + S·hi (H0 = (r − Pad) mod S), k = Cout·Th·Tw over the class's taps only (a stride-2, 4×4
/// conv has 2×2 taps per class, not 16 of which 12 miss), and dY row oh = Qh + hi − Dq·t with Qh = (H0 + Pad − Kh0·D)/S
/// (exact) and Dq = D/gcd(S, D): no division by S anywhere. One launch takes every class as part of grid z.
/// op(B)[(co, th, tw), (s, hi, wi)] = dY[s, co, Qh + hi − Dq·th, Qw + wi − Dq·tw] (zero outside dY); a tile is loaded
/// along n (consecutive wi: consecutive dY pixels of one row).
/// </summary>
internal readonly struct BConvGradGather : IGemmOperandB
{
    public static float Load(ArrayView<float> dy, int p, int j, int n, int k, GemmArgs g)
    {
        int co = p / g.Taps, t = p - co * g.Taps, th = t / g.Tw, tw = t - th * g.Tw;
        int s = j / g.ClassPixels, pix = j - s * g.ClassPixels, hi = pix / g.Wc, wi = pix - hi * g.Wc;
        int oh = g.Qh + hi - g.Dq * th, ow = g.Qw + wi - g.Dq * tw;
        return (uint)oh < (uint)g.Ho && (uint)ow < (uint)g.Wo ? dy[((s * g.Cout + co) * g.Ho + oh) * g.Wo + ow] : 0f;
    }
    public static int TileCol(int idx) => idx % 64;
    public static int TileK(int idx) => idx / 64;

    public static GemmArgs ForClass(GemmArgs g, int cls)
    {
        int rh = cls / g.S, rw = cls - rh * g.S;
        g.H0 = Mod(rh - g.Pad, g.S);
        g.W0 = Mod(rw - g.Pad, g.S);
        g.Hc = g.H0 < g.H ? (g.H - g.H0 + g.S - 1) / g.S : 0;
        g.Wc = g.W0 < g.W ? (g.W - g.W0 + g.S - 1) / g.S : 0;
        int kh0 = FirstTap(rh, g.D, g.S, g.Sk), kw0 = FirstTap(rw, g.D, g.S, g.Sk);
        int th = kh0 < 0 || kh0 >= g.KH ? 0 : (g.KH - kh0 + g.Sk - 1) / g.Sk;
        int tw = kw0 < 0 || kw0 >= g.KW ? 0 : (g.KW - kw0 + g.Sk - 1) / g.Sk;
        g.Kh0 = kh0;
        g.Kw0 = kw0;
        g.Tw = Math.Max(tw, 1);   // a divisor in Load; a class without taps has k = 0 and never loads
        g.Taps = th * tw;
        g.Qh = (g.H0 + g.Pad - kh0 * g.D) / g.S;
        g.Qw = (g.W0 + g.Pad - kw0 * g.D) / g.S;
        g.N = g.Batch * g.Hc * g.Wc;
        // Divisors in Load and the store's Index, which run for the columns of a partial tile too: a class with no
        // pixel (Hc or Wc 0: an output smaller than the stride) has N = 0 and stores nothing, but must not divide by 0
        // (the CPU simulator traps; a GPU would compute garbage indices it then never uses).
        g.ClassPixels = Math.Max(g.Hc * g.Wc, 1);
        g.Wc = Math.Max(g.Wc, 1);
        g.K = g.Cout * g.Taps;
        return g;
    }

    private static int Mod(int a, int m) => ((a % m) + m) % m;

    /// <summary>The smallest kh in [0, sk) with kh·d ≡ r (mod s), or −1 when there is none.</summary>
    private static int FirstTap(int r, int d, int s, int sk)
    {
        for (int kh = 0; kh < sk; kh++)
            if (Mod(kh * d - r, s) == 0) return kh;
        return -1;
    }

    /// <summary>The classes' widest column count and longest k, which size the launch grid.</summary>
    internal static (int MaxN, int MaxK) Extent(GemmArgs g)
    {
        int maxN = 0, maxK = 0;
        for (int c = 0; c < g.Classes; c++)
        {
            var a = ForClass(g, c);
            maxN = Math.Max(maxN, a.N);
            maxK = Math.Max(maxK, a.K);
        }
        return (maxN, maxK);
    }
}

/// <summary>
/// Wᵀ for the sub-pixel input gradient: op(A)[ci, (co, th, tw)] = W[co, ci, Kh0 + Sk·th, Kw0 + Sk·tw] with the class's
/// taps (<see cref="BConvGradGather"/>). A tile is loaded along m (consecutive ci: stride kH·kW in W, which is small and cached).
/// </summary>
internal readonly struct AConvWeightT : IGemmOperandA
{
    public static float Load(ArrayView<float> w, int i, int p, int m, int k, GemmArgs g)
    {
        int co = p / g.Taps, t = p - co * g.Taps, th = t / g.Tw, tw = t - th * g.Tw;
        return w[((co * m + i) * g.KH + g.Kh0 + g.Sk * th) * g.KW + g.Kw0 + g.Sk * tw];
    }
    public static int TileRow(int idx) => idx % 128;
    public static int TileK(int idx) => idx / 128;
}

/// <summary>Where the GEMM stores C[i, j]: a bijection of [0, m·n).</summary>
internal interface IGemmStore
{
    /// <summary>The linear index of C[i, j].</summary>
    static abstract int Index(int i, int j, GemmArgs g);
}

/// <summary>C row-major (m, n).</summary>
internal readonly struct CRowMajor : IGemmStore
{
    public static int Index(int i, int j, GemmArgs g) => i * g.N + j;
}

/// <summary>C (Cout × N·Ho·Wo) stored as the NCHW tensor (N, Cout, Ho, Wo): C[co, (s, pix)] → (s·Cout + co)·P + pix.</summary>
internal readonly struct CNchw : IGemmStore
{
    public static int Index(int i, int j, GemmArgs g)
    {
        int s = j / g.P;
        return (s * g.M + i) * g.P + (j - s * g.P);
    }
}

/// <summary>
/// dX (N, Cin, H, W) of one sub-pixel class (<see cref="BConvGradGather"/>): C[ci, (s, hi, wi)] → dX[s, ci, H0 + S·hi, W0 + S·wi].
/// </summary>
internal readonly struct CNchwSubPixel : IGemmStore
{
    public static int Index(int i, int j, GemmArgs g)
    {
        int s = j / g.ClassPixels, pix = j - s * g.ClassPixels, hi = pix / g.Wc, wi = pix - hi * g.Wc;
        return ((s * g.M + i) * g.H + g.H0 + g.S * hi) * g.W + g.W0 + g.S * wi;
    }
}

/// <summary>
/// Shape, transposes, scalars and the k chunk of one ILGPU GEMM launch; for the implicit-GEMM convolution
/// also the conv geometry (X (N, Cin, H, W), kernel KH×KW, output Ho×Wo of P = Ho·Wo pixels, stride S,
/// padding Pad, dilation D), which the plain operands ignore.
/// </summary>
internal struct GemmArgs
{
    public int M, N, K, KChunk, TransA, TransB;
    public float Alpha, Beta;
    public int Cin, H, W, KH, KW, Ho, Wo, P, S, Pad, D;
    /// <summary>Output classes in grid z (1 except for the sub-pixel input gradient), row-major partial slot floats per (class, split), and 1 to add bias[i] to row i in the epilogue.</summary>
    public int Classes, Slot, HasBias;
    /// <summary>Splits per first-level group of the in-kernel combine (<see cref="MatMulKernels.SplitGroup"/>).</summary>
    public int SplitGroup;
    /// <summary>The sub-pixel input gradient: batch, Cout, tap step Sk = S/gcd(S, D), Dq = D/gcd(S, D), and the class fields <see cref="BConvGradGather.ForClass"/> sets.</summary>
    public int Batch, Cout, Sk, Dq;
    public int H0, W0, Hc, Wc, ClassPixels, Kh0, Kw0, Tw, Taps, Qh, Qw;
}

/// <summary>
/// Where the CPU GEMM gets op(B) (k×n) from: <see cref="Pack"/> writes op(B)[pc..pc+kc, jc..jc+nc] as micro-panels of nr
/// columns (panel-major, then k, then the nr columns contiguous, zeros past n) — the layout the micro-kernels read.
/// Implemented by structs (<see cref="DenseB"/>; the conv patch sources in Convolution.cs), so the driver is specialised
/// per source. A source must give every element exactly the value of the dense op(B) it stands for: the driver's
/// blocking and sum order do not depend on it, so C is then bit-identical.
/// </summary>
internal unsafe interface ICpuPanelSourceB<TSelf> where TSelf : struct, ICpuPanelSourceB<TSelf>
{
    /// <summary>Packs op(B)[pc..pc+kc, jc..jc+nc] into panels of nr columns at dst (nc rounded up to nr, times kc floats).</summary>
    static abstract void Pack(in TSelf source, int pc, int kc, int jc, int nc, int nr, float* dst);

    /// <summary>True with the stored matrix when op(B) is a plain dense operand (the unpacked loop reads it in place); false by default (a gathering source).</summary>
    static virtual bool TryDense(in TSelf source, out float* b, out bool transB)
    {
        b = null;
        transB = false;
        return false;
    }

    /// <summary>
    /// Whether <see cref="Pack"/> gathers (several times a dense copy per element), so the driver's job split avoids packing
    /// the same panels twice. Default false.
    /// </summary>
    static virtual bool GathersB => false;
}

/// <summary>op(B) stored densely: (k, n) row-major, or (n, k) when transB.</summary>
internal readonly unsafe struct DenseB(float* b, bool transB, int k, int n) : ICpuPanelSourceB<DenseB>
{
    private readonly float* _b = b;
    private readonly bool _transB = transB;
    private readonly int _k = k, _n = n;

    public static void Pack(in DenseB s, int pc, int kc, int jc, int nc, int nr, float* dst)
        => MatMulKernels.PackB(s._transB, s._k, s._n, s._b, pc, kc, jc, nc, nr, dst);

    public static bool TryDense(in DenseB s, out float* b, out bool transB)
    {
        b = s._b;
        transB = s._transB;
        return true;
    }
}

internal static class MatMulKernels
{
    // ------------------------------------------------------------------------------------
    // float64 reference
    // ------------------------------------------------------------------------------------

    /// <summary>Naive C = op(A)·op(B) in double, A (m, k) and B (k, n) row-major (Aᵀ, Bᵀ when transposed): the MatMul op's oracle.</summary>
    internal static double[] GemmReference(bool transA, bool transB, int m, int n, int k, ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        CheckSizes(m, n, k, a.Length, b.Length, (long)m * n);
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++) sum += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = sum;
            }
        }
        return c;
    }

    /// <summary>
    /// The float64 VJP of <see cref="GemmReference(bool, bool, int, int, int, ReadOnlySpan{double}, ReadOnlySpan{double})"/>
    /// for upstream U (m, n): dop(A) = U·op(B)ᵀ, dop(B) = op(A)ᵀ·U, each laid out like its operand (the oracle of MatMul's rule).
    /// </summary>
    internal static (double[] DA, double[] DB) GemmVjpReference(bool transA, bool transB, int m, int n, int k, double[] a, double[] b, double[] u)
    {
        var da = transA ? GemmReference(transB, true, k, m, n, b, u) : GemmReference(false, !transB, m, k, n, u, b);
        var db = transB ? GemmReference(true, transA, n, k, m, u, a) : GemmReference(!transA, false, k, n, m, a, u);
        return (da, db);
    }

    /// <summary>C = α·op(A)·op(B) + β·C with the product in double (above), rounded once to float; the test oracle for every GEMM kernel.</summary>
    internal static void GemmReference(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
    {
        CheckSizes(m, n, k, a.Length, b.Length, c.Length);
        var a64 = new double[a.Length];
        var b64 = new double[b.Length];
        for (int i = 0; i < a.Length; i++) a64[i] = a[i];
        for (int i = 0; i < b.Length; i++) b64[i] = b[i];
        var product = GemmReference(transA, transB, m, n, k, a64, b64);
        for (int i = 0; i < m * n; i++)
        {
            double old = beta == 0f ? 0.0 : (double)beta * c[i];
            c[i] = (float)(alpha * product[i] + old);
        }
    }

    private static void CheckSizes(int m, int n, int k, long aLength, long bLength, long cLength)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be non-negative (m={m}, n={n}, k={k})");
        if (aLength < (long)m * k) throw new ArgumentException($"A holds {aLength} elements, needs m·k = {(long)m * k}");
        if (bLength < (long)k * n) throw new ArgumentException($"B holds {bLength} elements, needs k·n = {(long)k * n}");
        if (cLength < (long)m * n) throw new ArgumentException($"C holds {cLength} elements, needs m·n = {(long)m * n}");
    }

    // ------------------------------------------------------------------------------------
    // ILGPU kernels
    // ------------------------------------------------------------------------------------
    //
    // Register-blocked tiling: a group of 128 threads (4 warps) computes a 128×64 tile of C, each
    // thread an 8×8 block (rows ty + 16·i, columns tx + 8·j with tx = t mod 8, ty = t div 8, so a warp
    // reads 4 distinct A and 8 distinct B words per k from shared memory: broadcasts, no conflicts).
    // k advances in slices of 8, double buffered: while the group multiplies slice s out of one shared
    // buffer, each thread already holds slice s + 1 in registers (8 A and 4 B values) and stores it into
    // the other buffer after the multiply, so there is one barrier per slice and the global loads are in
    // flight during the 512 FMAs. Shared rows are padded by 4 words: the transposing stores (A stored
    // m×k, B stored n×k, loaded along k for coalescing) then hit 32 distinct banks per warp. Which
    // operand is transposed is a type argument (ARowMajor/AColMajor, BRowMajor/BColMajor), so each of
    // the four instantiations is compiled with its own index arithmetic and no runtime branch.
    // Out-of-range elements load as zeros. Not done: 128-bit vector loads (ILGPU 1.5.3 has no aligned
    // float4 view of an arbitrary offset), a 128×128 tile.
    // Where C[i, j] is stored is a third type argument (CRowMajor, CNchw or CNchwSubPixel for a conv
    // output), and an operand may read through the conv geometry in GemmArgs instead of a stored matrix:
    // that makes the convolution forward, weight gradient and input gradient implicit GEMMs (BConvImage,
    // ANchwChannels, BConvImageT, AConvWeightT, BConvGradGather index X, W and dY in NCHW inside the tile
    // loader; no im2col, col2im or permute kernels). The input gradient runs S² sub-pixel classes in grid z
    // (TB.ForClass sets a class's columns, k and taps once per thread; the identity for the others). Those
    // loaders decode indices with runtime integer divisions per loaded element (up to four per load; 4 B
    // loads, or 8 A + 4 B for the weight and input gradients, per thread per k-slice of 512 FMAs). Not
    // done: hoisting the decode of a thread's fixed column out of the k loop and stepping (ci, i, j)
    // incrementally. The epilogue adds bias[i] per row when GemmArgs.HasBias (conv forward: bias[co];
    // input gradient: bias[ci]), which removes the separate bias launch.
    // Split k is one launch too: each k-split group writes its partial to a workspace slot, and the last
    // groups to arrive (atomic counters per tile) add the partials in a fixed order, in two levels of about
    // √S each, and run the epilogue (CombineIfLast): deterministic, and no group ever waits for another.

    private const int Bm = 128;      // output tile rows per group
    private const int Bn = 64;       // output tile columns per group
    private const int Bk = 8;        // k-slice staged per iteration
    private const int GemmThreads = 128;
    private const int APitch = Bm + 4;
    private const int BPitch = Bn + 4;
    private const int IlTk = 16;     // k chunks of a split are multiples of this
    private const int MinKChunk = 32; // shortest k chunk worth a split: 64 FLOPs per partial float written
    private const long MaxSplitWorkspace = 1L << 24; // floats of split partials at most (64 MiB)

    /// <summary>
    /// Tiled GEMM over k ∈ [z·KChunk, min(k, (z + 1)·KChunk)) of grid z; launch with groups of 128 and grid
    /// (⌈n/64⌉, ⌈m/128⌉, splits). <typeparamref name="TA"/>, <typeparamref name="TB"/>: how A and B are stored;
    /// <typeparamref name="TC"/>: where C[i, j] goes. With one split the group stores α·acc + β·C itself. With
    /// S &gt; 1 splits each group writes its raw partial into slice z of <paramref name="work"/> (S × m·n, row-major)
    /// and counts its arrival in <paramref name="counters"/>; the last arrivals add the S partials in a fixed order
    /// (split order within groups of splits, then group order) and store through the epilogue (see
    /// <see cref="CombineIfLast{TC}"/>), so no second launch.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void GemmTiledKernel<TA, TB, TC>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, ArrayView<float> work, ArrayView<int> counters, GemmArgs args)
        where TA : struct, IGemmOperandA where TB : struct, IGemmOperandB where TC : struct, IGemmStore
    {
        var aTile = SharedMemory.Allocate<float>(2 * Bk * APitch); // [buffer][kk][row]
        var bTile = SharedMemory.Allocate<float>(2 * Bk * BPitch); // [buffer][kk][col]
        int t = Group.IdxX, tx = t % 8, ty = t / 8;
        int row0 = Grid.IdxY * Bm, col0 = Grid.IdxX * Bn;
        int splits = Grid.DimZ / args.Classes, cls = Grid.IdxZ / splits, split = Grid.IdxZ - cls * splits;
        var g = TB.ForClass(args, cls);
        int m = g.M, n = g.N, k = g.K;
        int kBegin = split * g.KChunk, kEnd = Math.Min(k, kBegin + g.KChunk);
        int slices = (kEnd - kBegin + Bk - 1) / Bk;

        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
        float c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
        float c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
        float c40 = 0, c41 = 0, c42 = 0, c43 = 0, c44 = 0, c45 = 0, c46 = 0, c47 = 0;
        float c50 = 0, c51 = 0, c52 = 0, c53 = 0, c54 = 0, c55 = 0, c56 = 0, c57 = 0;
        float c60 = 0, c61 = 0, c62 = 0, c63 = 0, c64 = 0, c65 = 0, c66 = 0, c67 = 0;
        float c70 = 0, c71 = 0, c72 = 0, c73 = 0, c74 = 0, c75 = 0, c76 = 0, c77 = 0;
        float pa0 = 0, pa1 = 0, pa2 = 0, pa3 = 0, pa4 = 0, pa5 = 0, pa6 = 0, pa7 = 0;
        float pb0 = 0, pb1 = 0, pb2 = 0, pb3 = 0;

        for (int s = -1; s < slices; s++)
        {
            // Registers ← slice s + 1 (global loads, in flight during the multiply below).
            if (s + 1 < slices)
            {
                int k0 = kBegin + (s + 1) * Bk;
                {
                    int idx = t + 0;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa0 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 128;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa1 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 256;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa2 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 384;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa3 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 512;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa4 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 640;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa5 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 768;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa6 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 896;
                    int r = TA.TileRow(idx), kk = TA.TileK(idx), gi = row0 + r, gp = k0 + kk;
                    pa7 = gi < m && gp < kEnd ? TA.Load(a, gi, gp, m, k, g) : 0f;
                }
                {
                    int idx = t + 0;
                    int cc = TB.TileCol(idx), kk = TB.TileK(idx), gj = col0 + cc, gp = k0 + kk;
                    pb0 = gj < n && gp < kEnd ? TB.Load(b, gp, gj, n, k, g) : 0f;
                }
                {
                    int idx = t + 128;
                    int cc = TB.TileCol(idx), kk = TB.TileK(idx), gj = col0 + cc, gp = k0 + kk;
                    pb1 = gj < n && gp < kEnd ? TB.Load(b, gp, gj, n, k, g) : 0f;
                }
                {
                    int idx = t + 256;
                    int cc = TB.TileCol(idx), kk = TB.TileK(idx), gj = col0 + cc, gp = k0 + kk;
                    pb2 = gj < n && gp < kEnd ? TB.Load(b, gp, gj, n, k, g) : 0f;
                }
                {
                    int idx = t + 384;
                    int cc = TB.TileCol(idx), kk = TB.TileK(idx), gj = col0 + cc, gp = k0 + kk;
                    pb3 = gj < n && gp < kEnd ? TB.Load(b, gp, gj, n, k, g) : 0f;
                }
            }
            if (s >= 0)
            {
                int ao0 = (s & 1) * Bk * APitch, bo0 = (s & 1) * Bk * BPitch;
                for (int kk = 0; kk < Bk; kk++)
                {
                    int ao = ao0 + kk * APitch, bo = bo0 + kk * BPitch;
                float a0 = aTile[ao + ty + 0], a1 = aTile[ao + ty + 16], a2 = aTile[ao + ty + 32], a3 = aTile[ao + ty + 48], a4 = aTile[ao + ty + 64], a5 = aTile[ao + ty + 80], a6 = aTile[ao + ty + 96], a7 = aTile[ao + ty + 112];
                float b0 = bTile[bo + tx + 0], b1 = bTile[bo + tx + 8], b2 = bTile[bo + tx + 16], b3 = bTile[bo + tx + 24], b4 = bTile[bo + tx + 32], b5 = bTile[bo + tx + 40], b6 = bTile[bo + tx + 48], b7 = bTile[bo + tx + 56];
                c00 = a0 * b0 + c00; c01 = a0 * b1 + c01; c02 = a0 * b2 + c02; c03 = a0 * b3 + c03; c04 = a0 * b4 + c04; c05 = a0 * b5 + c05; c06 = a0 * b6 + c06; c07 = a0 * b7 + c07;
                c10 = a1 * b0 + c10; c11 = a1 * b1 + c11; c12 = a1 * b2 + c12; c13 = a1 * b3 + c13; c14 = a1 * b4 + c14; c15 = a1 * b5 + c15; c16 = a1 * b6 + c16; c17 = a1 * b7 + c17;
                c20 = a2 * b0 + c20; c21 = a2 * b1 + c21; c22 = a2 * b2 + c22; c23 = a2 * b3 + c23; c24 = a2 * b4 + c24; c25 = a2 * b5 + c25; c26 = a2 * b6 + c26; c27 = a2 * b7 + c27;
                c30 = a3 * b0 + c30; c31 = a3 * b1 + c31; c32 = a3 * b2 + c32; c33 = a3 * b3 + c33; c34 = a3 * b4 + c34; c35 = a3 * b5 + c35; c36 = a3 * b6 + c36; c37 = a3 * b7 + c37;
                c40 = a4 * b0 + c40; c41 = a4 * b1 + c41; c42 = a4 * b2 + c42; c43 = a4 * b3 + c43; c44 = a4 * b4 + c44; c45 = a4 * b5 + c45; c46 = a4 * b6 + c46; c47 = a4 * b7 + c47;
                c50 = a5 * b0 + c50; c51 = a5 * b1 + c51; c52 = a5 * b2 + c52; c53 = a5 * b3 + c53; c54 = a5 * b4 + c54; c55 = a5 * b5 + c55; c56 = a5 * b6 + c56; c57 = a5 * b7 + c57;
                c60 = a6 * b0 + c60; c61 = a6 * b1 + c61; c62 = a6 * b2 + c62; c63 = a6 * b3 + c63; c64 = a6 * b4 + c64; c65 = a6 * b5 + c65; c66 = a6 * b6 + c66; c67 = a6 * b7 + c67;
                c70 = a7 * b0 + c70; c71 = a7 * b1 + c71; c72 = a7 * b2 + c72; c73 = a7 * b3 + c73; c74 = a7 * b4 + c74; c75 = a7 * b5 + c75; c76 = a7 * b6 + c76; c77 = a7 * b7 + c77;
                }
            }
            // The other buffer ← slice s + 1; it was last read in iteration s − 1, before the barrier that ended it.
            if (s + 1 < slices)
            {
                int abase = ((s + 1) & 1) * Bk * APitch, bbase = ((s + 1) & 1) * Bk * BPitch;
                aTile[abase + TA.TileK(t + 0) * APitch + TA.TileRow(t + 0)] = pa0;
                aTile[abase + TA.TileK(t + 128) * APitch + TA.TileRow(t + 128)] = pa1;
                aTile[abase + TA.TileK(t + 256) * APitch + TA.TileRow(t + 256)] = pa2;
                aTile[abase + TA.TileK(t + 384) * APitch + TA.TileRow(t + 384)] = pa3;
                aTile[abase + TA.TileK(t + 512) * APitch + TA.TileRow(t + 512)] = pa4;
                aTile[abase + TA.TileK(t + 640) * APitch + TA.TileRow(t + 640)] = pa5;
                aTile[abase + TA.TileK(t + 768) * APitch + TA.TileRow(t + 768)] = pa6;
                aTile[abase + TA.TileK(t + 896) * APitch + TA.TileRow(t + 896)] = pa7;
                bTile[bbase + TB.TileK(t + 0) * BPitch + TB.TileCol(t + 0)] = pb0;
                bTile[bbase + TB.TileK(t + 128) * BPitch + TB.TileCol(t + 128)] = pb1;
                bTile[bbase + TB.TileK(t + 256) * BPitch + TB.TileCol(t + 256)] = pb2;
                bTile[bbase + TB.TileK(t + 384) * BPitch + TB.TileCol(t + 384)] = pb3;
            }
            Group.Barrier();
        }

        if (splits == 1)
        {
            StoreRow8<TC>(c, bias, row0 + ty + 0, col0 + tx, g, c00, c01, c02, c03, c04, c05, c06, c07);
            StoreRow8<TC>(c, bias, row0 + ty + 16, col0 + tx, g, c10, c11, c12, c13, c14, c15, c16, c17);
            StoreRow8<TC>(c, bias, row0 + ty + 32, col0 + tx, g, c20, c21, c22, c23, c24, c25, c26, c27);
            StoreRow8<TC>(c, bias, row0 + ty + 48, col0 + tx, g, c30, c31, c32, c33, c34, c35, c36, c37);
            StoreRow8<TC>(c, bias, row0 + ty + 64, col0 + tx, g, c40, c41, c42, c43, c44, c45, c46, c47);
            StoreRow8<TC>(c, bias, row0 + ty + 80, col0 + tx, g, c50, c51, c52, c53, c54, c55, c56, c57);
            StoreRow8<TC>(c, bias, row0 + ty + 96, col0 + tx, g, c60, c61, c62, c63, c64, c65, c66, c67);
            StoreRow8<TC>(c, bias, row0 + ty + 112, col0 + tx, g, c70, c71, c72, c73, c74, c75, c76, c77);
            return;
        }
        // Split k: the raw partial (no α, β) into slot z of the workspace, row-major m×n.
        var wz = work.SubView((long)Grid.IdxZ * g.Slot, g.Slot);
        PartialRow8(wz, row0 + ty + 0, col0 + tx, m, n, c00, c01, c02, c03, c04, c05, c06, c07);
        PartialRow8(wz, row0 + ty + 16, col0 + tx, m, n, c10, c11, c12, c13, c14, c15, c16, c17);
        PartialRow8(wz, row0 + ty + 32, col0 + tx, m, n, c20, c21, c22, c23, c24, c25, c26, c27);
        PartialRow8(wz, row0 + ty + 48, col0 + tx, m, n, c30, c31, c32, c33, c34, c35, c36, c37);
        PartialRow8(wz, row0 + ty + 64, col0 + tx, m, n, c40, c41, c42, c43, c44, c45, c46, c47);
        PartialRow8(wz, row0 + ty + 80, col0 + tx, m, n, c50, c51, c52, c53, c54, c55, c56, c57);
        PartialRow8(wz, row0 + ty + 96, col0 + tx, m, n, c60, c61, c62, c63, c64, c65, c66, c67);
        PartialRow8(wz, row0 + ty + 112, col0 + tx, m, n, c70, c71, c72, c73, c74, c75, c76, c77);
        CombineIfLast<TC>(c, bias, work, counters, g, t, row0, col0, cls, split, splits);
    }

    /// <summary>
    /// The in-kernel split-k combine, run by every group of a split GEMM after it wrote its partial. Ordering
    /// (the CUDA "last block" pattern, with ILGPU's primitives): each thread's device-level fence (PTX membar.gl;
    /// Interlocked.MemoryBarrier on the CPU accelerator) orders its partial stores before the group barrier,
    /// after which one thread counts the group's arrival with an atomic add on a counter (atom.add;
    /// Interlocked.Add), whose old value tells whether this is the last arrival; Group.BarrierOr hands that to
    /// the whole group, which fences again (its loads come after every counted store) and resets the counter to 0
    /// for the next launch. No group waits for another (no spinning), so any scheduling works, including the CPU
    /// accelerator's. Two levels, so that no thread adds more than about 2·√S partials per element: the splits of
    /// a tile form groups of G = <see cref="GemmArgs.SplitGroup"/> consecutive splits; the last arrival of each
    /// group adds that group's partials in split order into the group's first slot; the last of the groups to
    /// finish adds the group sums in group order and stores α·acc + β·C (+ bias) through <typeparamref name="TC"/>.
    /// With one group (S ≤ 8) it adds the S partials in split order directly. Which group arrives last changes
    /// nothing: the float operations and their order are fixed by S and G, so results are bit-identical run to run.
    /// Each loop walks the tile's in-range elements linearly (thread t takes elements t, t + 128, …; one division
    /// per element, outside the partial loop), so a warp's loads are consecutive floats and a narrow tile keeps all
    /// 128 threads busy (<see cref="CombinePerThread"/>).
    /// </summary>
    private static void CombineIfLast<TC>(ArrayView<float> c, ArrayView<float> bias, ArrayView<float> work, ArrayView<int> counters, GemmArgs g,
        int t, int row0, int col0, int cls, int split, int splits) where TC : struct, IGemmStore
    {
        MemoryFence.DeviceLevel();
        Group.Barrier();
        int tile = (cls * Grid.DimY + Grid.IdxY) * Grid.DimX + Grid.IdxX;
        int gsize = g.SplitGroup, groups = (splits + gsize - 1) / gsize, grp = split / gsize;
        int cbase = tile * (groups + 1), first = grp * gsize, inGroup = Math.Min(splits, first + gsize) - first;
        bool arrivedLast = t == 0 && Atomic.Add(ref counters[cbase + grp], 1) == inGroup - 1;
        if (!Group.BarrierOr(arrivedLast)) return;
        MemoryFence.DeviceLevel();
        if (t == 0) counters[cbase + grp] = 0;
        int m = g.M, n = g.N, slot = g.Slot, base0 = cls * splits * slot;
        int cols = Math.Min(Bn, n - col0), count = Math.Min(Bm, m - row0) * cols;
        int sums = splits, stride = slot;
        if (groups > 1)
        {
            // Level 1: this group's partials, in split order, into the group's first slot.
            int gbase = base0 + first * slot;
            for (int v = t; v < count; v += GemmThreads)
            {
                int r = v / cols, e = gbase + (row0 + r) * n + col0 + (v - r * cols);
                float acc = work[e];
                for (int s = 1; s < inGroup; s++) acc += work[s * slot + e];
                work[e] = acc;
            }
            MemoryFence.DeviceLevel();
            Group.Barrier();
            bool lastGroup = t == 0 && Atomic.Add(ref counters[cbase + groups], 1) == groups - 1;
            if (!Group.BarrierOr(lastGroup)) return;
            MemoryFence.DeviceLevel();
            if (t == 0) counters[cbase + groups] = 0;
            sums = groups;
            stride = gsize * slot;
        }
        // The last level: the sums (group sums, or the partials when there is one group) in order, then the epilogue.
        float alpha = g.Alpha, beta = g.Beta;
        for (int v = t; v < count; v += GemmThreads)
        {
            int r = v / cols, i = row0 + r, j = col0 + (v - r * cols);
            int e = base0 + i * n + j;
            float acc = work[e];
            for (int s = 1; s < sums; s++) acc += work[s * stride + e];
            StoreOne(c, TC.Index(i, j, g), true, alpha, beta, g.HasBias != 0, g.HasBias != 0 ? bias[i] : 0f, acc);
        }
    }

    /// <summary>A thread's 8 raw partials of row i (columns j, j + 8, …, j + 56) into a split's row-major slice.</summary>
    private static void PartialRow8(ArrayView<float> w, int i, int j, int m, int n,
        float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7)
    {
        if (i >= m) return;
        int e = i * n + j;
        if (j < n) w[e] = v0;
        if (j + 8 < n) w[e + 8] = v1;
        if (j + 16 < n) w[e + 16] = v2;
        if (j + 24 < n) w[e + 24] = v3;
        if (j + 32 < n) w[e + 32] = v4;
        if (j + 40 < n) w[e + 40] = v5;
        if (j + 48 < n) w[e + 48] = v6;
        if (j + 56 < n) w[e + 56] = v7;
    }

    private static void StoreRow8<TC>(ArrayView<float> c, ArrayView<float> bias, int i, int j, GemmArgs g,
        float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7) where TC : struct, IGemmStore
    {
        if (i >= g.M) return;
        int n = g.N;
        float alpha = g.Alpha, beta = g.Beta;
        bool hasBias = g.HasBias != 0;
        float bi = hasBias ? bias[i] : 0f;
        StoreOne(c, TC.Index(i, j, g), j < n, alpha, beta, hasBias, bi, v0);
        StoreOne(c, TC.Index(i, j + 8, g), j + 8 < n, alpha, beta, hasBias, bi, v1);
        StoreOne(c, TC.Index(i, j + 16, g), j + 16 < n, alpha, beta, hasBias, bi, v2);
        StoreOne(c, TC.Index(i, j + 24, g), j + 24 < n, alpha, beta, hasBias, bi, v3);
        StoreOne(c, TC.Index(i, j + 32, g), j + 32 < n, alpha, beta, hasBias, bi, v4);
        StoreOne(c, TC.Index(i, j + 40, g), j + 40 < n, alpha, beta, hasBias, bi, v5);
        StoreOne(c, TC.Index(i, j + 48, g), j + 48 < n, alpha, beta, hasBias, bi, v6);
        StoreOne(c, TC.Index(i, j + 56, g), j + 56 < n, alpha, beta, hasBias, bi, v7);
    }

    private static void StoreOne(ArrayView<float> c, int index, bool inside, float alpha, float beta, bool addBias, float bias, float v)
    {
        if (!inside) return;
        // beta == 0 must not read C: it may hold NaN from an uninitialised buffer. The bias is added last, as the
        // separate bias kernel added it to the stored product.
        float r = beta == 0f ? alpha * v : alpha * v + beta * c[index];
        c[index] = addBias ? r + bias : r;
    }

    /// <summary>
    /// The closed instantiations of <see cref="GemmTiledKernel{TA, TB, TC}"/> (the PTX test compiles each): the four
    /// plain transposes, the implicit-GEMM convolution forward, the conv weight gradient and the sub-pixel input gradient.
    /// </summary>
    public static IReadOnlyList<System.Reflection.MethodInfo> Instantiations()
    {
        var def = typeof(MatMulKernels).GetMethod(nameof(GemmTiledKernel), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        return [def.MakeGenericMethod(typeof(ARowMajor), typeof(BRowMajor), typeof(CRowMajor)), def.MakeGenericMethod(typeof(ARowMajor), typeof(BColMajor), typeof(CRowMajor)),
            def.MakeGenericMethod(typeof(AColMajor), typeof(BRowMajor), typeof(CRowMajor)), def.MakeGenericMethod(typeof(AColMajor), typeof(BColMajor), typeof(CRowMajor)),
            def.MakeGenericMethod(typeof(ARowMajor), typeof(BConvImage), typeof(CNchw)), def.MakeGenericMethod(typeof(ANchwChannels), typeof(BConvImageT), typeof(CRowMajor)),
            def.MakeGenericMethod(typeof(AConvWeightT), typeof(BConvGradGather), typeof(CNchwSubPixel))];
    }

    /// <summary>
    /// C = α·op(A)·op(B) + β·C for a short k (below 2·MinKChunk, where a split is not worth it) and few tiles:
    /// one thread per C element walks its k in order; groups of 256 threads, so even a 64×8192 outer product
    /// (the input gradient of a dense layer with one output channel) spreads over every SM.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void GemmShortKKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs g)
    {
        long idx = (long)Grid.IdxX * ShortKGroup + Group.IdxX;
        if (idx >= (long)g.M * g.N) return;
        int i = (int)(idx / g.N), j = (int)(idx - (long)i * g.N);
        float acc = 0f;
        for (int p = 0; p < g.K; p++)
        {
            float av = g.TransA != 0 ? a[p * g.M + i] : a[i * g.K + p];
            float bv = g.TransB != 0 ? b[j * g.K + p] : b[p * g.N + j];
            acc = av * bv + acc;
        }
        c[(int)idx] = g.Beta == 0f ? g.Alpha * acc : g.Alpha * acc + g.Beta * c[(int)idx];
    }

    /// <summary>Threads per group of the short-k kernel.</summary>
    private const int ShortKGroup = 256;

    /// <summary>The instantiation of <see cref="GemmTiledKernel{TA, TB, TC}"/> for the transposes.</summary>
    private static void LaunchTiled(Device device, bool transA, bool transB, KernelConfig config, in LaunchCost cost,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, ArrayView<float> work, ArrayView<int> counters, GemmArgs args)
    {
        switch (transA, transB)
        {
            case (false, false): device.Launch(GemmTiledKernel<ARowMajor, BRowMajor, CRowMajor>, config, cost, a, b, c, bias, work, counters, args); break;
            case (false, true): device.Launch(GemmTiledKernel<ARowMajor, BColMajor, CRowMajor>, config, cost, a, b, c, bias, work, counters, args); break;
            case (true, false): device.Launch(GemmTiledKernel<AColMajor, BRowMajor, CRowMajor>, config, cost, a, b, c, bias, work, counters, args); break;
            default: device.Launch(GemmTiledKernel<AColMajor, BColMajor, CRowMajor>, config, cost, a, b, c, bias, work, counters, args); break;
        }
    }

    /// <summary>Splits per first-level group of the in-kernel combine: all of them up to 8, else ⌈√S⌉ (about 2·√S adds per element in all).</summary>
    internal static int SplitGroup(int splits) => splits <= 8 ? Math.Max(splits, 1) : (int)Math.Ceiling(Math.Sqrt(splits));

    /// <summary>Counters one tile of a split launch uses: one per first-level group and one for the groups.</summary>
    internal static int CountersPerTile(int splits) => (splits + SplitGroup(splits) - 1) / SplitGroup(splits) + 1;

    /// <summary>
    /// Partials one thread of a split tile's last groups adds: ⌈rows·cols/128⌉ in-range elements of the fullest
    /// tile, times G (its group) + S/G (the group sums), or S with one group (<see cref="CombineIfLast{TC}"/>).
    /// </summary>
    internal static long CombinePerThread(int m, int n, int splits)
    {
        if (splits <= 1) return 0;
        int gsize = SplitGroup(splits), groups = (splits + gsize - 1) / gsize;
        long perElement = groups > 1 ? gsize + groups : splits;
        return ((long)Math.Min(m, Bm) * Math.Min(n, Bn) + GemmThreads - 1) / GemmThreads * perElement;
    }

    /// <summary>
    /// The cost of a tiled GEMM launch writing <paramref name="outputs"/> elements of C: the product (<paramref name="flops"/>),
    /// the epilogue (α·acc, or α·acc + β·C reading C) and, when split, the partials: S·outputs floats written and read
    /// back once by the tiles' last groups, (S − 1)·outputs adds. The longest serial loop (<paramref name="serial"/>) is
    /// a last group's thread: its k chunk, then its share of the combine.
    /// </summary>
    private static LaunchCost TiledCost(long flops, long outputs, int splits, long operandBytes, bool readsC, long serial)
    {
        long partials = splits > 1 ? splits * outputs : 0;
        return new LaunchCost(
            Flops: flops + (splits - 1) * outputs + (readsC ? 3 * outputs : outputs),
            BytesRead: operandBytes + (partials + (readsC ? outputs : 0)) * sizeof(float),
            BytesWritten: (partials + outputs) * sizeof(float),
            SerialLoop: serial);
    }

    /// <summary>
    /// k chunks of the ILGPU GEMM (1: no split): enough to give about <see cref="GpuKernelOptions.TargetGroups"/>
    /// groups when C has fewer than half as many tiles (capped so that a tile's last groups add its partials within
    /// <see cref="GpuKernelOptions.GemmMaxSerialK"/> per thread), and to keep every chunk within <see cref="GpuKernelOptions.GemmMaxSerialK"/>;
    /// chunks are multiples of 16 and at least <see cref="MinKChunk"/>; the workspace stays within 2^24 floats.
    /// </summary>
    internal static (int Splits, int KChunk) SplitK(int m, int n, int k, GpuKernelOptions options)
    {
        long tiles = (long)((m + Bm - 1) / Bm) * ((n + Bn - 1) / Bn);
        // Fewer tiles than about one per SM (TargetGroups is two per SM): split up to TargetGroups groups, but no
        // further than keeps a last group's combine (CombinePerThread) within GemmMaxSerialK.
        long fill = tiles < options.TargetGroups / 2 ? (options.TargetGroups + tiles - 1) / tiles : 1;
        while (fill > 1 && CombinePerThread(m, n, (int)Math.Min(fill, int.MaxValue)) > options.GemmMaxSerialK) fill--;
        long wanted = Math.Max(fill, ((long)k + options.GemmMaxSerialK - 1) / options.GemmMaxSerialK);
        wanted = Math.Min(wanted, Math.Max(1, MaxSplitWorkspace / Math.Max(1, (long)m * n)));
        if (wanted <= 1 || k < 2 * MinKChunk) return (1, k);
        int chunk = (int)Math.Max(MinKChunk, ((k + wanted - 1) / wanted + IlTk - 1) / IlTk * IlTk);
        int splits = (k + chunk - 1) / chunk;
        return splits <= 1 ? (1, k) : (splits, chunk);
    }

    /// <summary>
    /// The convolution forward as one implicit GEMM (STYLE: X is never lowered to columns): Y (N, Cout, Ho, Wo) =
    /// W (Cout × Cin·kH·kW) · im2col(X) (Cin·kH·kW × N·Ho·Wo), the columns gathered from X inside the tile loader
    /// (<see cref="BConvImage"/>) and C stored straight into NCHW (<see cref="CNchw"/>); split over k like any GEMM
    /// (a split writes row-major partials and the tiles' last groups add them and store NCHW). One launch, split or not.
    /// </summary>
    internal static void ConvForwardIlgpu(Device device, ArrayView<float> w, ArrayView<float> x, ArrayView<float> y, ArrayView<float>? bias, in ConvGeometry geo)
    {
        CheckConvSizes(geo, x.Length, y.Length, w.Length);
        var args = ConvArgs(geo, geo.Cout, geo.N * geo.P, geo.Ckk);
        ConvGemmIlgpu(device, ConvGemm.Forward, args, w, x, y, bias, (long)geo.Cout * geo.Ckk + (long)geo.N * geo.Cin * geo.HW, 2L * geo.Cout * geo.N * geo.P * geo.Ckk);
    }

    /// <summary>
    /// The convolution weight gradient as one implicit GEMM: dW (Cout × Cin·kH·kW) = dY (Cout × N·Ho·Wo, read in
    /// NCHW: <see cref="ANchwChannels"/>) · im2col(X)ᵀ (gathered: <see cref="BConvImageT"/>). k = N·Ho·Wo is long, so
    /// this is usually split over k (fixed chunks, partials combined in chunk order).
    /// </summary>
    internal static void ConvWeightGradIlgpu(Device device, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> dw, in ConvGeometry geo)
    {
        CheckConvSizes(geo, x.Length, dy.Length, dw.Length);
        var args = ConvArgs(geo, geo.Cout, geo.Ckk, geo.N * geo.P);
        ConvGemmIlgpu(device, ConvGemm.WeightGrad, args, dy, x, dw, null, (long)geo.N * geo.Cout * geo.P + (long)geo.N * geo.Cin * geo.HW, 2L * geo.Cout * geo.N * geo.P * geo.Ckk);
    }

    /// <summary>
    /// The conv input gradient (and ConvTranspose2d's forward) as one implicit GEMM per sub-pixel class, all classes in
    /// one launch (grid z = class·splits + split): dX (N, Cin, H, W) = Wᵀ · dY gathered over each class's own taps
    /// (<see cref="AConvWeightT"/>, <see cref="BConvGradGather"/>), stored in NCHW (<see cref="CNchwSubPixel"/>), plus
    /// bias[ci] in the epilogue. No columns, no col2im; bit-identical run to run (fixed tap and split order).
    /// </summary>
    internal static void ConvInputGradIlgpu(Device device, ArrayView<float> w, ArrayView<float> dy, ArrayView<float> dx, ArrayView<float>? bias, in ConvGeometry geo)
    {
        CheckConvSizes(geo, dx.Length, dy.Length, w.Length);
        var args = ConvArgs(geo, geo.Cin, 0, 0);
        int gcd = Gcd(geo.Stride, geo.Dil);
        args.Classes = geo.Stride * geo.Stride;
        args.Batch = geo.N;
        args.Cout = geo.Cout;
        args.Sk = geo.Stride / gcd;
        args.Dq = geo.Dil / gcd;
        (args.N, args.K) = BConvGradGather.Extent(args);
        long macs = 0;
        for (int c = 0; c < args.Classes; c++)
        {
            var a = BConvGradGather.ForClass(args, c);
            macs += (long)a.M * a.N * a.K;
        }
        // Every dX pixel lies in exactly one class, and a class without taps (k = 0) stores 0 (+ bias): all of dX is written.
        ConvGemmIlgpu(device, ConvGemm.InputGrad, args, w, dy, dx, bias, (long)geo.Cout * geo.Ckk + (long)geo.N * geo.Cout * geo.P, 2 * macs);
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    private enum ConvGemm { Forward, WeightGrad, InputGrad }

    private static void CheckConvSizes(in ConvGeometry geo, long xLength, long yLength, long wLength)
    {
        if (xLength < (long)geo.N * geo.Cin * geo.HW || yLength < (long)geo.N * geo.Cout * geo.P || wLength < (long)geo.Cout * geo.Ckk)
            throw new ArgumentException($"convolution buffers too short for {geo}: x {xLength}, y {yLength}, w {wLength}");
    }

    private static GemmArgs ConvArgs(in ConvGeometry geo, int m, int n, int k) => new()
    {
        M = m, N = n, K = k, Alpha = 1f, Beta = 0f, Classes = 1,
        Cin = geo.Cin, H = geo.H, W = geo.W, KH = geo.KH, KW = geo.KW, Ho = geo.Ho, Wo = geo.Wo, P = geo.P, S = geo.Stride, Pad = geo.Pad, D = geo.Dil,
    };

    /// <summary>
    /// C = op(A)·op(B) (+ bias[i]; α = 1, β = 0) through a conv instantiation, over <see cref="GemmArgs.Classes"/> output
    /// classes of at most args.N columns and args.K terms each, split over k when <see cref="SplitK"/> says so (one launch
    /// either way). <paramref name="operandElements"/>: floats of A and B; <paramref name="flops"/>: 2·MACs of the product.
    /// </summary>
    private static void ConvGemmIlgpu(Device device, ConvGemm which, GemmArgs args, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float>? bias, long operandElements, long flops)
    {
        int m = args.M, n = args.N, k = args.K, classes = args.Classes;
        if (m == 0 || n == 0) return;
        var (splits, chunk) = SplitK(m, n * classes, k, device.GpuOptions);
        args.KChunk = chunk;
        args.Slot = m * n;
        args.SplitGroup = SplitGroup(splits);
        args.HasBias = bias.HasValue ? 1 : 0;
        var config = new KernelConfig(new Index3D((n + Bn - 1) / Bn, (m + Bm - 1) / Bm, classes * splits), new Index3D(GemmThreads, 1, 1));
        long outputs = which == ConvGemm.InputGrad ? (long)args.Batch * args.Cin * args.H * args.W : (long)m * n;
        var cost = TiledCost(flops, outputs, splits, operandElements * sizeof(float) + (bias.HasValue ? m * sizeof(float) : 0), readsC: false, chunk + CombinePerThread(m, n, splits));
        var counters = device.SplitCounters(config.GridDim.X * config.GridDim.Y * classes * CountersPerTile(splits));
        using var partial = splits == 1 ? null : Tensor.Empty(new Shape(classes * splits * m * n), device);   // (class, split) slots of m·n, row-major
        LaunchConv(device, which, config, cost, a, b, c, bias ?? c, partial?.View ?? c, counters, args);
    }

    private static void LaunchConv(Device device, ConvGemm which, KernelConfig config, in LaunchCost cost,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, ArrayView<float> work, ArrayView<int> counters, GemmArgs args)
    {
        switch (which)
        {
            case ConvGemm.Forward: device.Launch(GemmTiledKernel<ARowMajor, BConvImage, CNchw>, config, cost, a, b, c, bias, work, counters, args); break;
            case ConvGemm.WeightGrad: device.Launch(GemmTiledKernel<ANchwChannels, BConvImageT, CRowMajor>, config, cost, a, b, c, bias, work, counters, args); break;
            default: device.Launch(GemmTiledKernel<AConvWeightT, BConvGradGather, CNchwSubPixel>, config, cost, a, b, c, bias, work, counters, args); break;
        }
    }

    /// <summary>
    /// Launches <see cref="GemmTiledKernel{TA, TB, TC}"/> on the device's default stream (asynchronous: the
    /// caller synchronises), split over k when <see cref="SplitK"/> says so (the tiles' last groups combine in-kernel).
    /// Each thread walks its chunk of k; the traffic counted is A, B (and C when beta ≠ 0) read once
    /// and C written once (the split adds its partials), though the tiles re-read A ⌈n/64⌉ and B ⌈m/64⌉ times.
    /// </summary>
    internal static void GemmIlgpu(Device device, bool transA, bool transB, int m, int n, int k, float alpha,
        ArrayView<float> a, ArrayView<float> b, float beta, ArrayView<float> c)
    {
        CheckSizes(m, n, k, a.Length, b.Length, c.Length);
        if (m == 0 || n == 0) return;
        long mn = (long)m * n;
        var (splits, chunk) = SplitK(m, n, k, device.GpuOptions);
        var grid = new Index3D((n + Bn - 1) / Bn, (m + Bm - 1) / Bm, splits);
        var config = new KernelConfig(grid, new Index3D(GemmThreads, 1, 1));
        var args = new GemmArgs { M = m, N = n, K = k, KChunk = chunk, TransA = transA ? 1 : 0, TransB = transB ? 1 : 0, Alpha = alpha, Beta = beta, Classes = 1, Slot = (int)Math.Min(mn, int.MaxValue) };
        long tiles = (long)grid.X * grid.Y;
        if (splits == 1 && tiles < device.GpuOptions.TargetGroups / 2 && k < 2 * MinKChunk)
        {
            // Few tiles and too short a k to split: one thread per element instead of a 4×4 block.
            var shortCost = new LaunchCost(
                Flops: 2 * mn * k + (beta == 0f ? mn : 3 * mn),
                BytesRead: ((long)m * k + (long)k * n + (beta == 0f ? 0 : mn)) * sizeof(float),
                BytesWritten: mn * sizeof(float),
                SerialLoop: k);
            device.Launch(GemmShortKKernel, new KernelConfig((int)((mn + ShortKGroup - 1) / ShortKGroup), ShortKGroup), shortCost, a, b, c, args);
            return;
        }
        var cost = TiledCost(2 * mn * k, mn, splits, ((long)m * k + (long)k * n) * sizeof(float), readsC: beta != 0f, chunk + CombinePerThread(m, n, splits));
        var counters = device.SplitCounters(grid.X * grid.Y * CountersPerTile(splits));
        args.SplitGroup = SplitGroup(splits);
        using var partial = splits == 1 ? null : Tensor.Empty(new Shape(splits * (int)mn), device);   // (S, m, n)
        LaunchTiled(device, transA, transB, config, cost, a, b, c, c, partial?.View ?? c, counters, args);
    }

    // ------------------------------------------------------------------------------------
    // CPU SIMD kernels
    // ------------------------------------------------------------------------------------
    //
    // GotoBLAS/BLIS structure. For each kc-slice of k (fixed KC, in order), op(B) is packed
    // into kc×NR micro-panels and op(A) into MR×kc micro-panels; a register-blocked micro-kernel
    // then computes MR×NR tiles of C with one FMA chain per accumulator. Packing reads A and B
    // in either orientation, so transposes cost nothing extra, and pads edges with zeros, so
    // the micro-kernel always runs full tiles (partial tiles go through a scratch tile).
    //
    // Determinism: every C element sums its k terms in an order fixed by the shapes alone,
    // whatever the thread count. Usually threads split C into MR/NR-aligned rectangles and each
    // element sums all of k itself (kc-slices ascending, then p ascending within the slice, one
    // FMA chain). When C is too small to give every thread a rectangle and k is long (the conv
    // weight gradient of a layer with few channels, whose k is batch·pixels), k is split instead
    // (GemmSplitK): fixed chunks of KSplit = 4·KC, each summed as above into its own partial
    // buffer, then the partials added in chunk order. Whether k is split, and where, depends on
    // m, n and k only. (The ILGPU kernel above splits k by its own rule: SplitK.)
    //
    // Micro-kernels: AVX-512 8×32 (16 zmm accumulators, 2 B loads and 8 broadcasts per k);
    // AVX2+FMA 6×16 (12 ymm accumulators). Without either, the plain loop below is used.
    // Why 8×32: on the Zen 4 we measure on, one 512-bit FMA issues per cycle with 4-cycle
    // latency, so 16 independent chains keep the FMA pipe full with registers to spare (the JIT
    // keeps all 16 + 2 B + 1 broadcast in zmm0–20, no spills), the loop is 31 instructions per
    // 16 FMAs, and MR = 8 divides every channel count of the DCGAN shapes. It reached
    // 112 GFLOP/s on one core at 512³ (≈ 97% of the 115 GFLOP/s per-core FMA peak).


    private const int Kc = 256;          // k-slice: a B micro-panel (kc×32 floats = 32 KiB) streams through L1/L2
    private const int McPanels = 16;     // mc = 16·MR rows of packed A (≤ 128 KiB, stays in L2)
    private const int NcPanels = 64;     // nc = 64·NR columns of packed B (≤ 2 MiB, L2/L3)
    private const long SmallFlops = 32 * 1024; // m·n·k below this: plain loop, no packing, no threads
    private const int KSplit = 4 * Kc;   // k chunk when C is too small to give every thread a rectangle

    /// <summary>The micro-kernel family to run: the device's choice, Auto resolved to the best the CPU supports.</summary>
    private static CpuGemmKernel ResolvePath(CpuGemmKernel path)
    {
        if (path == CpuGemmKernel.Auto)
            path = Avx512F.IsSupported ? CpuGemmKernel.Avx512
                : Avx2.IsSupported && Fma.IsSupported ? CpuGemmKernel.Avx2 : CpuGemmKernel.Scalar;
        if (path == CpuGemmKernel.Avx512 && !Avx512F.IsSupported) throw new PlatformNotSupportedException("AVX-512F");
        if (path == CpuGemmKernel.Avx2 && !(Avx2.IsSupported && Fma.IsSupported)) throw new PlatformNotSupportedException("AVX2+FMA");
        return path;
    }

    /// <summary>
    /// C(m×n) = alpha·op(A)·op(B) + beta·C on the host, fp32 with fp32 accumulation.
    /// beta == 0 overwrites C without reading it.
    /// </summary>
    internal static unsafe void GemmCpu(CpuParallel cpu, bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, float* b, float beta, float* c)
        => GemmCpu(cpu, transA, m, n, k, alpha, a, new DenseB(b, transB, k, n), beta, c);

    /// <summary>
    /// The same GEMM with op(B) read through a panel source: <typeparamref name="TB"/> packs op(B)'s kc×nr
    /// micro-panels (a dense matrix, or conv patches gathered straight from an image). The driver's sums — paths,
    /// blocking, split-K — depend on m, n, k and the options only, never on the source, so two sources that yield
    /// the same op(B) give bit-identical C (the job split also weighs <see cref="ICpuPanelSourceB{TSelf}.GathersB"/>,
    /// but any split gives the same bits). TB is a struct, so the JIT compiles one copy
    /// of the driver per source and the dense path pays nothing for the abstraction.
    /// </summary>
    internal static unsafe void GemmCpu<TB>(CpuParallel cpu, bool transA, int m, int n, int k, float alpha,
        float* a, in TB b, float beta, float* c) where TB : struct, ICpuPanelSourceB<TB>
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be non-negative (m={m}, n={n}, k={k})");
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f)
        {
            ScaleC(m, n, beta, c);
            return;
        }

        var path = ResolvePath(cpu.Options.Gemm);
        if (path != CpuGemmKernel.Scalar && GemmSkinnyCpu.Takes(m, n, k))
        {
            // k == 1, n ≤ 8 or m ≤ 4 (a dense layer with one output: forward, weight and input gradient): memory-bound
            // GEMV / vector×matrix / outer-product kernels, no packing of op(A) (MatMulSkinny.cs).
            GemmSkinnyCpu.Gemm(cpu, path == CpuGemmKernel.Avx512, transA, m, n, k, alpha, a, in b, beta, c);
            return;
        }
        if (path == CpuGemmKernel.Scalar || (long)m * n * k < SmallFlops)
        {
            if (TB.TryDense(in b, out float* dense, out bool transB))
            {
                GemmSimple(cpu, transA, transB, m, n, k, alpha, a, dense, beta, c);
                return;
            }
            // A gathering source: materialise op(B) (k×n, row-major: one panel nr = n wide) and run the same
            // loop on it, so the sums are those of the dense path. Tiny products (k·n < SmallFlops) or
            // CPUs without AVX2 only.
            float* ob = (float*)NativeMemory.Alloc((nuint)((long)k * n), sizeof(float));
            try
            {
                TB.Pack(in b, 0, k, 0, n, n, ob);
                GemmSimple(cpu, transA, false, m, n, k, alpha, a, ob, beta, c);
            }
            finally
            {
                NativeMemory.Free(ob);
            }
            return;
        }

        int mr = path == CpuGemmKernel.Avx512 ? 8 : 6;
        int nr = path == CpuGemmKernel.Avx512 ? 32 : 16;
        int mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr;
        if (TakesSplitK(path, m, n, k))
        {
            // C too small to split (e.g. the conv weight gradient of a layer with few channels,
            // whose k is batch·pixels): split k instead. The test above and the chunking depend
            // on the shapes only, so the result is the same for any thread count.
            GemmSplitK(cpu, transA, m, n, k, alpha, a, b, beta, c, mr, nr, mPanels, nPanels, path);
            return;
        }
        var job = new GemmJob<TB>(transA, m, n, k, alpha, a, b, beta, c, mr, nr, path);

        // Split C into MR/NR-aligned rectangles (≥ 256 columns and ≥ 48 rows each). Every job
        // packs all of A for its rows and all of B for its columns, so splitting n repeats the
        // A packing jobsN times and splitting m repeats B jobsM times: pick the split with the
        // least repeated packing (n for the forward conv, where A is the small weight; m for the
        // input gradient, where A = Wᵀ is the large operand). A few more jobs than threads lets
        // Parallel.For balance a loaded machine. Any split gives the same bits.
        int threads = cpu.Threads;
        long flops = 2L * m * n * k;
        int wanted = threads == 1 || flops < (1L << 22) ? 1 : threads * 3;
        int maxN = Math.Clamp(nPanels / (256 / nr), 1, wanted), maxM = Math.Max(1, mPanels / (48 / mr));
        int target = Math.Min(wanted, maxN * maxM);
        int jobsN = 1, jobsM = 1;
        long bestCost = long.MaxValue;
        for (int jn = maxN; jn >= 1; jn--)
        {
            int jm = Math.Min(maxM, (target + jn - 1) / jn);
            if (jm * jn < target) continue;
            long cost = (long)jn * m + (long)jm * n;
            if (cost < bestCost) (bestCost, jobsN, jobsM) = (cost, jn, jm);
        }
        // A gathering source (conv patches: masked 8-lane gathers from the image) costs several dense copies per
        // packed element, and every job row re-gathers the same panels: split n only whenever that still gives each
        // thread a job (the conv weight gradient m = 128, n = 1024 went 3×2, gathering its patches twice: 84–99 →
        // 110–128 GFLOP/s in a DCGAN-28 step as 1×4).
        if (TB.GathersB && jobsM > 1 && maxN >= threads) (jobsM, jobsN) = (1, Math.Min(maxN, target));
        job.JobsM = jobsM;
        job.JobsN = jobsN;
        job.MPanels = mPanels;
        job.NPanels = nPanels;
        if (jobsM * jobsN == 1) job.Run(0);
        else cpu.ForEach(jobsM * jobsN, job.Run);
    }

    /// <summary>
    /// C (m×n, row-major) = op(A)·op(B) + beta·C on the calling thread with the AVX-512 8×32 micro-kernel, where either
    /// operand may come already packed over all of k (<see cref="GemmOperand.Panels"/>): a producer that writes the GEMM's
    /// panels itself (the Winograd transforms) saves the pack pass, which reads its operand back from L3 or memory (7–10 %
    /// of a Winograd DCGAN-28 step was PackA/PackB). The sums are <see cref="GemmCpu"/>'s packed path: k-slices of
    /// <see cref="Kc"/> ascending, one FMA chain per element and slice, beta on the first slice only, so for shapes that
    /// take that path the bits are GemmCpu's (tested). Every element depends on the shapes alone, never on how C is cut.
    /// Requires AVX-512F.
    /// </summary>
    internal static unsafe void GemmPanelsCpu(int m, int n, int k, GemmOperand a, GemmOperand b, float beta, float* c)
    {
        if (m < 0 || n < 0 || k < 1)
            throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be positive (m={m}, n={n}, k={k})");
        if (!Avx512F.IsSupported) throw new PlatformNotSupportedException("AVX-512F");
        const int mr = 8, nr = 32;
        int mcMax = McPanels * mr, ncMax = NcPanels * nr;
        var buffers = PackBuffers.Rent(a.Packed ? 0 : mcMax * Kc, b.Packed ? 0 : ncMax * Kc, mr * nr);
        try
        {
            for (int jc = 0; jc < n; jc += ncMax)
            {
                int nc = Math.Min(ncMax, n - jc);
                for (int pc = 0; pc < k; pc += Kc)
                {
                    int kc = Math.Min(Kc, k - pc);
                    float sliceBeta = pc == 0 ? beta : 1f;
                    float* pb = PanelSlice(b, false, n, k, jc, nc, pc, kc, buffers.B, out long bStride);
                    for (int ic = 0; ic < m; ic += mcMax)
                    {
                        int mc = Math.Min(mcMax, m - ic);
                        float* pa = PanelSlice(a, true, m, k, ic, mc, pc, kc, buffers.A, out long aStride);
                        MacroKernel(CpuGemmKernel.Avx512, mr, nr, mc, nc, kc, pa, aStride, pb, bStride, c + (long)ic * n + jc, n, 1f, sliceBeta, buffers.Scratch);
                    }
                }
            }
        }
        finally
        {
            buffers.Return();
        }
    }

    /// <summary>
    /// op(A) packed over all of k the way <see cref="GemmPanelsCpu"/> reads it: ⌈m/8⌉ panels of [k][8] (rows past m zero).
    /// <paramref name="dst"/> holds ⌈m/8⌉·8·k floats. (Producers write this layout themselves; this is the reference.)
    /// </summary>
    internal static unsafe void PackPanelsA(bool transA, int m, int k, float* a, float* dst) => PackA(transA, m, k, a, 0, m, 0, k, 8, dst);

    /// <summary>op(B) packed over all of k: ⌈n/32⌉ panels of [k][32] (columns past n zero); ⌈n/32⌉·32·k floats.</summary>
    internal static unsafe void PackPanelsB(bool transB, int k, int n, float* b, float* dst) => PackB(transB, k, n, b, 0, k, 0, n, 32, dst);

    /// <summary>
    /// The kc-slice [pc, pc + kc) of an operand's panels from row (A) or column (B) <paramref name="first"/> on, for
    /// <paramref name="count"/> rows or columns: a pointer into the caller's panels, or the slice packed now into
    /// <paramref name="buffer"/>; <paramref name="stride"/> is the distance from one panel to the next.
    /// </summary>
    private static unsafe float* PanelSlice(in GemmOperand o, bool isA, int extent, int k, int first, int count, int pc, int kc, float* buffer, out long stride)
    {
        int width = isA ? 8 : 32; // mr rows of A or nr columns of B per panel
        if (o.Packed)
        {
            stride = (long)width * k;
            return o.Pointer + (long)(first / width) * width * k + (long)pc * width;
        }
        if (isA) PackA(o.Transposed, extent, k, o.Pointer, first, count, pc, kc, width, buffer);
        else PackB(o.Transposed, k, extent, o.Pointer, pc, kc, first, count, width, buffer);
        stride = (long)width * kc;
        return buffer;
    }

    /// <summary>
    /// The macro-kernel of both CPU GEMM drivers (GemmJob, <see cref="GemmPanelsCpu"/>): C[mc × nc] (row stride ldc) =
    /// alpha·A·B + beta·C over one k-slice of kc, from micro-panels of mr rows of A and nr columns of B that lie
    /// <paramref name="aStride"/> and <paramref name="bStride"/> floats apart (mr·kc and nr·kc in the per-slice pack
    /// buffers, mr·k and nr·k in panels packed over all of k).
    /// </summary>
    private static unsafe void MacroKernel(CpuGemmKernel path, int mr, int nr, int mc, int nc, int kc, float* pa0, long aStride, float* pb0,
        long bStride, float* cBlock, int ldc, float alpha, float beta, float* scratch)
    {
        for (int jr = 0; jr < nc; jr += nr)
        {
            int nrEff = Math.Min(nr, nc - jr);
            float* pb = pb0 + jr / nr * bStride;
            for (int ir = 0; ir < mc; ir += mr)
            {
                int mrEff = Math.Min(mr, mc - ir);
                float* pa = pa0 + ir / mr * aStride;
                float* cTile = cBlock + (long)ir * ldc + jr;
                if (mrEff == mr && nrEff == nr)
                {
                    MicroKernel(path, kc, pa, pb, cTile, ldc, alpha, beta);
                    continue;
                }
                // Edge tile: full-size product into scratch (alpha 1, beta 0 leaves the raw
                // sums exactly), then the same alpha/beta update as the vector store.
                MicroKernel(path, kc, pa, pb, scratch, nr, 1f, 0f);
                for (int r = 0; r < mrEff; r++)
                {
                    float* cr = cTile + (long)r * ldc;
                    float* sr = scratch + r * nr;
                    for (int q = 0; q < nrEff; q++)
                        cr[q] = beta == 0f ? alpha * sr[q] : MathF.FusedMultiplyAdd(sr[q], alpha, beta * cr[q]);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MicroKernel(CpuGemmKernel path, int kc, float* pa, float* pb, float* cTile, int ldc, float alpha, float beta)
    {
        if (path == CpuGemmKernel.Avx512) Kernel8x32(kc, pa, pb, cTile, ldc, alpha, beta);
        else Kernel6x16(kc, pa, pb, cTile, ldc, alpha, beta);
    }

    /// <summary>Whether the packed GEMM of these sizes splits k (<see cref="GemmSplitK"/>): shapes and micro-kernel only.</summary>
    internal static bool TakesSplitK(CpuGemmKernel path, int m, int n, int k)
    {
        path = ResolvePath(path);
        if (path == CpuGemmKernel.Scalar || (long)m * n * k < SmallFlops || GemmSkinnyCpu.Takes(m, n, k)) return false;
        int mr = path == CpuGemmKernel.Avx512 ? 8 : 6, nr = path == CpuGemmKernel.Avx512 ? 32 : 16;
        int mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr;
        return k >= 2 * KSplit && nPanels < 2 * (256 / nr) && mPanels < 2 * (48 / mr) && 2L * m * n * k >= (1L << 22);
    }

    /// <summary>
    /// C = alpha·Σ_t A[:, chunk t]·B[chunk t, :] + beta·C with k cut into fixed KSplit chunks:
    /// each chunk's product is computed by its own job into a partial buffer (in parallel), then
    /// the partials are added in chunk order.
    /// </summary>
    private static unsafe void GemmSplitK<TB>(CpuParallel cpu, bool transA, int m, int n, int k, float alpha,
        float* a, in TB b, float beta, float* c, int mr, int nr, int mPanels, int nPanels, CpuGemmKernel path)
        where TB : struct, ICpuPanelSourceB<TB>
    {
        int chunks = (k + KSplit - 1) / KSplit;
        long mn = (long)m * n;
        float* partials = (float*)NativeMemory.AlignedAlloc((nuint)(chunks * mn * sizeof(float)), 64);
        try
        {
            var jobs = new GemmJob<TB>[chunks];
            for (int t = 0; t < chunks; t++)
                jobs[t] = new GemmJob<TB>(transA, m, n, k, 1f, a, b, 0f, partials + t * mn, mr, nr, path)
                {
                    JobsM = 1, JobsN = 1, MPanels = mPanels, NPanels = nPanels,
                    K0 = t * KSplit, K1 = Math.Min(k, (t + 1) * KSplit),
                };
            cpu.ForEach(chunks, t => jobs[t].Run(0));
            for (long e = 0; e < mn; e++)
            {
                float sum = partials[e];
                for (int t = 1; t < chunks; t++) sum += partials[t * mn + e];
                c[e] = beta == 0f ? alpha * sum : MathF.FusedMultiplyAdd(sum, alpha, beta * c[e]);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(partials);
        }
    }

    private static unsafe void ScaleC(int m, int n, float beta, float* c)
    {
        long len = (long)m * n;
        for (long i = 0; i < len; i++) c[i] = beta == 0f ? 0f : beta * c[i];
    }

    /// <summary>Unpacked loop for tiny products and CPUs without AVX2/AVX-512; fp32 sums in k order.</summary>
    private static unsafe void GemmSimple(CpuParallel cpu, bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, float* b, float beta, float* c)
    {
        // Rows are independent and each element sums serially, so splitting rows is deterministic.
        int chunks = (long)m * n * k < (1L << 21) ? 1 : Math.Min(m, cpu.Threads * 4);
        if (chunks == 1)
        {
            GemmSimpleRows(transA, transB, 0, m, m, n, k, alpha, a, b, beta, c);
            return;
        }
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
        cpu.ForEach(chunks, t => GemmSimpleRows(transA, transB, (int)((long)m * t / chunks), (int)((long)m * (t + 1) / chunks),
            m, n, k, alpha, (float*)pa, (float*)pb, beta, (float*)pc));
    }

    private static unsafe void GemmSimpleRows(bool transA, bool transB, int i0, int i1, int m, int n, int k, float alpha,
        float* a, float* b, float beta, float* c)
    {
        for (int i = i0; i < i1; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[(long)p * m + i] : a[(long)i * k + p];
                    float bv = transB ? b[(long)j * k + p] : b[(long)p * n + j];
                    sum = MathF.FusedMultiplyAdd(av, bv, sum);
                }
                float* cij = c + (long)i * n + j;
                *cij = beta == 0f ? alpha * sum : MathF.FusedMultiplyAdd(sum, alpha, beta * *cij);
            }
        }
    }

    /// <summary>One GEMM call's arguments; Run(job) computes one rectangle of C.</summary>
    private sealed unsafe class GemmJob<TB>(bool transA, int m, int n, int k, float alpha,
        float* a, TB b, float beta, float* c, int mr, int nr, CpuGemmKernel path) where TB : struct, ICpuPanelSourceB<TB>
    {
        public int JobsM, JobsN, MPanels, NPanels;
        public int K0, K1 = int.MaxValue; // the k range [K0, min(K1, k)) this job sums (all of k except in GemmSplitK)

        public void Run(int job)
        {
            int jm = job / JobsN, jn = job % JobsN;
            int i0 = (int)((long)MPanels * jm / JobsM) * mr;
            int i1 = Math.Min(m, (int)((long)MPanels * (jm + 1) / JobsM) * mr);
            int j0 = (int)((long)NPanels * jn / JobsN) * nr;
            int j1 = Math.Min(n, (int)((long)NPanels * (jn + 1) / JobsN) * nr);
            if (i0 >= i1 || j0 >= j1) return;

            int mcMax = McPanels * mr, ncMax = NcPanels * nr;
            var buffers = PackBuffers.Rent(mcMax * Kc, ncMax * Kc, mr * nr);
            try
            {
                Run(i0, i1, j0, j1, buffers.A, buffers.B, buffers.Scratch);
            }
            finally
            {
                buffers.Return();
            }
        }

        private void Run(int i0, int i1, int j0, int j1, float* packA, float* packB, float* scratch)
        {
            int mcMax = McPanels * mr, ncMax = NcPanels * nr;

            for (int jc = j0; jc < j1; jc += ncMax)
            {
                int nc = Math.Min(ncMax, j1 - jc);
                int kEnd = Math.Min(K1, k);
                for (int pc = K0; pc < kEnd; pc += Kc)
                {
                    int kc = Math.Min(Kc, kEnd - pc);
                    // First k-slice applies the caller's beta; later slices accumulate onto C.
                    float sliceBeta = pc == K0 ? beta : 1f;
                    TB.Pack(in b, pc, kc, jc, nc, nr, packB);
                    for (int ic = i0; ic < i1; ic += mcMax)
                    {
                        int mc = Math.Min(mcMax, i1 - ic);
                        PackA(transA, m, k, a, ic, mc, pc, kc, mr, packA);
                        MacroKernel(mc, nc, kc, packA, packB, c + (long)ic * n + jc, n, alpha, sliceBeta, scratch);
                    }
                }
            }
        }

        private void MacroKernel(int mc, int nc, int kc, float* packA, float* packB, float* cBlock, int ldc,
            float alphaV, float betaV, float* scratch)
            => MatMulKernels.MacroKernel(path, mr, nr, mc, nc, kc, packA, (long)mr * kc, packB, (long)nr * kc, cBlock, ldc, alphaV, betaV, scratch);
    }

    /// <summary>
    /// Packs op(A)[ic..ic+mc, pc..pc+kc] into micro-panels of mr rows: panel-major, then k,
    /// then the mr rows contiguous, zero-padding rows past m.
    /// </summary>
    private static unsafe void PackA(bool transA, int m, int k, float* a, int ic, int mc, int pc, int kc, int mr, float* dst)
    {
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            float* d = dst + (long)ir * kc;
            if (transA)
            {
                // A stored (k, m): the mr rows of one k are contiguous.
                float* src = a + (long)pc * m + ic + ir;
                if (rows == 8 && mr == 8 && Avx.IsSupported)
                {
                    for (int p = 0; p < kc; p++, src += m, d += 8) Avx.Store(d, Avx.LoadVector256(src));
                    continue;
                }
                for (int p = 0; p < kc; p++, src += m, d += mr)
                {
                    int r = 0;
                    for (; r < rows; r++) d[r] = src[r];
                    for (; r < mr; r++) d[r] = 0f;
                }
            }
            else
            {
                // A stored (m, k): gather one element from each of mr rows per k.
                float* src = a + (long)(ic + ir) * k + pc;
                if (rows == 8 && mr == 8 && Avx2.IsSupported)
                {
                    PackA8Rows(src, k, kc, d);
                    continue;
                }
                for (int r = 0; r < mr; r++)
                {
                    float* s = src + (long)r * k;
                    if (r < rows) for (int p = 0; p < kc; p++) d[p * mr + r] = s[p];
                    else for (int p = 0; p < kc; p++) d[p * mr + r] = 0f;
                }
            }
        }
    }

    /// <summary>8 rows × kc (row stride lda) → kc groups of 8, via 8×8 in-register transposes.</summary>
    private static unsafe void PackA8Rows(float* src, int lda, int kc, float* d)
    {
        int p = 0;
        for (; p + 8 <= kc; p += 8)
        {
            Transpose8x8(src + p, lda, d + p * 8);
        }
        for (; p < kc; p++)
            for (int r = 0; r < 8; r++) d[p * 8 + r] = src[(long)r * lda + p];
    }

    /// <summary>Reads an 8×8 block (row stride ld) and writes its transpose densely (stride 8). Also the conv's channels-last copies.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Transpose8x8(float* s, long ld, float* d)
    {
        var r0 = Avx.LoadVector256(s);
        var r1 = Avx.LoadVector256(s + ld);
        var r2 = Avx.LoadVector256(s + 2 * ld);
        var r3 = Avx.LoadVector256(s + 3 * ld);
        var r4 = Avx.LoadVector256(s + 4 * ld);
        var r5 = Avx.LoadVector256(s + 5 * ld);
        var r6 = Avx.LoadVector256(s + 6 * ld);
        var r7 = Avx.LoadVector256(s + 7 * ld);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + 8, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 16, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 24, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 32, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 40, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 48, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 56, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>
    /// Packs op(B)[pc..pc+kc, jc..jc+nc] into micro-panels of nr columns: panel-major, then k,
    /// then the nr columns contiguous, zero-padding columns past n.
    /// </summary>
    internal static unsafe void PackB(bool transB, int k, int n, float* b, int pc, int kc, int jc, int nc, int nr, float* dst)
    {
        float* blk = stackalloc float[64]; // one transposed 8×8 block
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            float* d = dst + (long)jr * kc;
            if (!transB)
            {
                // B stored (k, n): nr contiguous columns per k.
                float* src = b + (long)pc * n + jc + jr;
                if (cols == nr && nr % 8 == 0)
                {
                    // Vector copies: Buffer.MemoryCopy's call and size dispatch per 128-byte row cost more than the copy
                    // (7 % of a Winograd DCGAN-64 step was its memmove, from this loop).
                    for (int p = 0; p < kc; p++, src += n, d += nr)
                        for (int q = 0; q < nr; q += 8)
                            Vector256.Load(src + q).Store(d + q);
                }
                else if (cols == nr)
                {
                    for (int p = 0; p < kc; p++, src += n, d += nr)
                        Buffer.MemoryCopy(src, d, nr * sizeof(float), nr * sizeof(float));
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += n, d += nr)
                    {
                        int q = 0;
                        for (; q < cols; q++) d[q] = src[q];
                        for (; q < nr; q++) d[q] = 0f;
                    }
                }
            }
            else
            {
                // B stored (n, k): each packed column is a contiguous run of one row of B.
                float* src = b + (long)(jc + jr) * k + pc;
                int q = 0;
                if (Avx2.IsSupported)
                {
                    // 8 columns × 8 k at a time through an in-register transpose. Output rows
                    // are nr apart, so transpose into a small dense block and scatter its rows.
                    for (; q + 8 <= cols; q += 8)
                    {
                        float* s = src + (long)q * k;
                        int p = 0;
                        for (; p + 8 <= kc; p += 8)
                        {
                            Transpose8x8(s + p, k, blk);
                            for (int t = 0; t < 8; t++)
                                Avx.Store(d + (long)(p + t) * nr + q, Avx.LoadVector256(blk + t * 8));
                        }
                        for (; p < kc; p++)
                            for (int t = 0; t < 8; t++) d[(long)p * nr + q + t] = s[(long)t * k + p];
                    }
                }
                for (; q < cols; q++)
                {
                    float* s = src + (long)q * k;
                    for (int p = 0; p < kc; p++) d[(long)p * nr + q] = s[p];
                }
                for (; q < nr; q++)
                    for (int p = 0; p < kc; p++) d[(long)p * nr + q] = 0f;
            }
        }
    }

    /// <summary>
    /// 8×32 AVX-512 micro-kernel: C[0..8, 0..32] = alpha·(Apanel·Bpanel) + beta·C
    /// (beta == 0 does not read C). Apanel is kc×8, Bpanel kc×32, both packed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel8x32(int kc, float* pa, float* pb, float* c, int ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        // Pull the C tile toward L1 while the k loop runs: its rows are ldc apart (often a
        // power of two, other pages), so the epilogue would otherwise stall on 16 misses.
        // Measured +5–15% on conv shapes whose C does not fit in cache, neutral at 512³.
        float* cp = c;
        for (int r = 0; r < 8; r++, cp += ldc)
        {
            Sse.Prefetch0(cp);
            Sse.Prefetch0(cp + 16);
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx512F.LoadVector512(pb);
            var b1 = Avx512F.LoadVector512(pb + 16);
            var av = Vector512.Create(pa[0]);
            c00 = Avx512F.FusedMultiplyAdd(av, b0, c00); c01 = Avx512F.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(pa[1]);
            c10 = Avx512F.FusedMultiplyAdd(av, b0, c10); c11 = Avx512F.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(pa[2]);
            c20 = Avx512F.FusedMultiplyAdd(av, b0, c20); c21 = Avx512F.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(pa[3]);
            c30 = Avx512F.FusedMultiplyAdd(av, b0, c30); c31 = Avx512F.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(pa[4]);
            c40 = Avx512F.FusedMultiplyAdd(av, b0, c40); c41 = Avx512F.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(pa[5]);
            c50 = Avx512F.FusedMultiplyAdd(av, b0, c50); c51 = Avx512F.FusedMultiplyAdd(av, b1, c51);
            av = Vector512.Create(pa[6]);
            c60 = Avx512F.FusedMultiplyAdd(av, b0, c60); c61 = Avx512F.FusedMultiplyAdd(av, b1, c61);
            av = Vector512.Create(pa[7]);
            c70 = Avx512F.FusedMultiplyAdd(av, b0, c70); c71 = Avx512F.FusedMultiplyAdd(av, b1, c71);
            pa += 8;
            pb += 32;
        }
        var va = Vector512.Create(alpha);
        if (beta == 0f)
        {
            Avx512F.Store(c, c00 * va); Avx512F.Store(c + 16, c01 * va); c += ldc;
            Avx512F.Store(c, c10 * va); Avx512F.Store(c + 16, c11 * va); c += ldc;
            Avx512F.Store(c, c20 * va); Avx512F.Store(c + 16, c21 * va); c += ldc;
            Avx512F.Store(c, c30 * va); Avx512F.Store(c + 16, c31 * va); c += ldc;
            Avx512F.Store(c, c40 * va); Avx512F.Store(c + 16, c41 * va); c += ldc;
            Avx512F.Store(c, c50 * va); Avx512F.Store(c + 16, c51 * va); c += ldc;
            Avx512F.Store(c, c60 * va); Avx512F.Store(c + 16, c61 * va); c += ldc;
            Avx512F.Store(c, c70 * va); Avx512F.Store(c + 16, c71 * va);
        }
        else
        {
            var vb = Vector512.Create(beta);
            Update512(c, c00, va, vb); Update512(c + 16, c01, va, vb); c += ldc;
            Update512(c, c10, va, vb); Update512(c + 16, c11, va, vb); c += ldc;
            Update512(c, c20, va, vb); Update512(c + 16, c21, va, vb); c += ldc;
            Update512(c, c30, va, vb); Update512(c + 16, c31, va, vb); c += ldc;
            Update512(c, c40, va, vb); Update512(c + 16, c41, va, vb); c += ldc;
            Update512(c, c50, va, vb); Update512(c + 16, c51, va, vb); c += ldc;
            Update512(c, c60, va, vb); Update512(c + 16, c61, va, vb); c += ldc;
            Update512(c, c70, va, vb); Update512(c + 16, c71, va, vb);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Update512(float* c, Vector512<float> acc, Vector512<float> va, Vector512<float> vb)
        => Avx512F.Store(c, Avx512F.FusedMultiplyAdd(acc, va, vb * Avx512F.LoadVector512(c)));

    /// <summary>6×16 AVX2+FMA micro-kernel; same contract as <see cref="Kernel8x32"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel6x16(int kc, float* pa, float* pb, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx.LoadVector256(pb);
            var b1 = Avx.LoadVector256(pb + 8);
            var av = Vector256.Create(pa[0]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Vector256.Create(pa[1]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Vector256.Create(pa[2]);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Vector256.Create(pa[3]);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Vector256.Create(pa[4]);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Vector256.Create(pa[5]);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            pa += 6;
            pb += 16;
        }
        var va = Vector256.Create(alpha);
        if (beta == 0f)
        {
            Avx.Store(c, c00 * va); Avx.Store(c + 8, c01 * va); c += ldc;
            Avx.Store(c, c10 * va); Avx.Store(c + 8, c11 * va); c += ldc;
            Avx.Store(c, c20 * va); Avx.Store(c + 8, c21 * va); c += ldc;
            Avx.Store(c, c30 * va); Avx.Store(c + 8, c31 * va); c += ldc;
            Avx.Store(c, c40 * va); Avx.Store(c + 8, c41 * va); c += ldc;
            Avx.Store(c, c50 * va); Avx.Store(c + 8, c51 * va);
        }
        else
        {
            var vb = Vector256.Create(beta);
            Update256(c, c00, va, vb); Update256(c + 8, c01, va, vb); c += ldc;
            Update256(c, c10, va, vb); Update256(c + 8, c11, va, vb); c += ldc;
            Update256(c, c20, va, vb); Update256(c + 8, c21, va, vb); c += ldc;
            Update256(c, c30, va, vb); Update256(c + 8, c31, va, vb); c += ldc;
            Update256(c, c40, va, vb); Update256(c + 8, c41, va, vb); c += ldc;
            Update256(c, c50, va, vb); Update256(c + 8, c51, va, vb);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Update256(float* c, Vector256<float> acc, Vector256<float> va, Vector256<float> vb)
        => Avx.Store(c, Fma.MultiplyAdd(acc, va, vb * Avx.LoadVector256(c)));

    /// <summary>
    /// One job's packing buffers: 64-byte aligned native memory, rented from a process-wide
    /// pool for the duration of a job and returned after, so steady-state calls allocate no
    /// packing memory and the pool never holds more sets than jobs ever ran at once (unlike
    /// thread-static buffers, which would leak when pool threads retire).
    /// </summary>
    /// <summary>
    /// An operand of <see cref="GemmPanelsCpu"/>: a dense row-major matrix (op = transpose when
    /// <see cref="Transposed"/>), packed per k-slice by the GEMM, or panels the caller packed over all of k
    /// (<see cref="PackPanelsA"/> / <see cref="PackPanelsB"/> layouts).
    /// </summary>
    internal readonly unsafe struct GemmOperand
    {
        public readonly float* Pointer;
        public readonly bool Packed, Transposed;

        private GemmOperand(float* pointer, bool packed, bool transposed)
        {
            Pointer = pointer;
            Packed = packed;
            Transposed = transposed;
        }

        public static GemmOperand Dense(float* matrix, bool transposed) => new(matrix, false, transposed);

        public static GemmOperand Panels(float* panels) => new(panels, true, false);
    }

    private sealed unsafe class PackBuffers
    {
        private static readonly System.Collections.Concurrent.ConcurrentBag<PackBuffers> s_pool = new();

        private nint _a, _b, _scratch;
        private int _aLen, _bLen, _scratchLen;

        public float* A, B, Scratch;

        public static PackBuffers Rent(int aFloats, int bFloats, int scratchFloats)
        {
            if (!s_pool.TryTake(out var buffers)) buffers = new PackBuffers();
            buffers.A = Ensure(ref buffers._a, ref buffers._aLen, aFloats);
            buffers.B = Ensure(ref buffers._b, ref buffers._bLen, bFloats);
            buffers.Scratch = Ensure(ref buffers._scratch, ref buffers._scratchLen, scratchFloats);
            return buffers;
        }

        public void Return() => s_pool.Add(this);

        private static float* Ensure(ref nint ptr, ref int len, int floats)
        {
            if (len < floats)
            {
                if (ptr != 0) NativeMemory.AlignedFree((void*)ptr);
                ptr = (nint)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);
                len = floats;
            }
            return (float*)ptr;
        }
    }
}
