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
