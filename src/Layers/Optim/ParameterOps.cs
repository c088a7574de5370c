// Parameter utilities used around optimiser steps: WGAN weight clipping (Arjovsky et al. 2017:
// clamp every critic weight into [−c, c] after each step) and the total L2 norm of the gradients
// (for metrics; not a clipping step). Both are thin loops over public Tensor ops:
// Tensor.ClampInPlace (Ops/Elementwise) and Tensor.GlobalNorm (Ops/Optim).
using GpuGan.Tensors;

namespace GpuGan.Layers.Optim;

/// <summary>Weight clipping and gradient norms.</summary>
public static class ParameterOps
{
    /// <summary>Clamps every parameter into [−c, c] in place (original WGAN's critic constraint).</summary>
    public static void ClipWeights(IEnumerable<Tensor> parameters, float c)
    {
        if (!(c > 0)) throw new ArgumentOutOfRangeException(nameof(c), c, "clip value must be positive");
        foreach (var p in parameters) p.ClampInPlace(-c, c);
    }

    /// <summary>√(Σ over parameters with a gradient of Σ g²), as a scalar tensor on the parameters' device (no host sync).</summary>
    public static Tensor GradNormTensor(IEnumerable<Tensor> parameters)
    {
        using var noGrad = Autograd.NoGrad();
        return Tensor.GlobalNorm(parameters.Select(p => p.Grad).OfType<Tensor>().Where(g => !g.IsDisposed));
    }

    /// <summary>Total L2 norm of the gradients (0 when none has one); downloads one number.</summary>
    public static float GradNorm(IEnumerable<Tensor> parameters)
    {
        using var scope = TensorScope.Begin();
        return GradNormTensor(parameters).Item();
    }
}
