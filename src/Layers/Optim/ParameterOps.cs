// Parameter utilities used around optimiser steps: WGAN weight clipping (Arjovsky et al. 2017:
// clamp every critic weight into [−c, c] after each step) as an in-place clamp kernel on both
// sets, and the total L2 norm of the gradients (for metrics; not a clipping step).
using System.Runtime.Intrinsics;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Layers.Optim;

internal static class ClampKernels
{
    // ============================================================ float64 reference

    public static double ClampReference(double x, double lo, double hi) => Math.Min(Math.Max(x, lo), hi);

    // ============================================================ ILGPU kernel

    [GpuKernel]
    public static void ClampInPlaceKernel(Index1D i, ArrayView<float> x, float lo, float hi)
    {
        float v = x[i];
        x[i] = v < lo ? lo : v > hi ? hi : v;
    }

    // ============================================================ CPU SIMD kernel

    private const int ChunkSize = 1 << 15;

    public static unsafe void ClampInPlaceCpu(float* x, int n, float lo, float hi)
    {
        nint xp = (nint)x;
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        CpuParallel.For(chunks, c =>
        {
            int start = c * ChunkSize, end = Math.Min(n, start + ChunkSize);
            float* X = (float*)xp;
            var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
            int i = start;
            for (; i <= end - 8; i += 8)
            {
                var v = Vector256.Load(X + i);
                Vector256.ConditionalSelect(Vector256.LessThan(v, vlo), vlo, Vector256.ConditionalSelect(Vector256.GreaterThan(v, vhi), vhi, v)).Store(X + i);
            }
            for (; i < end; i++)
            {
                float v = X[i];
                X[i] = v < lo ? lo : v > hi ? hi : v;
            }
        });
    }

    // ============================================================ launcher

    public static unsafe void ClampInPlace(Tensor x, float lo, float hi)
    {
        if (x.Size == 0) return;
        if (x.Device.IsHost)
        {
            fixed (float* xp = x.HostSpan) ClampInPlaceCpu(xp, x.Size, lo, hi);
        }
        else
        {
            x.Device.Kernel("GpuGan.Layers.Optim.ClampInPlaceKernel", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, float>(ClampInPlaceKernel))
                (x.Size, x.View, lo, hi);
        }
    }
}

/// <summary>Weight clipping and gradient norms.</summary>
public static class ParameterOps
{
    /// <summary>Clamps every parameter into [−c, c] in place (original WGAN's critic constraint).</summary>
    public static void ClipWeights(IEnumerable<Tensor> parameters, float c)
    {
        if (!(c > 0)) throw new ArgumentOutOfRangeException(nameof(c), c, "clip value must be positive");
        foreach (var p in parameters) ClampKernels.ClampInPlace(p, -c, c);
    }

    /// <summary>√(Σ over parameters with a gradient of Σ g²), as a scalar tensor on the parameters' device (no host sync).</summary>
    public static Tensor GradNormTensor(IEnumerable<Tensor> parameters)
    {
        using var noGrad = Autograd.NoGrad();
        Tensor? total = null;
        foreach (var p in parameters)
        {
            if (p.Grad is not { IsDisposed: false } g) continue;
            var s = g.Square().Sum();
            total = total is null ? s : total.Add(s);
        }
        return total is null ? Tensor.Scalar(0f) : total.Sqrt();
    }

    /// <summary>Total L2 norm of the gradients (0 when none has one); downloads one number.</summary>
    public static float GradNorm(IEnumerable<Tensor> parameters)
    {
        using var scope = TensorScope.Begin();
        return GradNormTensor(parameters).Item();
    }
}
