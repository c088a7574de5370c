// SGD with momentum, PyTorch's torch.optim.SGD semantics:
//   d ← g + λ·p                                  (when λ ≠ 0)
//   b ← d on the first step, else μ·b + (1 − τ)·d (τ: dampening, default 0)
//   d ← d + μ·b (Nesterov) or b
//   p ← p − lr·d
// With μ = 0 there is no buffer. One fused kernel per parameter; no FMA, same order on both sets.
using System.Runtime.Intrinsics;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Layers.Optim;

internal struct SgdArgs
{
    public float Lr, Momentum, OneMinusDampening, WeightDecay;
    public int UseMomentum, Nesterov, First;
}

internal static class SgdKernels
{
    // ============================================================ float64 reference

    public static void StepReference(double[] p, double[] g, double[]? buf, bool first, double lr, double momentum, double dampening, double weightDecay, bool nesterov)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double d = g[i] + weightDecay * p[i];
            if (momentum != 0)
            {
                buf![i] = first ? d : momentum * buf[i] + (1 - dampening) * d;
                d = nesterov ? d + momentum * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
    }

    // ============================================================ ILGPU kernel

    /// <summary>buf is ignored (may alias g) when a.UseMomentum is 0.</summary>
    [GpuKernel]
    public static void SgdStepKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, SgdArgs a)
    {
        float pi = p[i];
        float d = g[i];
        if (a.WeightDecay != 0f) d = d + a.WeightDecay * pi;
        if (a.UseMomentum != 0)
        {
            float b = a.First != 0 ? d : a.Momentum * buf[i] + a.OneMinusDampening * d;
            buf[i] = b;
            d = a.Nesterov != 0 ? d + a.Momentum * b : b;
        }
        p[i] = pi - a.Lr * d;
    }

    // ============================================================ CPU SIMD kernel

    private const int ChunkSize = 1 << 15;

    public static unsafe void StepCpu(float* p, float* g, float* buf, int n, SgdArgs a)
    {
        nint pp = (nint)p, gp = (nint)g, bp = (nint)buf;
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        CpuParallel.For(chunks, c =>
        {
            int start = c * ChunkSize, end = Math.Min(n, start + ChunkSize);
            float* P = (float*)pp, G = (float*)gp, B = (float*)bp;
            bool decay = a.WeightDecay != 0f, mom = a.UseMomentum != 0, first = a.First != 0, nesterov = a.Nesterov != 0;
            var lr = Vector256.Create(a.Lr); var mu = Vector256.Create(a.Momentum);
            var damp = Vector256.Create(a.OneMinusDampening); var wd = Vector256.Create(a.WeightDecay);
            int i = start;
            for (; i <= end - 8; i += 8)
            {
                var pi = Vector256.Load(P + i);
                var d = Vector256.Load(G + i);
                if (decay) d += wd * pi;
                if (mom)
                {
                    var b = first ? d : mu * Vector256.Load(B + i) + damp * d;
                    b.Store(B + i);
                    d = nesterov ? d + mu * b : b;
                }
                (pi - lr * d).Store(P + i);
            }
            for (; i < end; i++)
            {
                float pi = P[i], d = G[i];
                if (decay) d = d + a.WeightDecay * pi;
                if (mom)
                {
                    float b = first ? d : a.Momentum * B[i] + a.OneMinusDampening * d;
                    B[i] = b;
                    d = nesterov ? d + a.Momentum * b : b;
                }
                P[i] = pi - a.Lr * d;
            }
        });
    }

    // ============================================================ launcher

    public static unsafe void Step(Tensor p, Tensor g, Tensor? buf, SgdArgs a)
    {
        int n = p.Size;
        if (g.Size != n || (buf is not null && buf.Size != n))
            throw new ShapeMismatchException($"SGD: parameter {p.Shape}, gradient {g.Shape}, momentum_buffer {buf?.Shape} differ");
        if (n == 0) return;
        a.UseMomentum = buf is null ? 0 : 1;
        if (p.Device.IsHost)
        {
            fixed (float* pp = p.HostSpan, gp = g.HostSpan, bp = buf is null ? default : buf.HostSpan) StepCpu(pp, gp, bp, n, a);
        }
        else
        {
            p.Device.Kernel("GpuGan.Layers.Optim.SgdStepKernel", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>(SgdStepKernel))
                (n, p.View, g.View, (buf ?? g).View, a);
        }
    }
}

/// <summary>Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's semantics.</summary>
public sealed class Sgd : Optimizer
{
    private static readonly string[] MomentumKeys = ["momentum_buffer"];

    public Sgd(Module module, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : this(module.NamedParameters(), lr, momentum, dampening, weightDecay, nesterov) { }

    public Sgd(IEnumerable<Tensor> parameters, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : this(Number(parameters), lr, momentum, dampening, weightDecay, nesterov) { }

    public Sgd(IEnumerable<(string Name, Tensor Parameter)> parameters, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr)
    {
        if (!(momentum >= 0) || !(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(momentum), $"SGD: momentum {momentum} and weight decay {weightDecay} must be ≥ 0");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("SGD: Nesterov momentum requires a momentum > 0 and zero dampening (as PyTorch)");
        (Momentum, Dampening, WeightDecay, Nesterov) = (momentum, dampening, weightDecay, nesterov);
    }

    public float Momentum { get; }
    public float Dampening { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }

    protected override IReadOnlyList<string> StateKeys => Momentum != 0 ? MomentumKeys : [];

    protected override IEnumerable<(string Name, double Value)> Hyperparameters()
        => [("momentum", Momentum), ("dampening", Dampening), ("weight_decay", WeightDecay), ("nesterov", Nesterov ? 1 : 0)];

    protected override void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step)
        => SgdKernels.Step(parameter, grad, Momentum != 0 ? state["momentum_buffer"] : null, new SgdArgs
        {
            Lr = LearningRate, Momentum = Momentum, OneMinusDampening = 1f - Dampening, WeightDecay = WeightDecay,
            Nesterov = Nesterov ? 1 : 0, First = step == 1 ? 1 : 0,
        });
}
