// Skinny shapes of the CPU GEMM (MatMulKernels.GemmCpu), C(m×n) = α·op(A)·op(B) + β·C with k == 1, n ≤ 8 or m ≤ 4:
//   n == 1:  c[i]    = α·Σ_p op(A)[i, p]·b[p] + β·c[i]        matrix × vector (GEMV); n ≤ 8: one per column of C
//   m == 1:  c[j]    = α·Σ_p a[p]·op(B)[p, j] + β·c[j]        row vector × matrix; m ≤ 4: one per row of C
//   k == 1:  c[i, j] = α·a[i]·b[j] + β·c[i, j]                outer product (rank-1 update)
// (β == 0 never reads C.) The dense last layer of a discriminator (Linear 6272 → 1 at batch 64; DCGAN-64's 4×4 conv to
// one channel) runs one of each per use: its forward (n = 1), weight gradient (m = 1) and input gradient (k = 1). The
// packed path ran them at 1.5–25 GFLOP/s: its 8×32 tiles used 1/32 (n = 1) or 1/8 (m = 1) of every FMA, and it packed a
// whole operand for one output row or column. These products touch each operand element once (or m or n times, from
// cache), so they are memory-bound: here every output is computed straight from the operands, vectorised along
// whichever dimension is contiguous, with several independent accumulators; only op(B) from a gathering panel source,
// or stored the other way round, is packed (a k×n copy for n ≤ 8 or k == 1; for m ≤ 4 a kc×w block at a time in L2).
// Thresholds (gemm-quick, 2 threads, 2026-12-06, packed → here, GFLOP/s): m = 64, k = 6272, n = 2 / 4 / 8 with B stored
// n×k 4.3 → 59 / 8.3 → 59 / 34 → 73, stored k×n 4.9 → 31 / 9.3 → 38 / 37 → 42; 256×8×1024 with A stored k×m 29 → 35;
// n = 6272, k = 64, m = 2 / 4 with B stored k×n 10 → 70 / 23 → 56, n×k 12 → 31 / 22 → 49. Above n = 8 the per-column
// GEMVs read A n times while the 32-wide packed tiles fill up, so n stops at 8 (not measured above); m stops at 4 (MR is
// 8: the packed path's A panels are full from m = 8). k = 2 packed already runs 41 GFLOP/s: k == 1 only.
//
// Two kernels cover every orientation:
// - DotRowsKernel: c[i] = Σ_p X[i, p]·v[p], rows of X contiguous — n ≤ 8 with A stored m×k (X = A, v = column j of
//   op(B)), and m == 1 with n ≤ 8. Four rows at a time share the loads of v.
// - RowTimesMatrixKernel: c[j] = Σ_p v[p·vs]·X[p, j], rows of X contiguous, vectorised along j in strips of 8, 4 and 1
//   vectors and a scalar tail — n ≤ 8 with A stored k×m (X = A, v = column of op(B); n > 1 through an m-float buffer, as
//   the column of C is strided); m ≤ 4 (v = row r of op(A), X = B when stored k×n, else op(B) packed through the panel
//   source; a block of op(B) of PackKc rows × 8 vectors serves all m rows while in L2, so B streams from memory once); k == 1 (once per row of C: v = a[i], X = op(B), one row of n, contiguous in either orientation).
//
// Sum order, the same for any thread count and any panel source: DotRows sums a row's k terms lane-wise in two vector
// accumulators over blocks of 2L (L = 16 lanes with AVX-512, 8 with AVX2), a last full block of L into the first,
// adds the two, reduces the lanes (Vector.Sum), then FMAs the tail terms in p order. RowTimesMatrix runs one FMA chain
// per output in p order, starting from 0 (a vector lane, a scalar tail column and a chain carried across packed k
// blocks round identically). Both depend on k and the instruction set only, not on which rows or strips a thread takes,
// nor on whether op(B) was read in place or packed (a packed block holds op(B)'s exact values). Which kernel runs
// depends on m, n, k and transA only, so a gathering source and its dense equivalent give the same bits.
// Threads split the output, never k: rows for DotRows, (row of C, ≥ SegCols columns) items for RowTimesMatrix, in chunks
// of about CpuParallel.ChunkWork operand elements (one chunk, no hand-off, below that).
// Not done: splitting k (a GEMV with A stored k×m, or m == n == 1, runs on one thread; a fixed k split with an ordered
// combine would keep the bits); a multi-column GEMV that reads A once for 2 ≤ n ≤ 8.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors.Kernels;

namespace GpuGan.Tensors.Ops;

/// <summary>One SIMD width for the skinny GEMM kernels (<see cref="Lanes512"/>, <see cref="Lanes256"/>), so one source serves both.</summary>
internal unsafe interface ISkinnyLanes<TV> where TV : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }
    static abstract TV Load(float* p);
    static abstract void Store(TV v, float* p);
    static abstract TV Splat(float x);
    /// <summary>a·b + c, rounded once (as <see cref="MathF.FusedMultiplyAdd"/> per lane).</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Add(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract float Sum(TV v);
}

/// <summary>AVX-512F: 16 floats.</summary>
internal readonly unsafe struct Lanes512 : ISkinnyLanes<Vector512<float>>
{
    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
}

/// <summary>AVX2+FMA: 8 floats.</summary>
internal readonly unsafe struct Lanes256 : ISkinnyLanes<Vector256<float>>
{
    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
}

/// <summary>The CPU GEMM for k == 1, n ≤ 8 or m ≤ 4 (see the file header); reached through <see cref="MatMulKernels.GemmCpu{TB}"/>.</summary>
[SkipLocalsInit]   // RowsTimesB's stack buffer is written before it is read (zeroing 34 KiB per chunk cost 20 % at m = 1)
internal static unsafe class GemmSkinnyCpu
{
    private const int SegCols = 512;    // output columns per RowTimesMatrix work item (at least)
    private const int PackKc = 256;     // k rows of an op(B) block: 256 × 8 vectors = 128 KiB (AVX-512), in L2; 1 KiB runs of
                                        // B stored n×k per packed column (4×4096×4096, B n×k: 64 rows 19 GFLOP/s, 256 rows 23,
                                        // the packed path 23–24)

    private const int MaxN = 8;         // n up to this: one GEMV per column of C (op(A) read n times)
    private const int MaxM = 4;         // m up to this: one row vector × matrix per row of C (op(B) read m times)

    /// <summary>Whether <see cref="MatMulKernels.GemmCpu{TB}"/> hands these sizes to this path (with a SIMD micro-kernel family).</summary>
    internal static bool Takes(int m, int n, int k) => k == 1 || n <= MaxN || m <= MaxM;

    /// <summary>
    /// C = α·op(A)·op(B) + β·C for <see cref="Takes"/> sizes (m, n, k ≥ 1, α ≠ 0); <paramref name="avx512"/> picks the
    /// vector width (else AVX2+FMA).
    /// </summary>
    internal static void Gemm<TB>(CpuParallel cpu, bool avx512, bool transA, int m, int n, int k, float alpha,
        float* a, in TB b, float beta, float* c) where TB : struct, ICpuPanelSourceB<TB>
    {
        if (avx512) Gemm<Vector512<float>, Lanes512, TB>(cpu, transA, m, n, k, alpha, a, b, beta, c);
        else Gemm<Vector256<float>, Lanes256, TB>(cpu, transA, m, n, k, alpha, a, b, beta, c);
    }

    private static void Gemm<TV, TL, TB>(CpuParallel cpu, bool transA, int m, int n, int k, float alpha,
        float* a, in TB b, float beta, float* c) where TV : struct where TL : struct, ISkinnyLanes<TV> where TB : struct, ICpuPanelSourceB<TB>
    {
        bool dense = TB.TryDense(in b, out float* bd, out bool transB);
        if (k == 1 || n <= MaxN)
        {
            // op(B)'s columns (n ≤ MaxN) or its one row (k == 1) as contiguous runs: in place when B is stored that way
            // (a single row or column is, in either orientation), else packed once (n·k floats; panels of one column
            // are the columns).
            bool inPlace = dense && (k == 1 || n == 1 || transB);
            float* ob = inPlace ? bd : (float*)NativeMemory.Alloc((nuint)((long)n * k), sizeof(float));
            float* tmp = null;
            try
            {
                if (!inPlace && dense && k > 1)
                {
                    // B stored (k, n), n ≤ MaxN: its columns copied out (the panel packer, at nr = 1, copies one float per call:
                    // with it n = 8 measured 17 GFLOP/s instead of 42).
                    for (int p = 0; p < k; p++)
                        for (int j = 0; j < n; j++) ob[(long)j * k + p] = bd[(long)p * n + j];
                }
                else if (!inPlace) TB.Pack(in b, 0, k, 0, n, k == 1 ? n : 1, ob);
                if (k == 1)
                {
                    if (n == 1) RowsTimesMatrix<TV, TL>(cpu, 1, m, 1, ob, 0, 1, a, m, c, m, alpha, beta);   // b · aᵀ, one row of m outputs
                    else RowsTimesMatrix<TV, TL>(cpu, m, n, 1, a, 1, 1, ob, n, c, n, alpha, beta);         // row i: a[i] · b
                }
                else if (!transA || m == 1)
                {
                    for (int j = 0; j < n; j++)
                        DotRows<TV, TL>(cpu, m, k, a, ob + (long)j * k, c + j, n, alpha, beta);            // rows of A · column j
                }
                else if (n == 1)
                {
                    RowsTimesMatrix<TV, TL>(cpu, 1, m, k, ob, 0, 1, a, m, c, m, alpha, beta);              // bᵀ · A (k×m)
                }
                else
                {
                    // Column j of C is strided: its raw sums (α = 1, β = 0 store the sums exactly) into tmp, then the
                    // epilogue element by element — the same arithmetic as the in-place store.
                    tmp = (float*)NativeMemory.Alloc((nuint)m, sizeof(float));
                    for (int j = 0; j < n; j++)
                    {
                        RowsTimesMatrix<TV, TL>(cpu, 1, m, k, ob + (long)j * k, 0, 1, a, m, tmp, m, 1f, 0f);
                        for (int i = 0; i < m; i++) c[(long)i * n + j] = Epilogue(tmp[i], alpha, beta, c + (long)i * n + j);
                    }
                }
            }
            finally
            {
                if (!inPlace) NativeMemory.Free(ob);
                if (tmp != null) NativeMemory.Free(tmp);
            }
            return;
        }
        // m ≤ MaxM: row r of op(A) is a[r·k + p] (A stored m×k) or a[p·m + r] (k×m).
        long vRow = transA ? 1 : k, vs = transA ? m : 1;
        RowsTimesB<TV, TL, TB>(cpu, m, n, k, a, vRow, vs, b, dense && !transB ? bd : null, c, alpha, beta);
    }

    // ------------------------------------------------------------------------------------ drivers (thread split)

    /// <summary>c[i·ldc] = α·Σ_p A[i, p]·v[p] + β·c[i·ldc] for i &lt; m, A (m, k) row-major: chunks of rows (multiples of 4).</summary>
    private static void DotRows<TV, TL>(CpuParallel cpu, int m, int k, float* x, float* v, float* c, long ldc, float alpha, float beta)
        where TV : struct where TL : struct, ISkinnyLanes<TV>
    {
        int grain = (CpuParallel.Grain(k) + 3) & ~3;
        if (m <= grain)
        {
            DotRowsKernel<TV, TL>(x, k, v, k, 0, m, c, ldc, alpha, beta);
            return;
        }
        nint px = (nint)x, pv = (nint)v, pc = (nint)c;
        cpu.ForChunks(m, grain, (i0, i1) => DotRowsKernel<TV, TL>((float*)px, k, (float*)pv, k, i0, i1, (float*)pc, ldc, alpha, beta));
    }

    /// <summary>
    /// For each row r &lt; rows of C: c[r·ldc + j] = α·Σ_p v[r·vRow + p·vs]·X[p·ldx + j] + β·c[r·ldc + j], j &lt; cols, the
    /// whole k at once (k == 1, or one row). Work items are (row, ≥ SegCols columns).
    /// </summary>
    private static void RowsTimesMatrix<TV, TL>(CpuParallel cpu, int rows, int cols, int k, float* v, long vRow, long vs,
        float* x, long ldx, float* c, long ldc, float alpha, float beta) where TV : struct where TL : struct, ISkinnyLanes<TV>
    {
        // Segments of at least SegCols columns, longer when k is short (k == 1: a whole row of C up to ChunkWork/2 floats),
        // so that a call of the kernel does enough work to hide its set-up.
        int seg = (int)Math.Min(cols, Math.Max(SegCols, (CpuParallel.ChunkWork / (k + 1) + 127) & ~127));
        int segs = (cols + seg - 1) / seg, items = rows * segs;
        int grain = CpuParallel.Grain((long)seg * (k + 1));   // operand reads + the C row
        nint pv = (nint)v, px = (nint)x, pc = (nint)c;
        void Items(int t0, int t1)
        {
            for (int t = t0; t < t1; t++)
            {
                int r = t / segs, j0 = (t - r * segs) * seg, w = Math.Min(seg, cols - j0);
                RowTimesMatrixKernel<TV, TL>((float*)pv + r * vRow, vs, (float*)px + j0, ldx, k, w, null, true, true,
                    (float*)pc + r * ldc + j0, alpha, beta);
            }
        }
        if (items <= grain) Items(0, items);
        else cpu.ForChunks(items, grain, Items);
    }

    /// <summary>
    /// The m ≤ MaxM rows of C: c[r, j] = α·Σ_p v[r·vRow + p·vs]·op(B)[p, j] + β·c[r, j]. Work items are SegCols columns;
    /// within one, op(B) is taken a strip of 8 vectors by PackKc rows at a time — read in place from
    /// <paramref name="bInPlace"/> (B stored k×n) or packed through the source into a buffer per chunk — and every row
    /// of C runs over that block while it is in L2, so op(B) streams from memory once whatever m. Each strip's FMA chains
    /// carry across the blocks (in an accumulator buffer per row): the order of one chain over all of k.
    /// </summary>
    private static void RowsTimesB<TV, TL, TB>(CpuParallel cpu, int m, int n, int k, float* a, long vRow, long vs, in TB b,
        float* bInPlace, float* c, float alpha, float beta) where TV : struct where TL : struct, ISkinnyLanes<TV> where TB : struct, ICpuPanelSourceB<TB>
    {
        int segs = (n + SegCols - 1) / SegCols;
        int grain = CpuParallel.Grain((long)Math.Min(n, SegCols) * (1 + m) * k);   // op(B) read (and packed), the rows' reads
        var source = b;
        nint pa = (nint)a, pc = (nint)c, pb = (nint)bInPlace;
        void Segments(int s0, int s1)
        {
            int sw = 8 * TL.Count;
            float* acc = stackalloc float[MaxM * 8 * 16];
            float* buf = pb == 0 ? (float*)NativeMemory.AlignedAlloc(PackKc * 8 * 16 * sizeof(float), 64) : null;   // (PackKc, sw), sw ≤ 128
            try
            {
                for (int s = s0; s < s1; s++)
                {
                    int end = Math.Min(n, (s + 1) * SegCols);
                    for (int j = s * SegCols; j < end; j += sw)
                    {
                        int w = Math.Min(sw, end - j);
                        for (int pc0 = 0; pc0 < k; pc0 += PackKc)
                        {
                            int kc = Math.Min(PackKc, k - pc0);
                            float* x = (float*)pb + (long)pc0 * n + j;
                            long ldx = n;
                            if (pb == 0)
                            {
                                TB.Pack(in source, pc0, kc, j, w, w, buf);
                                x = buf;
                                ldx = w;
                            }
                            for (int r = 0; r < m; r++)
                                RowTimesMatrixKernel<TV, TL>((float*)pa + r * vRow + pc0 * vs, vs, x, ldx, kc, w, acc + r * 128, pc0 == 0,
                                    pc0 + kc == k, (float*)pc + (long)r * n + j, alpha, beta);
                        }
                    }
                }
            }
            finally
            {
                if (buf != null) NativeMemory.AlignedFree(buf);
            }
        }
        if (segs <= grain) Segments(0, segs);
        else cpu.ForChunks(segs, grain, Segments);
    }

    // ------------------------------------------------------------------------------------ kernels

    /// <summary>
    /// c[i·ldc] = α·Σ_p X[i·ldx + p]·v[p] + β·c[i·ldc] for i in [i0, i1); the sum order of the file header (independent of i0, i1
    /// and of whether a row goes through the four-row loop or the one-row loop).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DotRowsKernel<TV, TL>(float* x, long ldx, float* v, int k, int i0, int i1, float* c, long ldc, float alpha, float beta)
        where TV : struct where TL : struct, ISkinnyLanes<TV>
    {
        int l = TL.Count, l2 = 2 * l;
        int i = i0;
        for (; i + 4 <= i1; i += 4)
        {
            float* x0 = x + i * ldx, x1 = x0 + ldx, x2 = x1 + ldx, x3 = x2 + ldx;
            TV a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
            int p = 0;
            for (; p + l2 <= k; p += l2)
            {
                TV v0 = TL.Load(v + p), v1 = TL.Load(v + p + l);
                a00 = TL.Fma(TL.Load(x0 + p), v0, a00); a01 = TL.Fma(TL.Load(x0 + p + l), v1, a01);
                a10 = TL.Fma(TL.Load(x1 + p), v0, a10); a11 = TL.Fma(TL.Load(x1 + p + l), v1, a11);
                a20 = TL.Fma(TL.Load(x2 + p), v0, a20); a21 = TL.Fma(TL.Load(x2 + p + l), v1, a21);
                a30 = TL.Fma(TL.Load(x3 + p), v0, a30); a31 = TL.Fma(TL.Load(x3 + p + l), v1, a31);
            }
            if (p + l <= k)
            {
                TV v0 = TL.Load(v + p);
                a00 = TL.Fma(TL.Load(x0 + p), v0, a00);
                a10 = TL.Fma(TL.Load(x1 + p), v0, a10);
                a20 = TL.Fma(TL.Load(x2 + p), v0, a20);
                a30 = TL.Fma(TL.Load(x3 + p), v0, a30);
                p += l;
            }
            float s0 = TL.Sum(TL.Add(a00, a01)), s1 = TL.Sum(TL.Add(a10, a11)), s2 = TL.Sum(TL.Add(a20, a21)), s3 = TL.Sum(TL.Add(a30, a31));
            for (; p < k; p++)
            {
                float vp = v[p];
                s0 = MathF.FusedMultiplyAdd(x0[p], vp, s0);
                s1 = MathF.FusedMultiplyAdd(x1[p], vp, s1);
                s2 = MathF.FusedMultiplyAdd(x2[p], vp, s2);
                s3 = MathF.FusedMultiplyAdd(x3[p], vp, s3);
            }
            float* ci = c + i * ldc;
            ci[0] = Epilogue(s0, alpha, beta, ci);
            ci[ldc] = Epilogue(s1, alpha, beta, ci + ldc);
            ci[2 * ldc] = Epilogue(s2, alpha, beta, ci + 2 * ldc);
            ci[3 * ldc] = Epilogue(s3, alpha, beta, ci + 3 * ldc);
        }
        for (; i < i1; i++)
        {
            float* x0 = x + i * ldx;
            TV a00 = default, a01 = default;
            int p = 0;
            for (; p + l2 <= k; p += l2)
            {
                a00 = TL.Fma(TL.Load(x0 + p), TL.Load(v + p), a00);
                a01 = TL.Fma(TL.Load(x0 + p + l), TL.Load(v + p + l), a01);
            }
            if (p + l <= k)
            {
                a00 = TL.Fma(TL.Load(x0 + p), TL.Load(v + p), a00);
                p += l;
            }
            float s0 = TL.Sum(TL.Add(a00, a01));
            for (; p < k; p++) s0 = MathF.FusedMultiplyAdd(x0[p], v[p], s0);
            c[i * ldc] = Epilogue(s0, alpha, beta, c + i * ldc);
        }
    }

    /// <summary>
    /// Outputs j &lt; w: sum_j = Σ_{p &lt; kc} v[p·vs]·X[p·ldx + j] added in p order to the running sum (0 when
    /// <paramref name="first"/>, else acc[j]); when <paramref name="last"/> c[j] = α·sum_j + β·c[j] (β == 0: not read),
    /// else acc[j] = sum_j. Strips of 8, 4 and 1 vectors, then scalar columns: every output is one FMA chain.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowTimesMatrixKernel<TV, TL>(float* v, long vs, float* x, long ldx, int kc, int w,
        float* acc, bool first, bool last, float* c, float alpha, float beta) where TV : struct where TL : struct, ISkinnyLanes<TV>
    {
        int l = TL.Count;
        int j = 0;
        for (; j + 8 * l <= w; j += 8 * l)
        {
            TV c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            if (!first)
            {
                float* q = acc + j;
                c0 = TL.Load(q); c1 = TL.Load(q + l); c2 = TL.Load(q + 2 * l); c3 = TL.Load(q + 3 * l);
                c4 = TL.Load(q + 4 * l); c5 = TL.Load(q + 5 * l); c6 = TL.Load(q + 6 * l); c7 = TL.Load(q + 7 * l);
            }
            float* xp = x + j, vp = v;
            for (int p = 0; p < kc; p++, xp += ldx, vp += vs)
            {
                TV s = TL.Splat(*vp);
                c0 = TL.Fma(s, TL.Load(xp), c0); c1 = TL.Fma(s, TL.Load(xp + l), c1);
                c2 = TL.Fma(s, TL.Load(xp + 2 * l), c2); c3 = TL.Fma(s, TL.Load(xp + 3 * l), c3);
                c4 = TL.Fma(s, TL.Load(xp + 4 * l), c4); c5 = TL.Fma(s, TL.Load(xp + 5 * l), c5);
                c6 = TL.Fma(s, TL.Load(xp + 6 * l), c6); c7 = TL.Fma(s, TL.Load(xp + 7 * l), c7);
            }
            float* d = last ? c + j : acc + j;
            Finish<TV, TL>(c0, d, last, alpha, beta); Finish<TV, TL>(c1, d + l, last, alpha, beta);
            Finish<TV, TL>(c2, d + 2 * l, last, alpha, beta); Finish<TV, TL>(c3, d + 3 * l, last, alpha, beta);
            Finish<TV, TL>(c4, d + 4 * l, last, alpha, beta); Finish<TV, TL>(c5, d + 5 * l, last, alpha, beta);
            Finish<TV, TL>(c6, d + 6 * l, last, alpha, beta); Finish<TV, TL>(c7, d + 7 * l, last, alpha, beta);
        }
        for (; j + 4 * l <= w; j += 4 * l)
        {
            TV c0 = default, c1 = default, c2 = default, c3 = default;
            if (!first)
            {
                float* q = acc + j;
                c0 = TL.Load(q); c1 = TL.Load(q + l); c2 = TL.Load(q + 2 * l); c3 = TL.Load(q + 3 * l);
            }
            float* xp = x + j, vp = v;
            for (int p = 0; p < kc; p++, xp += ldx, vp += vs)
            {
                TV s = TL.Splat(*vp);
                c0 = TL.Fma(s, TL.Load(xp), c0); c1 = TL.Fma(s, TL.Load(xp + l), c1);
                c2 = TL.Fma(s, TL.Load(xp + 2 * l), c2); c3 = TL.Fma(s, TL.Load(xp + 3 * l), c3);
            }
            float* d = last ? c + j : acc + j;
            Finish<TV, TL>(c0, d, last, alpha, beta); Finish<TV, TL>(c1, d + l, last, alpha, beta);
            Finish<TV, TL>(c2, d + 2 * l, last, alpha, beta); Finish<TV, TL>(c3, d + 3 * l, last, alpha, beta);
        }
        for (; j + l <= w; j += l)
        {
            TV c0 = first ? default : TL.Load(acc + j);
            float* xp = x + j, vp = v;
            for (int p = 0; p < kc; p++, xp += ldx, vp += vs) c0 = TL.Fma(TL.Splat(*vp), TL.Load(xp), c0);
            Finish<TV, TL>(c0, last ? c + j : acc + j, last, alpha, beta);
        }
        for (; j < w; j++)
        {
            float s = first ? 0f : acc[j];
            float* xp = x + j, vp = v;
            for (int p = 0; p < kc; p++, xp += ldx, vp += vs) s = MathF.FusedMultiplyAdd(*vp, *xp, s);
            if (last) c[j] = Epilogue(s, alpha, beta, c + j);
            else acc[j] = s;
        }
    }

    /// <summary>The driver's epilogue on one vector of sums: c = α·sum (β == 0, C not read) or fma(sum, α, β·c); or the raw sums into acc.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TV, TL>(TV sum, float* d, bool last, float alpha, float beta) where TV : struct where TL : struct, ISkinnyLanes<TV>
    {
        if (!last) TL.Store(sum, d);
        else if (beta == 0f) TL.Store(TL.Mul(sum, TL.Splat(alpha)), d);
        else TL.Store(TL.Fma(sum, TL.Splat(alpha), TL.Mul(TL.Splat(beta), TL.Load(d))), d);
    }

    /// <summary>The driver's epilogue on one sum (as the packed path's edge tiles and the unpacked loop).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Epilogue(float sum, float alpha, float beta, float* c)
        => beta == 0f ? alpha * sum : MathF.FusedMultiplyAdd(sum, alpha, beta * *c);
}
