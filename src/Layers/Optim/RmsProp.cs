// RMSprop, PyTorch's torch.optim.RMSprop semantics (defaults lr 0.01, α 0.99, ε 1e-8, not centered):
//   d ← g + λ·p                                   (when λ ≠ 0)
//   s ← α·s + (1 − α)·d²
//   centered: a ← α·a + (1 − α)·d;  r ← √(s − a²) + ε;   else r ← √s + ε
//   momentum μ > 0: b ← μ·b + d/r;  p ← p − lr·b;        else p ← p − lr·(d/r)
// ε is added outside the square root, as PyTorch (TensorFlow adds it inside). One fused kernel.
using System.Runtime.Intrinsics;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Layers.Optim;

internal struct RmsPropArgs
{
    public float Lr, Alpha, OneMinusAlpha, Eps, WeightDecay, Momentum;
    public int Centered, UseMomentum;
}

internal static class RmsPropKernels
{
    // ============================================================ float64 reference

    public static void StepReference(double[] p, double[] g, double[] sq, double[]? gAvg, double[]? buf,
        double lr, double alpha, double eps, double weightDecay, double momentum)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double d = g[i] + weightDecay * p[i];
            sq[i] = alpha * sq[i] + (1 - alpha) * d * d;
            double r;
            if (gAvg is not null)
            {
                gAvg[i] = alpha * gAvg[i] + (1 - alpha) * d;
                r = Math.Sqrt(sq[i] - gAvg[i] * gAvg[i]) + eps;
            }
            else r = Math.Sqrt(sq[i]) + eps;
            if (momentum > 0)
            {
                buf![i] = momentum * buf[i] + d / r;
                p[i] -= lr * buf[i];
            }
            else p[i] -= lr * (d / r);
        }
    }

    // ============================================================ ILGPU kernel

    /// <summary>gAvg and buf are ignored (may alias g) when their flags are 0.</summary>
    [GpuKernel]
    public static void RmsPropStepKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> sq,
        ArrayView<float> gAvg, ArrayView<float> buf, RmsPropArgs a)
    {
        float pi = p[i];
        float d = g[i];
        if (a.WeightDecay != 0f) d = d + a.WeightDecay * pi;
        float s = a.Alpha * sq[i] + a.OneMinusAlpha * d * d;
        sq[i] = s;
        float r;
        if (a.Centered != 0)
        {
            float ga = a.Alpha * gAvg[i] + a.OneMinusAlpha * d;
            gAvg[i] = ga;
            r = MathF.Sqrt(s - ga * ga) + a.Eps;
        }
        else
        {
            r = MathF.Sqrt(s) + a.Eps;
        }
        if (a.UseMomentum != 0)
        {
            float b = a.Momentum * buf[i] + d / r;
            buf[i] = b;
            p[i] = pi - a.Lr * b;
        }
        else
        {
            p[i] = pi - a.Lr * (d / r);
        }
    }

    // ============================================================ CPU SIMD kernel

    private const int ChunkSize = 1 << 15;

    public static unsafe void StepCpu(float* p, float* g, float* sq, float* gAvg, float* buf, int n, RmsPropArgs a)
    {
        nint pp = (nint)p, gp = (nint)g, sp = (nint)sq, ap = (nint)gAvg, bp = (nint)buf;
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        CpuParallel.For(chunks, c =>
        {
            int start = c * ChunkSize, end = Math.Min(n, start + ChunkSize);
            float* P = (float*)pp, G = (float*)gp, S = (float*)sp, A = (float*)ap, B = (float*)bp;
            bool decay = a.WeightDecay != 0f, centered = a.Centered != 0, mom = a.UseMomentum != 0;
            var lr = Vector256.Create(a.Lr); var al = Vector256.Create(a.Alpha); var oma = Vector256.Create(a.OneMinusAlpha);
            var eps = Vector256.Create(a.Eps); var wd = Vector256.Create(a.WeightDecay); var mu = Vector256.Create(a.Momentum);
            int i = start;
            for (; i <= end - 8; i += 8)
            {
                var pi = Vector256.Load(P + i);
                var d = Vector256.Load(G + i);
                if (decay) d += wd * pi;
                var s = al * Vector256.Load(S + i) + oma * d * d;
                s.Store(S + i);
                Vector256<float> r;
                if (centered)
                {
                    var ga = al * Vector256.Load(A + i) + oma * d;
                    ga.Store(A + i);
                    r = Vector256.Sqrt(s - ga * ga) + eps;
                }
                else r = Vector256.Sqrt(s) + eps;
                if (mom)
                {
                    var b = mu * Vector256.Load(B + i) + d / r;
                    b.Store(B + i);
                    (pi - lr * b).Store(P + i);
                }
                else (pi - lr * (d / r)).Store(P + i);
            }
            for (; i < end; i++)
            {
                float pi = P[i], d = G[i];
                if (decay) d = d + a.WeightDecay * pi;
                float s = a.Alpha * S[i] + a.OneMinusAlpha * d * d;
                S[i] = s;
                float r;
                if (centered)
                {
                    float ga = a.Alpha * A[i] + a.OneMinusAlpha * d;
                    A[i] = ga;
                    r = MathF.Sqrt(s - ga * ga) + a.Eps;
                }
                else r = MathF.Sqrt(s) + a.Eps;
                if (mom)
                {
                    float b = a.Momentum * B[i] + d / r;
                    B[i] = b;
                    P[i] = pi - a.Lr * b;
                }
                else P[i] = pi - a.Lr * (d / r);
            }
        });
    }

    // ============================================================ launcher

    public static unsafe void Step(Tensor p, Tensor g, Tensor sq, Tensor? gAvg, Tensor? buf, RmsPropArgs a)
    {
        int n = p.Size;
        if (g.Size != n || sq.Size != n || (gAvg is not null && gAvg.Size != n) || (buf is not null && buf.Size != n))
            throw new ShapeMismatchException($"RMSprop: parameter {p.Shape} and its gradient/state shapes differ");
        if (n == 0) return;
        a.Centered = gAvg is null ? 0 : 1;
        a.UseMomentum = buf is null ? 0 : 1;
        if (p.Device.IsHost)
        {
            fixed (float* pp = p.HostSpan, gp = g.HostSpan, sp = sq.HostSpan,
                   ap = gAvg is null ? default : gAvg.HostSpan, bp = buf is null ? default : buf.HostSpan)
                StepCpu(pp, gp, sp, ap, bp, n, a);
        }
        else
        {
            p.Device.Kernel("GpuGan.Layers.Optim.RmsPropStepKernel", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsPropArgs>(RmsPropStepKernel))
                (n, p.View, g.View, sq.View, (gAvg ?? g).View, (buf ?? g).View, a);
        }
    }
}

/// <summary>RMSprop with PyTorch's semantics and defaults.</summary>
public sealed class RmsProp : Optimizer
{
    public RmsProp(Module module, float lr = 1e-2f, double alpha = 0.99, float eps = 1e-8f, float weightDecay = 0f, float momentum = 0f, bool centered = false)
        : this(module.NamedParameters(), lr, alpha, eps, weightDecay, momentum, centered) { }

    public RmsProp(IEnumerable<Tensor> parameters, float lr = 1e-2f, double alpha = 0.99, float eps = 1e-8f, float weightDecay = 0f, float momentum = 0f, bool centered = false)
        : this(Number(parameters), lr, alpha, eps, weightDecay, momentum, centered) { }

    public RmsProp(IEnumerable<(string Name, Tensor Parameter)> parameters, float lr = 1e-2f, double alpha = 0.99, float eps = 1e-8f, float weightDecay = 0f, float momentum = 0f, bool centered = false)
        : base(parameters, lr)
    {
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "RMSprop: alpha must be in [0, 1]");
        if (!(eps >= 0) || !(weightDecay >= 0) || !(momentum >= 0))
            throw new ArgumentOutOfRangeException(nameof(eps), $"RMSprop: eps {eps}, weight decay {weightDecay} and momentum {momentum} must be ≥ 0");
        (Alpha, Eps, WeightDecay, Momentum, Centered) = (alpha, eps, weightDecay, momentum, centered);
        var keys = new List<string> { "square_avg" };
        if (momentum > 0) keys.Add("momentum_buffer");
        if (centered) keys.Add("grad_avg");
        _keys = keys;
    }

    private readonly IReadOnlyList<string> _keys;

    /// <summary>Double as PyTorch's Python float, so 1 − α is exact before the cast.</summary>
    public double Alpha { get; }
    public float Eps { get; }
    public float WeightDecay { get; }
    public float Momentum { get; }
    public bool Centered { get; }

    protected override IReadOnlyList<string> StateKeys => _keys;

    protected override IEnumerable<(string Name, double Value)> Hyperparameters()
        => [("alpha", Alpha), ("eps", Eps), ("weight_decay", WeightDecay), ("momentum", Momentum), ("centered", Centered ? 1 : 0)];

    protected override void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step)
        => RmsPropKernels.Step(parameter, grad, state["square_avg"], Centered ? state["grad_avg"] : null, Momentum > 0 ? state["momentum_buffer"] : null,
            new RmsPropArgs { Lr = LearningRate, Alpha = (float)Alpha, OneMinusAlpha = (float)(1 - Alpha), Eps = Eps, WeightDecay = WeightDecay, Momentum = Momentum });
}
