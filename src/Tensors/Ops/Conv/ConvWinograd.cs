// Winograd F(4×4, 2×2) host kernels for the DCGAN convolution: kernel 4, stride 2, padding 1, dilation 1
// (every Conv2d and ConvTranspose2d of the DCGAN, pix2pix and PatchGAN stacks past their first layer), for the
// forward, the input gradient (= ConvTranspose2d's forward) and the weight gradient. Conv orientation as in
// Convolution.cs. Opt-in: ConvLoweringOptions.Winograd (gpugan train --winograd); see "Accuracy" below.
//
// Why: these layers are ~97 % of a DCGAN step's FLOPs and the direct GEMM lowering already runs at ~70 % of the
// machine's peak, so the step could only get faster by doing fewer multiplications. A 4×4 stride-2 kernel splits
// into four 2×2 stride-1 kernels over the input's sub-pixel phases (polyphase), and a 2×2 correlation has a
// Winograd form: 4×4 outputs from a 5×5 input tile with 25 products instead of 64 — 2.56× fewer MACs. The
// products of all tiles and channels at one of the 25 transform points are one GEMM, so the work is still our
// packed GEMM, on 25 smaller products per sample group.
//
// Polyphase (1-D; 2-D is the product). Forward, y[o] = Σ_k x[2o − 1 + k]·w[k], k = 0..3. With k = 2a + q
// (a, q ∈ {0, 1}) the input index is 2(o + a) + q − 1, so
//   y[o] = Σ_q Σ_a P_q[o + a]·w[2a + q],   P_q[u] = x[2u + q − 1]  (zero outside x)
// a 2-tap correlation over the window [o, o + 1] of each phase plane P_q: the phases are 4·Cin input channels
// of one 2×2 stride-1 correlation. The input gradient is this linear map transposed, and so is its Winograd form
// (below): no second polyphase split is needed. (A first version split dx into its four output phases, each a
// correlation of dy over its own window: it had to transform dy four times, 6.25× dy in all, and lost against the
// GEMM lowering with 64 channels; the transposed form transforms dy once, 25/16 of it, and wins on every layer the
// forward does.)
//
// Winograd F(4, 2) for y[o] = Σ_a d[o + a]·g[a], o = 0..3, on the points 0, 1, −1, 2, ∞ (Toom-Cook,
// transposed): y = Aᵀ[(G·g) ⊙ (Bᵀ·d)], rows of Bᵀ scaled to integers (the scale moved into G):
//   Bᵀ = [2 −1 −2 1 0; 0 2 1 −1 0; 0 −2 3 −1 0; 0 −1 0 1 0; 0 2 −1 −2 1]
//   G  = [1/2 0; 1/2 1/2; 1/6 −1/6; 1/6 1/3; 0 1]
//   Aᵀ = [1 1 1 1 0; 0 1 −1 2 0; 0 1 1 4 0; 0 1 −1 8 1]
// In 2-D, Y = Aᵀ[(G·g·Gᵀ) ⊙ (Bᵀ·D·B)]A, and with channels: M[ξ](Cout × T) = U[ξ](Cout × K)·V[ξ](K × T) for each of
// the 25 points ξ, U = the transformed filters, V = the transformed input tiles (T tiles of a sample group).
// The weight gradient of a phase's 2×2 sub-filter, dg[a] = Σ_o dy[o]·P_q[o + a], is F(2, 4) on the same points with
// the roles of G and A exchanged (Toom-Cook transposition): dg = Gᵀ[(A·dy) ⊙ (Bᵀ·d)], so it reuses the forward's
// input transform, and its sum over tiles is the GEMM's k. The input gradient is the forward transposed:
// dD = B·[Σ_co (Gg)ᵀ ⊙ (A·DY·Aᵀ)]·Bᵀ per tile, dy's tiles through A (as the weight gradient's), the GEMM with Uᵀ, and the
// adjoint input transform, whose 5×5 windows overlap their neighbours in one row and column (added by the owner).
// Accuracy, and why this is opt-in (ConvLoweringOptions.Winograd, default off): Aᵀ's last row scales a point's
// product by 8 per axis, so each output carries the rounding of products scaled by up to 64. Measured: 3.4× the
// direct sum's relative error (median over random 256-channel tiles with sequential fp32 sums as our GEMM's; 16× with
// pairwise sums; the points 0, ±1, ½, ∞ are no better, F(2, 2) and F(3, 2) are as accurate as direct), 8.9e-4
// against the direct bound of 3e-4 at |y| = 25 on a DCGAN-64 D2 layer, and the 2-rank WGAN-GP run of MpiRunTests
// drifted 2,319 weights (of 1.7 M; 173 allowed, 0 with the direct conv) past its one-process twin after one step,
// although every sample's result is bit-identical whatever the batch (tested): the larger rounding turns the ranks'
// 1e-7 batch-norm differences into Adam sign flips. The tests bound it at 1e-4·S (S the largest |output|).
//
// Layout and work: the tiles of a sample group are numbered t = (n·tilesH + th)·tilesW + tw. The transforms work on
// 8 channels per vector: they read x and dy from NCHW as 4-pixel groups of 8 channels, transposed in registers
// (PixelVectors4: no gathers, one scalar bounds test per row and group). U, V and Ady are written as the packed
// panels the GEMM's micro-kernel reads (MatMulKernels.GemmPanelsCpu: 8-row panels of A, 32-column panels of B, each
// over all of k), in the orientation each GEMM takes them, so no pack pass reads them back from L3 or memory (see
// each transform for its two layouts; where a panel wants 8 tiles or 8 output channels per vector, an 8×8 transpose
// in registers or lanes = output channels give it). That took PackA/PackB, 7–10 % of a Winograd DCGAN-28 step, out:
// 2026-12-07, step-profile, the point GEMMs 35–38 → 30–31 ms per DCGAN-28 step, 278–292 → 225–233 per DCGAN-64 step.
// The input gradient's M is tile-major, [ξ][t][channel], and its windows go to a channels-last dx, copied to NCHW
// with the bias (ToChannelsFirstCpu). The forward's M is [ξ][channel][t]: its output transform reads 8 tiles of a channel and
// writes each tile's 4×4 outputs (masked at the plane's end), the bias added. (The first version gathered 8 tiles
// per vector straight from NCHW, with a two-pass window merge; measured per WGAN-GP-28 step, the window merge went
// 52 → 29 ms, and the input transform with a channels-last copy of x 48 → 44, then 15 → 12 per DCGAN-28 step without
// the copy.) Every output is written by one work item and every sum has an order fixed by the shapes (groups are
// cut from the shapes and the workspace budget only), so 1 and 2 threads give the same bits. Work items run
// channels inner where they write a tile's rows. The point GEMMs run in parallel, each on one thread
// (CpuParallel.Serial): a point's product is often below the GEMM's own split. The point matrices are padded by a
// cache line (PointStride), and one workspace per call holds all parts (ArenaFloats). ConvLoweringOptions.GemmOnly
// keeps these shapes on the GEMM lowering (the reference the tests and benchmarks compare with).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors.Kernels;
using GpuGan.Tensors.Ops;

namespace GpuGan.Tensors;

internal static partial class ConvKernels
{
    // ============================================================ Winograd F(4×4, 2×2) kernels (CPU SIMD)

    /// <summary>Transform points per tile (5 × 5).</summary>
    private const int WinoPoints = 25;

    /// <summary>
    /// Whether <paramref name="kernel"/> of this conv runs on the Winograd kernels: asked for
    /// (<see cref="ConvLoweringOptions.Winograd"/>), host device with AVX-512 (and AVX2), the Auto/Avx512 GEMM
    /// family, not <see cref="ConvLoweringOptions.GemmOnly"/> or Im2Col, a <see cref="WinogradShape"/> whose tiles are mostly
    /// inside the output plane (below; all three kernels). Geometry and options only.
    /// </summary>
    internal static bool TakesWinograd(in ConvGeometry g, Device device, ConvKernelKind kernel)
    {
        if (!device.IsHost || !Avx512F.IsSupported || !Avx2.IsSupported) return false;
        var o = device.CpuOptions;
        if (!o.Conv.Winograd || o.Conv.GemmOnly || o.Conv.Im2Col || o.Gemm is not (CpuGemmKernel.Auto or CpuGemmKernel.Avx512)) return false;
        if (!WinogradShape(g)) return false;
        // Winograd does 100 products per tile (25 points × 4 phases) and input/output channel pair where the direct sum does 16
        // per output: it takes the shapes whose ratio, 100·tiles / (16·Ho·Wo), is at most 0.6 (125·tiles ≤ 12·Ho·Wo).
        // Measured (conv-quick, 2 threads, paired against the GEMM lowering, 2026-12-07), Winograd / direct:
        //   ratio 0.39, one tile per sample (4×4 outputs: DCGAN-64's D4, G2): forward 0.75–0.93, input gradient 0.69–0.88,
        //     weight gradient 0.73–0.81 (1.08–1.33 before the filter transform wrote whole lines without reading them, and
        //     formed only the chunk's points; it was then ~17 of D4's ~32 ms);
        //   ratio 0.39, 2×2 tiles or more (D64 D2/D3/G3/G4): 0.58–0.73;
        //   ratio 0.51, 7×7 outputs (the 28-pixel D2/G1): 0.76–0.90.
        // Outputs of 1–3 pixels, 5×5 and 6×6 (ratios 0.69–6) are not measured and stay on the GEMM lowering.
        if (125L * ((g.Ho + 3) / 4) * ((g.Wo + 3) / 4) > 12L * g.Ho * g.Wo) return false;
        // The weight gradient sums every point's Cout × 4·Cin product over the batch before its output transform, so that
        // matrix is not cut by the workspace budget: past it (DCGAN-64's 256 → 512 layers: 13 M floats, 52 MB, which
        // raised the Compare child's peak RSS above libtorch's) the layer keeps the GEMM lowering for it.
        return kernel != ConvKernelKind.WeightGrad || (long)WinoPoints * g.Cout * 4 * g.Cin <= o.Conv.WorkspaceBudget;
    }

    /// <summary>
    /// Whether the Winograd kernels can run this conv at all (the tests call them on any such shape): kernel 4, stride 2,
    /// padding 1, dilation 1, not dense, Cin and Cout multiples of 8 and at least 16, int32 offsets.
    /// </summary>
    internal static bool WinogradShape(in ConvGeometry g)
    {
        if (g.KH != 4 || g.KW != 4 || g.Stride != 2 || g.Pad != 1 || g.Dil != 1 || g.Dense) return false;
        if (g.N == 0 || g.P == 0 || g.Cin < 16 || g.Cout < 16 || g.Cin % 8 != 0 || g.Cout % 8 != 0) return false;
        // int32 offsets: one sample group's tensors and the source planes are indexed with int lanes.
        return (long)g.N * g.Cin * g.HW < int.MaxValue / 2 && (long)g.N * g.Cout * g.P < int.MaxValue / 2;
    }

    /// <summary>Samples per group: equal groups whose workspace (perSample floats each) fits the budget.</summary>
    private static int WinogradGroupSize(int n, long perSample, long budget)
    {
        long cap = Math.Max(1, budget / Math.Max(1, perSample));
        long groups = (n + cap - 1) / cap;
        return (int)((n + groups - 1) / groups);
    }

    /// <summary>Transform points per filter-transform chunk: the whole U when it fits the budget, else fewer points at a time.</summary>
    private static int WinogradPointChunk(long floatsPerPoint, long budget) => (int)Math.Clamp(budget / Math.Max(1, floatsPerPoint), 1, WinoPoints);

    /// <summary>
    /// gemm(ξ, U[ξ]) for the 25 points, one single-threaded GEMM per point and the points in parallel: a point's product
    /// is often too small for the GEMM's own split (≥ 48 rows and 256 columns per job) and would run on one thread. U is
    /// whole when <paramref name="chunk"/> is 25 (transformed once per call, before the groups), else each chunk of points
    /// is transformed into it before its GEMMs.
    /// </summary>
    private static unsafe void PointGemms(CpuParallel cpu, float* w, float* u, ConvGeometry g, int chunk, long uPoint, bool forward, Action<int, nint> gemm)
    {
        bool whole = chunk == WinoPoints;
        for (int x0 = 0; x0 < WinoPoints; x0 += chunk)
        {
            int x1 = Math.Min(WinoPoints, x0 + chunk);
            if (!whole) FilterTransformCpu(cpu, w, u, g, x0, x1, uPoint, forward);
            nint ub = (nint)(u + (whole ? x0 : 0) * uPoint);
            int xs0 = x0;
            cpu.ForEach(x1 - x0, i => gemm(xs0 + i, (nint)((float*)ub + i * uPoint)));
        }
    }

    /// <summary>
    /// Floats from one point's matrix (rows × cols) to the next: one cache line more than the matrix. With the bare size
    /// (a multiple of 4 KiB for most layers: 128 × 256 floats = 128 KiB) the 25 rows a transform item stores or loads fall
    /// in one cache set, and every access missed (D64.D2's input transform took 14 ms).
    /// </summary>
    private static long PointStride(long rows, long cols) => rows * cols + 16;

    // ------------------------------------------------------------ forward

    /// <summary>y (N, Cout, Ho, Wo) = Conv(x, w) + bias (bias may be null) for k4 s2 p1 (see <see cref="TakesWinograd"/>).</summary>
    internal static unsafe void ForwardWinogradCpu(Device dev, float* x, float* w, float* bias, float* y, in ConvGeometry g)
    {
        var cpu = dev.Parallel;
        long budget = dev.ConvLowering.WorkspaceBudget;
        int th = (g.Ho + 3) / 4, tw = (g.Wo + 3) / 4, tps = th * tw, k = 4 * g.Cin;
        int gs = WinogradGroupSize(g.N, (long)WinoPoints * tps * (k + g.Cout), budget);
        int tMax = gs * tps;
        long uPoint = PointStride(g.Cout, k);
        int chunk = WinogradPointChunk(uPoint, budget);
        long[] parts = [WinoPoints * PanelPointStride(tMax, k), WinoPoints * PointStride(g.Cout, tMax), chunk * uPoint];
        using var arena = new Workspace(dev, ArenaFloats(budget, parts));
        float* cursor = AlignToLine(arena.Pointer);
        float* vp = Carve(ref cursor, parts[0]), mp = Carve(ref cursor, parts[1]), ua = Carve(ref cursor, parts[2]);
        var geo = g;
        bool whole = chunk == WinoPoints;
        if (whole) FilterTransformCpu(cpu, w, ua, g, 0, WinoPoints, uPoint, forward: true);
        for (int n0 = 0; n0 < g.N; n0 += gs)
        {
            int cnt = Math.Min(gs, g.N - n0), t = cnt * tps;
            float* xs = x + (long)n0 * g.Cin * g.HW, ys = y + (long)n0 * g.Cout * g.P;
            InputTransformCpu(cpu, xs, vp, geo, th, tw, t, forward: true);
            // M[ξ] (Cout × T) = U[ξ]·V[ξ]ᵀ (V is T × 4·Cin), both operands written as the GEMM's panels by their transforms.
            nint vb = (nint)vp, mb = (nint)mp;
            int cout = g.Cout;
            PointGemms(cpu, w, ua, geo, chunk, uPoint, forward: true, (xi, ub) =>
                MatMulKernels.GemmPanelsCpu(cout, t, k, MatMulKernels.GemmOperand.Panels((float*)ub),
                    MatMulKernels.GemmOperand.Panels((float*)vb + xi * PanelPointStride(t, k)), 0f, (float*)mb + xi * PointStride(cout, t)));
            OutputTransformCpu(cpu, mp, ys, bias, geo, th, tw, t);
        }
    }

    /// <summary>
    /// V[ξ] = (Bᵀ·D·B)[ξ] for the four phase planes q = 2·qh + qw of each input channel ci, at column p = q·Cin + ci of tile
    /// t's row: D[i][j] = x[n, ci, 8·th − 1 + 2i + qh, 8·tw − 1 + 2j + qw] (zero outside x), 8 channels per vector (see
    /// <see cref="InputWindow"/>), written as the GEMM's packed panels of the operand it is, so that no pack pass reads it
    /// back from L3 (PackB had been 3 % of a Winograd DCGAN-28 step for the forward, 1.7 % for the weight gradient): the
    /// weight gradient's B = V (T × 4·Cin), 4·Cin/32 panels of [t][32 columns], one vector store per tile and block (work
    /// items channels inner: consecutive items fill a tile's rows); or, with <paramref name="forward"/>, the forward's
    /// B = Vᵀ (4·Cin × T), ⌈T/32⌉ panels of [p][32 tiles] (<see cref="PanelPointStride"/>; tiles past T zero), 16 tiles per
    /// work item, each point's two 8×8 blocks transposed in registers into 8 rows of 16 tiles, each row one whole line, so
    /// that a V larger than <see cref="StreamingFloats"/> is written with non-temporal stores like U (measured, 3 pairs of
    /// DCGAN-28 and 2 of DCGAN-64 steps against 8 tiles per item and ordinary stores: the input transform 7.6–10.5 → 6.7–8.4
    /// and 58.6–59.0 → 51.4–53.4 ms per step, the point GEMMs unchanged or faster, 257–263 → 230–240 ms on DCGAN-64).
    /// </summary>
    private static unsafe void InputTransformCpu(CpuParallel cpu, float* x, float* vt, ConvGeometry g, int tilesH, int tilesW, int t, bool forward)
    {
        int cin = g.Cin, blocks = cin / 8, k = 4 * cin;
        long point = forward ? PanelPointStride(t, k) : PointStride(t, k);
        int perBlock = forward ? RoundUp(t, 32) / 16 : t; // work items per channel block: 16 tiles, or tiles
        int tilesPerItem = forward ? 16 : 1;
        bool stream = forward && WinoPoints * point > StreamingFloats && ((nint)vt & 63) == 0;
        nint xp = (nint)x, vp = (nint)vt;
        var geo = g;
        cpu.ForChunks(perBlock * blocks, CpuParallel.Grain(WinoPoints * 4 * 8 * 4 * tilesPerItem), (s, e) =>
        {
            var d = stackalloc Vector256<float>[4 * WinoPoints * tilesPerItem]; // [tile][q][5i + j]
            var px = stackalloc Vector256<float>[12];                          // one window row: 12 pixels (10 used)
            var blk = stackalloc float[128];                                   // one point's 8 rows × 16 tiles
            for (int item = s; item < e; item++)
            {
                int grp = item / blocks, c0 = item % blocks * 8;
                if (!forward)
                {
                    // Column p = q·Cin + c0: panel p/32, row t (the tile), lanes p % 32 ..
                    InputWindow((float*)xp, geo, tilesH, tilesW, grp, c0, px, d);
                    for (int q = 0; q < 4; q++)
                    {
                        int p = q * cin + c0;
                        float* dst = (float*)vp + (long)(p / 32) * 32 * t + grp * 32 + p % 32;
                        for (int xi = 0; xi < WinoPoints; xi++) d[q * WinoPoints + xi].Store(dst + xi * point);
                    }
                    continue;
                }
                int t0 = grp * 16;
                for (int i = 0; i < 16; i++)
                {
                    Vector256<float>* di = d + i * 4 * WinoPoints;
                    if (t0 + i < t) InputWindow((float*)xp, geo, tilesH, tilesW, t0 + i, c0, px, di);
                    else for (int v = 0; v < 4 * WinoPoints; v++) di[v] = Vector256<float>.Zero;
                }
                // Panel t0/32, rows q·Cin + c0 .. + 8, columns t0 % 32 .. + 16: the 16 tiles' rows of each point,
                // transposed, each row one whole line.
                float* panel = (float*)vp + (long)(t0 / 32) * 32 * k + t0 % 32 + c0 * 32;
                for (int q = 0; q < 4; q++)
                for (int xi = 0; xi < WinoPoints; xi++)
                {
                    float* src = (float*)(d + q * WinoPoints + xi);
                    MatMulKernels.Transpose8x8(src, 4 * WinoPoints * 8, blk);
                    MatMulKernels.Transpose8x8(src + 8 * 4 * WinoPoints * 8, 4 * WinoPoints * 8, blk + 64);
                    float* dst = panel + xi * point + q * cin * 32;
                    for (int r = 0; r < 8; r++, dst += 32)
                    {
                        var lo = Vector256.Load(blk + 8 * r);
                        var hi = Vector256.Load(blk + 64 + 8 * r);
                        if (stream)
                        {
                            Avx.StoreAlignedNonTemporal(dst, lo);
                            Avx.StoreAlignedNonTemporal(dst + 8, hi);
                        }
                        else
                        {
                            lo.Store(dst);
                            hi.Store(dst + 8);
                        }
                    }
                }
            }
            if (stream) Sse.StoreFence();
        });
    }

    /// <summary>
    /// d[q][5i + j] ← the transformed 5×5 phase windows (Bᵀ·D·B) of tile <paramref name="tile"/> for 8 input channels from
    /// <paramref name="c0"/>: each of the window's 10 rows is read as three 4-pixel groups by <see cref="PixelVectors4"/>
    /// (masked at the plane's edges) and dealt to the phases, then the four phase windows are transformed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void InputWindow(float* x, in ConvGeometry g, int tilesH, int tilesW, int tile, int c0, Vector256<float>* px, Vector256<float>* d)
    {
        int cin = g.Cin, h = g.H, wd = g.W, hw = g.HW, tps = tilesH * tilesW;
        int n = tile / tps, rest = tile % tps;
        int r0 = rest / tilesW * 8 - 1, col0 = rest % tilesW * 8 - 1;
        float* src = x + ((long)n * cin + c0) * hw + col0;
        for (int i = 0; i < 10; i++)
        {
            int r = r0 + i;
            bool rowIn = (uint)r < (uint)h;
            for (int grp = 0; grp < 3; grp++)
            {
                int c = col0 + 4 * grp;
                PixelVectors4(src + (long)r * wd + 4 * grp, hw, Math.Max(0, -c), rowIn ? Math.Clamp(wd - c, 0, 4) : 0, px + 4 * grp);
            }
            // Window row i belongs to phase row qh = i & 1, at row i / 2; column j to qw = j & 1, at column j / 2.
            Vector256<float>* dq = d + 2 * (i & 1) * WinoPoints + 5 * (i >> 1);
            for (int j = 0; j < 10; j++) dq[(j & 1) * WinoPoints + (j >> 1)] = px[j];
        }
        for (int q = 0; q < 4; q++) InputTransform2D(d + q * WinoPoints);
    }

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>Floats from one point's packed-panel operand (⌈cols/32⌉ panels of rows × 32) to the next, padded as <see cref="PointStride"/>.</summary>
    private static long PanelPointStride(int cols, int rows) => PointStride(RoundUp(cols, 32), rows);

    // ------------------------------------------------------------ input gradient

    /// <summary>
    /// dx = Convᵀ(gy, w) + bias (Cin; may be null) as the forward run backwards (the transposition principle): dy's 4×4
    /// tiles of the forward's tiling through A (as in the weight gradient), one GEMM per point with the forward's
    /// transformed filters, Mᵀ[ξ](T × 4·Cin) = Ady[ξ]ᵀ·U[ξ], then the adjoint of the forward's input transform, B·M·Bᵀ,
    /// gives each tile's 10×10 window of dx (four phase windows of 5×5); neighbouring windows share their last row and
    /// column, which <see cref="WindowsToImageCpu"/> adds in a fixed order. The transformed gradient is 25/16 of dy.
    /// </summary>
    internal static unsafe void InputGradWinogradCpu(Device dev, float* gy, float* w, float* bias, float* dx, in ConvGeometry g)
    {
        var cpu = dev.Parallel;
        long budget = dev.ConvLowering.WorkspaceBudget;
        int th = (g.Ho + 3) / 4, tw = (g.Wo + 3) / 4, tps = th * tw, k = 4 * g.Cin;
        int gs = WinogradGroupSize(g.N, (long)WinoPoints * tps * (k + g.Cout) + (long)g.Cin * g.HW, budget);
        int tMax = gs * tps;
        long uPoint = PointStride(g.Cout, k);
        int chunk = WinogradPointChunk(uPoint, budget);
        bool whole = chunk == WinoPoints;
        long[] parts = [WinoPoints * GradientPointStride(tMax, g.Cout), WinoPoints * PointStride(tMax, k), (long)gs * g.Cin * g.HW, chunk * uPoint];
        using var arena = new Workspace(dev, ArenaFloats(budget, parts));
        float* cursor = AlignToLine(arena.Pointer);
        float* ap = Carve(ref cursor, parts[0]), mp = Carve(ref cursor, parts[1]), dxcp = Carve(ref cursor, parts[2]), ua = Carve(ref cursor, parts[3]);
        // dy's tiles are read 8 channels per vector; dx's windows are written channels-last and copied to dx with the bias.
        var geo = g;
        if (whole) FilterTransformCpu(cpu, w, ua, g, 0, WinoPoints, uPoint, forward: false);
        for (int n0 = 0; n0 < g.N; n0 += gs)
        {
            int cnt = Math.Min(gs, g.N - n0), t = cnt * tps;
            GradientTransformCpu(cpu, gy + (long)n0 * g.Cout * g.P, ap, geo, th, tw, t, inputGrad: true);
            // Mᵀ[ξ] (T × 4·Cin) = Ady[ξ]·U[ξ], tile-major, so that the window transform reads 8 channels of a tile per
            // vector; both operands written as the GEMM's panels by their transforms.
            nint ab = (nint)ap, mb = (nint)mp;
            int cout = g.Cout;
            PointGemms(cpu, w, ua, geo, chunk, uPoint, forward: false, (xi, ub) =>
                MatMulKernels.GemmPanelsCpu(t, k, cout, MatMulKernels.GemmOperand.Panels((float*)ab + xi * GradientPointStride(t, cout)),
                    MatMulKernels.GemmOperand.Panels((float*)ub), 0f, (float*)mb + xi * PointStride(t, k)));
            WindowsToImageCpu(cpu, mp, dxcp, geo, th, tw, t);
            ToChannelsFirstCpu(cpu, dxcp, dx + (long)n0 * g.Cin * g.HW, bias, cnt, g.Cin, g.HW);
        }
    }

    /// <summary>
    /// Mᵀ[ξ][t][q·Cin + ci] → dxc (cnt, H, W, Cin), channels-last: each tile's 5×5 window of phase q, W = B·M·Bᵀ, lands at
    /// rows 8·th − 1 + 2i + qh and columns 8·tw − 1 + 2j + qw. A window's rows and columns 0–3 belong to its tile, its row
    /// and column 4 to the next tile's row and column 0 (or to this tile at the plane's end): a dx value is its own tile's
    /// term plus, in this order, the upper, the left and the upper-left neighbour's shared terms — one writer per value, one
    /// order. The shared terms are recomputed from the neighbour's M, which gives the neighbour's own bits: B leaves a
    /// column's last entry as it is, so W's row 4 is B applied along M's row 4, its column 4 B applied down M's column 4,
    /// and W[4][4] = M[4][4]. One pass, 8 channels per vector; one work item per tile and block of 8 channels.
    /// </summary>
    private static unsafe void WindowsToImageCpu(CpuParallel cpu, float* m, float* dxc, ConvGeometry g, int tilesH, int tilesW, int t)
    {
        int cin = g.Cin, blocks = cin / 8, k = 4 * cin, tps = tilesH * tilesW, h = g.H, wd = g.W, hw = g.HW;
        long point = PointStride(t, k);
        nint mp = (nint)m, dp = (nint)dxc;
        cpu.ForChunks(t * blocks, CpuParallel.Grain(WinoPoints * 4 * 8 * 5), (s, e) =>
        {
            var d = stackalloc Vector256<float>[WinoPoints];
            var up = stackalloc Vector256<float>[5];
            var left = stackalloc Vector256<float>[5];
            for (int item = s; item < e; item++)
            {
                int tile = item / blocks, c0 = item % blocks * 8, n = tile / tps, rest = tile % tps, th = rest / tilesW, tw = rest % tilesW;
                int rows = th == tilesH - 1 ? 5 : 4, cols = tw == tilesW - 1 ? 5 : 4;
                float* sample = (float*)dp + (long)n * hw * cin + c0;
                for (int q = 0; q < 4; q++)
                {
                    int qh = q >> 1, qw = q & 1, r0 = 8 * th - 1 + qh, col0 = 8 * tw - 1 + qw;
                    float* own = (float*)mp + (long)tile * k + q * cin + c0;
                    for (int xi = 0; xi < WinoPoints; xi++) d[xi] = Vector256.Load(own + xi * point);
                    for (int j = 0; j < 5; j++) AdjointInputTransform1D(d + j, 5);
                    for (int i = 0; i < 5; i++) AdjointInputTransform1D(d + 5 * i, 1);
                    var corner = Vector256<float>.Zero;
                    if (th > 0)
                    {
                        float* above = own - (long)tilesW * k;
                        for (int j = 0; j < 5; j++) up[j] = Vector256.Load(above + (20 + j) * point);
                        AdjointInputTransform1D(up, 1);
                        if (tw > 0) corner = Vector256.Load(above - k + 24 * point);
                    }
                    if (tw > 0)
                    {
                        float* before = own - k;
                        for (int i = 0; i < 5; i++) left[i] = Vector256.Load(before + (5 * i + 4) * point);
                        AdjointInputTransform1D(left, 1);
                    }
                    for (int i = 0; i < rows; i++)
                    {
                        int r = r0 + 2 * i;
                        if ((uint)r >= (uint)h) continue;
                        for (int j = 0; j < cols; j++)
                        {
                            int c = col0 + 2 * j;
                            if ((uint)c >= (uint)wd) continue;
                            var val = d[5 * i + j];
                            if (i == 0 && th > 0) val += up[j];
                            if (j == 0 && tw > 0) val += left[i];
                            if (i == 0 && j == 0 && th > 0 && tw > 0) val += corner;
                            val.Store(sample + ((long)r * wd + c) * cin);
                        }
                    }
                }
            }
        });
    }

    /// <summary>
    /// dst (cnt, C, HW) ← src (cnt, HW, C) + bias[c] (bias may be null), C a multiple of 8: the input gradient's dx from its
    /// channels-last windows, 8×8 blocks transposed in registers, the bias added as each value is written.
    /// </summary>
    private static unsafe void ToChannelsFirstCpu(CpuParallel cpu, float* src, float* dst, float* bias, int cnt, int c, int hw)
    {
        int pb = (hw + 7) / 8, cb = c / 8;
        nint sp = (nint)src, dp = (nint)dst, bp = (nint)bias;
        cpu.ForChunks(cnt * cb * pb, CpuParallel.Grain(64 * 4), (s, e) =>
        {
            var blk = stackalloc float[64];
            for (int item = s; item < e; item++)
            {
                // Pixel blocks inner: consecutive items complete the same channels' rows.
                int n = item / (pb * cb), rest = item % (pb * cb), c0 = rest / pb * 8, p0 = rest % pb * 8, pixels = Math.Min(8, hw - p0);
                float* from = (float*)sp + ((long)n * hw + p0) * c + c0;
                float* to = (float*)dp + ((long)n * c + c0) * hw + p0;
                if (pixels == 8)
                {
                    MatMulKernels.Transpose8x8(from, c, blk);
                    for (int ch = 0; ch < 8; ch++)
                    {
                        var row = Vector256.Load(blk + 8 * ch);
                        if (bp != 0) row += Vector256.Create(((float*)bp)[c0 + ch]);
                        row.Store(to + (long)ch * hw);
                    }
                }
                else
                    for (int ch = 0; ch < 8; ch++)
                    for (int p = 0; p < pixels; p++)
                    {
                        float v = from[(long)p * c + ch];
                        to[(long)ch * hw + p] = bp == 0 ? v : v + ((float*)bp)[c0 + ch];
                    }
            }
        });
    }

    /// <summary>(p[0], …, p[4s]) ← B·(…) = Bᵀ's columns: 2m0, −m0 + 2m1 − 2m2 − m3 + 2m4, −2m0 + m1 + 3m2 − m4, m0 − m1 − m2 + m3 − 2m4, m4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AdjointInputTransform1D(Vector256<float>* p, int s)
    {
        Vector256<float> m0 = p[0], m1 = p[s], m2 = p[2 * s], m3 = p[3 * s], m4 = p[4 * s];
        var m4x2 = m4 + m4;
        p[0] = m0 + m0;
        p[s] = (m1 - m2) + (m1 - m2) - m0 - m3 + m4x2;
        p[2 * s] = m1 + m2 + m2 + m2 - m0 - m0 - m4;
        p[3 * s] = m0 - m1 - m2 + m3 - m4x2;
        p[4 * s] = m4;
    }

    // ------------------------------------------------------------ weight gradient

    /// <summary>
    /// dw (Cout, Cin, 4, 4) = WGrad(x, gy) for k4 s2 p1 (see <see cref="TakesWinograd"/>): per phase q, the 2×2 sub-filter's
    /// gradient is the correlation of P_q with dy, F(2, 4) with the forward's points: dg = Gᵀ[Σ_t (A·DY·Aᵀ) ⊙ (Bᵀ·D·B)]G, the
    /// sum over tiles one GEMM per point, M[ξ](Cout × 4·Cin) = Ady[ξ](Cout × T)·V[ξ]ᵀ, groups accumulated in sample order.
    /// </summary>
    internal static unsafe void WeightGradWinogradCpu(Device dev, float* x, float* gy, float* dw, in ConvGeometry g)
    {
        var cpu = dev.Parallel;
        long budget = dev.ConvLowering.WorkspaceBudget;
        int th = (g.Ho + 3) / 4, tw = (g.Wo + 3) / 4, tps = th * tw, k = 4 * g.Cin;
        int gs = WinogradGroupSize(g.N, (long)WinoPoints * tps * (k + g.Cout), budget);
        int tMax = gs * tps;
        long mPoint = PointStride(g.Cout, k);
        long[] parts = [WinoPoints * PointStride(tMax, k), WinoPoints * PointStride(tMax, g.Cout), WinoPoints * mPoint];
        using var arena = new Workspace(dev, ArenaFloats(budget, parts));
        float* cursor = AlignToLine(arena.Pointer);
        float* vp = Carve(ref cursor, parts[0]), ap = Carve(ref cursor, parts[1]), mp = Carve(ref cursor, parts[2]);
        // x's windows and dy's tiles as in the forward and the input gradient.
        var geo = g;
        for (int n0 = 0; n0 < g.N; n0 += gs)
        {
            int cnt = Math.Min(gs, g.N - n0), t = cnt * tps;
            float beta = n0 == 0 ? 0f : 1f;
            InputTransformCpu(cpu, x + (long)n0 * g.Cin * g.HW, vp, geo, th, tw, t, forward: false);
            GradientTransformCpu(cpu, gy + (long)n0 * g.Cout * g.P, ap, geo, th, tw, t, inputGrad: false);
            // One single-threaded GEMM per point, the points in parallel (as in the forward); k = the group's tiles:
            // M[ξ] (Cout × 4·Cin) = Adyᵀ[ξ]·V[ξ], both operands written as the GEMM's panels by their transforms.
            nint vb = (nint)vp, ab = (nint)ap, mb = (nint)mp;
            int cout = g.Cout;
            cpu.ForEach(WinoPoints, xi =>
                MatMulKernels.GemmPanelsCpu(cout, k, t, MatMulKernels.GemmOperand.Panels((float*)ab + xi * PointStride(t, cout)),
                    MatMulKernels.GemmOperand.Panels((float*)vb + xi * PointStride(t, k)), beta, (float*)mb + xi * mPoint));
        }
        WeightOutputTransformCpu(cpu, mp, dw, geo, mPoint);
    }

    /// <summary>
    /// Ady[ξ] = (A·DY·Aᵀ)[ξ] for each output channel co of tile t: DY[i][j] = gy[n, co, 4·th + i, 4·tw + j] (zero past the
    /// plane), A the 5×4 transform of the gradient tile (the forward's Aᵀ transposed: rows (1 0 0 0), (1 1 1 1),
    /// (1 −1 1 −1), (1 2 4 8), (0 0 0 1)), 8 channels per vector (<see cref="GradientTile"/>), written as the GEMM's packed
    /// panels of the operand it is: the weight gradient's A = Adyᵀ (Cout × T), Cout/8 panels of [t][8 channels], one
    /// vector store per tile and block; or, with <paramref name="inputGrad"/>, the input gradient's A = Ady (T × Cout),
    /// ⌈T/8⌉ panels of [co][8 tiles] (tiles past T zero), 8 tiles per work item, each point's 8×8 block transposed in
    /// registers (PackA8Rows had done that from a tile-major copy).
    /// </summary>
    private static unsafe void GradientTransformCpu(CpuParallel cpu, float* gy, float* at, ConvGeometry g, int tilesH, int tilesW, int t, bool inputGrad)
    {
        int cout = g.Cout, blocks = cout / 8;
        long point = inputGrad ? GradientPointStride(t, cout) : PointStride(t, cout);
        int perBlock = inputGrad ? RoundUp(t, 8) / 8 : t, tilesPerItem = inputGrad ? 8 : 1;
        nint gp = (nint)gy, ap = (nint)at;
        var geo = g;
        cpu.ForChunks(perBlock * blocks, CpuParallel.Grain(WinoPoints * 8 * 3 * tilesPerItem), (s, e) =>
        {
            var d = stackalloc Vector256<float>[WinoPoints * tilesPerItem]; // [tile][5i + j]
            for (int item = s; item < e; item++)
            {
                int grp = item / blocks, c0 = item % blocks * 8;
                if (!inputGrad)
                {
                    // Panel c0/8, row t.
                    GradientTile((float*)gp, geo, tilesW, grp, c0, d);
                    float* dst = (float*)ap + (long)c0 * t + grp * 8;
                    for (int xi = 0; xi < WinoPoints; xi++) d[xi].Store(dst + xi * point);
                    continue;
                }
                int t0 = grp * 8;
                for (int i = 0; i < 8; i++)
                {
                    if (t0 + i < t) GradientTile((float*)gp, geo, tilesW, t0 + i, c0, d + i * WinoPoints);
                    else for (int v = 0; v < WinoPoints; v++) d[i * WinoPoints + v] = Vector256<float>.Zero;
                }
                // Panel t0/8, rows c0 .. c0 + 8 (each 8 tiles): one transposed block per point, 4 whole lines.
                float* panel = (float*)ap + (long)t0 * cout + c0 * 8;
                for (int xi = 0; xi < WinoPoints; xi++)
                    MatMulKernels.Transpose8x8((float*)(d + xi), WinoPoints * 8, panel + xi * point);
            }
        });
    }

    /// <summary>Floats from one point's input-gradient A panels (⌈T/8⌉ panels of Cout × 8) to the next.</summary>
    private static long GradientPointStride(int t, int cout) => PointStride(RoundUp(t, 8), cout);

    /// <summary>d[5i + j] ← (A·DY·Aᵀ) of tile <paramref name="tile"/> for 8 output channels from <paramref name="c0"/>, read from NCHW by <see cref="PixelVectors4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void GradientTile(float* gy, in ConvGeometry g, int tilesW, int tile, int c0, Vector256<float>* d)
    {
        int cout = g.Cout, ho = g.Ho, wo = g.Wo, plane = g.P, tps = ((ho + 3) / 4) * tilesW;
        int n = tile / tps, rest = tile % tps;
        int r0 = rest / tilesW * 4, col0 = rest % tilesW * 4, cols = Math.Min(4, wo - col0);
        float* src = gy + ((long)n * cout + c0) * plane + col0;
        // The 4×4 tile into the top-left of the 5×5 buffer, then A along columns (4 → 5 rows) and rows (4 → 5 columns).
        for (int i = 0; i < 4; i++)
        {
            int r = r0 + i;
            PixelVectors4(src + (long)r * wo, plane, 0, r < ho ? cols : 0, d + 5 * i);
        }
        for (int j = 0; j < 4; j++) GradientTransform1D(d + j, 5);
        for (int i = 0; i < 5; i++) GradientTransform1D(d + 5 * i, 1);
    }

    /// <summary>
    /// o[0..3] ← pixels p[0..3] of 8 channels (planes <paramref name="plane"/> floats apart) as channel vectors, pixels outside
    /// [lo, hi) zero and not read: 4-float loads of channels c and c + 4 into one vector's halves, then a 4×4 transpose in
    /// each 128-bit half (unpack, shuffle). The transforms read NCHW with it instead of a channels-last copy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PixelVectors4(float* p, long plane, int lo, int hi, Vector256<float>* o)
    {
        if (hi <= lo)
        {
            o[0] = o[1] = o[2] = o[3] = Vector256<float>.Zero;
            return;
        }
        bool full = lo == 0 && hi == 4;
        var lanes = Vector128<int>.Indices;
        var mask = (Vector128.GreaterThanOrEqual(lanes, Vector128.Create(lo)) & Vector128.LessThan(lanes, Vector128.Create(hi))).AsSingle();
        Vector256<float> v0 = Halves(p, 0, plane, full, mask), v1 = Halves(p, 1, plane, full, mask),
            v2 = Halves(p, 2, plane, full, mask), v3 = Halves(p, 3, plane, full, mask);
        Vector256<float> t0 = Avx.UnpackLow(v0, v1), t1 = Avx.UnpackHigh(v0, v1), t2 = Avx.UnpackLow(v2, v3), t3 = Avx.UnpackHigh(v2, v3);
        o[0] = Avx.Shuffle(t0, t2, 0x44);
        o[1] = Avx.Shuffle(t0, t2, 0xEE);
        o[2] = Avx.Shuffle(t1, t3, 0x44);
        o[3] = Avx.Shuffle(t1, t3, 0xEE);
    }

    /// <summary>Channel c's 4 pixels in the low half, channel c + 4's in the high half (masked loads unless <paramref name="full"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Halves(float* p, int c, long plane, bool full, Vector128<float> mask)
    {
        float* lo = p + c * plane, hi = p + (c + 4) * plane;
        return full ? Vector256.Create(Vector128.Load(lo), Vector128.Load(hi)) : Vector256.Create(Avx.MaskLoad(lo, mask), Avx.MaskLoad(hi, mask));
    }

    /// <summary>(p[0], …, p[4s]) ← A·(p[0], p[s], p[2s], p[3s]): y0, y0 + y1 + y2 + y3, y0 − y1 + y2 − y3, y0 + 2y1 + 4y2 + 8y3, y3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void GradientTransform1D(Vector256<float>* p, int s)
    {
        Vector256<float> y0 = p[0], y1 = p[s], y2 = p[2 * s], y3 = p[3 * s];
        var even = y0 + y2;
        var odd = y1 + y3;
        p[s] = even + odd;
        p[2 * s] = even - odd;
        p[3 * s] = y0 + y1 + y1 + Vector256.Create(4f) * y2 + Vector256.Create(8f) * y3;
        p[4 * s] = y3;
    }

    /// <summary>
    /// dw[co, ci, 2a + qh, 2b + qw] = (Gᵀ·M·G)[a][b] of M[ξ][co][q·Cin + ci], Gᵀ the 2×5 transpose of the filter transform:
    /// (½ ½ ⅙ ⅙ 0) and (0 ½ −⅙ ⅓ 1). One work item per output channel and block of 8 input channels.
    /// </summary>
    private static unsafe void WeightOutputTransformCpu(CpuParallel cpu, float* m, float* dw, ConvGeometry g, long mPoint)
    {
        int blocks = g.Cin / 8, cin = g.Cin, k = 4 * cin;
        nint mp = (nint)m, dp = (nint)dw;
        cpu.ForChunks(g.Cout * blocks, CpuParallel.Grain(4 * WinoPoints * 8), (s, e) =>
        {
            var d = stackalloc Vector256<float>[WinoPoints];
            var o = stackalloc float[4 * 8];
            for (int item = s; item < e; item++)
            {
                int co = item / blocks, ci = item % blocks * 8;
                for (int q = 0; q < 4; q++)
                {
                    float* src = (float*)mp + (long)co * k + q * cin + ci;
                    for (int xi = 0; xi < WinoPoints; xi++) d[xi] = Vector256.Load(src + xi * mPoint);
                    for (int j = 0; j < 5; j++) WeightTransform1D(d + j, 5);
                    for (int i = 0; i < 2; i++) WeightTransform1D(d + 5 * i, 1);
                    d[0].Store(o);
                    d[1].Store(o + 8);
                    d[5].Store(o + 16);
                    d[6].Store(o + 24);
                    int qh = q >> 1, qw = q & 1;
                    for (int l = 0; l < 8; l++)
                    {
                        float* kernel = (float*)dp + ((long)co * cin + ci + l) * 16;
                        kernel[qh * 4 + qw] = o[l];                 // a = 0, b = 0
                        kernel[qh * 4 + 2 + qw] = o[8 + l];         // a = 0, b = 1
                        kernel[(2 + qh) * 4 + qw] = o[16 + l];      // a = 1, b = 0
                        kernel[(2 + qh) * 4 + 2 + qw] = o[24 + l];  // a = 1, b = 1
                    }
                }
            }
        });
    }

    /// <summary>(p[0], p[s]) ← Gᵀ·(p[0], …, p[4s]): (m0 + m1)/2 + (m2 + m3)/6 and (m1/2 − m2/6 + m3/3 + m4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void WeightTransform1D(Vector256<float>* p, int s)
    {
        Vector256<float> m0 = p[0], m1 = p[s], m2 = p[2 * s], m3 = p[3 * s], m4 = p[4 * s];
        var half = Vector256.Create(0.5f);
        var sixth = Vector256.Create(1f / 6f);
        p[0] = (m0 + m1) * half + (m2 + m3) * sixth;
        p[s] = m1 * half + (m3 + m3 - m2) * sixth + m4;
    }

    // ------------------------------------------------------------ filter transform

    /// <summary>
    /// U[ξ − x0] (Cout × 4·Cin, pointStride floats from one point to the next) = G·g·Gᵀ for points [x0, x1) of every
    /// (co, ci) and phase q = 2·qh + qw: g[a][b] = w[co, ci, 2a + qh, 2b + qw], at column p = q·Cin + ci. U is written as the
    /// GEMM's packed panels (<see cref="MatMulKernels.GemmPanelsCpu"/>), so no pack pass reads it back. Only the points in
    /// [x0, x1) are formed (a chunked U used to transform every point per chunk), and U larger than
    /// <see cref="StreamingFloats"/> is written with non-temporal stores of whole lines (partial lines would be read back by
    /// the memory controller). The transform is linear per (co, ci), so the 8 lanes of a vector can be 8 output or 8 input
    /// channels; each layout takes the one whose vectors it stores whole:
    /// <list type="bullet">
    /// <item><paramref name="forward"/> (U is the forward's A): ⌈Cout/8⌉ panels of [p][8 output channels]. Lanes = output
    /// channels: one work item per 8 output and 8 input channels, whose taps come through two 8×8 transposes per input
    /// channel (8 output channels' rows, Cin·16 floats apart); each point's 8 rows p are 256 contiguous bytes. (Lanes =
    /// input channels with one more transpose per point cost DCGAN-64 ~30 ms per step.)</item>
    /// <item>Else (U is the input gradient's B): 4·Cin/32 panels of [co][32 columns]. Lanes = input channels: one work item
    /// per output channel and 16 input channels (8 where Cin is not a multiple of 16), taps through two 8×8 transposes per
    /// 8 channels; the item's 16 columns of a point are one whole line.</item>
    /// </list>
    /// </summary>
    private static unsafe void FilterTransformCpu(CpuParallel cpu, float* w, float* u, ConvGeometry g, int x0, int x1, long pointStride, bool forward)
    {
        int cin = g.Cin, cout = g.Cout, k = 4 * cin, rowFirst = x0 / 5, rowEnd = (x1 - 1) / 5 + 1;
        bool fits = (x1 - x0) * pointStride > StreamingFloats && ((nint)u & 63) == 0 && pointStride % 16 == 0;
        nint wp = (nint)w, up = (nint)u;
        if (forward)
        {
            int blocks = cin / 8;
            bool stream = fits;
            cpu.ForChunks(cout / 8 * blocks, CpuParallel.Grain(8 * 4 * WinoPoints * 8), (s, e) =>
            {
                var taps = stackalloc Vector256<float>[8 * 16];      // [ci][tap]: lanes = 8 output channels
                var t = stackalloc Vector256<float>[10];             // (G·g)[x][b] of one input channel
                var row = stackalloc Vector256<float>[5];            // one row of points
                var pts = stackalloc Vector256<float>[WinoPoints * 8]; // [ξ][ci] of one phase
                for (int item = s; item < e; item++)
                {
                    int co0 = item / blocks * 8, ci0 = item % blocks * 8;
                    for (int c = 0; c < 8; c++)
                    {
                        // taps[c][tap] lane l = w[co0 + l, ci0 + c, tap]: rows of 8 output channels, Cin·16 floats apart.
                        float* wc = (float*)wp + ((long)co0 * cin + ci0 + c) * 16;
                        MatMulKernels.Transpose8x8(wc, (long)cin * 16, (float*)(taps + 16 * c));
                        MatMulKernels.Transpose8x8(wc + 8, (long)cin * 16, (float*)(taps + 16 * c + 8));
                    }
                    for (int q = 0; q < 4; q++)
                    {
                        int qh = q >> 1, qw = q & 1;
                        for (int c = 0; c < 8; c++)
                        {
                            // t[x][b] = (G·g)[x][b]: column b of g (kernel taps (2a + qh, 2b + qw), a = 0, 1) through G.
                            Vector256<float>* tp = taps + 16 * c;
                            for (int b = 0; b < 2; b++) FilterTransform1D(tp[qh * 4 + 2 * b + qw], tp[(2 + qh) * 4 + 2 * b + qw], t + b, 2);
                            for (int xr = rowFirst; xr < rowEnd; xr++)
                            {
                                FilterTransform1D(t[2 * xr], t[2 * xr + 1], row, 1);
                                for (int xc = 0; xc < 5; xc++)
                                {
                                    int xi = 5 * xr + xc;
                                    if (xi >= x0 && xi < x1) pts[xi * 8 + c] = row[xc];
                                }
                            }
                        }
                        // Panel co0/8, rows p = q·Cin + ci0 .. + 8: 256 contiguous bytes per point, 4 whole lines.
                        for (int xi = x0; xi < x1; xi++)
                        {
                            float* dst = (float*)up + (xi - x0) * pointStride + (long)co0 * k + (q * cin + ci0) * 8;
                            if (stream)
                                for (int c = 0; c < 8; c++) Avx.StoreAlignedNonTemporal(dst + 8 * c, pts[xi * 8 + c]);
                            else
                                for (int c = 0; c < 8; c++) pts[xi * 8 + c].Store(dst + 8 * c);
                        }
                    }
                }
                if (stream) Sse.StoreFence(); // streaming stores are weakly ordered: visible before the GEMMs that read U start
            });
            return;
        }
        int width = cin % 16 == 0 ? 16 : 8, blocks16 = cin / width, halves = width / 8;
        bool streamB = width == 16 && fits;
        cpu.ForChunks(cout * blocks16, CpuParallel.Grain(4 * WinoPoints * width), (s, e) =>
        {
            var taps = stackalloc Vector256<float>[32];  // [half][tap]: lanes = 8 input channels
            var t = stackalloc Vector256<float>[20];     // [half][x][b] = (G·g)[x][b]
            var row = stackalloc Vector256<float>[10];   // [half][column of the point row]
            for (int item = s; item < e; item++)
            {
                int co = item / blocks16, ci = item % blocks16 * width;
                float* wc = (float*)wp + ((long)co * cin + ci) * 16;
                for (int hf = 0; hf < halves; hf++)
                {
                    // taps[tap] lane l = w[co, ci + 8·hf + l, tap]: the 8 channels' 16 taps, transposed in two 8×8 blocks.
                    MatMulKernels.Transpose8x8(wc + hf * 128, 16, (float*)(taps + 16 * hf));
                    MatMulKernels.Transpose8x8(wc + hf * 128 + 8, 16, (float*)(taps + 16 * hf + 8));
                }
                for (int q = 0; q < 4; q++)
                {
                    int qh = q >> 1, qw = q & 1, p0 = q * cin + ci;
                    for (int hf = 0; hf < halves; hf++)
                    for (int b = 0; b < 2; b++)
                        FilterTransform1D(taps[16 * hf + qh * 4 + 2 * b + qw], taps[16 * hf + (2 + qh) * 4 + 2 * b + qw], t + 10 * hf + b, 2);
                    // Panel p0/32, row co, columns p0 % 32 ..: the item's 16 columns are one whole line when streaming.
                    float* baseU = (float*)up + (long)(p0 / 32) * 32 * cout + co * 32 + p0 % 32;
                    for (int xr = rowFirst; xr < rowEnd; xr++)
                    {
                        for (int hf = 0; hf < halves; hf++) FilterTransform1D(t[10 * hf + 2 * xr], t[10 * hf + 2 * xr + 1], row + 5 * hf, 1);
                        for (int xc = 0; xc < 5; xc++)
                        {
                            int xi = 5 * xr + xc;
                            if (xi < x0 || xi >= x1) continue;
                            float* dst = baseU + (xi - x0) * pointStride;
                            if (streamB)
                            {
                                Avx.StoreAlignedNonTemporal(dst, row[xc]);
                                Avx.StoreAlignedNonTemporal(dst + 8, row[5 + xc]);
                            }
                            else
                                for (int hf = 0; hf < halves; hf++) row[5 * hf + xc].Store(dst + 8 * hf);
                        }
                    }
                }
            }
            if (streamB) Sse.StoreFence();
        });
    }

    /// <summary>
    /// Transformed filters or inputs (floats) past which <see cref="FilterTransformCpu"/> and the forward's
    /// <see cref="InputTransformCpu"/> stream their stores around the cache:
    /// 256 K floats = 1 MB, one core's L2 on the EPYC we measure on. Larger U is read by the GEMMs from L3 or memory
    /// anyway, and ordinary stores first read every line of it. Measured (conv-quick, paired against the GEMM lowering,
    /// two runs each): D64 D3 forward 0.67–0.69 → 0.58–0.61 of the direct time, G2's input gradient 1.04–1.18 → 0.69–0.72,
    /// the 28-pixel D2 (U of 3.3 MB) unchanged within noise.
    /// </summary>
    private const long StreamingFloats = 256L << 10;

    /// <summary>p rounded up to the next 64-byte line.</summary>
    private static unsafe float* AlignToLine(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    /// <summary>
    /// The floats of one Winograd call's workspace, which <see cref="Carve"/> cuts into line-aligned parts: at least
    /// 2·budget + 64 K, which holds every call the budget shapes (the group's tiles and transforms within one budget, the
    /// transformed filters or the weight gradient's point products within another), so all the Winograd calls of a step
    /// rent one pool entry. The pool keeps exact sizes: one buffer per layer and part had raised DCGAN-64's peak RSS by
    /// ~55 MiB over the direct convolution.
    /// </summary>
    private static long ArenaFloats(long budget, long[] parts)
    {
        long need = 16; // the first part's alignment
        foreach (long p in parts) need += (p + 15) & ~15L;
        // A budget so large that the shared size would pass a workspace's 2^31 floats takes what the call needs.
        long shared = 2 * budget + (64 << 10);
        return need >= shared || shared > int.MaxValue ? need : shared;
    }

    /// <summary>The next part of <paramref name="floats"/> floats at the cursor, which moves on to the next whole line.</summary>
    private static unsafe float* Carve(ref float* cursor, long floats)
    {
        float* part = cursor;
        cursor += (floats + 15) & ~15L;
        return part;
    }

    /// <summary>G·(g0, g1) → out[0], out[s], …, out[4s]: g0/2, (g0 + g1)/2, (g0 − g1)/6, (g0 + 2·g1)/6, g1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FilterTransform1D(Vector256<float> g0, Vector256<float> g1, Vector256<float>* o, int s)
    {
        var half = Vector256.Create(0.5f);
        var sixth = Vector256.Create(1f / 6f);
        o[0] = g0 * half;
        o[s] = (g0 + g1) * half;
        o[2 * s] = (g0 - g1) * sixth;
        o[3 * s] = (g0 + g1 + g1) * sixth;
        o[4 * s] = g1;
    }

    // ------------------------------------------------------------ shared transforms

    /// <summary>d (5×5, row-major) ← Bᵀ·d·B in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void InputTransform2D(Vector256<float>* d)
    {
        for (int j = 0; j < 5; j++) InputTransform1D(d + j, 5);
        for (int i = 0; i < 5; i++) InputTransform1D(d + 5 * i, 1);
    }

    /// <summary>(p[0], p[s], …, p[4s]) ← Bᵀ·(…) with the integer rows of the header.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void InputTransform1D(Vector256<float>* p, int s)
    {
        Vector256<float> d0 = p[0], d1 = p[s], d2 = p[2 * s], d3 = p[3 * s], d4 = p[4 * s];
        var d31 = d3 - d1;
        p[0] = (d0 - d2) + (d0 - d2) + d31;
        p[s] = d1 + d1 + d2 - d3;
        p[2 * s] = d2 + d2 + d2 - d1 - d1 - d3;
        p[3 * s] = d31;
        p[4 * s] = (d1 - d3) + (d1 - d3) - d2 + d4;
    }

    /// <summary>(p[0], p[s], p[2s], p[3s]) ← Aᵀ·(p[0], …, p[4s]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void OutputTransform1D(Vector256<float>* p, int s)
    {
        Vector256<float> m0 = p[0], m1 = p[s], m2 = p[2 * s], m3 = p[3 * s], m4 = p[4 * s];
        var sum = m1 + m2;
        var diff = m1 - m2;
        var m3x2 = m3 + m3;
        p[0] = m0 + sum + m3;
        p[s] = diff + m3x2;
        p[2 * s] = sum + m3x2 + m3x2;
        p[3 * s] = diff + Vector256.Create(8f) * m3 + m4;
    }

    /// <summary>
    /// The forward's output tiles, Aᵀ·M·A (+ bias[ch]), for every channel ch of M[ξ][ch][t] (Cout × t per point): the
    /// 4×4 outputs of tile t = (n·tilesH + th)·tilesW + tw land at rows 4·th… and columns 4·tw… of y[n, ch], those past the
    /// plane's end dropped. One work item per channel and block of 8 tiles.
    /// </summary>
    private static unsafe void OutputTransformCpu(CpuParallel cpu, float* m, float* dst, float* bias, ConvGeometry g, int tilesH, int tilesW, int t)
    {
        int blocks = (t + 7) / 8, channels = g.Cout, plane = g.P, ho = g.Ho, wo = g.Wo, tps = tilesH * tilesW;
        long pointStride = PointStride(channels, t);
        nint mp = (nint)m, dp = (nint)dst, bp = (nint)bias;
        cpu.ForChunks(channels * blocks, CpuParallel.Grain(WinoPoints * 8 * 4), (s, e) =>
        {
            var d = stackalloc Vector256<float>[WinoPoints];
            var o = stackalloc float[16 * 8];      // [output position][tile]
            var byTile = stackalloc float[16 * 8]; // [rows 0–1 | rows 2–3][tile][position in those rows]
            for (int item = s; item < e; item++)
            {
                int ch = item % channels, t0 = item / channels * 8, lanes = Math.Min(8, t - t0);
                float* src = (float*)mp + (long)ch * t + t0;
                if (lanes == 8)
                    for (int xi = 0; xi < WinoPoints; xi++) d[xi] = Vector256.Load(src + xi * pointStride);
                else
                {
                    var mask = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(lanes)).AsSingle();
                    for (int xi = 0; xi < WinoPoints; xi++) d[xi] = Avx.MaskLoad(src + xi * pointStride, mask);
                }
                for (int j = 0; j < 5; j++) OutputTransform1D(d + j, 5);
                for (int i = 0; i < 4; i++) OutputTransform1D(d + 5 * i, 1);
                var b = Vector256.Create(bp == 0 ? 0f : ((float*)bp)[ch]);
                for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    (d[5 * i + j] + b).Store(o + (4 * i + j) * 8);
                // o holds position-major rows (8 tiles each); two 8×8 transposes give each tile its 16 outputs in row order,
                // so a tile row is one 4-float store (masked at the plane's right edge).
                MatMulKernels.Transpose8x8(o, 8, byTile);
                MatMulKernels.Transpose8x8(o + 64, 8, byTile + 64);
                float* dc = (float*)dp + (long)ch * plane;
                // Tile t0's sample and position, then stepped along with the lanes (no division per lane).
                int n = t0 / tps, th = t0 % tps / tilesW, tw = t0 % tilesW;
                for (int l = 0; l < lanes; l++, tw++)
                {
                    if (tw == tilesW) (tw, th) = (0, th + 1);
                    if (th == tilesH) (th, n) = (0, n + 1);
                    int row0 = 4 * th, col0 = 4 * tw, cols = Math.Min(4, wo - col0);
                    float* tile = dc + (long)n * channels * plane + (long)row0 * wo + col0;
                    var colMask = Vector128.LessThan(Vector128<int>.Indices, Vector128.Create(cols)).AsSingle();
                    for (int i = 0; i < 4 && row0 + i < ho; i++)
                    {
                        float* from = byTile + (i >> 1) * 64 + l * 8 + (i & 1) * 4, to = tile + (long)i * wo;
                        if (cols == 4) Vector128.Load(from).Store(to);
                        else Avx.MaskStore(to, colMask, Vector128.Load(from));
                    }
                }
            }
        });
    }
}
