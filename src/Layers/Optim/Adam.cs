// Adam (Kingma & Ba 2015) with PyTorch's torch.optim.Adam semantics: weight decay is L2 added to
// the gradient (not AdamW), bias correction with the parameter's step t:
//   g ← g + λ·p                                 (when λ ≠ 0)
//   m ← β1·m + (1 − β1)·g
//   v ← β2·v + (1 − β2)·g²
//   p ← p − (lr/(1 − β1^t)) · m / (√v/√(1 − β2^t) + ε)
// The last line is PyTorch's evaluation order (step_size = lr/bc1, denom = √v/√bc2 + ε), equal in
// exact arithmetic to lr·m̂/(√v̂ + ε). PyTorch writes the m update as lerp; same value in exact math.
//
// One fused kernel reads p, g, m, v and writes p, m, v in one pass: 28 bytes per parameter, so
// the update is memory bound; the kernels do plain multiplies and adds (no FMA) in the same
// order on both sets, which makes the SIMD set and ILGPU's CPU accelerator agree bit for bit.
using System.Runtime.Intrinsics;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Layers.Optim;

/// <summary>Scalars of one Adam update (bias corrections folded in on the host, in double).</summary>
internal struct AdamArgs
{
    public float Beta1, Beta2, OneMinusBeta1, OneMinusBeta2, Eps, WeightDecay, StepSize, Bc2Sqrt;

    public static AdamArgs Create(double lr, double beta1, double beta2, double eps, double weightDecay, long step)
    {
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        return new AdamArgs
        {
            Beta1 = (float)beta1, Beta2 = (float)beta2,
            OneMinusBeta1 = (float)(1 - beta1), OneMinusBeta2 = (float)(1 - beta2),
            Eps = (float)eps, WeightDecay = (float)weightDecay,
            StepSize = (float)(lr / bc1), Bc2Sqrt = (float)Math.Sqrt(bc2),
        };
    }
}

internal static class AdamKernels
{
    // ============================================================ float64 reference

    /// <summary>One step in double, in the textbook form p −= lr·m̂/(√v̂ + ε) (the test oracle).</summary>
    public static void StepReference(double[] p, double[] g, double[] m, double[] v, long t,
        double lr, double beta1, double beta2, double eps, double weightDecay)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double gi = g[i] + weightDecay * p[i];
            m[i] = beta1 * m[i] + (1 - beta1) * gi;
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
            double mHat = m[i] / (1 - Math.Pow(beta1, t)), vHat = v[i] / (1 - Math.Pow(beta2, t));
            p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
        }
    }

    // ============================================================ ILGPU kernel

    [GpuKernel]
    public static void AdamStepKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, AdamArgs a)
    {
        float pi = p[i];
        float gi = g[i];
        if (a.WeightDecay != 0f) gi = gi + a.WeightDecay * pi;
        float mi = a.Beta1 * m[i] + a.OneMinusBeta1 * gi;
        float vi = a.Beta2 * v[i] + a.OneMinusBeta2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = MathF.Sqrt(vi) / a.Bc2Sqrt + a.Eps;
        p[i] = pi - a.StepSize * (mi / denom);
    }

    // ============================================================ CPU SIMD kernel

    private const int ChunkSize = 1 << 15; // elements per parallel work item (fixed: results do not depend on threads)

    public static unsafe void StepCpu(float* p, float* g, float* m, float* v, int n, AdamArgs a)
    {
        nint pp = (nint)p, gp = (nint)g, mp = (nint)m, vp = (nint)v;
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        CpuParallel.For(chunks, c =>
        {
            int start = c * ChunkSize, end = Math.Min(n, start + ChunkSize);
            float* P = (float*)pp, G = (float*)gp, M = (float*)mp, V = (float*)vp;
            int i = start;
            bool decay = a.WeightDecay != 0f;
            if (Vector512.IsHardwareAccelerated)
            {
                var b1 = Vector512.Create(a.Beta1); var b2 = Vector512.Create(a.Beta2);
                var c1 = Vector512.Create(a.OneMinusBeta1); var c2 = Vector512.Create(a.OneMinusBeta2);
                var eps = Vector512.Create(a.Eps); var wd = Vector512.Create(a.WeightDecay);
                var step = Vector512.Create(a.StepSize); var bc2 = Vector512.Create(a.Bc2Sqrt);
                for (; i <= end - 16; i += 16)
                {
                    var pi = Vector512.Load(P + i);
                    var gi = Vector512.Load(G + i);
                    if (decay) gi += wd * pi;
                    var mi = b1 * Vector512.Load(M + i) + c1 * gi;
                    var vi = b2 * Vector512.Load(V + i) + c2 * gi * gi;
                    mi.Store(M + i);
                    vi.Store(V + i);
                    var denom = Vector512.Sqrt(vi) / bc2 + eps;
                    (pi - step * (mi / denom)).Store(P + i);
                }
            }
            {
                var b1 = Vector256.Create(a.Beta1); var b2 = Vector256.Create(a.Beta2);
                var c1 = Vector256.Create(a.OneMinusBeta1); var c2 = Vector256.Create(a.OneMinusBeta2);
                var eps = Vector256.Create(a.Eps); var wd = Vector256.Create(a.WeightDecay);
                var step = Vector256.Create(a.StepSize); var bc2 = Vector256.Create(a.Bc2Sqrt);
                for (; i <= end - 8; i += 8)
                {
                    var pi = Vector256.Load(P + i);
                    var gi = Vector256.Load(G + i);
                    if (decay) gi += wd * pi;
                    var mi = b1 * Vector256.Load(M + i) + c1 * gi;
                    var vi = b2 * Vector256.Load(V + i) + c2 * gi * gi;
                    mi.Store(M + i);
                    vi.Store(V + i);
                    var denom = Vector256.Sqrt(vi) / bc2 + eps;
                    (pi - step * (mi / denom)).Store(P + i);
                }
            }
            for (; i < end; i++)
            {
                float pi = P[i], gi = G[i];
                if (decay) gi = gi + a.WeightDecay * pi;
                float mi = a.Beta1 * M[i] + a.OneMinusBeta1 * gi;
                float vi = a.Beta2 * V[i] + a.OneMinusBeta2 * gi * gi;
                M[i] = mi;
                V[i] = vi;
                float denom = MathF.Sqrt(vi) / a.Bc2Sqrt + a.Eps;
                P[i] = pi - a.StepSize * (mi / denom);
            }
        });
    }

    // ============================================================ launcher

    public static unsafe void Step(Tensor p, Tensor g, Tensor m, Tensor v, AdamArgs a)
    {
        int n = p.Size;
        if (g.Size != n || m.Size != n || v.Size != n)
            throw new ShapeMismatchException($"Adam: parameter {p.Shape}, gradient {g.Shape}, exp_avg {m.Shape}, exp_avg_sq {v.Shape} differ");
        if (n == 0) return;
        if (p.Device.IsHost)
        {
            fixed (float* pp = p.HostSpan, gp = g.HostSpan, mp = m.HostSpan, vp = v.HostSpan) StepCpu(pp, gp, mp, vp, n, a);
        }
        else
        {
            p.Device.Kernel("GpuGan.Layers.Optim.AdamStepKernel", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamArgs>(AdamStepKernel))
                (n, p.View, g.View, m.View, v.View, a);
        }
    }
}

/// <summary>Adam with PyTorch's semantics (L2 weight decay, per-parameter bias correction).</summary>
public sealed class Adam : Optimizer
{
    private static readonly string[] Keys = ["exp_avg", "exp_avg_sq"];

    public Adam(Module module, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(module.NamedParameters(), lr, beta1, beta2, eps, weightDecay) { }

    public Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(Number(parameters), lr, beta1, beta2, eps, weightDecay) { }

    public Adam(IEnumerable<(string Name, Tensor Parameter)> parameters, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, lr)
    {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(beta1), $"Adam: betas ({beta1}, {beta2}) must be in [0, 1)");
        if (!(eps >= 0) || !(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"Adam: eps {eps} and weight decay {weightDecay} must be ≥ 0");
        (Beta1, Beta2, Eps, WeightDecay) = (beta1, beta2, eps, weightDecay);
    }

    // Doubles, as PyTorch's Python floats: 1 − β2 is then 0.001 exactly before the cast to float,
    // where float β2 = 0.999f would make it 0.00099998713 (1.3e-5 relative error in every v update).
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }

    protected override IReadOnlyList<string> StateKeys => Keys;

    protected override IEnumerable<(string Name, double Value)> Hyperparameters()
        => [("beta1", Beta1), ("beta2", Beta2), ("eps", Eps), ("weight_decay", WeightDecay)];

    protected override void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step)
        => AdamKernels.Step(parameter, grad, state["exp_avg"], state["exp_avg_sq"], AdamArgs.Create(LearningRate, Beta1, Beta2, Eps, WeightDecay, step));
}
