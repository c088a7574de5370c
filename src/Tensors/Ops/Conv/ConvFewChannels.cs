// Direct host kernels for convolutions whose column matrix has few rows: Ckk = Cin·kH·kW ≤ 64, the
// RGB/grey first layer of a discriminator (Conv2d 1→64 or 3→64, k4) and, in conv orientation, the last
// layer of a generator (ConvTranspose2d 128→1 or 64→3 is the adjoint of a conv with Cin = 1 or 3).
// Conv orientation as in Convolution.cs: X (N, Cin, H, W), W (Cout, Cin, kH, kW), Y (N, Cout, Ho, Wo).
//   forward          Y_n  = W · col_n                          (Cout × Ckk) · (Ckk × P)
//   input gradient   dX_n = col2im(Wᵀ · G_n)                    (Ckk × Cout) · (Cout × P), then col2im
//   weight gradient  dW   = Σ_n G_n · col_nᵀ                    (Cout × P) · (P × Ckk), summed over samples
// Why not the GEMM lowering: with k = Ckk = 16..48 (forward) or a 64×16 result (weight gradient) the GEMM
// is all packing, permuting and split-k bookkeeping (conv-quick, 2 threads: 23–67 GFLOP/s of 236). Here
// each sample is its own small product, computed where its operands already lie in NCHW:
// - the forward builds col for a band of output rows in a stack buffer (≤ 64 KiB, L1/L2) and runs a 4×64
//   register tile (4 output channels × 4 vectors of 16 pixels) straight into Y's NCHW rows, bias added;
// - the input gradient computes Wᵀ·G_n for one input channel into a stack buffer (G_n is already
//   (Cout, P), no packing) and col2ims it into that channel's plane (the gather or the row walk of
//   Convolution.cs, so each pixel is init + its taps in (i, j) order);
// - the weight gradient keeps 16-lane partial sums per (co, r) for each chunk of 4 samples (a 4×4 tile
//   of them in registers over a band's pixels), reduces each chunk's 16 lanes with one fixed horizontal
//   sum, then adds the chunks' partials in chunk order — so a data-parallel rank's shard sums the same
//   chunks as the one-process run (see FewChannelWeightChunkSamples).
// Every output is written by one work item and every sum has an order fixed by the geometry (samples,
// bands and chunks are cut from the shapes only), so 1 and 2 threads give the same bits. Pixel tails
// (P, band lengths not multiples of 16) are masked loads and stores: nothing is read past G's rows or
// written past Y's. AVX-512 only, and only with the Auto/Avx512 GEMM family; ConvLoweringOptions.GemmOnly
// keeps every shape on the GEMM lowering (the reference the tests and benchmarks compare with).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors.Kernels;

namespace GpuGan.Tensors;

/// <summary>Which of the three conv kernels a dispatch question is about.</summary>
internal enum ConvKernelKind
{
    Forward,
    InputGrad,
    WeightGrad,
}

internal static partial class ConvKernels
{
    // ============================================================ few-channel direct kernels (CPU SIMD)

    /// <summary>Largest Cin·kH·kW the direct kernels take.</summary>
    internal const int FewChannelMaxCkk = 64;

    /// <summary>Floats of the per-item stack buffer (64 KiB).</summary>
    private const int FewChannelScratch = 1 << 14;

    /// <summary>
    /// Samples per chunk of the weight gradient's partial sums: a fixed count, not a fraction of N, so a data-parallel rank's
    /// shard of the batch (any multiple of 4 samples) sums exactly the chunks the one-process run sums for those samples and
    /// only the final adds are associated differently (as the GEMM lowering's split-k chunks, which follow the batch). With
    /// N / 8 samples per chunk, a 2-rank WGAN-GP step moved 1,414 of 1.7 M weights past MpiRunTests' bound (0 with the GEMM lowering).
    /// </summary>
    private const int FewChannelWeightChunkSamples = 4;

    /// <summary>
    /// Whether <paramref name="kernel"/> of this conv runs on the direct few-channel kernels: host device, AVX-512,
    /// the Auto/Avx512 GEMM family, not <see cref="ConvLoweringOptions.GemmOnly"/>, Ckk ≤ 64 and a non-dense conv
    /// whose buffers fit the stack budget; the weight gradient also Cout·Ckk ≤ 4096 and P ≥ 64. Geometry and options only.
    /// </summary>
    internal static bool TakesFewChannel(in ConvGeometry g, Device device, ConvKernelKind kernel)
    {
        if (!device.IsHost || !Avx512F.IsSupported) return false;
        var o = device.CpuOptions;
        if (o.Conv.GemmOnly || o.Conv.Im2Col || o.Gemm is not (CpuGemmKernel.Auto or CpuGemmKernel.Avx512)) return false;
        if (g.Dense || g.Ckk == 0 || g.Ckk > FewChannelMaxCkk || g.P == 0 || g.N == 0) return false;
        return kernel switch
        {
            ConvKernelKind.InputGrad => (long)g.KH * g.KW * Pad16(g.P) <= FewChannelScratch,
            // The weight gradient's partial sums are 64·Cout·Ckk bytes per chunk, loaded and stored once per band: measured
            // (conv-quick, 2 threads) slower than the GEMM lowering at Cout·Ckk = 8192 (128×64: 96 against 118 GFLOP/s) and
            // with 16-pixel outputs (512×16: 34 against 51); on par at 256×63; faster at Cout·Ckk ≤ 3072 with P ≥ 90.
            ConvKernelKind.WeightGrad => FewChannelScratch / g.Ckk - 15 >= g.Wo && g.Cout * g.Ckk <= 4096 && g.P >= 64,
            _ => FewChannelScratch / g.Ckk - 15 >= g.Wo,
        };
    }

    private static int Pad16(int n) => (n + 15) & ~15;

    /// <summary>Output rows per band: col (Ckk, band pixels rounded up to 16) fits the stack buffer.</summary>
    private static int FewChannelBandRows(in ConvGeometry g) => Math.Max(1, Math.Min(g.Ho, (FewChannelScratch / g.Ckk - 15) / g.Wo));

    /// <summary>Lanes [0, n) set (n ≥ 16: all), as a float mask for the masked loads and stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LaneMask(int n) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n)).AsSingle();

    // ------------------------------------------------------------ forward

    /// <summary>y (N, Cout, Ho, Wo) = Conv(x, w) + bias (bias may be null), one work item per (sample, band of output rows).</summary>
    internal static unsafe void ForwardFewChannelCpu(CpuParallel cpu, float* x, float* w, float* bias, float* y, in ConvGeometry g)
    {
        var geo = g;
        int rows = FewChannelBandRows(g), bands = (g.Ho + rows - 1) / rows;
        nint xp = (nint)x, wp = (nint)w, bp = (nint)bias, yp = (nint)y;
        cpu.ForEach(g.N * bands, item =>
        {
            int n = item / bands, oh0 = item % bands * rows;
            ForwardFewChannelItem((float*)xp, (float*)wp, (float*)bp, (float*)yp, geo, n, oh0, Math.Min(geo.Ho, oh0 + rows));
        });
    }

    [SkipLocalsInit]
    private static unsafe void ForwardFewChannelItem(float* x, float* w, float* bias, float* y, in ConvGeometry g, int n, int oh0, int oh1)
    {
        int len = (oh1 - oh0) * g.Wo, ls = Pad16(len);
        float* col = stackalloc float[g.Ckk * ls]; // (Ckk, ls): the band's columns
        Im2ColBand(x + (long)n * g.Cin * g.HW, col, g, oh0, oh1, ls);
        ForwardBand(w, col, ls, len, bias, y + (long)n * g.Cout * g.P + (long)oh0 * g.Wo, g.P, g.Cout, g.Ckk);
    }

    /// <summary>col (Ckk, ls) ← the patches of output rows [oh0, oh1) of one sample (Cin, H, W); columns [len, ls) zero.</summary>
    private static unsafe void Im2ColBand(float* sample, float* col, in ConvGeometry g, int oh0, int oh1, int ls)
    {
        int len = (oh1 - oh0) * g.Wo;
        for (int r = 0; r < g.Ckk; r++)
        {
            int j = r % g.KW, t = r / g.KW, i = t % g.KH, c = t / g.KH;
            float* dst = col + (long)r * ls;
            Im2ColRows(sample + (long)c * g.HW, dst, g, i, j, oh0, oh1);
            for (int q = len; q < ls; q++) dst[q] = 0f;
        }
    }

    /// <summary>
    /// y[co·p + q] = Σ_r w[co·ckk + r] · col[r·ls + q] (+ bias[co]) for q in [0, len): r ascending, one FMA chain
    /// per output, the bias added last. Tiles of 4 channels × 64 pixels, then 4 × 16 (the last one masked).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardBand(float* w, float* col, int ls, int len, float* bias, float* y, int p, int cout, int ckk)
    {
        int co = 0;
        for (; co <= cout - 4; co += 4)
        {
            float* w0 = w + (long)co * ckk, w1 = w0 + ckk, w2 = w1 + ckk, w3 = w2 + ckk;
            float* y0 = y + (long)co * p, y1 = y0 + p, y2 = y1 + p, y3 = y2 + p;
            var b0 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[co]);
            var b1 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[co + 1]);
            var b2 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[co + 2]);
            var b3 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[co + 3]);
            int v = 0;
            for (; v <= len - 64; v += 64)
            {
                Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
                Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
                Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
                Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
                float* c = col + v;
                for (int r = 0; r < ckk; r++, c += ls)
                {
                    var c0 = Vector512.Load(c);
                    var c1 = Vector512.Load(c + 16);
                    var c2 = Vector512.Load(c + 32);
                    var c3 = Vector512.Load(c + 48);
                    var s = Vector512.Create(w0[r]);
                    a00 = Avx512F.FusedMultiplyAdd(s, c0, a00); a01 = Avx512F.FusedMultiplyAdd(s, c1, a01);
                    a02 = Avx512F.FusedMultiplyAdd(s, c2, a02); a03 = Avx512F.FusedMultiplyAdd(s, c3, a03);
                    s = Vector512.Create(w1[r]);
                    a10 = Avx512F.FusedMultiplyAdd(s, c0, a10); a11 = Avx512F.FusedMultiplyAdd(s, c1, a11);
                    a12 = Avx512F.FusedMultiplyAdd(s, c2, a12); a13 = Avx512F.FusedMultiplyAdd(s, c3, a13);
                    s = Vector512.Create(w2[r]);
                    a20 = Avx512F.FusedMultiplyAdd(s, c0, a20); a21 = Avx512F.FusedMultiplyAdd(s, c1, a21);
                    a22 = Avx512F.FusedMultiplyAdd(s, c2, a22); a23 = Avx512F.FusedMultiplyAdd(s, c3, a23);
                    s = Vector512.Create(w3[r]);
                    a30 = Avx512F.FusedMultiplyAdd(s, c0, a30); a31 = Avx512F.FusedMultiplyAdd(s, c1, a31);
                    a32 = Avx512F.FusedMultiplyAdd(s, c2, a32); a33 = Avx512F.FusedMultiplyAdd(s, c3, a33);
                }
                (a00 + b0).Store(y0 + v); (a01 + b0).Store(y0 + v + 16); (a02 + b0).Store(y0 + v + 32); (a03 + b0).Store(y0 + v + 48);
                (a10 + b1).Store(y1 + v); (a11 + b1).Store(y1 + v + 16); (a12 + b1).Store(y1 + v + 32); (a13 + b1).Store(y1 + v + 48);
                (a20 + b2).Store(y2 + v); (a21 + b2).Store(y2 + v + 16); (a22 + b2).Store(y2 + v + 32); (a23 + b2).Store(y2 + v + 48);
                (a30 + b3).Store(y3 + v); (a31 + b3).Store(y3 + v + 16); (a32 + b3).Store(y3 + v + 32); (a33 + b3).Store(y3 + v + 48);
            }
            for (; v < len; v += 16)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* c = col + v;
                for (int r = 0; r < ckk; r++, c += ls)
                {
                    var c0 = Vector512.Load(c);
                    a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(w0[r]), c0, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(w1[r]), c0, a1);
                    a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(w2[r]), c0, a2);
                    a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(w3[r]), c0, a3);
                }
                StoreTail(y0 + v, a0 + b0, len - v);
                StoreTail(y1 + v, a1 + b1, len - v);
                StoreTail(y2 + v, a2 + b2, len - v);
                StoreTail(y3 + v, a3 + b3, len - v);
            }
        }
        for (; co < cout; co++)
        {
            float* w0 = w + (long)co * ckk, y0 = y + (long)co * p;
            var b0 = bias == null ? Vector512<float>.Zero : Vector512.Create(bias[co]);
            for (int v = 0; v < len; v += 16)
            {
                Vector512<float> a0 = default;
                float* c = col + v;
                for (int r = 0; r < ckk; r++, c += ls) a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(w0[r]), Vector512.Load(c), a0);
                StoreTail(y0 + v, a0 + b0, len - v);
            }
        }
    }

    /// <summary>Stores the first min(n, 16) lanes of v at dst.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreTail(float* dst, Vector512<float> v, int n)
    {
        if (n >= 16) v.Store(dst);
        else Avx512F.MaskStore(dst, LaneMask(n), v);
    }

    /// <summary>The first min(n, 16) floats at src, zeros after (nothing past them is read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> LoadTail(float* src, int n)
        => n >= 16 ? Vector512.Load(src) : Avx512F.MaskLoad(src, LaneMask(n), Vector512<float>.Zero);

    // ------------------------------------------------------------ input gradient (ConvTranspose2d forward)

    /// <summary>
    /// dx (N, Cin, H, W) = Convᵀ(gy, w) + bias (Cin; may be null), one work item per (sample, input channel):
    /// the channel's kH·kW rows of Wᵀ·G_n into a stack buffer, then col2im into its plane.
    /// </summary>
    [SkipLocalsInit]
    internal static unsafe void InputGradFewChannelCpu(CpuParallel cpu, float* gy, float* w, float* bias, float* dx, in ConvGeometry g)
    {
        var geo = g;
        int kk = g.KH * g.KW, ps = Pad16(g.P), hw = g.HW;
        // The small-plane gather of Col2ImGatherCpu (table built with this buffer's row stride) when its table fits.
        int bound = TapsPerPixelBound(g);
        bool gather = Avx2.IsSupported && (long)bound * hw <= 4096;
        int tableLength = gather ? bound * hw : 0;
        int* offsets = stackalloc int[tableLength];
        float* masks = stackalloc float[tableLength];
        int* filled = stackalloc int[gather ? hw : 0];
        int most = 0;
        if (gather)
        {
            new Span<int>(filled, hw).Clear();
            new Span<int>(offsets, tableLength).Clear();
            new Span<float>(masks, tableLength).Clear();
            for (int i = 0; i < g.KH; i++)
            for (int j = 0; j < g.KW; j++)
            for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++)
            {
                int ih = oh * g.Stride - g.Pad + i * g.Dil, iw = ow * g.Stride - g.Pad + j * g.Dil;
                if ((uint)ih >= (uint)g.H || (uint)iw >= (uint)g.W) continue;
                int q = ih * g.W + iw, m = filled[q]++;
                offsets[m * hw + q] = (i * g.KW + j) * ps + oh * g.Wo + ow;
                masks[m * hw + q] = -0f; // sign bit selects the lane
                most = Math.Max(most, m + 1);
            }
        }
        nint gp = (nint)gy, wp = (nint)w, bp = (nint)bias, xp = (nint)dx, op = (nint)offsets, mp = (nint)masks;
        int mostTaps = most;
        // The stack tables above outlive the loop: it completes before this frame returns.
        cpu.ForEach(g.N * g.Cin, item =>
        {
            int n = item / geo.Cin, c = item % geo.Cin;
            InputGradFewChannelItem((float*)gp + (long)n * geo.Cout * geo.P, (float*)wp + (long)c * kk, (float*)bp,
                (float*)xp + ((long)n * geo.Cin + c) * hw, geo, c, gather ? (int*)op : null, (float*)mp, mostTaps);
        });
    }

    [SkipLocalsInit]
    private static unsafe void InputGradFewChannelItem(float* gn, float* wc, float* bias, float* plane, in ConvGeometry g, int c,
        int* offsets, float* masks, int most)
    {
        int kk = g.KH * g.KW, ps = Pad16(g.P);
        float* col = stackalloc float[kk * ps]; // (kH·kW, ps): this channel's rows of Wᵀ·G_n
        InputGradRows(gn, wc, g.Ckk, g.Cout, g.P, kk, col, ps);
        float init = bias == null ? 0f : bias[c];
        if (offsets != null)
        {
            Col2ImGatherPlane(col, plane, offsets, masks, g.HW, most, init);
            return;
        }
        new Span<float>(plane, g.HW).Fill(init);
        for (int i = 0; i < g.KH; i++)
        for (int j = 0; j < g.KW; j++)
            Col2ImTap(col + (long)(i * g.KW + j) * ps, plane, g, i, j);
    }

    /// <summary>
    /// col[t·ps + q] = Σ_co w[co·wStride + t] · g[co·p + q] for t in [0, kk), q in [0, p): co ascending, one FMA chain
    /// per value. Tiles of 4 rows × 64 pixels, then 4 × 16 with G's last vector a masked load; lanes [p, ps) are junk.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void InputGradRows(float* g, float* w, int wStride, int cout, int p, int kk, float* col, int ps)
    {
        int t = 0;
        for (; t <= kk - 4; t += 4)
        {
            float* c0 = col + (long)t * ps, c1 = c0 + ps, c2 = c1 + ps, c3 = c2 + ps;
            int v = 0;
            for (; v <= p - 64; v += 64)
            {
                Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
                Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
                Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
                Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
                float* gr = g + v, wr = w + t;
                for (int co = 0; co < cout; co++, gr += p, wr += wStride)
                {
                    var g0 = Vector512.Load(gr);
                    var g1 = Vector512.Load(gr + 16);
                    var g2 = Vector512.Load(gr + 32);
                    var g3 = Vector512.Load(gr + 48);
                    var s = Vector512.Create(wr[0]);
                    a00 = Avx512F.FusedMultiplyAdd(s, g0, a00); a01 = Avx512F.FusedMultiplyAdd(s, g1, a01);
                    a02 = Avx512F.FusedMultiplyAdd(s, g2, a02); a03 = Avx512F.FusedMultiplyAdd(s, g3, a03);
                    s = Vector512.Create(wr[1]);
                    a10 = Avx512F.FusedMultiplyAdd(s, g0, a10); a11 = Avx512F.FusedMultiplyAdd(s, g1, a11);
                    a12 = Avx512F.FusedMultiplyAdd(s, g2, a12); a13 = Avx512F.FusedMultiplyAdd(s, g3, a13);
                    s = Vector512.Create(wr[2]);
                    a20 = Avx512F.FusedMultiplyAdd(s, g0, a20); a21 = Avx512F.FusedMultiplyAdd(s, g1, a21);
                    a22 = Avx512F.FusedMultiplyAdd(s, g2, a22); a23 = Avx512F.FusedMultiplyAdd(s, g3, a23);
                    s = Vector512.Create(wr[3]);
                    a30 = Avx512F.FusedMultiplyAdd(s, g0, a30); a31 = Avx512F.FusedMultiplyAdd(s, g1, a31);
                    a32 = Avx512F.FusedMultiplyAdd(s, g2, a32); a33 = Avx512F.FusedMultiplyAdd(s, g3, a33);
                }
                a00.Store(c0 + v); a01.Store(c0 + v + 16); a02.Store(c0 + v + 32); a03.Store(c0 + v + 48);
                a10.Store(c1 + v); a11.Store(c1 + v + 16); a12.Store(c1 + v + 32); a13.Store(c1 + v + 48);
                a20.Store(c2 + v); a21.Store(c2 + v + 16); a22.Store(c2 + v + 32); a23.Store(c2 + v + 48);
                a30.Store(c3 + v); a31.Store(c3 + v + 16); a32.Store(c3 + v + 32); a33.Store(c3 + v + 48);
            }
            for (; v < p; v += 16)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* gr = g + v, wr = w + t;
                for (int co = 0; co < cout; co++, gr += p, wr += wStride)
                {
                    var g0 = LoadTail(gr, p - v);
                    a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(wr[0]), g0, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(wr[1]), g0, a1);
                    a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(wr[2]), g0, a2);
                    a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(wr[3]), g0, a3);
                }
                a0.Store(c0 + v); a1.Store(c1 + v); a2.Store(c2 + v); a3.Store(c3 + v);
            }
        }
        for (; t < kk; t++)
        {
            // One row (kH·kW not a multiple of 4): four independent FMA chains over 64 pixels, then one per 16.
            float* c0 = col + (long)t * ps;
            int v = 0;
            for (; v <= p - 64; v += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* gr = g + v, wr = w + t;
                for (int co = 0; co < cout; co++, gr += p, wr += wStride)
                {
                    var s = Vector512.Create(wr[0]);
                    a0 = Avx512F.FusedMultiplyAdd(s, Vector512.Load(gr), a0);
                    a1 = Avx512F.FusedMultiplyAdd(s, Vector512.Load(gr + 16), a1);
                    a2 = Avx512F.FusedMultiplyAdd(s, Vector512.Load(gr + 32), a2);
                    a3 = Avx512F.FusedMultiplyAdd(s, Vector512.Load(gr + 48), a3);
                }
                a0.Store(c0 + v); a1.Store(c0 + v + 16); a2.Store(c0 + v + 32); a3.Store(c0 + v + 48);
            }
            for (; v < p; v += 16)
            {
                Vector512<float> a0 = default;
                float* gr = g + v, wr = w + t;
                for (int co = 0; co < cout; co++, gr += p, wr += wStride)
                    a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(wr[0]), LoadTail(gr, p - v), a0);
                a0.Store(c0 + v);
            }
        }
    }

    // ------------------------------------------------------------ weight gradient

    /// <summary>Sample chunks of the weight gradient and samples per chunk (<see cref="FewChannelWeightChunkSamples"/> each, the last one may be short).</summary>
    internal static (int Chunks, int PerChunk) FewChannelWeightChunking(in ConvGeometry g)
    {
        int per = Math.Min(FewChannelWeightChunkSamples, Math.Max(1, g.N));
        return ((g.N + per - 1) / per, per);
    }

    /// <summary>Floats of the weight gradient's partial sums: 16 lanes per (chunk, co, r).</summary>
    internal static long FewChannelWeightGradWorkspace(in ConvGeometry g) => 16L * FewChannelWeightChunking(g).Chunks * g.Cout * g.Ckk;

    /// <summary>
    /// dw (Cout, Cin, kH, kW) = Σ_n G_n · col_nᵀ. Chunk k (a fixed run of samples) accumulates 16-lane partial sums
    /// acc[k, co, r] over its samples, bands and pixels in order; then dw[co, r] = Sum(acc[0]) + Sum(acc[1]) + … in chunk order.
    /// </summary>
    internal static unsafe void WeightGradFewChannelCpu(CpuParallel cpu, float* x, float* gy, float* dw, float* acc, in ConvGeometry g)
    {
        var geo = g;
        var (chunks, per) = FewChannelWeightChunking(g);
        long slice = 16L * g.Cout * g.Ckk;
        nint xp = (nint)x, gp = (nint)gy, ap = (nint)acc, dp = (nint)dw;
        cpu.ForEach(chunks, k =>
            WeightGradFewChannelChunk((float*)xp, (float*)gp, (float*)ap + k * slice, geo, k * per, Math.Min(geo.N, (k + 1) * per)));
        int outputs = g.Cout * g.Ckk;
        cpu.ForChunks(outputs, CpuParallel.Grain(16L * chunks), (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                // Each chunk's 16 lanes to one partial first, then the partials in chunk order: a rank's shard of the batch
                // then gives exactly the partial sums of its chunks, and only the adds across the shard boundary differ.
                float* a = (float*)ap + 16L * o;
                float s = Vector512.Sum(Vector512.Load(a));
                for (int k = 1; k < chunks; k++) s += Vector512.Sum(Vector512.Load(a + k * slice));
                ((float*)dp)[o] = s;
            }
        });
    }

    [SkipLocalsInit]
    private static unsafe void WeightGradFewChannelChunk(float* x, float* gy, float* acc, in ConvGeometry g, int n0, int n1)
    {
        int rows = FewChannelBandRows(g);
        // Small samples (one band each): the columns of up to four samples at once, so each register tile of partial
        // sums is loaded and stored once per four samples (the sums keep their order: samples, then pixels).
        int ls = Pad16(Math.Min(g.Ho, rows) * g.Wo);
        int group = rows >= g.Ho ? Math.Clamp(FewChannelScratch / (g.Ckk * ls), 1, 4) : 1;
        float* col = stackalloc float[group * g.Ckk * ls];
        for (int n = n0; n < n1; n += group)
        {
            int cnt = Math.Min(group, n1 - n);
            for (int oh0 = 0; oh0 < g.Ho; oh0 += rows)
            {
                int oh1 = Math.Min(g.Ho, oh0 + rows), len = (oh1 - oh0) * g.Wo;
                for (int s = 0; s < cnt; s++) Im2ColBand(x + (long)(n + s) * g.Cin * g.HW, col + (long)s * g.Ckk * ls, g, oh0, oh1, ls);
                // The chunk's first band starts the partial sums (no clearing pass over the workspace).
                WeightGradBand(gy + (long)n * g.Cout * g.P + (long)oh0 * g.Wo, g.P, (long)g.Cout * g.P, col, ls, (long)g.Ckk * ls, cnt, len,
                    acc, g.Cout, g.Ckk, n == n0 && oh0 == 0);
            }
        }
    }

    /// <summary>
    /// acc[(co·ckk + r)·16 + lane] += Σ_s Σ_v g[s·gs + co·p + v + lane] · col[s·cs + r·ls + v + lane] over <paramref name="samples"/>
    /// samples and the band's 16-pixel vectors in order (G's last vector a masked load; col's tail is zero), acc starting from
    /// zero when <paramref name="first"/>. Tiles of 4 channels × 4 rows in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightGradBand(float* g, int p, long gs, float* col, int ls, long cs, int samples, int len, float* acc, int cout, int ckk, bool first)
    {
        int cout4 = cout & ~3, ckk4 = ckk & ~3, full = len & ~15, rest = len - full;
        for (int co = 0; co < cout4; co += 4)
        {
            for (int r = 0; r < ckk4; r += 4)
            {
                float* a0 = acc + ((long)co * ckk + r) * 16, a1 = a0 + 16L * ckk, a2 = a1 + 16L * ckk, a3 = a2 + 16L * ckk;
                Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
                Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
                if (!first)
                {
                    s00 = Vector512.Load(a0); s01 = Vector512.Load(a0 + 16); s02 = Vector512.Load(a0 + 32); s03 = Vector512.Load(a0 + 48);
                    s10 = Vector512.Load(a1); s11 = Vector512.Load(a1 + 16); s12 = Vector512.Load(a1 + 32); s13 = Vector512.Load(a1 + 48);
                    s20 = Vector512.Load(a2); s21 = Vector512.Load(a2 + 16); s22 = Vector512.Load(a2 + 32); s23 = Vector512.Load(a2 + 48);
                    s30 = Vector512.Load(a3); s31 = Vector512.Load(a3 + 16); s32 = Vector512.Load(a3 + 32); s33 = Vector512.Load(a3 + 48);
                }
                for (int s = 0; s < samples; s++)
                {
                    float* g0 = g + s * gs + (long)co * p, g1 = g0 + p, g2 = g1 + p, g3 = g2 + p;
                    float* c0 = col + s * cs + (long)r * ls, c1 = c0 + ls, c2 = c1 + ls, c3 = c2 + ls;
                    for (int v = 0; v < len; v += 16)
                    {
                        Vector512<float> x0, x1, x2, x3;
                        if (v < full)
                        {
                            x0 = Vector512.Load(g0 + v); x1 = Vector512.Load(g1 + v); x2 = Vector512.Load(g2 + v); x3 = Vector512.Load(g3 + v);
                        }
                        else
                        {
                            var m = LaneMask(rest);
                            x0 = Avx512F.MaskLoad(g0 + v, m, Vector512<float>.Zero); x1 = Avx512F.MaskLoad(g1 + v, m, Vector512<float>.Zero);
                            x2 = Avx512F.MaskLoad(g2 + v, m, Vector512<float>.Zero); x3 = Avx512F.MaskLoad(g3 + v, m, Vector512<float>.Zero);
                        }
                        var k0 = Vector512.Load(c0 + v);
                        var k1 = Vector512.Load(c1 + v);
                        var k2 = Vector512.Load(c2 + v);
                        var k3 = Vector512.Load(c3 + v);
                        s00 = Avx512F.FusedMultiplyAdd(x0, k0, s00); s01 = Avx512F.FusedMultiplyAdd(x0, k1, s01);
                        s02 = Avx512F.FusedMultiplyAdd(x0, k2, s02); s03 = Avx512F.FusedMultiplyAdd(x0, k3, s03);
                        s10 = Avx512F.FusedMultiplyAdd(x1, k0, s10); s11 = Avx512F.FusedMultiplyAdd(x1, k1, s11);
                        s12 = Avx512F.FusedMultiplyAdd(x1, k2, s12); s13 = Avx512F.FusedMultiplyAdd(x1, k3, s13);
                        s20 = Avx512F.FusedMultiplyAdd(x2, k0, s20); s21 = Avx512F.FusedMultiplyAdd(x2, k1, s21);
                        s22 = Avx512F.FusedMultiplyAdd(x2, k2, s22); s23 = Avx512F.FusedMultiplyAdd(x2, k3, s23);
                        s30 = Avx512F.FusedMultiplyAdd(x3, k0, s30); s31 = Avx512F.FusedMultiplyAdd(x3, k1, s31);
                        s32 = Avx512F.FusedMultiplyAdd(x3, k2, s32); s33 = Avx512F.FusedMultiplyAdd(x3, k3, s33);
                    }
                }
                s00.Store(a0); s01.Store(a0 + 16); s02.Store(a0 + 32); s03.Store(a0 + 48);
                s10.Store(a1); s11.Store(a1 + 16); s12.Store(a1 + 32); s13.Store(a1 + 48);
                s20.Store(a2); s21.Store(a2 + 16); s22.Store(a2 + 32); s23.Store(a2 + 48);
                s30.Store(a3); s31.Store(a3 + 16); s32.Store(a3 + 32); s33.Store(a3 + 48);
            }
            for (int r = ckk4; r < ckk; r++)
                for (int s = 0; s < samples; s++)
                    WeightGradDot4(g + s * gs + (long)co * p, p, col + s * cs + (long)r * ls, len, acc + ((long)co * ckk + r) * 16, 16L * ckk, first && s == 0);
        }
        for (int co = cout4; co < cout; co++)
            for (int r = 0; r < ckk; r++)
                for (int s = 0; s < samples; s++)
                    WeightGradDot(g + s * gs + (long)co * p, col + s * cs + (long)r * ls, len, acc + ((long)co * ckk + r) * 16, first && s == 0);
    }

    /// <summary><see cref="WeightGradDot"/> for four channels (rows g, g + p, …; partial sums acc, acc + accStride, …): four FMA chains.</summary>
    private static unsafe void WeightGradDot4(float* g, int p, float* c, int len, float* acc, long accStride, bool first)
    {
        float* g1 = g + p, g2 = g1 + p, g3 = g2 + p;
        float* a1 = acc + accStride, a2 = a1 + accStride, a3 = a2 + accStride;
        var s0 = first ? Vector512<float>.Zero : Vector512.Load(acc);
        var s1 = first ? Vector512<float>.Zero : Vector512.Load(a1);
        var s2 = first ? Vector512<float>.Zero : Vector512.Load(a2);
        var s3 = first ? Vector512<float>.Zero : Vector512.Load(a3);
        for (int v = 0; v < len; v += 16)
        {
            var k = Vector512.Load(c + v);
            s0 = Avx512F.FusedMultiplyAdd(LoadTail(g + v, len - v), k, s0);
            s1 = Avx512F.FusedMultiplyAdd(LoadTail(g1 + v, len - v), k, s1);
            s2 = Avx512F.FusedMultiplyAdd(LoadTail(g2 + v, len - v), k, s2);
            s3 = Avx512F.FusedMultiplyAdd(LoadTail(g3 + v, len - v), k, s3);
        }
        s0.Store(acc); s1.Store(a1); s2.Store(a2); s3.Store(a3);
    }

    /// <summary>acc[lane] (0 when first) += Σ_v g[v + lane] · c[v + lane] (g's last vector masked; c's tail zero).</summary>
    private static unsafe void WeightGradDot(float* g, float* c, int len, float* acc, bool first)
    {
        var s = first ? Vector512<float>.Zero : Vector512.Load(acc);
        for (int v = 0; v < len; v += 16) s = Avx512F.FusedMultiplyAdd(LoadTail(g + v, len - v), Vector512.Load(c + v), s);
        s.Store(acc);
    }
}
