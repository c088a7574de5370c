// Losses: scalar means over all elements.
//
// BCE with logits, per element: ℓ(x, t) = max(x, 0) − x·t + log(1 + e^−|x|). e^−|x| ≤ 1, so nothing
// overflows for any x (at |x| = 1e4 the log term is exactly 0 in float32 and ℓ = max(x,0) − x·t).
//   ∂ℓ/∂x = σ(x) − t,  ∂ℓ/∂t = −x.
// BCE on probabilities, per element: ℓ(p, t) = −[t·max(log p, −100) + (1 − t)·max(log(1 − p), −100)]
// (PyTorch clamps the logs so p = 0 or 1 gives a finite loss).
//   ∂ℓ/∂p = (p − t) / max(p(1 − p), 1e-12) (PyTorch's binary_cross_entropy_backward),
//   ∂ℓ/∂t = max(log(1 − p), −100) − max(log p, −100).
// Both are one fused elementwise kernel (the composed form would take five to seven passes) with a
// rule of differentiable ops, then a Mean. Mse and L1 are composed: (x − t)² and |x − t|, then Mean.
// Targets are a tensor of the same shape, or a scalar label (stride 0) for GAN real/fake labels.
//
// The WGAN-GP gradient penalty (Gulrajani et al. 2017) of per-sample gradients G (N, …), L = size/N:
//   s_n = √(Σ_i G_ni² + ε),   P = λ/N · Σ_n (s_n − 1)²
//   ∂P/∂G_ni = k·(1 − 1/s_n)·G_ni,  k = 2λ/N                      (GradientPenaltyBackward, B(u, G) = u·∂P/∂G)
//   B's rule, upstream V:  ∂/∂u = k·Σ_ni V_ni (1 − 1/s_n) G_ni,
//                          ∂/∂G_nj = u·k·[(1 − 1/s_n)·V_nj + G_nj·(Σ_i V_ni G_ni)/s_n³]   (composed ops)
// Composed, P took eight launches forward and twelve backward (square, sum, affine, sqrt, affine, square,
// mean, affine and their rules), each on N or fewer elements, five times per WGAN-GP iteration. Fused:
// ILGPU forward is two launches (sums of squares of fixed chunks of each sample, one group per chunk; then
// one group adds each sample's chunks in order, takes s_n, and adds the (s_n − 1)² in a fixed order), the
// backward one elementwise launch that reads the saved s_n. No float atomics: same bits on a device.
//
// The penalty's interpolates, one α per sample (L elements each):
//   x̂_ni = x_ni·α_n + f_ni·(1 − α_n)
//   rule: dx = g·α, df = g·(1 − α), dα_n = Σ_i g_ni (x_ni − f_ni)   (composed ops)
// One launch instead of four (two products, 1 − α and the sum), with the composed form's roundings.
//
// The Wasserstein critic loss of one critic pass over a joint batch (R real samples first, then F generated):
//   W(s) = Σ_{i≥R} s_i/F − Σ_{i<R} s_i/R (+ p)  (mean D(fake) − mean D(real), plus an optional scalar such as the penalty)
//   ∂W/∂s_i = −1/R (i < R), 1/F (i ≥ R)         (WassersteinCriticBackward, B(u) = u·∂W/∂s)
//   B is linear in u, and its adjoint is W itself: B's rule is du = W(V). The family is closed, so every
//   order exists. One launch each way (one group sums each part in a fixed order and also writes the two means).
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

internal enum LossOp
{
    BceWithLogits,
    Bce,
}

internal static class LossKernels
{
    // ============================================================ float64 reference

    public static double Reference(LossOp op, double x, double t) => op switch
    {
        LossOp.BceWithLogits => Math.Max(x, 0) - x * t + Math.Log(1 + Math.Exp(-Math.Abs(x))),
        LossOp.Bce => -(t * Math.Max(Math.Log(x), -100) + (1 - t) * Math.Max(Math.Log(1 - x), -100)),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    /// <summary>The float64 partial derivatives (∂ℓ/∂x, ∂ℓ/∂t) of <see cref="Reference"/> per element (the oracle of the rules; see the header).</summary>
    public static (double X, double T) ReferenceDerivative(LossOp op, double x, double t) => op switch
    {
        LossOp.BceWithLogits => (1 / (1 + Math.Exp(-x)) - t, -x),
        LossOp.Bce => ((x - t) / Math.Max(x * (1 - x), 1e-12), Math.Max(Math.Log(1 - x), -100) - Math.Max(Math.Log(x), -100)),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    // ============================================================ ILGPU kernels

    /// <summary>Per-element loss; targetStride 0 reads one scalar label.</summary>
    [GpuKernel]
    public static void LossKernel(Index1D i, ArrayView<float> x, ArrayView<float> t, ArrayView<float> y, int targetStride, int op)
    {
        float xv = x[i], tv = t[i * targetStride];
        if (op == (int)LossOp.BceWithLogits)
        {
            y[i] = (xv > 0f ? xv : 0f) - xv * tv + MathF.Log(1f + MathF.Exp(-MathF.Abs(xv)));
        }
        else
        {
            float lp = MathF.Max(MathF.Log(xv), -100f), lq = MathF.Max(MathF.Log(1f - xv), -100f);
            y[i] = -(tv * lp + (1f - tv) * lq);
        }
    }

    // ============================================================ CPU SIMD kernels

    public static unsafe void LossCpu(CpuParallel cpu, LossOp op, float* x, float* t, float* y, int n, int targetStride)
    {
        nint xp = (nint)x, tp = (nint)t, yp = (nint)y;
        cpu.ForChunks(n, CpuParallel.ChunkWork, (start, end) =>
        {
            float* xs = (float*)xp, ts = (float*)tp, ys = (float*)yp;
            int i = start;
            var one = Vector256.Create(1f);
            var floor = Vector256.Create(-100f);
            for (; i <= end - 8; i += 8)
            {
                var xv = Vector256.Load(xs + i);
                var tv = targetStride == 0 ? Vector256.Create(*ts) : Vector256.Load(ts + i);
                Vector256<float> r;
                if (op == LossOp.BceWithLogits)
                    r = Vector256.Max(xv, Vector256<float>.Zero) - xv * tv + Vector256.Log(one + Vector256.Exp(-Vector256.Abs(xv)));
                else
                    r = -(tv * Vector256.Max(Vector256.Log(xv), floor) + (one - tv) * Vector256.Max(Vector256.Log(one - xv), floor));
                r.Store(ys + i);
            }
            for (; i < end; i++)
            {
                float xv = xs[i], tv = ts[i * targetStride];
                ys[i] = op == LossOp.BceWithLogits
                    ? MathF.Max(xv, 0f) - xv * tv + MathF.Log(1f + MathF.Exp(-MathF.Abs(xv)))
                    : -(tv * MathF.Max(MathF.Log(xv), -100f) + (1f - tv) * MathF.Max(MathF.Log(1f - xv), -100f));
            }
        });
    }

    // ============================================================ launcher

    public static unsafe Tensor LossRaw(LossOp op, Tensor x, Tensor t)
    {
        x.CheckSameDevice(t, op.ToString());
        int stride = t.Size == 1 ? 0 : 1;
        if (stride == 1 && t.Shape != x.Shape)
            throw new ShapeMismatchException($"{op}: targets {t.Describe()} must have the input's shape {x.Describe()} (or be a single label)");
        var y = Tensor.Empty(x.Shape, x.Device);
        if (x.Size == 0) return y;
        if (x.Device.IsHost)
        {
            fixed (float* xp = x.HostSpan, tp = t.HostSpan, yp = y.HostSpan) LossCpu(x.Device.Parallel, op, xp, tp, yp, x.Size, stride);
        }
        else
        {
            // Per element: BCE with logits is 8 operations (max, mul, sub, abs, exp, add, log, add), BCE 10.
            long n = x.Size;
            var cost = new LaunchCost(Flops: n * (op == LossOp.BceWithLogits ? 8 : 10), BytesRead: (n + (stride == 1 ? n : 1)) * sizeof(float),
                BytesWritten: n * sizeof(float), SerialLoop: 1);
            x.Device.Launch(LossKernel, x.Size, cost, x.View, t.View, y.View, stride, (int)op);
        }
        return y;
    }
}

/// <summary>Sizes of one gradient-penalty launch: N samples of L elements, C chunks of Chunk elements per sample.</summary>
internal struct PenaltyParams
{
    public int N, L, Chunks, Chunk;
    public float Weight, Eps;
}

internal static class PenaltyKernels
{
    private const int GroupThreads = ReductionKernels.GroupThreads;

    // ============================================================ float64 reference

    /// <summary>√(Σ_i G_ni² + ε) per sample (double).</summary>
    public static double[] NormsReference(double[] g, int n, double eps)
    {
        int l = g.Length / n;
        var s = new double[n];
        for (int i = 0; i < n; i++)
        {
            double acc = 0;
            for (int j = 0; j < l; j++) acc += g[i * l + j] * g[i * l + j];
            s[i] = Math.Sqrt(acc + eps);
        }
        return s;
    }

    /// <summary>P = λ/N · Σ_n (s_n − 1)² (the test oracle).</summary>
    public static double Reference(double[] g, int n, double weight, double eps)
        => weight / n * NormsReference(g, n, eps).Sum(v => (v - 1) * (v - 1));

    /// <summary>B(u, G) = u·(2λ/N)(1 − 1/s_n)·G_ni.</summary>
    public static double[] BackwardReference(double u, double[] g, int n, double weight, double eps)
    {
        var s = NormsReference(g, n, eps);
        int l = g.Length / n;
        double k = 2 * weight / n;
        return g.Select((v, i) => u * k * (1 - 1 / s[i / l]) * v).ToArray();
    }

    /// <summary>The VJP of B with upstream V: (∂/∂u, ∂/∂G), the header's formulas in double.</summary>
    public static (double U, double[] G) BackwardVjpReference(double u, double[] g, double[] v, int n, double weight, double eps)
    {
        var s = NormsReference(g, n, eps);
        int l = g.Length / n;
        double k = 2 * weight / n, du = 0;
        var dg = new double[g.Length];
        for (int i = 0; i < n; i++)
        {
            double dot = 0, h = 1 - 1 / s[i];
            for (int j = 0; j < l; j++) dot += v[i * l + j] * g[i * l + j];
            du += k * h * dot;
            for (int j = 0; j < l; j++) dg[i * l + j] = u * k * (h * v[i * l + j] + g[i * l + j] * dot / (s[i] * s[i] * s[i]));
        }
        return (du, dg);
    }

    // ============================================================ ILGPU kernels

    /// <summary>partial[group] = Σ G² over chunk (group mod Chunks) of sample (group / Chunks): each thread every 256th element in order, an xor butterfly per warp, the 8 warp sums in order.</summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void PenaltySquaresKernel(ArrayView<float> g, ArrayView<float> partial, PenaltyParams s)
    {
        var warpSums = SharedMemory.Allocate1D<float>(GroupThreads / 32);
        int b = Grid.IdxX, t = Group.IdxX;
        int sample = b / s.Chunks, start = (b - sample * s.Chunks) * s.Chunk, end = Math.Min(s.L, start + s.Chunk);
        long row = (long)sample * s.L;
        float acc = 0f;
        for (int e = start + t; e < end; e += GroupThreads)
        {
            float v = g[row + e];
            acc += v * v;
        }
        float sum = ReductionKernels.GroupTotal(acc, warpSums);
        if (t == 0) partial[b] = sum;
    }

    /// <summary>
    /// One group: s_n = √(Σ_c partial[n, c] + ε) in chunk order (thread t takes samples t, t + 256, …), norms[n] = s_n,
    /// then y = λ/N·Σ_n (s_n − 1)², each thread's terms in order, a butterfly per warp, the warp sums in order.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void PenaltyCombineKernel(ArrayView<float> partial, ArrayView<float> norms, ArrayView<float> y, PenaltyParams s)
    {
        var warpSums = SharedMemory.Allocate1D<float>(GroupThreads / 32);
        int t = Group.IdxX;
        float acc = 0f;
        for (int n = t; n < s.N; n += GroupThreads)
        {
            float sq = partial[n * s.Chunks];
            for (int c = 1; c < s.Chunks; c++) sq += partial[n * s.Chunks + c];
            float norm = MathF.Sqrt(sq + s.Eps);
            norms[n] = norm;
            float d = norm - 1f;
            acc += d * d;
        }
        float sum = ReductionKernels.GroupTotal(acc, warpSums);
        if (t == 0) y[0] = s.Weight / s.N * sum;
    }

    /// <summary>dG[i] = u·(2λ/N)·(1 − 1/s_n)·G[i], n = i / L.</summary>
    [GpuKernel]
    public static void PenaltyBackwardKernel(Index1D i, ArrayView<float> u, ArrayView<float> g, ArrayView<float> norms, ArrayView<float> dg, PenaltyParams s)
    {
        float k = u[0] * (2f * s.Weight / s.N);
        dg[i] = k * (1f - 1f / norms[i / s.L]) * g[i];
    }

    // ============================================================ CPU SIMD kernels

    /// <summary>norms[n] = √(Σ G_n² + ε) (8 lanes in element order, the lanes added in order, the tail after), then the penalty, samples in order.</summary>
    public static unsafe float ForwardCpu(CpuParallel cpu, float* g, float* norms, in PenaltyParams s)
    {
        nint gp = (nint)g, np = (nint)norms;
        int l = s.L;
        float eps = s.Eps;
        cpu.ForChunks(s.N, CpuParallel.Grain(l), (start, end) =>
        {
            for (int n = start; n < end; n++)
            {
                float* row = (float*)gp + (long)n * l;
                var acc = Vector256<float>.Zero;
                int i = 0;
                for (; i <= l - 8; i += 8)
                {
                    var v = Vector256.Load(row + i);
                    acc += v * v;
                }
                float sq = 0f;
                for (int lane = 0; lane < 8; lane++) sq += acc.GetElement(lane);
                for (; i < l; i++) sq += row[i] * row[i];
                ((float*)np)[n] = MathF.Sqrt(sq + eps);
            }
        });
        float sum = 0f;
        for (int n = 0; n < s.N; n++)
        {
            float d = norms[n] - 1f;
            sum += d * d;
        }
        return s.Weight / s.N * sum;
    }

    public static unsafe void BackwardCpu(CpuParallel cpu, float u, float* g, float* norms, float* dg, in PenaltyParams s)
    {
        nint gp = (nint)g, np = (nint)norms, dp = (nint)dg;
        int l = s.L;
        float k = u * (2f * s.Weight / s.N);
        cpu.ForChunks(s.N, CpuParallel.Grain(l), (start, end) =>
        {
            for (int n = start; n < end; n++)
            {
                float c = k * (1f - 1f / ((float*)np)[n]);
                float* row = (float*)gp + (long)n * l, drow = (float*)dp + (long)n * l;
                var cv = Vector256.Create(c);
                int i = 0;
                for (; i <= l - 8; i += 8) (cv * Vector256.Load(row + i)).Store(drow + i);
                for (; i < l; i++) drow[i] = c * row[i];
            }
        });
    }

    // ============================================================ launchers

    public static PenaltyParams Params(Tensor g, float weight, float eps)
    {
        int n = g.Shape[0];
        return new PenaltyParams { N = n, L = n == 0 ? 0 : g.Size / n, Weight = weight, Eps = eps };
    }

    /// <summary>The penalty (a scalar) and the per-sample norms s_n (N), unrecorded.</summary>
    public static unsafe (Tensor Y, Tensor Norms) ForwardRaw(Tensor g, float weight, float eps)
    {
        var s = Params(g, weight, eps);
        var y = Tensor.Empty(new Shape(), g.Device);
        var norms = Tensor.Empty(new Shape(s.N), g.Device);
        if (g.Device.IsHost)
        {
            fixed (float* gp = g.HostSpan, np = norms.HostSpan) y.HostSpan[0] = ForwardCpu(g.Device.Parallel, gp, np, s);
            return (y, norms);
        }
        var device = g.Device;
        // Chunks of 256 threads × ReductionElementsPerThread: no thread walks more, and a long sample spreads over groups.
        int chunk = GroupThreads * device.GpuOptions.ReductionElementsPerThread;
        s.Chunks = Math.Max(1, (s.L + chunk - 1) / chunk);
        s.Chunk = chunk;
        int groups = s.N * s.Chunks;
        using var partial = Tensor.Empty(new Shape(groups), device);
        long elements = (long)s.N * s.L;
        var squares = new LaunchCost(Flops: 2 * elements, BytesRead: elements * sizeof(float), BytesWritten: (long)groups * sizeof(float),
            SerialLoop: (Math.Min(s.L, chunk) + GroupThreads - 1) / GroupThreads + 5 + GroupThreads / 32);
        device.Launch(PenaltySquaresKernel, new KernelConfig(groups, GroupThreads), squares, g.View, partial.View, s);
        // Per sample: Chunks adds, √, a subtract and a square-add; then the warp butterflies and 8 warp sums.
        var combine = new LaunchCost(Flops: (long)s.N * (s.Chunks + 4) + 2, BytesRead: (long)groups * sizeof(float), BytesWritten: (s.N + 1L) * sizeof(float),
            SerialLoop: (s.N + GroupThreads - 1) / GroupThreads * s.Chunks + 5 + GroupThreads / 32);
        device.Launch(PenaltyCombineKernel, new KernelConfig(1, GroupThreads), combine, partial.View, norms.View, y.View, s);
        return (y, norms);
    }

    /// <summary>B(u, G) from the saved norms, unrecorded.</summary>
    public static unsafe Tensor BackwardRaw(Tensor u, Tensor g, Tensor norms, float weight, float eps)
    {
        var s = Params(g, weight, eps);
        var dg = Tensor.Empty(g.Shape, g.Device);
        if (g.Size == 0) return dg;
        if (g.Device.IsHost)
        {
            fixed (float* gp = g.HostSpan, np = norms.HostSpan, dp = dg.HostSpan) BackwardCpu(g.Device.Parallel, u.HostSpan[0], gp, np, dp, s);
        }
        else
        {
            // Per element: 1/s, 1 − ·, two multiplies (the scalar k is recomputed per thread: 2 more).
            g.Device.Launch(PenaltyBackwardKernel, g.Size, LaunchCost.Elementwise(g.Size, 6, 2), u.View, g.View, norms.View, dg.View, s);
        }
        return dg;
    }
}

internal static class InterpolateKernels
{
    /// <summary>x̂ = x·α + f·(1 − α) per sample, in double.</summary>
    public static double[] Reference(double[] x, double[] f, double[] alpha)
    {
        int l = x.Length / alpha.Length;
        return x.Select((v, i) => v * alpha[i / l] + f[i] * (1 - alpha[i / l])).ToArray();
    }

    [GpuKernel]
    public static void InterpolateKernel(Index1D i, ArrayView<float> x, ArrayView<float> f, ArrayView<float> alpha, ArrayView<float> y, int l)
    {
        float a = alpha[i / l];
        y[i] = x[i] * a + f[i] * (-1f * a + 1f);
    }

    /// <summary>The same float operations as the ILGPU kernel and the composed form (Mul, Affine(−1, 1), Mul, Add).</summary>
    public static unsafe void InterpolateCpu(CpuParallel cpu, float* x, float* f, float* alpha, float* y, int n, int l)
    {
        nint xp = (nint)x, fp = (nint)f, ap = (nint)alpha, yp = (nint)y;
        cpu.ForChunks(n, CpuParallel.Grain(l), (start, end) =>
        {
            for (int s = start; s < end; s++)
            {
                float a = ((float*)ap)[s], b = -1f * a + 1f;
                var av = Vector256.Create(a);
                var bv = Vector256.Create(b);
                float* xs = (float*)xp + (long)s * l, fs = (float*)fp + (long)s * l, ys = (float*)yp + (long)s * l;
                int i = 0;
                for (; i <= l - 8; i += 8) (Vector256.Load(xs + i) * av + Vector256.Load(fs + i) * bv).Store(ys + i);
                for (; i < l; i++) ys[i] = xs[i] * a + fs[i] * b;
            }
        });
    }

    public static unsafe Tensor ForwardRaw(Tensor x, Tensor f, Tensor alpha)
    {
        var y = Tensor.Empty(x.Shape, x.Device);
        int n = alpha.Size, l = n == 0 ? 0 : x.Size / n;
        if (x.Size == 0) return y;
        if (x.Device.IsHost)
        {
            fixed (float* xp = x.HostSpan, fp = f.HostSpan, ap = alpha.HostSpan, yp = y.HostSpan) InterpolateCpu(x.Device.Parallel, xp, fp, ap, yp, n, l);
        }
        else
        {
            // Per element: two products, 1 − α and the sum; x and f read (α once per sample), y written.
            x.Device.Launch(InterpolateKernel, x.Size, LaunchCost.Elementwise(x.Size, 5, 2), x.View, f.View, alpha.View, y.View, l);
        }
        return y;
    }
}

internal static class WassersteinKernels
{
    private const int GroupThreads = ReductionKernels.GroupThreads;

    // ============================================================ float64 reference

    /// <summary>(W, mean of the real part, mean of the generated part) in double.</summary>
    public static (double Loss, double Real, double Fake) Reference(double[] s, int realCount)
    {
        double r = s.Take(realCount).Sum() / realCount, f = s.Skip(realCount).Sum() / (s.Length - realCount);
        return (f - r, r, f);
    }

    /// <summary>B(u) = u·∂W/∂s.</summary>
    public static double[] BackwardReference(double u, int count, int realCount)
        => Enumerable.Range(0, count).Select(i => i < realCount ? -u / realCount : u / (count - realCount)).ToArray();

    // ============================================================ ILGPU kernels

    /// <summary>One group: each part's sum (every thread every 256th element in order, an xor butterfly per warp, the warp sums in order).</summary>
    private static float GroupSum(ArrayView<float> s, int start, int end, ArrayView<float> warpSums)
    {
        float acc = 0f;
        for (int i = start + Group.IdxX; i < end; i += GroupThreads) acc += s[i];
        return ReductionKernels.GroupTotal(acc, warpSums);
    }

    /// <summary>y = mean(s[R:]) − mean(s[:R]) (+ addend[0] when hasAddend), and the two means.</summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void WassersteinCriticKernel(ArrayView<float> s, ArrayView<float> y, ArrayView<float> meanReal, ArrayView<float> meanFake,
        ArrayView<float> addend, int count, int realCount, int hasAddend)
    {
        var warpSums = SharedMemory.Allocate1D<float>(GroupThreads / 32);
        float real = GroupSum(s, 0, realCount, warpSums) / realCount;
        float fake = GroupSum(s, realCount, count, warpSums) / (count - realCount);
        if (Group.IdxX == 0)
        {
            y[0] = hasAddend != 0 ? fake - real + addend[0] : fake - real;
            meanReal[0] = real;
            meanFake[0] = fake;
        }
    }

    /// <summary>d[i] = −u/R for the real part, u/F for the generated part.</summary>
    [GpuKernel]
    public static void WassersteinCriticBackwardKernel(Index1D i, ArrayView<float> u, ArrayView<float> d, int count, int realCount)
        => d[i] = i < realCount ? -u[0] / realCount : u[0] / (count - realCount);

    // ============================================================ CPU kernels (a few hundred scores: plain loops, fixed order)

    public static (float Loss, float Real, float Fake) ForwardCpu(ReadOnlySpan<float> s, int realCount, float? addend)
    {
        float r = 0f, f = 0f;
        for (int i = 0; i < realCount; i++) r += s[i];
        for (int i = realCount; i < s.Length; i++) f += s[i];
        r /= realCount;
        f /= s.Length - realCount;
        return (addend is { } a ? f - r + a : f - r, r, f);
    }

    // ============================================================ launchers

    public static (Tensor Y, Tensor Real, Tensor Fake) ForwardRaw(Tensor s, int realCount, Tensor? addend)
    {
        var y = Tensor.Empty(new Shape(), s.Device);
        var real = Tensor.Empty(new Shape(), s.Device);
        var fake = Tensor.Empty(new Shape(), s.Device);
        if (s.Device.IsHost)
        {
            var (loss, r, f) = ForwardCpu(s.HostSpan, realCount, addend?.HostSpan[0]);
            y.HostSpan[0] = loss;
            real.HostSpan[0] = r;
            fake.HostSpan[0] = f;
        }
        else
        {
            int n = s.Size;
            var cost = new LaunchCost(Flops: n + 4, BytesRead: (n + 1L) * sizeof(float), BytesWritten: 3 * sizeof(float),
                SerialLoop: 2 * ((n + GroupThreads - 1) / GroupThreads + 5 + GroupThreads / 32));
            s.Device.Launch(WassersteinCriticKernel, new KernelConfig(1, GroupThreads), cost, s.View, y.View, real.View, fake.View,
                (addend ?? s).View, n, realCount, addend is null ? 0 : 1);
        }
        return (y, real, fake);
    }

    public static Tensor BackwardRaw(Tensor u, Shape shape, int realCount)
    {
        var d = Tensor.Empty(shape, u.Device);
        int n = shape.Size;
        if (u.Device.IsHost)
        {
            float uv = u.HostSpan[0];
            var ds = d.HostSpan;
            for (int i = 0; i < n; i++) ds[i] = i < realCount ? -uv / realCount : uv / (n - realCount);
        }
        else
        {
            u.Device.Launch(WassersteinCriticBackwardKernel, n, LaunchCost.Elementwise(n, 2, 0), u.View, d.View, n, realCount);
        }
        return d;
    }
}

/// <summary>Loss functions; each returns a scalar tensor (mean over all elements).</summary>
public static class Losses
{
    // ============================================================ ops and derivative rules

    /// <summary>Mean of max(x, 0) − x·t + log(1 + e^−|x|): stable for any |x|.</summary>
    public static Tensor BceWithLogits(Tensor logits, Tensor targets)
    {
        using var _ = logits.Device.BeginOp("BceWithLogits");
        return BceWithLogitsElementwise(logits, targets).Mean();
    }

    /// <summary>BCE with logits against one label for every element (GAN real = 1, fake = 0).</summary>
    public static Tensor BceWithLogits(Tensor logits, float target) => BceWithLogits(logits, Tensor.Scalar(target, logits.Device));

    /// <summary>Mean of −[t·log p + (1 − t)·log(1 − p)], with the logs clamped at −100 as PyTorch does.</summary>
    public static Tensor Bce(Tensor probabilities, Tensor targets)
    {
        using var _ = probabilities.Device.BeginOp("Bce");
        return BceElementwise(probabilities, targets).Mean();
    }

    /// <summary>BCE against one label for every element.</summary>
    public static Tensor Bce(Tensor probabilities, float target) => Bce(probabilities, Tensor.Scalar(target, probabilities.Device));

    /// <summary>Mean of (x − t)².</summary>
    public static Tensor Mse(Tensor input, Tensor target)
    {
        using var _ = input.Device.BeginOp("Mse");
        return input.Sub(CheckTarget(input, target, "Mse")).Square().Mean();
    }

    /// <summary>Mean of (input − target)² against a scalar target.</summary>
    public static Tensor Mse(Tensor input, float target)
    {
        using var _ = input.Device.BeginOp("Mse");
        return input.AddScalar(-target).Square().Mean();
    }

    /// <summary>Mean of |x − t|.</summary>
    public static Tensor L1(Tensor input, Tensor target)
    {
        using var _ = input.Device.BeginOp("L1");
        return input.Sub(CheckTarget(input, target, "L1")).Abs().Mean();
    }

    /// <summary>Mean of |input − target| against a scalar target.</summary>
    public static Tensor L1(Tensor input, float target)
    {
        using var _ = input.Device.BeginOp("L1");
        return input.AddScalar(-target).Abs().Mean();
    }

    /// <summary>
    /// The WGAN-GP gradient penalty of per-sample gradients <paramref name="gradients"/> (N, …):
    /// λ/N · Σ_n (√(Σ_i G_ni² + ε) − 1)², as one fused op (two launches forward, one backward on a GPU)
    /// whose derivative is itself a differentiable op, so it can sit inside a double backward.
    /// </summary>
    /// <param name="gradients">∇x̂ D(x̂), one row per sample (N ≥ 1).</param>
    /// <param name="weight">λ.</param>
    /// <param name="epsilon">ε inside the square root (keeps the derivative finite at a zero gradient).</param>
    /// <exception cref="ShapeMismatchException">A tensor of rank below 2, or an empty batch.</exception>
    public static Tensor GradientPenalty(Tensor gradients, float weight, float epsilon)
    {
        if (gradients.Rank < 2 || gradients.Shape[0] == 0)
            throw new ShapeMismatchException($"GradientPenalty: expects (N, …) with N ≥ 1 and at least one feature dimension, got {gradients.Describe()}");
        using var _ = gradients.Device.BeginOp("GradientPenalty");
        var (y, norms) = PenaltyKernels.ForwardRaw(gradients, weight, epsilon);
        if (!Autograd.IsEnabled || !gradients.RequiresGrad) norms.Dispose();
        return Autograd.Record(y, "GradientPenalty", [gradients], g => [GradientPenaltyBackward(g[0], gradients, norms, weight, epsilon)]);
    }

    /// <summary>B(u, G) = u·(2λ/N)(1 − 1/s_n)·G_ni, from the forward's saved norms; its rule is composed (see the header).</summary>
    internal static Tensor GradientPenaltyBackward(Tensor u, Tensor g, Tensor norms, float weight, float epsilon)
    {
        using var _ = g.Device.BeginOp("GradientPenaltyBackward");
        var dg = PenaltyKernels.BackwardRaw(u, g, norms, weight, epsilon);
        return Autograd.Record(dg, "GradientPenaltyBackward", [u, g], (gv, need) =>
        {
            var v = gv[0];
            int n = g.Shape[0];
            float k = 2f * weight / n;
            var axes = Enumerable.Range(1, g.Rank - 1).ToArray();
            // Per sample (N, 1, …): s, h = 1 − 1/s, ⟨V_n, G_n⟩.
            var s = g.Square().Sum(axes, keepDim: true).AddScalar(epsilon).Sqrt();
            var h = s.Pow(-1f).Affine(-1f, 1f);
            var dot = v.Mul(g).Sum(axes, keepDim: true);
            Tensor? du = null, dG = null;
            if (need[0]) du = dot.Mul(h).Sum().MulScalar(k).Reshape(u.Shape.ToArray());
            if (need[1]) dG = v.Mul(h).Add(g.Mul(dot.Mul(s.Pow(-3f)))).Mul(u).MulScalar(k);
            return [du, dG];
        });
    }

    /// <summary>
    /// The gradient penalty's interpolates x̂ = x·α + f·(1 − α), one α per sample (one launch on a GPU).
    /// Differentiable in all three inputs.
    /// </summary>
    /// <param name="real">x, (N, …).</param>
    /// <param name="fake">f, x's shape.</param>
    /// <param name="alpha">α, N elements: (N) or (N, 1, …).</param>
    /// <exception cref="ShapeMismatchException">Shapes that do not fit.</exception>
    public static Tensor Interpolate(Tensor real, Tensor fake, Tensor alpha)
    {
        real.CheckSameDevice(fake, "Interpolate");
        real.CheckSameDevice(alpha, "Interpolate");
        if (fake.Shape != real.Shape || real.Rank < 1 || alpha.Size != real.Shape[0] || alpha.Shape[0] != real.Shape[0])
            throw new ShapeMismatchException($"Interpolate: x {real.Describe()}, f {fake.Describe()} (the same shape) and α {alpha.Describe()} (one per sample)");
        using var _ = real.Device.BeginOp("Interpolate");
        var y = InterpolateKernels.ForwardRaw(real, fake, alpha);
        return Autograd.Record(y, "Interpolate", [real, fake, alpha], (g, need) =>
        {
            // α broadcast over each sample as (N, 1, …).
            var dims = new int[real.Rank];
            Array.Fill(dims, 1);
            dims[0] = real.Shape[0];
            var a = alpha.Reshape(dims);
            return
            [
                need[0] ? g[0].Mul(a) : null,
                need[1] ? g[0].Mul(a.Affine(-1f, 1f)) : null,
                need[2] ? g[0].Mul(real.Sub(fake)).SumTo(new Shape(dims)).Reshape(alpha.Shape.ToArray()) : null,
            ];
        });
    }

    /// <summary>
    /// The Wasserstein critic loss of one critic pass over a joint batch, real samples first: mean of the generated
    /// part − mean of the real part, plus <paramref name="addend"/> when given (a penalty), in one launch each way on a GPU,
    /// with the two means (scalars without a graph, for logging).
    /// </summary>
    /// <param name="scores">D's scores, (R + F) or (R + F, 1): the first <paramref name="realCount"/> on real samples.</param>
    /// <param name="realCount">R, with 1 ≤ R &lt; the sample count.</param>
    /// <param name="meanReal">Mean D(real), a scalar.</param>
    /// <param name="meanFake">Mean D(fake), a scalar.</param>
    /// <param name="addend">A scalar added to the loss (its gradient is the upstream one), or null.</param>
    /// <exception cref="ShapeMismatchException">Scores with more than one value per sample.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An empty real or generated part.</exception>
    public static Tensor WassersteinCritic(Tensor scores, int realCount, out Tensor meanReal, out Tensor meanFake, Tensor? addend = null)
    {
        if (scores.Rank < 1 || scores.Size != scores.Shape[0])
            throw new ShapeMismatchException($"WassersteinCritic: expects one score per sample, (N) or (N, 1), got {scores.Describe()}");
        if (realCount < 1 || realCount >= scores.Size)
            throw new ArgumentOutOfRangeException(nameof(realCount), realCount, $"WassersteinCritic: needs real and generated samples among {scores.Size}");
        if (addend is not null)
        {
            scores.CheckSameDevice(addend, "WassersteinCritic");
            if (addend.Size != 1) throw new ShapeMismatchException($"WassersteinCritic: the addend {addend.Describe()} must be one value");
        }
        using var _ = scores.Device.BeginOp("WassersteinCritic");
        (var y, meanReal, meanFake) = WassersteinKernels.ForwardRaw(scores, realCount, addend);
        var shape = scores.Shape;
        if (addend is null) return Autograd.Record(y, "WassersteinCritic", [scores], g => [WassersteinCriticBackward(g[0], shape, realCount)]);
        var addendShape = addend.Shape.ToArray();
        return Autograd.Record(y, "WassersteinCritic", [scores, addend], (g, need) =>
            [need[0] ? WassersteinCriticBackward(g[0], shape, realCount) : null, need[1] ? g[0].Reshape(addendShape) : null]);
    }

    /// <summary>B(u) = u·∂W/∂s (−u/R on the real part, u/F on the generated part); its rule is W of the upstream gradient.</summary>
    internal static Tensor WassersteinCriticBackward(Tensor u, Shape shape, int realCount)
    {
        using var scope = u.Device.BeginOp("WassersteinCriticBackward");
        var d = WassersteinKernels.BackwardRaw(u, shape, realCount);
        return Autograd.Record(d, "WassersteinCriticBackward", [u], g => [WassersteinCritic(g[0], realCount, out _, out _).Reshape(u.Shape.ToArray())]);
    }

    private static Tensor CheckTarget(Tensor input, Tensor target, string op)
    {
        if (target.Shape != input.Shape && target.Size != 1)
            throw new ShapeMismatchException($"{op}: target {target.Describe()} must have the input's shape {input.Describe()} (or be a single value)");
        return target;
    }

    /// <summary>Per-element BCE with logits; rule: dx = g·(σ(x) − t), dt = −g·x (differentiable ops, so twice differentiable).</summary>
    internal static Tensor BceWithLogitsElementwise(Tensor x, Tensor t)
    {
        var y = LossKernels.LossRaw(LossOp.BceWithLogits, x, t);
        return Autograd.Record(y, "BceWithLogits", [x, t], (g, need) =>
            [need[0] ? g[0].Mul(x.Sigmoid().Sub(t)) : null, need[1] ? g[0].Mul(x).Neg().SumTo(t.Shape) : null]);
    }

    /// <summary>Per-element BCE; rule: dp = g·(p − t)/max(p(1 − p), 1e-12), dt = g·(log(1 − p) − log p) (logs clamped at −100).</summary>
    internal static Tensor BceElementwise(Tensor p, Tensor t)
    {
        var y = LossKernels.LossRaw(LossOp.Bce, p, t);
        return Autograd.Record(y, "Bce", [p, t], (g, need) =>
        {
            Tensor? dp = null, dt = null;
            if (need[0]) dp = g[0].Mul(p.Sub(t)).Div(p.Mul(p.Affine(-1f, 1f)).Clamp(1e-12f, float.MaxValue));
            if (need[1]) dt = g[0].Mul(p.Affine(-1f, 1f).Log().Clamp(-100f, float.MaxValue).Sub(p.Log().Clamp(-100f, float.MaxValue))).SumTo(t.Shape);
            return [dp, dt];
        });
    }
}
