// Degenerate shapes of the CPU GEMM (MatMulKernels.GemmCpu), C(m×n) = α·op(A)·op(B) + β·C with m, n or k equal to 1:
//   n == 1:  c[i]    = α·Σ_p op(A)[i, p]·b[p] + β·c[i]        matrix × vector (GEMV)
//   m == 1:  c[j]    = α·Σ_p a[p]·op(B)[p, j] + β·c[j]        row vector × matrix
//   k == 1:  c[i, j] = α·a[i]·b[j] + β·c[i, j]                outer product (rank-1 update)
// (β == 0 never reads C.) The dense last layer of a discriminator (Linear 6272 → 1 at batch 64; DCGAN-64's 4×4 conv to
// one channel) runs one of each per use: its forward (n = 1), weight gradient (m = 1) and input gradient (k = 1). The
// packed path ran them at 1.5–3 GFLOP/s: its 8×32 tiles used 1/32 (n = 1) or 1/8 (m = 1) of every FMA, and it packed a
// whole operand for one output row or column. These products touch each operand element once (k == 1: each element of
// op(B) once per row of C, from L1), so they are memory-bound: here every output is computed straight from the operands,
// vectorised along whichever dimension is contiguous, with several independent accumulators, and nothing is packed
// unless op(B) comes from a gathering panel source (or is stored transposed for m == 1).
//
// Two kernels cover every orientation:
// - DotRowsKernel: c[i] = Σ_p X[i, p]·v[p], rows of X contiguous — n == 1 with A stored m×k (X = A, v = op(B)).
//   Four rows at a time share the loads of v.
// - RowTimesMatrixKernel: c[j] = Σ_p v[p·vs]·X[p, j], rows of X contiguous, vectorised along j in strips of 8, 4 and 1
//   vectors and a scalar tail — n == 1 with A stored k×m (X = A, v = op(B)); m == 1 (v = a, X = B when stored k×n,
//   else op(B) packed through the panel source a kc×w block at a time into an L1 buffer); k == 1 (once per row of C:
//   v = a[i], X = op(B), one row of n, contiguous in either orientation).
//
// Sum order, the same for any thread count and any panel source: DotRows sums a row's k terms lane-wise in two vector
// accumulators over blocks of 2L (L = 16 lanes with AVX-512, 8 with AVX2), a last full block of L into the first,
// adds the two, reduces the lanes (Vector.Sum), then FMAs the tail terms in p order. RowTimesMatrix runs one FMA chain
// per output in p order, starting from 0 (a vector lane, a scalar tail column and a chain carried across packed k
// blocks round identically). Both depend on k and the instruction set only, not on which rows or strips a thread takes,
// nor on whether op(B) was read in place or packed (a packed block holds op(B)'s exact values). Which kernel runs
// depends on m, n, k and transA only, so a gathering source and its dense equivalent give the same bits.
// Threads split the output, never k: rows for DotRows, (row of C, SegCols columns) items for RowTimesMatrix, in chunks
// of about CpuParallel.ChunkWork operand elements (one chunk, no hand-off, below that).
// Not done: splitting k (a GEMV with A stored k×m and few rows, or m == n == 1, runs on one thread; a fixed k split
// with an ordered combine would keep the bits); 2 ≤ n, m, k ≤ a few (the packed path; see the README figures).

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

/// <summary>The CPU GEMM for m, n or k equal to 1 (see the file header); reached through <see cref="MatMulKernels.GemmCpu{TB}"/>.</summary>
internal static unsafe class GemmSkinnyCpu
{
    private const int SegCols = 512;    // output columns per RowTimesMatrix work item
    private const int PackKc = 64;      // k rows of a packed op(B) block: 64 × 8 vectors = 32 KiB (AVX-512), in L1

    /// <summary>Whether <see cref="MatMulKernels.GemmCpu{TB}"/> hands these sizes to this path (with a SIMD micro-kernel family).</summary>
    internal static bool Takes(int m, int n, int k) => m == 1 || n == 1 || k == 1;

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
        if (n == 1 || k == 1)
        {
            // op(B) is one column (n == 1) or one row (k == 1): contiguous in either orientation; a gathering source
            // is materialised (k or n floats).
            float* vec = dense ? bd : (float*)NativeMemory.Alloc((nuint)(n == 1 ? k : n), sizeof(float));
            try
            {
                if (!dense) TB.Pack(in b, 0, k, 0, n, n, vec);
                if (n == 1 && !transA && k > 1)
                    DotRows<TV, TL>(cpu, m, k, a, vec, c, alpha, beta);              // rows of A · b
                else if (n == 1)
                    RowsTimesMatrix<TV, TL>(cpu, 1, m, k, vec, 0, 1, a, m, c, m, alpha, beta);   // bᵀ · A (k×m), one row of m outputs
                else
                    RowsTimesMatrix<TV, TL>(cpu, m, n, 1, a, 1, 1, vec, n, c, n, alpha, beta);   // row i: a[i] · b
            }
            finally
            {
                if (!dense) NativeMemory.Free(vec);
            }
            return;
        }
        // m == 1: a is a contiguous k-vector in either orientation.
        if (dense && !transB) RowsTimesMatrix<TV, TL>(cpu, 1, n, k, a, 0, 1, bd, n, c, n, alpha, beta);   // aᵀ · B (k×n) in place
        else RowTimesPackedB<TV, TL, TB>(cpu, n, k, a, b, c, alpha, beta);
    }

    // ------------------------------------------------------------------------------------ drivers (thread split)

    /// <summary>c[i] = α·Σ_p A[i, p]·v[p] + β·c[i] for i &lt; m, A (m, k) row-major: chunks of rows (multiples of 4).</summary>
    private static void DotRows<TV, TL>(CpuParallel cpu, int m, int k, float* x, float* v, float* c, float alpha, float beta)
        where TV : struct where TL : struct, ISkinnyLanes<TV>
    {
        int grain = (CpuParallel.Grain(k) + 3) & ~3;
        if (m <= grain)
        {
            DotRowsKernel<TV, TL>(x, k, v, k, 0, m, c, alpha, beta);
            return;
        }
        nint px = (nint)x, pv = (nint)v, pc = (nint)c;
        cpu.ForChunks(m, grain, (i0, i1) => DotRowsKernel<TV, TL>((float*)px, k, (float*)pv, k, i0, i1, (float*)pc, alpha, beta));
    }

    /// <summary>
    /// For each row r &lt; rows of C: c[r·ldc + j] = α·Σ_p v[r·vRow + p·vs]·X[p·ldx + j] + β·c[r·ldc + j], j &lt; cols.
    /// Work items are (row, SegCols columns).
    /// </summary>
    private static void RowsTimesMatrix<TV, TL>(CpuParallel cpu, int rows, int cols, int k, float* v, long vRow, long vs,
        float* x, long ldx, float* c, long ldc, float alpha, float beta) where TV : struct where TL : struct, ISkinnyLanes<TV>
    {
        int segs = (cols + SegCols - 1) / SegCols, items = rows * segs;
        int grain = CpuParallel.Grain((long)Math.Min(cols, SegCols) * (k + 1));   // operand reads + the C row
        nint pv = (nint)v, px = (nint)x, pc = (nint)c;
        void Items(int t0, int t1)
        {
            for (int t = t0; t < t1; t++)
            {
                int r = t / segs, j0 = (t - r * segs) * SegCols, w = Math.Min(SegCols, cols - j0);
                RowTimesMatrixKernel<TV, TL>((float*)pv + r * vRow, vs, (float*)px + j0, ldx, k, w, null, true, true,
                    (float*)pc + r * ldc + j0, alpha, beta);
            }
        }
        if (items <= grain) Items(0, items);
        else cpu.ForChunks(items, grain, Items);
    }

    /// <summary>
    /// m == 1 with op(B) not stored k×n (B transposed, or a gathering source): c[j] = α·Σ_p a[p]·op(B)[p, j] + β·c[j],
    /// op(B) packed per strip of 8 vectors, PackKc rows at a time, into a buffer on the stack; the strip's FMA chains
    /// carry across the blocks (in the accumulator buffer), so the order is that of the in-place kernel.
    /// </summary>
    private static void RowTimesPackedB<TV, TL, TB>(CpuParallel cpu, int n, int k, float* a, in TB b, float* c, float alpha, float beta)
        where TV : struct where TL : struct, ISkinnyLanes<TV> where TB : struct, ICpuPanelSourceB<TB>
    {
        int segs = (n + SegCols - 1) / SegCols;
        int grain = CpuParallel.Grain((long)Math.Min(n, SegCols) * 2 * k);   // op(B) read and packed
        var source = b;
        nint pa = (nint)a, pc = (nint)c;
        void Segments(int s0, int s1)
        {
            int sw = 8 * TL.Count;
            float* buf = stackalloc float[PackKc * 8 * 16];   // (PackKc, sw), sw ≤ 128
            float* acc = stackalloc float[8 * 16];
            for (int s = s0; s < s1; s++)
            {
                int end = Math.Min(n, (s + 1) * SegCols);
                for (int j = s * SegCols; j < end; j += sw)
                {
                    int w = Math.Min(sw, end - j);
                    for (int pc0 = 0; pc0 < k; pc0 += PackKc)
                    {
                        int kc = Math.Min(PackKc, k - pc0);
                        TB.Pack(in source, pc0, kc, j, w, w, buf);
                        RowTimesMatrixKernel<TV, TL>((float*)pa + pc0, 1, buf, w, kc, w, acc, pc0 == 0, pc0 + kc == k,
                            (float*)pc + j, alpha, beta);
                    }
                }
            }
        }
        if (segs <= grain) Segments(0, segs);
        else cpu.ForChunks(segs, grain, Segments);
    }

    // ------------------------------------------------------------------------------------ kernels

    /// <summary>
    /// c[i] = α·Σ_p X[i·ldx + p]·v[p] + β·c[i] for i in [i0, i1); the sum order of the file header (independent of i0, i1
    /// and of whether a row goes through the four-row loop or the one-row loop).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DotRowsKernel<TV, TL>(float* x, long ldx, float* v, int k, int i0, int i1, float* c, float alpha, float beta)
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
            c[i] = Epilogue(s0, alpha, beta, c + i);
            c[i + 1] = Epilogue(s1, alpha, beta, c + i + 1);
            c[i + 2] = Epilogue(s2, alpha, beta, c + i + 2);
            c[i + 3] = Epilogue(s3, alpha, beta, c + i + 3);
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
            c[i] = Epilogue(s0, alpha, beta, c + i);
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
