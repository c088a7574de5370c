// The convolution family: Conv2d, ConvTranspose2d and the conv weight gradient, NCHW, any kernel
// size, stride, padding and dilation, with an optional per-channel bias.
//
// Math, in conv orientation (input X (N, Cin, H, W), weight W (Cout, Cin, kH, kW), output Y):
//   Y[n, co, oh, ow] = b[co] + Σ_{ci, i, j} W[co, ci, i, j] · X[n, ci, oh·s − p + i·d, ow·s − p + j·d]
//   Ho = (H + 2p − d(kH − 1) − 1)/s + 1   (terms outside X are zero padding)
// Three kernels, and every derivative rule is one of them again (STYLE 5-6):
//   forward          Y  = Conv(X, W)                          — GEMM  W · col    (col gathered, never stored)
//   input gradient   dX = Convᵀ(G, W)  == ConvTranspose2d fwd — GEMM Wᵀ · G + col2im
//   weight gradient  dW = WGrad(X, G)                         — GEMM  G · colᵀ   (col gathered, never stored)
// ConvTranspose2d(x, W) with PyTorch's weight layout (Cin_T, Cout_T, kH, kW) is exactly Convᵀ with
// the conv weight (Cout = Cin_T, Cin = Cout_T), so it runs the input-gradient kernel, and its
// rules are Conv (for x) and WGrad(g, x) (for W). WGrad is bilinear: ⟨WGrad(X, G), V⟩ = ⟨Conv(X, V), G⟩,
// so for an upstream ggW its rule is d/dX = Convᵀ(G, ggW), d/dG = Conv(X, ggW). That closes the
// family under differentiation: every order of derivative exists (WGAN-GP needs the second).
//
// Lowering (both kernel sets): samples are processed in groups of gs. The column matrix of a group
// is col (Cin·kH·kW, gs·Ho·Wo): one big GEMM per group instead of one per sample, because the deep
// DCGAN layers have Ho·Wo = 16..64 — per-sample GEMMs there would be thin (n = 16) and repack the
// whole weight per sample. A group's GEMM output is channel-major (Cout, gs, Ho·Wo), so it is
// permuted into NCHW (with the bias add fused); with gs = 1 (large images) the GEMM writes straight
// into the output and the permute disappears, and a 1×1/stride-1/unpadded conv skips im2col too.
// A dense conv (kernel = the whole unpadded input, 1×1 output: DCGAN's first/last layers) is a
// plain matrix product on both kernel sets — X is (N, Cin·kH·kW) — so all three kernels are one GEMM
// (plus a bias kernel on ILGPU when there is a bias).
// gs is chosen from the shapes only (a column target and a workspace budget), so sums — the weight
// gradient accumulates groups in sample order with beta = 1 — have an order fixed by the shapes.
// The CPU set's target is cache-sized (4096 columns); the ILGPU set's default is the whole batch
// (GpuKernelOptions.Conv). On the CPU set the budget bounds what a group materialises: col where there is
// one (GroupSize), else the permute buffer and patch tables (PatchGroupSize), and the batch is cut into
// equal groups.
// On ILGPU all three are implicit GEMMs over the whole batch (no grouping, no columns): the forward's
// tile loader gathers im2col(X) from NCHW (zero in the padding) and its epilogue stores Y in NCHW with
// the bias; the weight gradient reads dY in NCHW as (Cout, N·Ho·Wo) and gathers the columns from X
// (MatMulKernels.ConvForwardIlgpu / ConvWeightGradIlgpu). The input gradient gathers dY per sub-pixel
// class, (h + p) mod s per axis, each class a dense GEMM over its own taps only, all classes in one
// launch, storing dX (+ bias) in NCHW (MatMulKernels.ConvInputGradIlgpu: no col2im). Each is one launch,
// split over k or not (fixed chunks, combined in split order inside the launch).
// On the SIMD set the forward and the weight gradient are implicit GEMMs too: the CPU GEMM reads op(B) through a
// panel source (MatMulKernels.GemmCpu<TB>), and the conv patch sources (ConvPatchB, ConvPatchBT) pack col / colᵀ
// micro-panels straight from X with offset tables and bounds masks (section "implicit GEMM" below). They pack the
// values im2col would have written into the panels the dense packing would have made, with the same groups and
// blocking, so the results are bit-identical to im2col + GEMM, which stays as the reference lowering
// (ConvLoweringOptions.Im2Col; the bit-equality tests and the benchmarks compare the two).
// col2im (SIMD set) is a gather: each (sample, channel) plane is owned by one thread, which adds the kernel
// taps (i, j) in a fixed order; no atomics, bit-identical for any thread count. (The host kernel
// walks taps outermost over a block of samples of one channel, so col is read row by row.)
// Few input channels (Ckk = Cin·kH·kW ≤ 64: the RGB/grey first layer, and the last layer of a generator in conv
// orientation) take the direct host kernels of ConvFewChannels.cs instead (ConvLoweringOptions.GemmOnly: the GEMM here).
// Opt-in (ConvLoweringOptions.Winograd): k4 s2 p1 forwards and input gradients as Winograd F(4×4, 2×2), ConvWinograd.cs.
// Workspaces (col, permuted operands) are rented from the device pool and returned at once, so
// steady-state training allocates nothing.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors.Kernels;
using GpuGan.Tensors.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>Geometry of one convolution in conv orientation: X (N, Cin, H, W) → Y (N, Cout, Ho, Wo).</summary>
internal readonly record struct ConvGeometry(int N, int Cin, int H, int W, int Cout, int KH, int KW, int Ho, int Wo, int Stride, int Pad, int Dil)
{
    public int P => Ho * Wo;                 // output pixels per sample
    public int HW => H * W;                  // input pixels per sample
    public int Ckk => Cin * KH * KW;         // rows of the column matrix
    public bool Pointwise => KH == 1 && KW == 1 && Stride == 1 && Pad == 0;
    /// <summary>The kernel covers the whole unpadded input (1×1 output): col is X itself, seen as (N, Ckk).</summary>
    public bool Dense => Ho == 1 && Wo == 1 && KH == H && KW == W && Pad == 0 && Dil == 1;
    public Shape InputShape => new(N, Cin, H, W);
    public Shape OutputShape => new(N, Cout, Ho, Wo);
    public Shape WeightShape => new(Cout, Cin, KH, KW);

    /// <summary>2·MACs of one forward (also of each of the two gradients).</summary>
    public double Flops => 2.0 * N * Cout * P * Ckk;

    public static int OutputSize(int size, int k, int s, int p, int d) => (size + 2 * p - d * (k - 1) - 1) / s + 1;
}

internal static partial class ConvKernels
{
    // ============================================================ float64 reference

    /// <summary>Direct 7-loop convolution. x (N, Cin, H, W), w (Cout, Cin, kH, kW), b (Cout) or null.</summary>
    public static double[] Conv2dReference(double[] x, double[] w, double[]? b, ConvGeometry g)
    {
        var y = new double[g.N * g.Cout * g.P];
        for (int n = 0; n < g.N; n++)
        for (int co = 0; co < g.Cout; co++)
        for (int oh = 0; oh < g.Ho; oh++)
        for (int ow = 0; ow < g.Wo; ow++)
        {
            double s = b is null ? 0 : b[co];
            for (int ci = 0; ci < g.Cin; ci++)
            for (int i = 0; i < g.KH; i++)
            for (int j = 0; j < g.KW; j++)
            {
                int ih = oh * g.Stride - g.Pad + i * g.Dil, iw = ow * g.Stride - g.Pad + j * g.Dil;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                s += w[((co * g.Cin + ci) * g.KH + i) * g.KW + j] * x[((n * g.Cin + ci) * g.H + ih) * g.W + iw];
            }
            y[((n * g.Cout + co) * g.Ho + oh) * g.Wo + ow] = s;
        }
        return y;
    }

    /// <summary>
    /// The adjoint of <see cref="Conv2dReference"/> as a scatter: gy (N, Cout, Ho, Wo) → (N, Cin, H, W),
    /// plus b (Cin) or null. This is ConvTranspose2d with weight (Cout, Cin, kH, kW) = PyTorch's (Cin_T, Cout_T, kH, kW).
    /// </summary>
    public static double[] ConvTranspose2dReference(double[] gy, double[] w, double[]? b, ConvGeometry g)
    {
        var x = new double[g.N * g.Cin * g.HW];
        for (int n = 0; n < g.N; n++)
        for (int ci = 0; ci < g.Cin; ci++)
        for (int k = 0; k < g.HW; k++)
            x[(n * g.Cin + ci) * g.HW + k] = b is null ? 0 : b[ci];
        for (int n = 0; n < g.N; n++)
        for (int co = 0; co < g.Cout; co++)
        for (int oh = 0; oh < g.Ho; oh++)
        for (int ow = 0; ow < g.Wo; ow++)
        {
            double v = gy[((n * g.Cout + co) * g.Ho + oh) * g.Wo + ow];
            for (int ci = 0; ci < g.Cin; ci++)
            for (int i = 0; i < g.KH; i++)
            for (int j = 0; j < g.KW; j++)
            {
                int ih = oh * g.Stride - g.Pad + i * g.Dil, iw = ow * g.Stride - g.Pad + j * g.Dil;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                x[((n * g.Cin + ci) * g.H + ih) * g.W + iw] += w[((co * g.Cin + ci) * g.KH + i) * g.KW + j] * v;
            }
        }
        return x;
    }

    /// <summary>dW[co, ci, i, j] = Σ_{n, oh, ow} gy[n, co, oh, ow] · x[n, ci, ih, iw].</summary>
    public static double[] Conv2dWeightGradReference(double[] x, double[] gy, ConvGeometry g)
    {
        var dw = new double[g.Cout * g.Ckk];
        for (int co = 0; co < g.Cout; co++)
        for (int ci = 0; ci < g.Cin; ci++)
        for (int i = 0; i < g.KH; i++)
        for (int j = 0; j < g.KW; j++)
        {
            double s = 0;
            for (int n = 0; n < g.N; n++)
            for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++)
            {
                int ih = oh * g.Stride - g.Pad + i * g.Dil, iw = ow * g.Stride - g.Pad + j * g.Dil;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                s += gy[((n * g.Cout + co) * g.Ho + oh) * g.Wo + ow] * x[((n * g.Cin + ci) * g.H + ih) * g.W + iw];
            }
            dw[((co * g.Cin + ci) * g.KH + i) * g.KW + j] = s;
        }
        return dw;
    }

    /// <summary>
    /// The bias gradient Σ_{n, pixels} u per channel, u (N, C, P) flat: with the adjoint pair above, the float64 VJPs of
    /// the family are Conv2d: (Convᵀ(u, W), WGrad(X, u), Σu); ConvTranspose2d: (Conv(u, W), WGrad(u, Y), Σu);
    /// Conv2dWeightGrad for upstream V: (Convᵀ(G, V), Conv(X, V)).
    /// </summary>
    public static double[] BiasGradReference(double[] u, int n, int channels, int pixels)
    {
        var db = new double[channels];
        for (int s = 0; s < n; s++)
        for (int c = 0; c < channels; c++)
        for (int k = 0; k < pixels; k++)
            db[c] += u[((long)s * channels + c) * pixels + k];
        return db;
    }

    // ============================================================ ILGPU kernels

    /// <summary>y[n, c, pix] += bias[c] over (N, C, P), in place (the bias of a dense convolution).</summary>
    [GpuKernel]
    public static void AddBiasKernel(Index1D idx, ArrayView<float> y, ArrayView<float> bias, int c, int p)
        => y[idx] = y[idx] + bias[(idx / p) % c];

    // ============================================================ CPU SIMD kernels

    /// <summary>Writes col (Ckk, gs·P) for samples [n0, n0 + gs) of x (N, Cin, H, W).</summary>
    public static unsafe void Im2ColCpu(CpuParallel cpu, float* x, float* col, in ConvGeometry g, int n0, int gs)
    {
        var geo = g;
        int cols = gs * g.P, rows = g.Ckk;
        // Chunks of whole rows, about 32K floats each; writes are disjoint, so any split is deterministic.
        int rowsPerChunk = CpuParallel.Grain(cols);
        nint xp = (nint)x, cp = (nint)col;
        int taps = g.KH * g.KW, pix = g.P;
        if (g.Wo < 32 && taps * pix <= 4096 && Avx2.IsSupported)
        {
            // Short output rows (the deep layers: Wo = 4..16) made the row-segment loop below pay
            // its bookkeeping every few floats. Instead, a tap (i, j) reads the same in-plane
            // offsets for every channel and sample, so tabulate them once and gather P floats per
            // (row, sample); padding taps are masked to zero.
            // On the stack (≤ 32 KiB): the parallel loop below completes before this frame returns.
            int* offsets = stackalloc int[taps * pix];
            float* masks = stackalloc float[taps * pix];
            for (int t = 0; t < taps; t++)
            for (int q = 0; q < pix; q++)
            {
                int ih = q / g.Wo * g.Stride - g.Pad + t / g.KW * g.Dil, iw = q % g.Wo * g.Stride - g.Pad + t % g.KW * g.Dil;
                bool inside = (uint)ih < (uint)g.H && (uint)iw < (uint)g.W;
                offsets[t * pix + q] = inside ? ih * g.W + iw : 0;
                masks[t * pix + q] = inside ? -0f : 0f; // sign bit selects the lane
            }
            nint op = (nint)offsets, mp = (nint)masks;
            cpu.ForChunks(rows, rowsPerChunk, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    int t = r % taps, c = r / taps;
                    Im2ColGatherRow((float*)xp + ((long)n0 * geo.Cin + c) * geo.HW, (long)geo.Cin * geo.HW,
                        (float*)cp + (long)r * cols, (int*)op + t * pix, (float*)mp + t * pix, pix, gs);
                }
            });
            return;
        }
        cpu.ForChunks(rows, rowsPerChunk, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
                Im2ColRow((float*)xp, (float*)cp + (long)r * cols, geo, r, n0, gs);
        });
    }

    /// <summary>dst[s·P + q] = plane_s[off[q]] where mask[q] has its sign bit, else 0, for gs planes planeStride apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Im2ColGatherRow(float* plane, long planeStride, float* dst, int* off, float* mask, int pix, int gs)
    {
        for (int s = 0; s < gs; s++, plane += planeStride, dst += pix)
        {
            int q = 0;
            for (; q <= pix - 8; q += 8)
                Avx2.GatherMaskVector256(Vector256<float>.Zero, plane, Avx.LoadVector256(off + q), Avx.LoadVector256(mask + q), 4).Store(dst + q);
            for (; q < pix; q++) dst[q] = float.IsNegative(mask[q]) ? plane[off[q]] : 0f;
        }
    }

    private static readonly Vector512<int> SpreadLo = Vector512.Create(0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    private static readonly Vector512<int> SpreadHi = Vector512.Create(8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15, 16);
    private static readonly Vector512<int> EvenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);

    /// <summary>Row r of the column matrix for samples [n0, n0 + gs): gs·Ho·Wo floats.</summary>
    private static unsafe void Im2ColRow(float* x, float* dst, in ConvGeometry g, int r, int n0, int gs)
    {
        int j = r % g.KW, t = r / g.KW, i = t % g.KH, c = t / g.KH;
        for (int s = 0; s < gs; s++)
            Im2ColRows(x + ((long)(n0 + s) * g.Cin + c) * g.HW, dst + (long)s * g.P, g, i, j, 0, g.Ho);
    }

    /// <summary>
    /// dst[(oh − oh0)·Wo + ow] = plane[oh·S − p + i·D, ow·S − p + j·D] (0 outside) for oh in [oh0, oh1): tap (i, j) of one
    /// plane over a band of output rows (the im2col row walk, and the few-channel kernels' bands).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Im2ColRows(float* plane, float* dst, in ConvGeometry g, int i, int j, int oh0, int oh1)
    {
        int off = j * g.Dil - g.Pad;
        var (lo, hi) = ValidRange(g.W, g.Wo, off, g.Stride);
        int len = hi - lo;
        bool vec2 = g.Stride == 2 && Avx512F.IsSupported;
        for (int oh = oh0; oh < oh1; oh++, dst += g.Wo)
        {
            int ih = oh * g.Stride - g.Pad + i * g.Dil;
            if ((uint)ih >= (uint)g.H || len <= 0)
            {
                new Span<float>(dst, g.Wo).Clear();
                continue;
            }
            for (int k0 = 0; k0 < lo; k0++) dst[k0] = 0f;
            float* src = plane + (long)ih * g.W + lo * g.Stride + off;
            float* d = dst + lo;
            int k = 0;
            if (g.Stride == 1)
            {
                Buffer.MemoryCopy(src, d, len * sizeof(float), len * sizeof(float));
                k = len;
            }
            else if (vec2)
            {
                // 16 outputs at a time: the even lanes of the 2·n − 1 floats they span (masked loads: nothing past the last
                // tap is read, so no plane-end check), stored under a mask for a short last block.
                for (; k < len; k += 16)
                {
                    int n = Math.Min(16, len - k), span = 2 * n - 1;
                    float* s0 = src + 2 * k;
                    var first = Avx512F.MaskLoad(s0, LaneMask(span), Vector512<float>.Zero);
                    var second = span > 16 ? Avx512F.MaskLoad(s0 + 16, LaneMask(span - 16), Vector512<float>.Zero) : Vector512<float>.Zero;
                    StoreTail(d + k, Avx512F.PermuteVar16x32x2(first, EvenLanes, second), n);
                }
            }
            for (; k < len; k++) d[k] = src[(long)k * g.Stride];
            for (int k1 = hi; k1 < g.Wo; k1++) dst[k1] = 0f;
        }
    }

    /// <summary>Output positions [lo, hi) whose tap lands inside [0, size): 0 ≤ o·s + off &lt; size.</summary>
    private static (int Lo, int Hi) ValidRange(int size, int outSize, int off, int s)
    {
        int lo = off >= 0 ? 0 : (-off + s - 1) / s;
        int hi = size - 1 - off < 0 ? 0 : Math.Min(outSize, (size - 1 - off) / s + 1);
        return (Math.Min(lo, outSize), hi);
    }

    // ------------------------------------------------------------ implicit GEMM (patch sources)
    //
    // The column matrix is never written: the GEMM's B packing reads the patches from x itself.
    // col[r, j] = x[base_j + off_r] when the tap lands inside the image, else 0, with
    //   column j = (s, oh, ow):  base_j = s·Cin·H·W + (oh·S − p)·W + (ow·S − p),  h_j = oh·S − p,  w_j = ow·S − p
    //   row    r = (c, i, jw):  off_r  = c·H·W + i·D·W + jw·D,                  h_r = i·D,       w_r = jw·D
    //   inside ⇔ (uint)(h_j + h_r) < H  and  (uint)(w_j + w_r) < W.
    // Both tables are built once per call (the column table is the same for every group; only x's base moves) and
    // padded to a multiple of 32 entries with h = −2^30, which is outside for any partner: packed columns past n
    // come out as the zeros the dense PackB writes there. Each packed value is the im2col value itself (a load or
    // +0), placed where the dense PackB would place it, so the GEMM's sums — and C — are bit-identical.
    // Forward: op(B) = col (k = rows r, n = columns j); a panel row is 8-lane masked gathers along j.
    // Weight gradient: op(B) = colᵀ (k = columns j, n = rows r); a panel row gathers along r.

    /// <summary>Entries of one patch table (columns or rows), padded for whole 32-wide panels.</summary>
    private static int PatchTableLength(int entries) => (entries + 31) & ~31;

    /// <summary>Floats of workspace for the three column tables and the three row tables of a group of gs samples.</summary>
    internal static long PatchTableFloats(in ConvGeometry g, int gs) => 3L * PatchTableLength(gs * g.P) + 3L * PatchTableLength(g.Ckk);

    /// <summary>Whether every patch index of a group fits the gathers' int32 lanes (else the im2col path runs).</summary>
    internal static bool PatchIndicesFit(in ConvGeometry g, int gs) => (long)(gs + 1) * g.Cin * g.HW < int.MaxValue && (long)gs * g.P < int.MaxValue / 4;

    private const int OutsideImage = -(1 << 30);

    /// <summary>Fills the patch tables of a group of gs samples into t (<see cref="PatchTableFloats"/> ints).</summary>
    internal static unsafe PatchTables BuildPatchTables(in ConvGeometry g, int gs, int* t)
    {
        int cols = PatchTableLength(gs * g.P), rows = PatchTableLength(g.Ckk);
        var pt = new PatchTables(t, t + cols, t + 2 * cols, t + 3 * cols, t + 3 * cols + rows, t + 3 * cols + 2 * rows, g.H, g.W);
        int j = 0;
        for (int s = 0; s < gs; s++)
        for (int oh = 0; oh < g.Ho; oh++)
        for (int ow = 0; ow < g.Wo; ow++, j++)
        {
            int h = oh * g.Stride - g.Pad, w = ow * g.Stride - g.Pad;
            pt.ColBase[j] = s * g.Cin * g.HW + h * g.W + w;
            pt.ColH[j] = h;
            pt.ColW[j] = w;
        }
        for (; j < cols; j++) (pt.ColBase[j], pt.ColH[j], pt.ColW[j]) = (0, OutsideImage, OutsideImage);
        int r = 0;
        for (int c = 0; c < g.Cin; c++)
        for (int i = 0; i < g.KH; i++)
        for (int jw = 0; jw < g.KW; jw++, r++)
        {
            pt.RowOff[r] = c * g.HW + i * g.Dil * g.W + jw * g.Dil;
            pt.RowH[r] = i * g.Dil;
            pt.RowW[r] = jw * g.Dil;
        }
        for (; r < rows; r++) (pt.RowOff[r], pt.RowH[r], pt.RowW[r]) = (0, OutsideImage, OutsideImage);
        return pt;
    }

    /// <summary>The column (pixel) and row (tap) tables of an implicit conv GEMM; see the section comment.</summary>
    internal readonly unsafe struct PatchTables(int* colBase, int* colH, int* colW, int* rowOff, int* rowH, int* rowW, int h, int w)
    {
        public readonly int* ColBase = colBase, ColH = colH, ColW = colW, RowOff = rowOff, RowH = rowH, RowW = rowW;
        public readonly int H = h, W = w;
    }

    /// <summary>
    /// 8 values x[base + idx[q]] where (uint)(hb + hv[q]) &lt; H and (uint)(wb + wv[q]) &lt; W, else +0 — one scalar entry
    /// (base, hb, wb) of one table against 8 vector entries of the other.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> GatherPatch8(float* x, int b, int hb, int wb, int* idx, int* hv, int* wv, Vector256<uint> vh, Vector256<uint> vw)
    {
        var ih = (Vector256.Load(hv) + Vector256.Create(hb)).AsUInt32();
        var iw = (Vector256.Load(wv) + Vector256.Create(wb)).AsUInt32();
        var inside = (Vector256.LessThan(ih, vh) & Vector256.LessThan(iw, vw)).AsSingle();
        return Avx2.GatherMaskVector256(Vector256<float>.Zero, x, Vector256.Load(idx) + Vector256.Create(b), inside, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float PatchValue(float* x, in PatchTables t, int j, int r)
        => (uint)(t.ColH[j] + t.RowH[r]) < (uint)t.H && (uint)(t.ColW[j] + t.RowW[r]) < (uint)t.W ? x[t.ColBase[j] + t.RowOff[r]] : 0f;

    /// <summary>
    /// Forward B = col (Ckk, n), n = cnt·P columns of a group of cnt samples, gathered from x (the group's first
    /// sample at x). Columns past n are packed as zeros without reading: in a partial last group the column table
    /// still describes whole groups, and those entries point past the end of x.
    /// </summary>
    internal readonly unsafe struct ConvPatchB(float* x, PatchTables tables, int n) : ICpuPanelSourceB<ConvPatchB>
    {
        private readonly float* _x = x;
        private readonly PatchTables _t = tables;
        private readonly int _n = n;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Pack(in ConvPatchB s, int pc, int kc, int jc, int nc, int nr, float* dst)
        {
            var t = s._t;
            float* x = s._x;
            var vh = Vector256.Create((uint)t.H);
            var vw = Vector256.Create((uint)t.W);
            bool vec = Avx2.IsSupported;
            for (int jr = 0; jr < nc; jr += nr)
            {
                float* d = dst + (long)jr * kc;
                int j0 = jc + jr, valid = Math.Min(nr, s._n - j0);
                for (int p = 0; p < kc; p++, d += nr)
                {
                    int r = pc + p, off = t.RowOff[r], hr = t.RowH[r], wr = t.RowW[r];
                    int q = 0;
                    if (vec)
                        for (; q + 8 <= valid; q += 8)
                            GatherPatch8(x, off, hr, wr, t.ColBase + j0 + q, t.ColH + j0 + q, t.ColW + j0 + q, vh, vw).Store(d + q);
                    for (; q < valid; q++) d[q] = PatchValue(x, t, j0 + q, r);
                    for (; q < nr; q++) d[q] = 0f;
                }
            }
        }

        public static bool GathersB => true;

    }

    /// <summary>
    /// op(B) = the channel-major (C, cnt·P) view of cnt samples of an (N, C, P) tensor, read in place:
    /// B[c, s·P + q] = src[(s·C + c)·P + q], src at the group's first sample — the matrix <see cref="NcpToCnpCpu"/> would
    /// write, without writing it. A packed panel row is a few contiguous runs (one per sample its nr columns cross), so
    /// each value lands where the dense PackB puts it: C is bit-identical to the permute-then-GEMM path.
    /// </summary>
    internal readonly unsafe struct NcpChannelsB(float* src, int channels, int pixels, int n) : ICpuPanelSourceB<NcpChannelsB>
    {
        private readonly float* _src = src;
        private readonly int _c = channels, _p = pixels, _n = n;

        public static void Pack(in NcpChannelsB s, int pc, int kc, int jc, int nc, int nr, float* dst)
        {
            long sampleStride = (long)s._c * s._p;
            // A panel's columns split into runs at sample boundaries; the runs are the same for every row.
            int* runStart = stackalloc int[nr];
            long* runSource = stackalloc long[nr];
            int* runLength = stackalloc int[nr];
            for (int jr = 0; jr < nc; jr += nr)
            {
                float* d = dst + (long)jr * kc;
                int j0 = jc + jr, valid = Math.Min(nr, s._n - j0), runs = 0;
                for (int q = 0; q < valid; runs++)
                {
                    int j = j0 + q, sample = j / s._p, offset = j - sample * s._p, len = Math.Min(valid - q, s._p - offset);
                    (runStart[runs], runSource[runs], runLength[runs]) = (q, sample * sampleStride + offset, len);
                    q += len;
                }
                for (int row = 0; row < kc; row++, d += nr)
                {
                    float* channel = s._src + (long)(pc + row) * s._p;
                    for (int r = 0; r < runs; r++)
                        Buffer.MemoryCopy(channel + runSource[r], d + runStart[r], runLength[r] * sizeof(float), runLength[r] * sizeof(float));
                    for (int q = Math.Max(valid, 0); q < nr; q++) d[q] = 0f;
                }
            }
        }

    }

    /// <summary>Weight-gradient op(B) = colᵀ (gs·P, Ckk), gathered from x (the group's first sample at X).</summary>
    internal readonly unsafe struct ConvPatchBT(float* x, PatchTables tables) : ICpuPanelSourceB<ConvPatchBT>
    {
        private readonly float* _x = x;
        private readonly PatchTables _t = tables;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Pack(in ConvPatchBT s, int pc, int kc, int jc, int nc, int nr, float* dst)
        {
            var t = s._t;
            float* x = s._x;
            var vh = Vector256.Create((uint)t.H);
            var vw = Vector256.Create((uint)t.W);
            bool vec = Avx2.IsSupported;
            for (int jr = 0; jr < nc; jr += nr)
            {
                float* d = dst + (long)jr * kc;
                int r0 = jc + jr;
                for (int p = 0; p < kc; p++, d += nr)
                {
                    int j = pc + p, b = t.ColBase[j], hj = t.ColH[j], wj = t.ColW[j];
                    int q = 0;
                    if (vec)
                        for (; q + 8 <= nr; q += 8)
                            GatherPatch8(x, b, hj, wj, t.RowOff + r0 + q, t.RowH + r0 + q, t.RowW + r0 + q, vh, vw).Store(d + q);
                    for (; q < nr; q++) d[q] = PatchValue(x, t, j, r0 + q);
                }
            }
        }

        public static bool GathersB => true;

    }

    /// <summary>
    /// x[n0 + s, c] = bias[c] + Σ_{i, j} taps of col (Ckk, gs·P). A work item owns the planes of one
    /// channel for a block of samples and adds the taps in (i, j) order — deterministic for any
    /// thread count. Taps are the outer loop so each col row is read as one sequential run: col is
    /// usually far larger than the caches, and reading it plane by plane (16 rows, one cache line
    /// from each) made col2im latency-bound, costing as much as the GEMM on the deep layers.
    /// Small planes with short output rows take <see cref="Col2ImGatherCpu"/> instead (same bits).
    /// </summary>
    public static unsafe void Col2ImCpu(CpuParallel cpu, float* col, float* x, float* bias, in ConvGeometry g, int n0, int gs)
    {
        int kk = g.KH * g.KW;
        if (g.Wo < 16 && Avx2.IsSupported && (long)kk * gs * g.P <= int.MaxValue / 2 && (long)TapsPerPixelBound(g) * g.HW <= 4096)
        {
            Col2ImGatherCpu(cpu, col, x, bias, g, n0, gs);
            return;
        }
        Col2ImRowsCpu(cpu, col, x, bias, g, n0, gs);
    }

    /// <summary>The row walk of <see cref="Col2ImCpu"/> (any shape; internal so tests can set the gather path beside it).</summary>
    internal static unsafe void Col2ImRowsCpu(CpuParallel cpu, float* col, float* x, float* bias, in ConvGeometry g, int n0, int gs)
    {
        var geo = g;
        int kk = g.KH * g.KW;
        int samplesPerItem = Math.Clamp((1 << 14) / Math.Max(1, kk * g.P), 1, Math.Max(1, gs));
        int blocks = (gs + samplesPerItem - 1) / samplesPerItem;
        nint cp = (nint)col, xp = (nint)x, bp = (nint)bias;
        cpu.ForEach(g.Cin * blocks, item =>
        {
            int c = item / blocks, s0 = item % blocks * samplesPerItem, s1 = Math.Min(gs, s0 + samplesPerItem);
            float* planes = (float*)xp + ((long)n0 * geo.Cin + c) * geo.HW;
            long planeStride = (long)geo.Cin * geo.HW;
            float init = bp == 0 ? 0f : ((float*)bp)[c];
            for (int s = s0; s < s1; s++) new Span<float>(planes + s * planeStride, geo.HW).Fill(init);
            long cols = (long)gs * geo.P;
            for (int i = 0; i < geo.KH; i++)
            for (int j = 0; j < geo.KW; j++)
            {
                float* row = (float*)cp + ((long)(c * geo.KH + i) * geo.KW + j) * cols;
                for (int s = s0; s < s1; s++)
                    Col2ImTap(row + (long)s * geo.P, planes + s * planeStride, geo, i, j);
            }
        });
    }

    /// <summary>
    /// A bound on the (tap, output pixel) pairs that land on one input pixel: along one axis the taps i
    /// hitting a pixel satisfy i·d ≡ const (mod s), one every s / gcd(s, d) taps.
    /// </summary>
    internal static int TapsPerPixelBound(in ConvGeometry g)
    {
        int period = g.Stride / Gcd(g.Stride, g.Dil);
        return ((g.KH + period - 1) / period) * ((g.KW + period - 1) / period);
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    /// <summary>
    /// Col2im for small planes with short output rows (the 7×7 and 14×14 layers of the 28-pixel
    /// models: Wo = 7 left the row walk's stride-2 vector loop unused, so every tap was a scalar
    /// read-modify-write of a few floats). Here each input pixel gathers its own taps: a table lists,
    /// for every pixel q and its m-th contribution, the col offset (tap row · cols + output pixel), in
    /// increasing tap order, so each pixel is init + its taps in (i, j) order — the row walk's sums,
    /// bit for bit. Missing contributions (borders) gather −0, the exact additive identity (x + −0 = x
    /// for every x, signed zeros included). Work items own (channel, sample block) planes as in the
    /// row walk; writes are disjoint, so any thread count gives the same bits.
    /// </summary>
    internal static unsafe void Col2ImGatherCpu(CpuParallel cpu, float* col, float* x, float* bias, in ConvGeometry g, int n0, int gs)
    {
        var geo = g;
        int kk = g.KH * g.KW, hw = g.HW, cols = gs * g.P, bound = TapsPerPixelBound(g);
        // On the stack (bound · HW ≤ 4096 entries, 32 KiB): the parallel loop below completes before this frame returns.
        int* offsets = stackalloc int[bound * hw];
        float* masks = stackalloc float[bound * hw];
        int* filled = stackalloc int[hw];
        new Span<int>(filled, hw).Clear();
        new Span<int>(offsets, bound * hw).Clear();
        new Span<float>(masks, bound * hw).Clear();
        int most = 0;
        for (int i = 0; i < g.KH; i++)
        for (int j = 0; j < g.KW; j++)
        for (int oh = 0; oh < g.Ho; oh++)
        for (int ow = 0; ow < g.Wo; ow++)
        {
            int ih = oh * g.Stride - g.Pad + i * g.Dil, iw = ow * g.Stride - g.Pad + j * g.Dil;
            if ((uint)ih >= (uint)g.H || (uint)iw >= (uint)g.W) continue;
            int q = ih * g.W + iw, m = filled[q]++;
            offsets[m * hw + q] = (i * g.KW + j) * cols + oh * g.Wo + ow;
            masks[m * hw + q] = -0f; // sign bit selects the lane
            most = Math.Max(most, m + 1);
        }
        int samplesPerItem = Math.Clamp((1 << 14) / Math.Max(1, kk * g.P), 1, Math.Max(1, gs));
        int blocks = (gs + samplesPerItem - 1) / samplesPerItem;
        nint cp = (nint)col, xp = (nint)x, bp = (nint)bias, op = (nint)offsets, mp = (nint)masks;
        cpu.ForEach(g.Cin * blocks, item =>
        {
            int c = item / blocks, s0 = item % blocks * samplesPerItem, s1 = Math.Min(gs, s0 + samplesPerItem);
            float init = bp == 0 ? 0f : ((float*)bp)[c];
            long planeStride = (long)geo.Cin * geo.HW;
            for (int s = s0; s < s1; s++)
                Col2ImGatherPlane((float*)cp + (long)c * kk * cols + (long)s * geo.P, (float*)xp + ((long)(n0 + s) * geo.Cin + c) * geo.HW,
                    (int*)op, (float*)mp, hw, most, init);
        });
    }

    /// <summary>plane[q] = init + Σ_m src[off[m·hw + q]] over the contributions whose mask has its sign bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Col2ImGatherPlane(float* src, float* plane, int* off, float* mask, int hw, int most, float init)
    {
        var none = Vector256.Create(-0f);
        int q = 0;
        for (; q <= hw - 8; q += 8)
        {
            var acc = Vector256.Create(init);
            for (int m = 0; m < most; m++)
                acc += Avx2.GatherMaskVector256(none, src, Avx.LoadVector256(off + m * hw + q), Avx.LoadVector256(mask + m * hw + q), 4);
            acc.Store(plane + q);
        }
        for (; q < hw; q++)
        {
            float acc = init;
            for (int m = 0; m < most; m++)
                if (float.IsNegative(mask[m * hw + q])) acc += src[off[m * hw + q]];
            plane[q] = acc;
        }
    }

    /// <summary>plane[ih, iw] += src[oh, ow] for the pixels that tap (i, j) maps output (oh, ow) to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Col2ImTap(float* src, float* plane, in ConvGeometry g, int i, int j)
    {
        float* planeEnd = plane + g.HW;
        int off = j * g.Dil - g.Pad;
        var (lo, hi) = ValidRange(g.W, g.Wo, off, g.Stride);
        if (lo >= hi) return;
        for (int oh = 0; oh < g.Ho; oh++)
        {
            int ih = oh * g.Stride - g.Pad + i * g.Dil;
            if ((uint)ih >= (uint)g.H) continue;
            float* d = plane + (long)ih * g.W + lo * g.Stride + off;
            float* v = src + (long)oh * g.Wo + lo;
            int len = hi - lo, k = 0;
            if (g.Stride == 1)
            {
                for (; k <= len - 8; k += 8) (Vector256.Load(d + k) + Vector256.Load(v + k)).Store(d + k);
            }
            else if (g.Stride == 2 && Avx512F.IsSupported)
            {
                // d[2k] += v[k]: spread 16 values over the even lanes of two vectors (odd lanes
                // add +0 to pixels of this same plane, which this work item owns).
                for (; k <= len - 16 && d + 2 * k + 32 <= planeEnd; k += 16)
                {
                    var vv = Vector512.Load(v + k);
                    float* dk = d + 2 * k;
                    (Vector512.Load(dk) + Avx512F.PermuteVar16x32x2(vv, SpreadLo, Vector512<float>.Zero)).Store(dk);
                    (Vector512.Load(dk + 16) + Avx512F.PermuteVar16x32x2(vv, SpreadHi, Vector512<float>.Zero)).Store(dk + 16);
                }
            }
            for (; k < len; k++) d[(long)k * g.Stride] += v[k];
        }
    }

    /// <summary>dst (C, gs·P) ← src samples [n0, n0 + gs) of (N, C, P).</summary>
    public static unsafe void NcpToCnpCpu(CpuParallel cpu, float* src, float* dst, int c, int p, int n0, int gs)
    {
        nint sp = (nint)src, dp = (nint)dst;
        int rows = c * gs;
        cpu.ForChunks(rows, CpuParallel.Grain(p), (start, end) =>
        {
            for (int q = start; q < end; q++)
            {
                int cc = q / gs, s = q % gs;
                Buffer.MemoryCopy((float*)sp + ((long)(n0 + s) * c + cc) * p, (float*)dp + (long)q * p, (long)p * 4, (long)p * 4);
            }
        });
    }

    /// <summary>dst samples [n0, n0 + gs) of (N, C, P) ← src (C, gs·P) + bias[c] (bias may be null).</summary>
    public static unsafe void CnpToNcpCpu(CpuParallel cpu, float* src, float* dst, float* bias, int c, int p, int n0, int gs)
    {
        nint sp = (nint)src, dp = (nint)dst, bp = (nint)bias;
        int rows = c * gs;
        cpu.ForChunks(rows, CpuParallel.Grain(p), (start, end) =>
        {
            for (int q = start; q < end; q++)
            {
                int s = q / c, cc = q % c;
                float* from = (float*)sp + ((long)cc * gs + s) * p;
                float* to = (float*)dp + ((long)(n0 + s) * c + cc) * p;
                AddRow(from, to, p, bp == 0 ? 0f : ((float*)bp)[cc]);
            }
        });
    }

    /// <summary>y[n, c, :] += bias[c] in place over samples [n0, n0 + gs).</summary>
    public static unsafe void AddBiasCpu(CpuParallel cpu, float* y, float* bias, int c, int p, int n0, int gs)
    {
        nint yp = (nint)y, bp = (nint)bias;
        int rows = c * gs;
        cpu.ForChunks(rows, CpuParallel.Grain(p), (start, end) =>
        {
            for (int q = start; q < end; q++)
            {
                float* row = (float*)yp + ((long)n0 * c + q) * p;
                AddRow(row, row, p, ((float*)bp)[q % c]);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddRow(float* from, float* to, int n, float b)
    {
        var vb = Vector256.Create(b);
        int k = 0;
        for (; k <= n - 8; k += 8) (Vector256.Load(from + k) + vb).Store(to + k);
        for (; k < n; k++) to[k] = from[k] + b;
    }

    // ============================================================ launchers

    /// <summary>
    /// Samples per group where a column matrix is materialised (the input gradient's col, and the im2col forward and
    /// weight gradient where patch indices do not fit), from the shapes and the device's lowering options only (so every
    /// sum has an order fixed by them): at most <see cref="ConvLoweringOptions.ColumnTarget"/> GEMM columns and
    /// <see cref="ConvLoweringOptions.WorkspaceBudget"/> floats of workspace, as few groups as that allows, of equal size
    /// (DCGAN-28's G1 input gradient ran 41 + 23 samples, now 32 + 32: a smaller col).
    /// </summary>
    public static int GroupSize(in ConvGeometry g, ConvLoweringOptions lowering)
        => EqualGroups(g, lowering, (long)Math.Max(g.Ckk, g.Cout) * g.P, atLeastTarget: false);

    /// <summary>
    /// Samples per group of the implicit-GEMM forward and weight gradient (<see cref="ConvPatchB"/>, <see cref="ConvPatchBT"/>;
    /// the im2col reference lowering runs on the same groups, so the two stay bit-identical). No column matrix exists, so
    /// the budget bounds what is materialised: the (Cout, gs·P) permute buffer and the three column tables (3·gs·P ints).
    /// With the col-sized budget the 7×7 and 8×8 layers of Ckk ≥ 2048 ran in two or more groups (DCGAN-28's G1 in 41 + 23,
    /// DCGAN-64's D3 and G3 in 32 + 32), so their weight gradient summed in pieces and every GEMM was smaller than the
    /// target. Groups are equal and at least the column target (up to twice it) where the batch and budget allow: a
    /// weight gradient whose C is too small to split among threads splits k into fixed 1024-column chunks instead, and
    /// groups cut below the target left it a sliver chunk beside whole ones (DCGAN-28's first layer in 4 × 16 samples,
    /// 3136 columns: 2:1 on two threads, 25 % slower than 21 + 21 + 21 + 1; as 22 + 22 + 20, 4312 and 3920 columns).
    /// </summary>
    public static int PatchGroupSize(in ConvGeometry g, ConvLoweringOptions lowering)
        => EqualGroups(g, lowering, (g.Cout + 3L) * g.P, atLeastTarget: true);

    /// <summary>
    /// The batch cut into equal groups of ⌈N / groups⌉ samples: groups enough for the budget (perSample floats per
    /// sample) and, for the target of ⌈ColumnTarget / P⌉ samples, ⌈N / target⌉ (groups at most the target) or
    /// ⌊N / target⌋ (atLeastTarget: groups at least the target) — no group is a remainder of a few samples.
    /// </summary>
    private static int EqualGroups(in ConvGeometry g, ConvLoweringOptions lowering, long perSample, bool atLeastTarget)
    {
        long n = Math.Max(1, g.N), p = Math.Max(1, g.P);
        long target = Math.Clamp((lowering.ColumnTarget + p - 1) / p, 1, n);
        long cap = Math.Max(1, lowering.WorkspaceBudget / Math.Max(1, perSample));
        long groups = Math.Max((n + cap - 1) / cap, atLeastTarget ? Math.Max(1, n / target) : (n + target - 1) / target);
        return (int)((n + groups - 1) / groups);
    }

    /// <summary>A pooled workspace buffer: host float[] (pinned) or device buffer, returned on dispose.</summary>
    private readonly struct Workspace : IDisposable
    {
        private readonly Device _device;
        private readonly float[]? _host;
        private readonly MemoryBuffer1D<float, Stride1D.Dense>? _buffer;
        public readonly int Length;

        public Workspace(Device device, long length)
        {
            if (length > int.MaxValue) throw new InvalidOperationException($"convolution workspace of {length} floats exceeds the 2^31 limit; lower the batch size");
            _device = device;
            Length = (int)Math.Max(1, length);
            if (device.IsHost) _host = device.Pool.RentHost(Length);
            else _buffer = device.Pool.RentDevice(Length);
        }

        public unsafe float* Pointer => (float*)Unsafe.AsPointer(ref _host![0]); // pinned by the pool
        public ArrayView<float> View => _buffer!.View.SubView(0, Length);

        public void Dispose()
        {
            if (_host is not null) _device.Pool.Return(_host, Length);
            if (_buffer is not null) _device.Pool.Return(_buffer, Length);
        }
    }

    private static unsafe float* Ptr(Tensor t) => (float*)Unsafe.AsPointer(ref t.Storage.Host[0]); // pool arrays are pinned

    // The ILGPU launchers. Costs follow LaunchCost's conventions (compulsory traffic, one FLOP per add).

    /// <summary>The per-channel bias added in place over (N, C, P): one thread per element.</summary>
    private static void AddBiasIlgpu(Device d, ArrayView<float> y, ArrayView<float> bias, int c, int p, int n)
    {
        long elements = (long)n * c * p;
        d.Launch(AddBiasKernel, (int)elements, new LaunchCost(elements, (elements + c) * sizeof(float), elements * sizeof(float), 1), y, bias, c, p);
    }


    /// <summary>
    /// The host forward's and weight gradient's grouping: <see cref="PatchGroupSize"/> for the implicit GEMM and for the
    /// im2col reference on the same shapes, <see cref="GroupSize"/> where the patch indices do not fit int32 and a column
    /// matrix is written; direct = one sample per group of a pointwise conv (x itself is col).
    /// </summary>
    private static (int Gs, bool Direct, bool Patches) GatherGroups(in ConvGeometry g, ConvLoweringOptions lowering)
    {
        int gs = PatchGroupSize(g, lowering);
        bool direct = gs == 1 && g.Pointwise;
        bool fits = !direct && PatchIndicesFit(g, gs);
        if (!direct && !fits)
        {
            gs = GroupSize(g, lowering);
            direct = gs == 1 && g.Pointwise;
        }
        return (gs, direct, fits && !lowering.Im2Col);
    }

    /// <summary>y (N, Cout, Ho, Wo) = Conv(x, w) + bias.</summary>
    public static unsafe void Forward(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeometry g)
    {
        if (y.Size == 0) return;
        if (g.Ckk == 0) { FillWithBias(y, bias); return; }
        var dev = x.Device;
        if (g.Dense)
        {
            // Y (N, Cout) = X (N, Ckk) · Wᵀ: one GEMM, no lowering.
            if (dev.IsHost)
            {
                float* yp = Ptr(y);
                MatMulKernels.GemmCpu(dev.Parallel, false, true, g.N, g.Cout, g.Ckk, 1f, Ptr(x), Ptr(w), 0f, yp);
                if (bias is not null) AddBiasCpu(dev.Parallel, yp, Ptr(bias), g.Cout, 1, 0, g.N);
            }
            else
            {
                MatMulKernels.GemmIlgpu(dev, false, true, g.N, g.Cout, g.Ckk, 1f, x.View, w.View, 0f, y.View);
                if (bias is not null) AddBiasIlgpu(dev, y.View, bias.View, g.Cout, 1, g.N);
            }
            return;
        }
        // Host (TakesFewChannel is false elsewhere), few input channels (Ckk ≤ 64): the direct kernels of ConvFewChannels.cs.
        if (TakesFewChannel(g, dev, ConvKernelKind.Forward))
        {
            ForwardFewChannelCpu(dev.Parallel, Ptr(x), Ptr(w), bias is null ? null : Ptr(bias), Ptr(y), g);
            return;
        }
        // Host, asked for, k4 s2 p1 with 2×2 output tiles or more: Winograd F(4×4, 2×2) on the polyphase split (ConvWinograd.cs).
        if (TakesWinograd(g, dev, ConvKernelKind.Forward))
        {
            ForwardWinogradCpu(dev, Ptr(x), Ptr(w), bias is null ? null : Ptr(bias), Ptr(y), g);
            return;
        }
        if (!dev.IsHost)
        {
            // ILGPU: one implicit GEMM over the whole batch, stored in NCHW with the bias (no col, no permute, no bias kernel).
            MatMulKernels.ConvForwardIlgpu(dev, w.View, x.View, y.View, bias?.View, g);
            return;
        }
        var (gs, direct, patches) = GatherGroups(g, dev.ConvLowering);
        // Host: one sample per group writes the GEMM straight into y; a pointwise conv reads x as col;
        // otherwise the GEMM's B packing gathers the patches from x (implicit GEMM, no column matrix).
        bool host = dev.IsHost;
        using var col = new Workspace(dev, direct || patches ? 0 : (long)g.Ckk * gs * g.P);   // (Ckk, gs·P)
        using var tables = new Workspace(dev, patches ? PatchTableFloats(g, gs) : 0);
        using var tmp = new Workspace(dev, host && gs == 1 ? 0 : (long)g.Cout * gs * g.P); // (Cout, gs·P)
        var pt = patches ? BuildPatchTables(g, gs, (int*)tables.Pointer) : default;
        for (int n0 = 0; n0 < g.N; n0 += gs)
        {
            int cnt = Math.Min(gs, g.N - n0);
            int cols = cnt * g.P;
            if (host)
            {
                float* xp = Ptr(x), yp = Ptr(y), wp = Ptr(w);
                float* outp = gs == 1 ? yp + (long)n0 * g.Cout * g.P : tmp.Pointer;
                if (patches)
                    MatMulKernels.GemmCpu(dev.Parallel, false, g.Cout, cols, g.Ckk, 1f, wp, new ConvPatchB(xp + (long)n0 * g.Cin * g.HW, pt, cols), 0f, outp);
                else
                {
                    float* colp = direct ? xp + (long)n0 * g.Cin * g.HW : col.Pointer;
                    if (!direct) Im2ColCpu(dev.Parallel, xp, colp, g, n0, cnt);
                    MatMulKernels.GemmCpu(dev.Parallel, false, false, g.Cout, cols, g.Ckk, 1f, wp, colp, 0f, outp);
                }
                if (gs != 1) CnpToNcpCpu(dev.Parallel, outp, yp, bias is null ? null : Ptr(bias), g.Cout, g.P, n0, cnt);
                else if (bias is not null) AddBiasCpu(dev.Parallel, yp, Ptr(bias), g.Cout, g.P, n0, 1);
            }
        }
    }

    /// <summary>Degenerate zero-channel reductions: the result is the bias alone.</summary>
    private static void FillWithBias(Tensor y, Tensor? bias)
    {
        if (bias is null) { y.Fill(0f); return; }
        using var _ = Autograd.NoGrad();
        bias.Reshape(1, bias.Size, 1, 1).BroadcastTo(y.Shape).CopyInto(y);
    }

    /// <summary>dx (N, Cin, H, W) = Convᵀ(gy, w) + bias (Cin): the conv input gradient and ConvTranspose2d's forward.</summary>
    public static unsafe void BackwardInput(Tensor gy, Tensor w, Tensor? bias, Tensor dx, in ConvGeometry g)
    {
        if (dx.Size == 0) return;
        if (g.Cout == 0 || g.P == 0) { FillWithBias(dx, bias); return; }
        var dev = gy.Device;
        if (g.Dense)
        {
            // dX (N, Ckk) = G (N, Cout) · W (Cout, Ckk): one GEMM, no col2im.
            if (dev.IsHost)
            {
                float* xp = Ptr(dx);
                MatMulKernels.GemmCpu(dev.Parallel, false, false, g.N, g.Ckk, g.Cout, 1f, Ptr(gy), Ptr(w), 0f, xp);
                if (bias is not null) AddBiasCpu(dev.Parallel, xp, Ptr(bias), g.Cin, g.HW, 0, g.N);
            }
            else
            {
                MatMulKernels.GemmIlgpu(dev, false, false, g.N, g.Ckk, g.Cout, 1f, gy.View, w.View, 0f, dx.View);
                if (bias is not null) AddBiasIlgpu(dev, dx.View, bias.View, g.Cin, g.HW, g.N);
            }
            return;
        }
        // Host (TakesFewChannel is false elsewhere), few input channels (Ckk ≤ 64): the direct kernels of ConvFewChannels.cs.
        if (TakesFewChannel(g, dev, ConvKernelKind.InputGrad))
        {
            InputGradFewChannelCpu(dev.Parallel, Ptr(gy), Ptr(w), bias is null ? null : Ptr(bias), Ptr(dx), g);
            return;
        }
        if (TakesWinograd(g, dev, ConvKernelKind.InputGrad))
        {
            InputGradWinogradCpu(dev, Ptr(gy), Ptr(w), bias is null ? null : Ptr(bias), Ptr(dx), g);
            return;
        }
        if (!dev.IsHost)
        {
            // ILGPU: one implicit GEMM over the sub-pixel classes, gathering dY and storing dX (+ bias) in NCHW (no col2im).
            MatMulKernels.ConvInputGradIlgpu(dev, w.View, gy.View, dx.View, bias?.View, g);
            return;
        }
        int gs = GroupSize(g, dev.ConvLowering);
        bool host = dev.IsHost, direct = host && gs == 1 && g.Pointwise;
        using var col = new Workspace(dev, direct ? 0 : (long)g.Ckk * gs * g.P);           // (Ckk, gs·P)
        for (int n0 = 0; n0 < g.N; n0 += gs)
        {
            int cnt = Math.Min(gs, g.N - n0);
            int cols = cnt * g.P;
            if (host)
            {
                float* gp = Ptr(gy), xp = Ptr(dx), wp = Ptr(w);
                float* colp = direct ? xp + (long)n0 * g.Cin * g.HW : col.Pointer;
                // op(B) = gy's samples viewed channel-major, read in place by the B packing (no permuted copy).
                MatMulKernels.GemmCpu(dev.Parallel, true, g.Ckk, cols, g.Cout, 1f, wp,
                    new NcpChannelsB(gp + (long)n0 * g.Cout * g.P, g.Cout, g.P, cols), 0f, colp);
                if (!direct) Col2ImCpu(dev.Parallel, colp, xp, bias is null ? null : Ptr(bias), g, n0, cnt);
                else if (bias is not null) AddBiasCpu(dev.Parallel, xp, Ptr(bias), g.Cin, g.HW, n0, 1);
            }
        }
    }

    /// <summary>dw (Cout, Cin, kH, kW) = Σ_n gy_n · col(x_n)ᵀ, groups accumulated in sample order.</summary>
    public static unsafe void WeightGrad(Tensor x, Tensor gy, Tensor dw, in ConvGeometry g)
    {
        if (dw.Size == 0) return;
        if (g.N == 0 || g.P == 0) { dw.Fill(0f); return; }
        var dev = x.Device;
        if (g.Dense)
        {
            // dW (Cout, Ckk) = Gᵀ (Cout, N) · X (N, Ckk): one GEMM over the whole batch.
            if (dev.IsHost) MatMulKernels.GemmCpu(dev.Parallel, true, false, g.Cout, g.Ckk, g.N, 1f, Ptr(gy), Ptr(x), 0f, Ptr(dw));
            else MatMulKernels.GemmIlgpu(dev, true, false, g.Cout, g.Ckk, g.N, 1f, gy.View, x.View, 0f, dw.View);
            return;
        }
        // Host (TakesFewChannel is false elsewhere), few input channels (Ckk ≤ 64): the direct kernels of ConvFewChannels.cs.
        if (TakesFewChannel(g, dev, ConvKernelKind.WeightGrad))
        {
            using var partials = new Workspace(dev, FewChannelWeightGradWorkspace(g));
            WeightGradFewChannelCpu(dev.Parallel, Ptr(x), Ptr(gy), Ptr(dw), partials.Pointer, g);
            return;
        }
        if (TakesWinograd(g, dev, ConvKernelKind.WeightGrad))
        {
            WeightGradWinogradCpu(dev, Ptr(x), Ptr(gy), Ptr(dw), g);
            return;
        }
        if (!dev.IsHost)
        {
            // ILGPU: one implicit GEMM, dY read in NCHW and the columns gathered from x (no im2col, no permute).
            MatMulKernels.ConvWeightGradIlgpu(dev, gy.View, x.View, dw.View, g);
            return;
        }
        // As in the forward, op(B) = colᵀ is gathered from x by the B packing unless asked for the reference im2col.
        var (gs, direct, patches) = GatherGroups(g, dev.ConvLowering);
        bool host = dev.IsHost;
        using var col = new Workspace(dev, direct || patches ? 0 : (long)g.Ckk * gs * g.P);  // (Ckk, gs·P)
        using var tables = new Workspace(dev, patches ? PatchTableFloats(g, gs) : 0);
        using var gbuf = new Workspace(dev, host && gs == 1 ? 0 : (long)g.Cout * gs * g.P); // (Cout, gs·P)
        var pt = patches ? BuildPatchTables(g, gs, (int*)tables.Pointer) : default;
        for (int n0 = 0; n0 < g.N; n0 += gs)
        {
            int cnt = Math.Min(gs, g.N - n0);
            int cols = cnt * g.P;
            float beta = n0 == 0 ? 0f : 1f;
            if (host)
            {
                float* xp = Ptr(x), gp = Ptr(gy), wp = Ptr(dw);
                float* gm = gs == 1 ? gp + (long)n0 * g.Cout * g.P : gbuf.Pointer;
                if (gs != 1) NcpToCnpCpu(dev.Parallel, gp, gm, g.Cout, g.P, n0, cnt);
                if (patches)
                {
                    MatMulKernels.GemmCpu(dev.Parallel, false, g.Cout, g.Ckk, cols, 1f, gm, new ConvPatchBT(xp + (long)n0 * g.Cin * g.HW, pt), beta, wp);
                    continue;
                }
                float* colp = direct ? xp + (long)n0 * g.Cin * g.HW : col.Pointer;
                if (!direct) Im2ColCpu(dev.Parallel, xp, colp, g, n0, cnt);
                MatMulKernels.GemmCpu(dev.Parallel, false, true, g.Cout, g.Ckk, cols, 1f, gm, colp, beta, wp);
            }
        }
    }
}

public sealed partial class Tensor
{
    // ============================================================ validation

    private static void CheckConvParams(string op, int stride, int padding, int dilation)
    {
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, $"{op}: stride must be at least 1");
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, $"{op}: padding must be non-negative");
        if (dilation < 1) throw new ArgumentOutOfRangeException(nameof(dilation), dilation, $"{op}: dilation must be at least 1");
    }

    private void CheckConvOperands(string op, Tensor weight, Tensor? bias, int inChannelsAxis, int biasAxis)
    {
        CheckSameDevice(weight, op);
        if (bias is not null) CheckSameDevice(bias, op);
        if (Rank != 4)
            throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {Describe()}");
        if (weight.Rank != 4)
            throw new ShapeMismatchException($"{op}: weight must be rank 4 ({(inChannelsAxis == 1 ? "Cout, Cin" : "Cin, Cout")}, kH, kW), got {weight.Describe()}");
        if (weight.Shape[inChannelsAxis] != Shape[1])
            throw new ShapeMismatchException($"{op}: input {Describe()} has {Shape[1]} channels but weight {weight.Describe()} expects {weight.Shape[inChannelsAxis]} (axis {inChannelsAxis})");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != weight.Shape[biasAxis]))
            throw new ShapeMismatchException($"{op}: bias {bias.Describe()} must be ({weight.Shape[biasAxis]}) for weight {weight.Describe()}");
    }

    internal ConvGeometry Conv2dGeometry(Tensor weight, Tensor? bias, int stride, int padding, int dilation)
    {
        CheckConvParams("Conv2d", stride, padding, dilation);
        CheckConvOperands("Conv2d", weight, bias, 1, 0);
        int kh = weight.Shape[2], kw = weight.Shape[3];
        int h = Shape[2], w = Shape[3];
        if (h + 2 * padding - dilation * (kh - 1) - 1 < 0 || w + 2 * padding - dilation * (kw - 1) - 1 < 0)
            throw new ShapeMismatchException($"Conv2d: kernel {kh}x{kw} (dilation {dilation}) is larger than the padded input {Describe()} with padding {padding}");
        return new ConvGeometry(Shape[0], Shape[1], h, w, weight.Shape[0], kh, kw,
            ConvGeometry.OutputSize(h, kh, stride, padding, dilation), ConvGeometry.OutputSize(w, kw, stride, padding, dilation), stride, padding, dilation);
    }

    /// <summary>Geometry of ConvTranspose2d as the conv it is the adjoint of (conv input = the result).</summary>
    internal ConvGeometry ConvTranspose2dGeometry(Tensor weight, Tensor? bias, int stride, int padding, int outputPadding, int dilation)
    {
        CheckConvParams("ConvTranspose2d", stride, padding, dilation);
        // PyTorch's rule: the extra rows exist only when a stride step or a dilation gap leaves room for them.
        if (outputPadding < 0 || (outputPadding >= stride && outputPadding >= dilation))
            throw new ArgumentOutOfRangeException(nameof(outputPadding), outputPadding,
                $"ConvTranspose2d: outputPadding must be non-negative and smaller than stride ({stride}) or dilation ({dilation})");
        CheckConvOperands("ConvTranspose2d", weight, bias, 0, 1);
        int kh = weight.Shape[2], kw = weight.Shape[3];
        int h = Shape[2], w = Shape[3];
        int oh = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + outputPadding + 1;
        int ow = (w - 1) * stride - 2 * padding + dilation * (kw - 1) + outputPadding + 1;
        if (oh < 1 || ow < 1)
            throw new ShapeMismatchException($"ConvTranspose2d: input {Describe()} with weight {weight.Describe()}, stride {stride}, padding {padding} gives an empty output {oh}x{ow}");
        return new ConvGeometry(Shape[0], weight.Shape[1], oh, ow, weight.Shape[0], kh, kw, h, w, stride, padding, dilation);
    }

    // ============================================================ public ops

    /// <summary>
    /// 2-D convolution (cross-correlation, as PyTorch). this: (N, Cin, H, W); weight: (Cout, Cin, kH, kW);
    /// bias: (Cout) or null. Output (N, Cout, Ho, Wo), Ho = (H + 2p − d(kH − 1) − 1)/s + 1.
    /// </summary>
    public Tensor Conv2d(Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1)
        => Conv2dCore(this, weight, bias, Conv2dGeometry(weight, bias, stride, padding, dilation));

    /// <summary>
    /// 2-D transposed convolution (PyTorch semantics). this: (N, Cin, H, W); weight: (Cin, Cout, kH, kW);
    /// bias: (Cout) or null. Output Ho = (H − 1)s − 2p + d(kH − 1) + outputPadding + 1; outputPadding &lt; stride or &lt; dilation (PyTorch).
    /// </summary>
    public Tensor ConvTranspose2d(Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int outputPadding = 0, int dilation = 1)
        => ConvTransposeCore(this, weight, bias, ConvTranspose2dGeometry(weight, bias, stride, padding, outputPadding, dilation));

    /// <summary>
    /// The conv weight gradient as an op: dW = ∂⟨Conv2d(input, W), gradOutput⟩/∂W, shape (Cout, Cin, kH, kW).
    /// input (N, Cin, H, W); gradOutput (N, Cout, Ho, Wo) with Ho the conv output size.
    /// </summary>
    internal static Tensor Conv2dWeightGrad(Tensor input, Tensor gradOutput, (int H, int W) kernelShape, int stride, int padding, int dilation)
    {
        CheckConvParams("Conv2dWeightGrad", stride, padding, dilation);
        input.CheckSameDevice(gradOutput, "Conv2dWeightGrad");
        if (input.Rank != 4 || gradOutput.Rank != 4 || input.Shape[0] != gradOutput.Shape[0])
            throw new ShapeMismatchException($"Conv2dWeightGrad: input {input.Describe()} and gradOutput {gradOutput.Describe()} must both be (N, C, H, W) with the same N");
        var (kh, kw) = kernelShape;
        int h = input.Shape[2], w = input.Shape[3];
        int ho = ConvGeometry.OutputSize(h, kh, stride, padding, dilation), wo = ConvGeometry.OutputSize(w, kw, stride, padding, dilation);
        if (kh < 1 || kw < 1 || h + 2 * padding - dilation * (kh - 1) - 1 < 0 || gradOutput.Shape[2] != ho || gradOutput.Shape[3] != wo)
            throw new ShapeMismatchException($"Conv2dWeightGrad: gradOutput {gradOutput.Describe()} does not match the {kh}x{kw} conv (stride {stride}, padding {padding}, dilation {dilation}) of input {input.Describe()}, whose output is {ho}x{wo}");
        var g = new ConvGeometry(input.Shape[0], input.Shape[1], h, w, gradOutput.Shape[1], kh, kw, ho, wo, stride, padding, dilation);
        return WeightGradCore(input, gradOutput, g);
    }

    // ============================================================ recorded ops and derivative rules

    /// <summary>Y = Conv(X, W) + b. Rule: dX = Convᵀ(G, W), dW = WGrad(X, G), db = Σ_{n,h,w} G.</summary>
    private static Tensor Conv2dCore(Tensor x, Tensor w, Tensor? bias, ConvGeometry g)
    {
        using var _ = x.Device.BeginOp("Conv2d");
        var y = Empty(g.OutputShape, x.Device);
        ConvKernels.Forward(x, w, bias, y, g);
        Tensor[] inputs = bias is null ? [x, w] : [x, w, bias];
        return Autograd.Record(y, "Conv2d", inputs, (gr, need) =>
        {
            var gy = gr[0];
            var dx = need[0] ? ConvTransposeCore(gy, w, null, g) : null;
            var dw = need[1] ? WeightGradCore(x, gy, g) : null;
            return bias is null ? [dx, dw] : [dx, dw, need[2] ? gy.Sum([0, 2, 3]) : null];
        });
    }

    /// <summary>
    /// X = Convᵀ(Y, W) + b, g in conv orientation (Y is the conv output side). Linear in Y, so
    /// dY = Conv(G, W); ⟨Convᵀ(Y, W), G⟩ = ⟨Conv(G, W), Y⟩ gives dW = WGrad(G, Y).
    /// </summary>
    private static Tensor ConvTransposeCore(Tensor y, Tensor w, Tensor? bias, ConvGeometry g)
    {
        using var _ = y.Device.BeginOp("ConvTranspose2d");
        var x = Empty(g.InputShape, y.Device);
        ConvKernels.BackwardInput(y, w, bias, x, g);
        Tensor[] inputs = bias is null ? [y, w] : [y, w, bias];
        return Autograd.Record(x, "ConvTranspose2d", inputs, (gr, need) =>
        {
            var gx = gr[0];
            var dy = need[0] ? Conv2dCore(gx, w, null, g) : null;
            var dw = need[1] ? WeightGradCore(gx, y, g) : null;
            return bias is null ? [dy, dw] : [dy, dw, need[2] ? gx.Sum([0, 2, 3]) : null];
        });
    }

    /// <summary>
    /// dW = WGrad(X, G), bilinear: ⟨WGrad(X, G), V⟩ = ⟨Conv(X, V), G⟩. For upstream V = ggW:
    /// d/dX = Convᵀ(G, ggW), d/dG = Conv(X, ggW).
    /// </summary>
    private static Tensor WeightGradCore(Tensor x, Tensor gy, ConvGeometry g)
    {
        using var _ = x.Device.BeginOp("Conv2dWeightGrad");
        var dw = Empty(g.WeightShape, x.Device);
        ConvKernels.WeightGrad(x, gy, dw, g);
        return Autograd.Record(dw, "Conv2dWeightGrad", [x, gy], (gr, need) =>
        {
            var v = gr[0];
            return [need[0] ? ConvTransposeCore(gy, v, null, g) : null, need[1] ? Conv2dCore(x, v, null, g) : null];
        });
    }
}
