// Fused optimiser updates: one kernel reads a parameter, its gradient and its state and writes the
// parameter and the state in one pass, with PyTorch's torch.optim semantics.
//
// Adam (Kingma & Ba 2015; weight decay is L2 added to the gradient, not AdamW), step t ≥ 1:
//   g ← g + λ·p                                 (when λ ≠ 0)
//   m ← β1·m + (1 − β1)·g
//   v ← β2·v + (1 − β2)·g²
//   p ← p − (lr/(1 − β1^t)) · m / (√v/√(1 − β2^t) + ε)
// The last line is PyTorch's evaluation order (step_size = lr/bc1, denom = √v/√bc2 + ε), equal in
// exact arithmetic to the textbook lr·m̂/(√v̂ + ε) that the reference computes. PyTorch writes the
// m update as lerp; same value in exact math. 28 bytes per parameter (p, g, m, v read; p, m, v written).
//
// SGD with momentum μ, dampening τ, Nesterov:
//   d ← g + λ·p                                  (when λ ≠ 0)
//   b ← d on the first step, else μ·b + (1 − τ)·d (no buffer when μ = 0)
//   d ← d + μ·b (Nesterov) or b
//   p ← p − lr·d
//
// RMSprop (defaults lr 0.01, α 0.99, ε 1e-8; ε outside the square root, as PyTorch):
//   d ← g + λ·p                                   (when λ ≠ 0)
//   s ← α·s + (1 − α)·d²
//   centered: a ← α·a + (1 − α)·d;  r ← √(s − a²) + ε;   else r ← √s + ε
//   momentum μ > 0: b ← μ·b + d/r;  p ← p − lr·b;        else p ← p − lr·(d/r)
//
// A step over many tensors (AdamStep, SgdStep, RmsPropStep with a list) launches once per 8 tensors on ILGPU: the kernel takes 8
// tensors' views in a struct, one group of 256 threads per 256 elements of one tensor, the plan says which
// groups update which tensor, with each tensor's own bias corrections (step counts may differ). The
// arithmetic per element is the single-tensor kernel's, so both give the same bits.
//
// The updates are memory bound. Both kernel sets do plain multiplies and adds (no FMA) in the same
// order, with scalars folded on the host in double, so the SIMD set and ILGPU's CPU accelerator
// agree bit for bit (a test holds them to it). Hyperparameters are doubles, as PyTorch's Python
// floats: 1 − β2 is then 0.001 exactly before the cast to float, where float β2 = 0.999f would make
// it 0.00099998713 (1.3e-5 relative error in every v update).
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>Adam's hyperparameters (PyTorch's names and defaults; weight decay is L2, not AdamW).</summary>
public readonly record struct AdamHyperparameters(double LearningRate, double Beta1 = 0.9, double Beta2 = 0.999, double Eps = 1e-8, double WeightDecay = 0);

/// <summary>SGD's hyperparameters (PyTorch's names and defaults; no momentum buffer when Momentum is 0).</summary>
public readonly record struct SgdHyperparameters(double LearningRate, double Momentum = 0, double Dampening = 0, double WeightDecay = 0, bool Nesterov = false);

/// <summary>RMSprop's hyperparameters (PyTorch's names and defaults; centring is given by passing a grad_avg tensor).</summary>
public readonly record struct RmsPropHyperparameters(double LearningRate = 1e-2, double Alpha = 0.99, double Eps = 1e-8, double WeightDecay = 0, double Momentum = 0);

/// <summary>Scalars of one Adam update (bias corrections folded in on the host, in double).</summary>
internal struct AdamArgs
{
    public float Beta1, Beta2, OneMinusBeta1, OneMinusBeta2, Eps, WeightDecay, StepSize, Bc2Sqrt;

    public static AdamArgs Create(in AdamHyperparameters h, long step)
    {
        double bc1 = 1 - Math.Pow(h.Beta1, step), bc2 = 1 - Math.Pow(h.Beta2, step);
        return new AdamArgs
        {
            Beta1 = (float)h.Beta1, Beta2 = (float)h.Beta2,
            OneMinusBeta1 = (float)(1 - h.Beta1), OneMinusBeta2 = (float)(1 - h.Beta2),
            Eps = (float)h.Eps, WeightDecay = (float)h.WeightDecay,
            StepSize = (float)(h.LearningRate / bc1), Bc2Sqrt = (float)Math.Sqrt(bc2),
        };
    }
}

internal struct SgdArgs
{
    public float Lr, Momentum, OneMinusDampening, WeightDecay;
    public int UseMomentum, Nesterov, First;
}

internal struct RmsPropArgs
{
    public float Lr, Alpha, OneMinusAlpha, Eps, WeightDecay, Momentum;
    public int Centered, UseMomentum;
}

/// <summary>One tensor of a multi-tensor Adam step: the parameter, its gradient, its state and its step count including this step.</summary>
/// <param name="Param">The parameter, updated in place.</param>
/// <param name="Grad">Its gradient.</param>
/// <param name="ExpAvg">m, updated in place.</param>
/// <param name="ExpAvgSq">v, updated in place.</param>
/// <param name="Step">The parameter's step count including this one (1 on the first step).</param>
public readonly record struct AdamTensors(Tensor Param, Tensor Grad, Tensor ExpAvg, Tensor ExpAvgSq, long Step);

/// <summary>The views of up to 8 tensors of one multi-tensor Adam launch (unused slots alias slot 0; no group reads them).</summary>
internal struct AdamViews8
{
    public ArrayView<float> P0, P1, P2, P3, P4, P5, P6, P7;
    public ArrayView<float> G0, G1, G2, G3, G4, G5, G6, G7;
    public ArrayView<float> M0, M1, M2, M3, M4, M5, M6, M7;
    public ArrayView<float> V0, V1, V2, V3, V4, V5, V6, V7;
}

/// <summary>One tensor of a multi-tensor SGD step.</summary>
/// <param name="Param">The parameter, updated in place.</param>
/// <param name="Grad">Its gradient.</param>
/// <param name="MomentumBuffer">Its momentum buffer (required with a momentum), updated in place.</param>
/// <param name="FirstStep">True on the parameter's first step (the buffer is then set to the gradient, as PyTorch).</param>
public readonly record struct SgdTensors(Tensor Param, Tensor Grad, Tensor? MomentumBuffer, bool FirstStep);

/// <summary>One tensor of a multi-tensor RMSprop step.</summary>
/// <param name="Param">The parameter, updated in place.</param>
/// <param name="Grad">Its gradient.</param>
/// <param name="SquareAvg">s, updated in place.</param>
/// <param name="GradAvg">a when centred (else null), updated in place.</param>
/// <param name="MomentumBuffer">b with a momentum (else null), updated in place.</param>
public readonly record struct RmsPropTensors(Tensor Param, Tensor Grad, Tensor SquareAvg, Tensor? GradAvg, Tensor? MomentumBuffer);

/// <summary>One view per tensor of a multi-tensor launch (unused slots alias slot 0; no group reads them).</summary>
internal struct Views8
{
    public ArrayView<float> A0, A1, A2, A3, A4, A5, A6, A7;

    public static Views8 Of(IReadOnlyList<Tensor> t) => new()
    {
        A0 = t[0].View, A1 = t[Math.Min(1, t.Count - 1)].View, A2 = t[Math.Min(2, t.Count - 1)].View, A3 = t[Math.Min(3, t.Count - 1)].View,
        A4 = t[Math.Min(4, t.Count - 1)].View, A5 = t[Math.Min(5, t.Count - 1)].View, A6 = t[Math.Min(6, t.Count - 1)].View, A7 = t[Math.Min(7, t.Count - 1)].View,
    };

    public readonly ArrayView<float> this[int j] => j == 0 ? A0 : j == 1 ? A1 : j == 2 ? A2 : j == 3 ? A3 : j == 4 ? A4 : j == 5 ? A5 : j == 6 ? A6 : A7;
}

/// <summary>Which groups of one multi-tensor launch update which of its 8 tensors, and each tensor's bias corrections.</summary>
internal struct MultiStepPlan
{
    /// <summary>Elements of tensors 0..7 (0 for unused slots).</summary>
    public int L0, L1, L2, L3, L4, L5, L6, L7;
    /// <summary>First group of tensors 1..7 (tensor 0 starts at group 0; unused slots: int.MaxValue).</summary>
    public int F1, F2, F3, F4, F5, F6, F7;
    /// <summary>lr/(1 − β1^t) per tensor.</summary>
    public float S0, S1, S2, S3, S4, S5, S6, S7;
    /// <summary>√(1 − β2^t) per tensor.</summary>
    public float B0, B1, B2, B3, B4, B5, B6, B7;
    /// <summary>SGD: bit j set when tensor j takes its first step.</summary>
    public int FirstMask;

    /// <summary>The tensor of group g: the last whose first group is ≤ g.</summary>
    public readonly int Tensor(int g) => g >= F7 ? 7 : g >= F6 ? 6 : g >= F5 ? 5 : g >= F4 ? 4 : g >= F3 ? 3 : g >= F2 ? 2 : g >= F1 ? 1 : 0;

    /// <summary>First group of tensor j.</summary>
    public readonly int First(int j) => j == 0 ? 0 : j == 1 ? F1 : j == 2 ? F2 : j == 3 ? F3 : j == 4 ? F4 : j == 5 ? F5 : j == 6 ? F6 : F7;

    /// <summary>Elements of tensor j.</summary>
    public readonly int Length(int j) => j == 0 ? L0 : j == 1 ? L1 : j == 2 ? L2 : j == 3 ? L3 : j == 4 ? L4 : j == 5 ? L5 : j == 6 ? L6 : L7;

    /// <summary>The plan of up to 8 tensors of the given sizes, in groups of <paramref name="group"/> elements.</summary>
    public static MultiStepPlan Of(IReadOnlyList<int> sizes, int group, out int groups, out long elements)
    {
        Span<int> l = stackalloc int[8];
        Span<int> f = stackalloc int[8];
        groups = 0;
        elements = 0;
        for (int j = 0; j < 8; j++)
        {
            l[j] = j < sizes.Count ? sizes[j] : 0;
            f[j] = j < sizes.Count ? groups : int.MaxValue;
            groups += (l[j] + group - 1) / group;
            elements += l[j];
        }
        return new MultiStepPlan
        {
            L0 = l[0], L1 = l[1], L2 = l[2], L3 = l[3], L4 = l[4], L5 = l[5], L6 = l[6], L7 = l[7],
            F1 = f[1], F2 = f[2], F3 = f[3], F4 = f[4], F5 = f[5], F6 = f[6], F7 = f[7],
        };
    }
}

/// <summary>
/// The fused optimiser updates as Tensor-level ops: each updates a parameter and its state tensors
/// in place (unrecorded) with one kernel launch. The optimiser classes in GpuGan.Layers call these.
/// </summary>
public static class OptimizerUpdates
{
    // ============================================================ float64 reference

    /// <summary>One Adam step in double, in the textbook form p −= lr·m̂/(√v̂ + ε) (the test oracle).</summary>
    internal static void AdamReference(double[] p, double[] g, double[] m, double[] v, in AdamHyperparameters h, long step)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double gi = g[i] + h.WeightDecay * p[i];
            m[i] = h.Beta1 * m[i] + (1 - h.Beta1) * gi;
            v[i] = h.Beta2 * v[i] + (1 - h.Beta2) * gi * gi;
            double mHat = m[i] / (1 - Math.Pow(h.Beta1, step)), vHat = v[i] / (1 - Math.Pow(h.Beta2, step));
            p[i] -= h.LearningRate * mHat / (Math.Sqrt(vHat) + h.Eps);
        }
    }

    /// <summary>One SGD step in double (the test oracle); buf is null without momentum.</summary>
    internal static void SgdReference(double[] p, double[] g, double[]? buf, in SgdHyperparameters h, bool firstStep)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double d = g[i] + h.WeightDecay * p[i];
            if (h.Momentum != 0)
            {
                buf![i] = firstStep ? d : h.Momentum * buf[i] + (1 - h.Dampening) * d;
                d = h.Nesterov ? d + h.Momentum * buf[i] : buf[i];
            }
            p[i] -= h.LearningRate * d;
        }
    }

    /// <summary>One RMSprop step in double (the test oracle); gradAvg non-null means centered.</summary>
    internal static void RmsPropReference(double[] p, double[] g, double[] sq, double[]? gradAvg, double[]? buf, in RmsPropHyperparameters h)
    {
        for (int i = 0; i < p.Length; i++)
        {
            double d = g[i] + h.WeightDecay * p[i];
            sq[i] = h.Alpha * sq[i] + (1 - h.Alpha) * d * d;
            double r;
            if (gradAvg is not null)
            {
                gradAvg[i] = h.Alpha * gradAvg[i] + (1 - h.Alpha) * d;
                r = Math.Sqrt(sq[i] - gradAvg[i] * gradAvg[i]) + h.Eps;
            }
            else r = Math.Sqrt(sq[i]) + h.Eps;
            if (h.Momentum > 0)
            {
                buf![i] = h.Momentum * buf[i] + d / r;
                p[i] -= h.LearningRate * buf[i];
            }
            else p[i] -= h.LearningRate * (d / r);
        }
    }

    // ============================================================ ILGPU kernels
    //
    // One thread per element, in explicit groups of 256 (not ILGPU's auto-grouping, which on CUDA picks
    // 1024-thread blocks: a 131,072-element weight would then be 128 blocks, fewer than an H100's SMs).

    /// <summary>Threads per group of the update kernels.</summary>
    private const int StepGroup = 256;

    private static KernelConfig StepConfig(int n) => new((n + StepGroup - 1) / StepGroup, StepGroup);

    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void AdamStepKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, AdamArgs a, int n)
    {
        int i = Grid.IdxX * StepGroup + Group.IdxX;
        if (i >= n) return;
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

    /// <summary>Tensors one multi-tensor launch updates.</summary>
    internal const int TensorsPerLaunch = 8;

    private static ArrayView<float> Pick(int j, ArrayView<float> a0, ArrayView<float> a1, ArrayView<float> a2, ArrayView<float> a3,
        ArrayView<float> a4, ArrayView<float> a5, ArrayView<float> a6, ArrayView<float> a7)
        => j == 0 ? a0 : j == 1 ? a1 : j == 2 ? a2 : j == 3 ? a3 : j == 4 ? a4 : j == 5 ? a5 : j == 6 ? a6 : a7;

    private static float Pick(int j, float a0, float a1, float a2, float a3, float a4, float a5, float a6, float a7)
        => j == 0 ? a0 : j == 1 ? a1 : j == 2 ? a2 : j == 3 ? a3 : j == 4 ? a4 : j == 5 ? a5 : j == 6 ? a6 : a7;

    /// <summary>
    /// Adam on up to 8 tensors in one launch: group g updates 256 elements of the last tensor whose first group is ≤ g,
    /// with the single-tensor kernel's arithmetic and that tensor's StepSize and Bc2Sqrt (a's are ignored).
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void AdamStepMultiKernel(AdamViews8 v, MultiStepPlan s, AdamArgs a)
    {
        int g = Grid.IdxX;
        int j = g >= s.F7 ? 7 : g >= s.F6 ? 6 : g >= s.F5 ? 5 : g >= s.F4 ? 4 : g >= s.F3 ? 3 : g >= s.F2 ? 2 : g >= s.F1 ? 1 : 0;
        int first = j == 0 ? 0 : j == 1 ? s.F1 : j == 2 ? s.F2 : j == 3 ? s.F3 : j == 4 ? s.F4 : j == 5 ? s.F5 : j == 6 ? s.F6 : s.F7;
        int n = j == 0 ? s.L0 : j == 1 ? s.L1 : j == 2 ? s.L2 : j == 3 ? s.L3 : j == 4 ? s.L4 : j == 5 ? s.L5 : j == 6 ? s.L6 : s.L7;
        int i = (g - first) * StepGroup + Group.IdxX;
        if (i >= n) return;
        var p = Pick(j, v.P0, v.P1, v.P2, v.P3, v.P4, v.P5, v.P6, v.P7);
        var gr = Pick(j, v.G0, v.G1, v.G2, v.G3, v.G4, v.G5, v.G6, v.G7);
        var m = Pick(j, v.M0, v.M1, v.M2, v.M3, v.M4, v.M5, v.M6, v.M7);
        var vv = Pick(j, v.V0, v.V1, v.V2, v.V3, v.V4, v.V5, v.V6, v.V7);
        float stepSize = Pick(j, s.S0, s.S1, s.S2, s.S3, s.S4, s.S5, s.S6, s.S7);
        float bc2Sqrt = Pick(j, s.B0, s.B1, s.B2, s.B3, s.B4, s.B5, s.B6, s.B7);
        float pi = p[i];
        float gi = gr[i];
        if (a.WeightDecay != 0f) gi = gi + a.WeightDecay * pi;
        float mi = a.Beta1 * m[i] + a.OneMinusBeta1 * gi;
        float vi = a.Beta2 * vv[i] + a.OneMinusBeta2 * gi * gi;
        m[i] = mi;
        vv[i] = vi;
        float denom = MathF.Sqrt(vi) / bc2Sqrt + a.Eps;
        p[i] = pi - stepSize * (mi / denom);
    }

    /// <summary>SGD on up to 8 tensors in one launch (the plan as Adam's; each tensor's first-step flag in FirstMask), with SgdStepKernel's arithmetic.</summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void SgdStepMultiKernel(Views8 p, Views8 g, Views8 buf, MultiStepPlan s, SgdArgs a)
    {
        int grp = Grid.IdxX;
        int j = s.Tensor(grp);
        int i = (grp - s.First(j)) * StepGroup + Group.IdxX;
        if (i >= s.Length(j)) return;
        var pv = p[j];
        var bv = buf[j];
        float pi = pv[i];
        float d = g[j][i];
        if (a.WeightDecay != 0f) d = d + a.WeightDecay * pi;
        if (a.UseMomentum != 0)
        {
            float b = ((s.FirstMask >> j) & 1) != 0 ? d : a.Momentum * bv[i] + a.OneMinusDampening * d;
            bv[i] = b;
            d = a.Nesterov != 0 ? d + a.Momentum * b : b;
        }
        pv[i] = pi - a.Lr * d;
    }

    /// <summary>RMSprop on up to 8 tensors in one launch, with RmsPropStepKernel's arithmetic (gAvg and buf unread when their flags are 0).</summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void RmsPropStepMultiKernel(Views8 p, Views8 g, Views8 sq, Views8 gAvg, Views8 buf, MultiStepPlan s, RmsPropArgs a)
    {
        int grp = Grid.IdxX;
        int j = s.Tensor(grp);
        int i = (grp - s.First(j)) * StepGroup + Group.IdxX;
        if (i >= s.Length(j)) return;
        var pv = p[j];
        var sv = sq[j];
        float pi = pv[i];
        float d = g[j][i];
        if (a.WeightDecay != 0f) d = d + a.WeightDecay * pi;
        float sn = a.Alpha * sv[i] + a.OneMinusAlpha * d * d;
        sv[i] = sn;
        float r;
        if (a.Centered != 0)
        {
            var av = gAvg[j];
            float ga = a.Alpha * av[i] + a.OneMinusAlpha * d;
            av[i] = ga;
            r = MathF.Sqrt(sn - ga * ga) + a.Eps;
        }
        else
        {
            r = MathF.Sqrt(sn) + a.Eps;
        }
        if (a.UseMomentum != 0)
        {
            var bv = buf[j];
            float b = a.Momentum * bv[i] + d / r;
            bv[i] = b;
            pv[i] = pi - a.Lr * b;
        }
        else
        {
            pv[i] = pi - a.Lr * (d / r);
        }
    }

    /// <summary>buf is ignored (may alias g) when a.UseMomentum is 0.</summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void SgdStepKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, SgdArgs a, int n)
    {
        int i = Grid.IdxX * StepGroup + Group.IdxX;
        if (i >= n) return;
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

    /// <summary>gAvg and buf are ignored (may alias g) when their flags are 0.</summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    internal static void RmsPropStepKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> sq,
        ArrayView<float> gAvg, ArrayView<float> buf, RmsPropArgs a, int n)
    {
        int i = Grid.IdxX * StepGroup + Group.IdxX;
        if (i >= n) return;
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

    // ============================================================ CPU SIMD kernels

    // Each update's loop body is written once, generic over the lane width (ILanes below), and run
    // at 16 lanes (AVX-512), then 8, then 1 for the tail: the same operations in the same order at
    // every width, so the tail and the vector paths agree with each other and with the ILGPU kernel.

    internal static unsafe void AdamStepCpu(CpuParallel parallel, float* p, float* g, float* m, float* v, int n, AdamArgs a)
    {
        nint pp = (nint)p, gp = (nint)g, mp = (nint)m, vp = (nint)v;
        parallel.ForChunks(n, CpuParallel.Grain(1), (start, end) =>
        {
            int i = start;
            if (Vector512.IsHardwareAccelerated) AdamRange<Lanes512>((float*)pp, (float*)gp, (float*)mp, (float*)vp, ref i, end, a);
            AdamRange<Lanes256>((float*)pp, (float*)gp, (float*)mp, (float*)vp, ref i, end, a);
            AdamRange<Lane1>((float*)pp, (float*)gp, (float*)mp, (float*)vp, ref i, end, a);
        });
    }

    private static unsafe void AdamRange<TV>(float* p, float* g, float* m, float* v, ref int next, int end, in AdamArgs a) where TV : struct, ILanes<TV>
    {
        TV b1 = TV.Splat(a.Beta1), b2 = TV.Splat(a.Beta2), c1 = TV.Splat(a.OneMinusBeta1), c2 = TV.Splat(a.OneMinusBeta2);
        TV eps = TV.Splat(a.Eps), wd = TV.Splat(a.WeightDecay), step = TV.Splat(a.StepSize), bc2 = TV.Splat(a.Bc2Sqrt);
        bool decay = a.WeightDecay != 0f;
        int i = next; // a local: stores through the float pointers would otherwise make the JIT reload it
        for (; i <= end - TV.Count; i += TV.Count)
        {
            var pi = TV.Load(p + i);
            var gi = TV.Load(g + i);
            if (decay) gi = gi + wd * pi;
            var mi = b1 * TV.Load(m + i) + c1 * gi;
            var vi = b2 * TV.Load(v + i) + c2 * gi * gi;
            mi.Store(m + i);
            vi.Store(v + i);
            var denom = TV.Sqrt(vi) / bc2 + eps;
            (pi - step * (mi / denom)).Store(p + i);
        }
        next = i;
    }

    internal static unsafe void SgdStepCpu(CpuParallel parallel, float* p, float* g, float* buf, int n, SgdArgs a)
    {
        nint pp = (nint)p, gp = (nint)g, bp = (nint)buf;
        parallel.ForChunks(n, CpuParallel.Grain(1), (start, end) =>
        {
            int i = start;
            if (Vector512.IsHardwareAccelerated) SgdRange<Lanes512>((float*)pp, (float*)gp, (float*)bp, ref i, end, a);
            SgdRange<Lanes256>((float*)pp, (float*)gp, (float*)bp, ref i, end, a);
            SgdRange<Lane1>((float*)pp, (float*)gp, (float*)bp, ref i, end, a);
        });
    }

    private static unsafe void SgdRange<TV>(float* p, float* g, float* buf, ref int next, int end, in SgdArgs a) where TV : struct, ILanes<TV>
    {
        TV lr = TV.Splat(a.Lr), mu = TV.Splat(a.Momentum), damp = TV.Splat(a.OneMinusDampening), wd = TV.Splat(a.WeightDecay);
        bool decay = a.WeightDecay != 0f, momentum = a.UseMomentum != 0, first = a.First != 0, nesterov = a.Nesterov != 0;
        int i = next; // a local: stores through the float pointers would otherwise make the JIT reload it
        for (; i <= end - TV.Count; i += TV.Count)
        {
            var pi = TV.Load(p + i);
            var d = TV.Load(g + i);
            if (decay) d = d + wd * pi;
            if (momentum)
            {
                var b = first ? d : mu * TV.Load(buf + i) + damp * d;
                b.Store(buf + i);
                d = nesterov ? d + mu * b : b;
            }
            (pi - lr * d).Store(p + i);
        }
        next = i;
    }

    internal static unsafe void RmsPropStepCpu(CpuParallel parallel, float* p, float* g, float* sq, float* gAvg, float* buf, int n, RmsPropArgs a)
    {
        nint pp = (nint)p, gp = (nint)g, sp = (nint)sq, ap = (nint)gAvg, bp = (nint)buf;
        parallel.ForChunks(n, CpuParallel.Grain(1), (start, end) =>
        {
            int i = start;
            if (Vector512.IsHardwareAccelerated) RmsPropRange<Lanes512>((float*)pp, (float*)gp, (float*)sp, (float*)ap, (float*)bp, ref i, end, a);
            RmsPropRange<Lanes256>((float*)pp, (float*)gp, (float*)sp, (float*)ap, (float*)bp, ref i, end, a);
            RmsPropRange<Lane1>((float*)pp, (float*)gp, (float*)sp, (float*)ap, (float*)bp, ref i, end, a);
        });
    }

    private static unsafe void RmsPropRange<TV>(float* p, float* g, float* sq, float* gAvg, float* buf, ref int next, int end, in RmsPropArgs a) where TV : struct, ILanes<TV>
    {
        TV lr = TV.Splat(a.Lr), alpha = TV.Splat(a.Alpha), oneMinusAlpha = TV.Splat(a.OneMinusAlpha);
        TV eps = TV.Splat(a.Eps), wd = TV.Splat(a.WeightDecay), mu = TV.Splat(a.Momentum);
        bool decay = a.WeightDecay != 0f, centered = a.Centered != 0, momentum = a.UseMomentum != 0;
        int i = next; // a local: stores through the float pointers would otherwise make the JIT reload it
        for (; i <= end - TV.Count; i += TV.Count)
        {
            var pi = TV.Load(p + i);
            var d = TV.Load(g + i);
            if (decay) d = d + wd * pi;
            var s = alpha * TV.Load(sq + i) + oneMinusAlpha * d * d;
            s.Store(sq + i);
            TV r;
            if (centered)
            {
                var ga = alpha * TV.Load(gAvg + i) + oneMinusAlpha * d;
                ga.Store(gAvg + i);
                r = TV.Sqrt(s - ga * ga) + eps;
            }
            else r = TV.Sqrt(s) + eps;
            if (momentum)
            {
                var b = mu * TV.Load(buf + i) + d / r;
                b.Store(buf + i);
                (pi - lr * b).Store(p + i);
            }
            else (pi - lr * (d / r)).Store(p + i);
        }
        next = i;
    }

    /// <summary>float lanes of one width: the update bodies above are generic over it.</summary>
    private unsafe interface ILanes<TSelf> where TSelf : struct, ILanes<TSelf>
    {
        static abstract int Count { get; }
        static abstract TSelf Load(float* p);
        static abstract TSelf Splat(float value);
        static abstract TSelf Sqrt(TSelf x);
        static abstract TSelf operator +(TSelf a, TSelf b);
        static abstract TSelf operator -(TSelf a, TSelf b);
        static abstract TSelf operator *(TSelf a, TSelf b);
        static abstract TSelf operator /(TSelf a, TSelf b);
        void Store(float* p);
    }

    private readonly unsafe struct Lanes512(Vector512<float> v) : ILanes<Lanes512>
    {
        private readonly Vector512<float> _v = v;
        public static int Count => Vector512<float>.Count;
        public static Lanes512 Load(float* p) => new(Vector512.Load(p));
        public static Lanes512 Splat(float value) => new(Vector512.Create(value));
        public static Lanes512 Sqrt(Lanes512 x) => new(Vector512.Sqrt(x._v));
        public static Lanes512 operator +(Lanes512 a, Lanes512 b) => new(a._v + b._v);
        public static Lanes512 operator -(Lanes512 a, Lanes512 b) => new(a._v - b._v);
        public static Lanes512 operator *(Lanes512 a, Lanes512 b) => new(a._v * b._v);
        public static Lanes512 operator /(Lanes512 a, Lanes512 b) => new(a._v / b._v);
        public void Store(float* p) => _v.Store(p);
    }

    private readonly unsafe struct Lanes256(Vector256<float> v) : ILanes<Lanes256>
    {
        private readonly Vector256<float> _v = v;
        public static int Count => Vector256<float>.Count;
        public static Lanes256 Load(float* p) => new(Vector256.Load(p));
        public static Lanes256 Splat(float value) => new(Vector256.Create(value));
        public static Lanes256 Sqrt(Lanes256 x) => new(Vector256.Sqrt(x._v));
        public static Lanes256 operator +(Lanes256 a, Lanes256 b) => new(a._v + b._v);
        public static Lanes256 operator -(Lanes256 a, Lanes256 b) => new(a._v - b._v);
        public static Lanes256 operator *(Lanes256 a, Lanes256 b) => new(a._v * b._v);
        public static Lanes256 operator /(Lanes256 a, Lanes256 b) => new(a._v / b._v);
        public void Store(float* p) => _v.Store(p);
    }

    /// <summary>One lane: the scalar tail, with exactly the float operations of the ILGPU kernel.</summary>
    private readonly unsafe struct Lane1(float v) : ILanes<Lane1>
    {
        private readonly float _v = v;
        public static int Count => 1;
        public static Lane1 Load(float* p) => new(*p);
        public static Lane1 Splat(float value) => new(value);
        public static Lane1 Sqrt(Lane1 x) => new(MathF.Sqrt(x._v));
        public static Lane1 operator +(Lane1 a, Lane1 b) => new(a._v + b._v);
        public static Lane1 operator -(Lane1 a, Lane1 b) => new(a._v - b._v);
        public static Lane1 operator *(Lane1 a, Lane1 b) => new(a._v * b._v);
        public static Lane1 operator /(Lane1 a, Lane1 b) => new(a._v / b._v);
        public void Store(float* p) => *p = _v;
    }

    // ============================================================ launchers (the public ops)

    /// <summary>
    /// One Adam step on <paramref name="param"/> in place, with its state <paramref name="expAvg"/>
    /// (m) and <paramref name="expAvgSq"/> (v) updated in place; <paramref name="step"/> is the
    /// parameter's step count including this one (1 on the first step), for the bias corrections.
    /// </summary>
    /// <exception cref="ShapeMismatchException">The tensors differ in size.</exception>
    /// <exception cref="DeviceMismatchException">The tensors are on different devices.</exception>
    public static unsafe void AdamStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamHyperparameters h, long step)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "Adam: the step count starts at 1");
        Check("Adam", param, (grad, "gradient"), (expAvg, "exp_avg"), (expAvgSq, "exp_avg_sq"));
        int n = param.Size;
        if (n == 0) return;
        using var _ = param.Device.BeginOp("AdamStep");
        var a = AdamArgs.Create(h, step);
        if (param.Device.IsHost)
        {
            fixed (float* pp = param.HostSpan, gp = grad.HostSpan, mp = expAvg.HostSpan, vp = expAvgSq.HostSpan) AdamStepCpu(param.Device.Parallel, pp, gp, mp, vp, n, a);
        }
        else
        {
            // Per element: decay 2, m 3, v 4, denominator 3 (√, /, +), p 3 (/, ·, −); p, g, m, v read, p, m, v written.
            param.Device.Launch(AdamStepKernel, StepConfig(n), LaunchCost.Elementwise(n, h.WeightDecay != 0 ? 15 : 13, readsPerElement: 4, writesPerElement: 3),
                param.View, grad.View, expAvg.View, expAvgSq.View, a, n);
        }
    }

    /// <summary>
    /// One Adam step on every tensor of <paramref name="tensors"/> (each with its own state and step count): on an ILGPU
    /// device one launch per 8 tensors, on the CPU the single-tensor kernel per tensor. The same bits as
    /// <see cref="AdamStep(Tensor, Tensor, Tensor, Tensor, AdamHyperparameters, long)"/> on each.
    /// </summary>
    /// <exception cref="ShapeMismatchException">A tensor's gradient or state differs from it in size.</exception>
    /// <exception cref="DeviceMismatchException">The tensors are not all on one device.</exception>
    public static void AdamStep(IReadOnlyList<AdamTensors> tensors, AdamHyperparameters h)
    {
        if (tensors.Count == 0) return;
        var device = tensors[0].Param.Device;
        foreach (var t in tensors)
        {
            if (t.Step < 1) throw new ArgumentOutOfRangeException(nameof(tensors), t.Step, "Adam: the step count starts at 1");
            Check("Adam", t.Param, (t.Grad, "gradient"), (t.ExpAvg, "exp_avg"), (t.ExpAvgSq, "exp_avg_sq"));
            tensors[0].Param.CheckSameDevice(t.Param, "Adam");
        }
        if (device.IsHost)
        {
            foreach (var t in tensors) AdamStep(t.Param, t.Grad, t.ExpAvg, t.ExpAvgSq, h, t.Step);
            return;
        }
        using var _ = device.BeginOp("AdamStep");
        var live = tensors.Where(t => t.Param.Size > 0).ToArray();
        var shared = AdamArgs.Create(h, 1);
        Span<int> lengths = stackalloc int[TensorsPerLaunch];
        Span<int> starts = stackalloc int[TensorsPerLaunch];
        Span<float> stepSizes = stackalloc float[TensorsPerLaunch];
        Span<float> bc2 = stackalloc float[TensorsPerLaunch];
        for (int first = 0; first < live.Length; first += TensorsPerLaunch)
        {
            var batch = live.Skip(first).Take(TensorsPerLaunch).ToArray();
            int groups = 0;
            long elements = 0;
            for (int j = 0; j < TensorsPerLaunch; j++)
            {
                bool used = j < batch.Length;
                lengths[j] = used ? batch[j].Param.Size : 0;
                starts[j] = used ? groups : int.MaxValue;
                var a = used ? AdamArgs.Create(h, batch[j].Step) : shared;
                (stepSizes[j], bc2[j]) = (a.StepSize, a.Bc2Sqrt);
                if (used) groups += (lengths[j] + StepGroup - 1) / StepGroup;
                elements += lengths[j];
            }
            ArrayView<float> V(int j, Func<AdamTensors, Tensor> pick) => pick(batch[j < batch.Length ? j : 0]).View;
            var views = new AdamViews8
            {
                P0 = V(0, t => t.Param), P1 = V(1, t => t.Param), P2 = V(2, t => t.Param), P3 = V(3, t => t.Param),
                P4 = V(4, t => t.Param), P5 = V(5, t => t.Param), P6 = V(6, t => t.Param), P7 = V(7, t => t.Param),
                G0 = V(0, t => t.Grad), G1 = V(1, t => t.Grad), G2 = V(2, t => t.Grad), G3 = V(3, t => t.Grad),
                G4 = V(4, t => t.Grad), G5 = V(5, t => t.Grad), G6 = V(6, t => t.Grad), G7 = V(7, t => t.Grad),
                M0 = V(0, t => t.ExpAvg), M1 = V(1, t => t.ExpAvg), M2 = V(2, t => t.ExpAvg), M3 = V(3, t => t.ExpAvg),
                M4 = V(4, t => t.ExpAvg), M5 = V(5, t => t.ExpAvg), M6 = V(6, t => t.ExpAvg), M7 = V(7, t => t.ExpAvg),
                V0 = V(0, t => t.ExpAvgSq), V1 = V(1, t => t.ExpAvgSq), V2 = V(2, t => t.ExpAvgSq), V3 = V(3, t => t.ExpAvgSq),
                V4 = V(4, t => t.ExpAvgSq), V5 = V(5, t => t.ExpAvgSq), V6 = V(6, t => t.ExpAvgSq), V7 = V(7, t => t.ExpAvgSq),
            };
            var plan = new MultiStepPlan
            {
                L0 = lengths[0], L1 = lengths[1], L2 = lengths[2], L3 = lengths[3], L4 = lengths[4], L5 = lengths[5], L6 = lengths[6], L7 = lengths[7],
                F1 = starts[1], F2 = starts[2], F3 = starts[3], F4 = starts[4], F5 = starts[5], F6 = starts[6], F7 = starts[7],
                S0 = stepSizes[0], S1 = stepSizes[1], S2 = stepSizes[2], S3 = stepSizes[3], S4 = stepSizes[4], S5 = stepSizes[5], S6 = stepSizes[6], S7 = stepSizes[7],
                B0 = bc2[0], B1 = bc2[1], B2 = bc2[2], B3 = bc2[3], B4 = bc2[4], B5 = bc2[5], B6 = bc2[6], B7 = bc2[7],
            };
            // As the single-tensor launch, per element of every tensor of the batch.
            device.Launch(AdamStepMultiKernel, new KernelConfig(groups, StepGroup),
                LaunchCost.Elementwise(elements, h.WeightDecay != 0 ? 15 : 13, readsPerElement: 4, writesPerElement: 3), views, plan, shared);
        }
    }

    /// <summary>
    /// One SGD step on <paramref name="param"/> in place. With a momentum, <paramref name="momentumBuffer"/>
    /// is required and updated in place (<paramref name="firstStep"/>: it is set to the gradient, as PyTorch).
    /// </summary>
    /// <exception cref="ArgumentException">A momentum without a buffer.</exception>
    /// <exception cref="ShapeMismatchException">The tensors differ in size.</exception>
    /// <exception cref="DeviceMismatchException">The tensors are on different devices.</exception>
    public static unsafe void SgdStep(Tensor param, Tensor grad, Tensor? momentumBuffer, SgdHyperparameters h, bool firstStep)
    {
        if (h.Momentum != 0 && momentumBuffer is null) throw new ArgumentException($"SGD: momentum {h.Momentum} needs a momentum buffer", nameof(momentumBuffer));
        Check("SGD", param, (grad, "gradient"), (momentumBuffer, "momentum_buffer"));
        int n = param.Size;
        if (n == 0) return;
        using var _ = param.Device.BeginOp("SgdStep");
        var a = new SgdArgs
        {
            Lr = (float)h.LearningRate, Momentum = (float)h.Momentum, OneMinusDampening = (float)(1 - h.Dampening), WeightDecay = (float)h.WeightDecay,
            UseMomentum = h.Momentum != 0 ? 1 : 0, Nesterov = h.Nesterov ? 1 : 0, First = firstStep ? 1 : 0,
        };
        if (param.Device.IsHost)
        {
            fixed (float* pp = param.HostSpan, gp = grad.HostSpan, bp = momentumBuffer is null ? default : momentumBuffer.HostSpan) SgdStepCpu(param.Device.Parallel, pp, gp, bp, n, a);
        }
        else
        {
            // Per element: decay 2, buffer 3 (0 on the first step), Nesterov 2, p 2; p, g (and b) read, p (and b) written.
            bool mom = a.UseMomentum != 0;
            int flops = (a.WeightDecay != 0f ? 2 : 0) + (mom ? (firstStep ? 0 : 3) + (h.Nesterov ? 2 : 0) : 0) + 2;
            int reads = mom && !firstStep ? 3 : 2;
            param.Device.Launch(SgdStepKernel, StepConfig(n), LaunchCost.Elementwise(n, flops, reads, writesPerElement: mom ? 2 : 1),
                param.View, grad.View, (momentumBuffer ?? grad).View, a, n);
        }
    }

    /// <summary>
    /// One RMSprop step on <paramref name="param"/> in place, updating <paramref name="squareAvg"/>;
    /// centred when <paramref name="gradAvg"/> is given (updated in place too); with a momentum,
    /// <paramref name="momentumBuffer"/> is required and updated in place.
    /// </summary>
    /// <exception cref="ArgumentException">A momentum without a buffer.</exception>
    /// <exception cref="ShapeMismatchException">The tensors differ in size.</exception>
    /// <exception cref="DeviceMismatchException">The tensors are on different devices.</exception>
    public static unsafe void RmsPropStep(Tensor param, Tensor grad, Tensor squareAvg, Tensor? gradAvg, Tensor? momentumBuffer, RmsPropHyperparameters h)
    {
        if (h.Momentum > 0 && momentumBuffer is null) throw new ArgumentException($"RMSprop: momentum {h.Momentum} needs a momentum buffer", nameof(momentumBuffer));
        Check("RMSprop", param, (grad, "gradient"), (squareAvg, "square_avg"), (gradAvg, "grad_avg"), (momentumBuffer, "momentum_buffer"));
        int n = param.Size;
        if (n == 0) return;
        using var _ = param.Device.BeginOp("RmsPropStep");
        var a = new RmsPropArgs
        {
            Lr = (float)h.LearningRate, Alpha = (float)h.Alpha, OneMinusAlpha = (float)(1 - h.Alpha), Eps = (float)h.Eps,
            WeightDecay = (float)h.WeightDecay, Momentum = (float)h.Momentum,
            Centered = gradAvg is null ? 0 : 1, UseMomentum = h.Momentum > 0 ? 1 : 0,
        };
        if (param.Device.IsHost)
        {
            fixed (float* pp = param.HostSpan, gp = grad.HostSpan, sp = squareAvg.HostSpan,
                   ap = gradAvg is null ? default : gradAvg.HostSpan, bp = momentumBuffer is null ? default : momentumBuffer.HostSpan)
                RmsPropStepCpu(param.Device.Parallel, pp, gp, sp, ap, bp, n, a);
        }
        else
        {
            // Per element: decay 2, s 4, r 2 (√, +; centred: a 3 and s − a² 2 more), p 3 (/, ·, −; with
            // momentum: b 3, p 2); p, g, s (and a, b) read, p, s (and a, b) written.
            bool centered = gradAvg is not null, mom = a.UseMomentum != 0;
            int flops = (a.WeightDecay != 0f ? 2 : 0) + 4 + (centered ? 7 : 2) + (mom ? 5 : 3);
            int extra = (centered ? 1 : 0) + (mom ? 1 : 0);
            param.Device.Launch(RmsPropStepKernel, StepConfig(n), LaunchCost.Elementwise(n, flops, readsPerElement: 3 + extra, writesPerElement: 2 + extra),
                param.View, grad.View, squareAvg.View, (gradAvg ?? grad).View, (momentumBuffer ?? grad).View, a, n);
        }
    }

    /// <summary>
    /// One SGD step on every tensor of <paramref name="tensors"/>: on an ILGPU device one launch per 8 tensors, on the CPU
    /// the single-tensor kernel per tensor. The same bits as <see cref="SgdStep(Tensor, Tensor, Tensor?, SgdHyperparameters, bool)"/> on each.
    /// </summary>
    /// <exception cref="ArgumentException">A momentum without a buffer.</exception>
    /// <exception cref="ShapeMismatchException">A tensor's gradient or buffer differs from it in size.</exception>
    /// <exception cref="DeviceMismatchException">The tensors are not all on one device.</exception>
    public static void SgdStep(IReadOnlyList<SgdTensors> tensors, SgdHyperparameters h)
    {
        if (tensors.Count == 0) return;
        var device = tensors[0].Param.Device;
        foreach (var t in tensors)
        {
            if (h.Momentum != 0 && t.MomentumBuffer is null) throw new ArgumentException($"SGD: momentum {h.Momentum} needs a momentum buffer", nameof(tensors));
            Check("SGD", t.Param, (t.Grad, "gradient"), (t.MomentumBuffer, "momentum_buffer"));
            tensors[0].Param.CheckSameDevice(t.Param, "SGD");
        }
        if (device.IsHost)
        {
            foreach (var t in tensors) SgdStep(t.Param, t.Grad, t.MomentumBuffer, h, t.FirstStep);
            return;
        }
        using var _ = device.BeginOp("SgdStep");
        var live = tensors.Where(t => t.Param.Size > 0).ToArray();
        bool mom = h.Momentum != 0;
        var a = new SgdArgs
        {
            Lr = (float)h.LearningRate, Momentum = (float)h.Momentum, OneMinusDampening = (float)(1 - h.Dampening), WeightDecay = (float)h.WeightDecay,
            UseMomentum = mom ? 1 : 0, Nesterov = h.Nesterov ? 1 : 0,
        };
        for (int first = 0; first < live.Length; first += TensorsPerLaunch)
        {
            var batch = live.Skip(first).Take(TensorsPerLaunch).ToArray();
            var plan = MultiStepPlan.Of(batch.Select(t => t.Param.Size).ToArray(), StepGroup, out int groups, out long elements);
            for (int j = 0; j < batch.Length; j++) if (batch[j].FirstStep) plan.FirstMask |= 1 << j;
            // As the single-tensor launch (buffer reads counted as if no tensor took its first step).
            int flops = (a.WeightDecay != 0f ? 2 : 0) + (mom ? 3 + (h.Nesterov ? 2 : 0) : 0) + 2;
            device.Launch(SgdStepMultiKernel, new KernelConfig(groups, StepGroup), LaunchCost.Elementwise(elements, flops, mom ? 3 : 2, writesPerElement: mom ? 2 : 1),
                Views8.Of(batch.Select(t => t.Param).ToArray()), Views8.Of(batch.Select(t => t.Grad).ToArray()),
                Views8.Of(batch.Select(t => t.MomentumBuffer ?? t.Grad).ToArray()), plan, a);
        }
    }

    /// <summary>
    /// One RMSprop step on every tensor of <paramref name="tensors"/> (all centred or none, as the hyperparameters and the
    /// state say): on an ILGPU device one launch per 8 tensors, on the CPU the single-tensor kernel per tensor. The same
    /// bits as <see cref="RmsPropStep(Tensor, Tensor, Tensor, Tensor?, Tensor?, RmsPropHyperparameters)"/> on each.
    /// </summary>
    /// <exception cref="ArgumentException">A momentum without a buffer, or centred and plain tensors mixed.</exception>
    /// <exception cref="ShapeMismatchException">A tensor's gradient or state differs from it in size.</exception>
    /// <exception cref="DeviceMismatchException">The tensors are not all on one device.</exception>
    public static void RmsPropStep(IReadOnlyList<RmsPropTensors> tensors, RmsPropHyperparameters h)
    {
        if (tensors.Count == 0) return;
        var device = tensors[0].Param.Device;
        bool centered = tensors[0].GradAvg is not null;
        foreach (var t in tensors)
        {
            if (h.Momentum > 0 && t.MomentumBuffer is null) throw new ArgumentException($"RMSprop: momentum {h.Momentum} needs a momentum buffer", nameof(tensors));
            if ((t.GradAvg is not null) != centered) throw new ArgumentException("RMSprop: every tensor of one step is centred (has grad_avg) or none is", nameof(tensors));
            Check("RMSprop", t.Param, (t.Grad, "gradient"), (t.SquareAvg, "square_avg"), (t.GradAvg, "grad_avg"), (t.MomentumBuffer, "momentum_buffer"));
            tensors[0].Param.CheckSameDevice(t.Param, "RMSprop");
        }
        if (device.IsHost)
        {
            foreach (var t in tensors) RmsPropStep(t.Param, t.Grad, t.SquareAvg, t.GradAvg, t.MomentumBuffer, h);
            return;
        }
        using var _ = device.BeginOp("RmsPropStep");
        var live = tensors.Where(t => t.Param.Size > 0).ToArray();
        bool mom = h.Momentum > 0;
        var a = new RmsPropArgs
        {
            Lr = (float)h.LearningRate, Alpha = (float)h.Alpha, OneMinusAlpha = (float)(1 - h.Alpha), Eps = (float)h.Eps,
            WeightDecay = (float)h.WeightDecay, Momentum = (float)h.Momentum, Centered = centered ? 1 : 0, UseMomentum = mom ? 1 : 0,
        };
        int flops = (a.WeightDecay != 0f ? 2 : 0) + 4 + (centered ? 7 : 2) + (mom ? 5 : 3);
        int extra = (centered ? 1 : 0) + (mom ? 1 : 0);
        for (int first = 0; first < live.Length; first += TensorsPerLaunch)
        {
            var batch = live.Skip(first).Take(TensorsPerLaunch).ToArray();
            var plan = MultiStepPlan.Of(batch.Select(t => t.Param.Size).ToArray(), StepGroup, out int groups, out long elements);
            device.Launch(RmsPropStepMultiKernel, new KernelConfig(groups, StepGroup), LaunchCost.Elementwise(elements, flops, 3 + extra, 2 + extra),
                Views8.Of(batch.Select(t => t.Param).ToArray()), Views8.Of(batch.Select(t => t.Grad).ToArray()), Views8.Of(batch.Select(t => t.SquareAvg).ToArray()),
                Views8.Of(batch.Select(t => t.GradAvg ?? t.Grad).ToArray()), Views8.Of(batch.Select(t => t.MomentumBuffer ?? t.Grad).ToArray()), plan, a);
        }
    }

    private static void Check(string op, Tensor param, params (Tensor? T, string Name)[] others)
    {
        foreach (var (t, name) in others)
        {
            if (t is null) continue;
            if (t.Size != param.Size)
                throw new ShapeMismatchException($"{op}: {name} {t.Shape} does not match parameter {param.Describe()}");
            param.CheckSameDevice(t, op);
        }
    }
}
