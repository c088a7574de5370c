// STUB: signatures agreed for the loss family; the implementation lands with issue 3.
namespace GpuGan.Tensors;

/// <summary>Loss functions; each returns a scalar tensor (mean over all elements).</summary>
public static class Losses
{
    /// <summary>Mean of max(x, 0) − x·t + log(1 + e^−|x|): stable for any |x|.</summary>
    public static Tensor BceWithLogits(Tensor logits, Tensor targets) => throw new NotImplementedException();

    /// <summary>Mean of −[t·log p + (1 − t)·log(1 − p)], with the logs clamped at −100 as PyTorch does.</summary>
    public static Tensor Bce(Tensor probabilities, Tensor targets) => throw new NotImplementedException();

    public static Tensor Mse(Tensor input, Tensor target) => throw new NotImplementedException();

    public static Tensor L1(Tensor input, Tensor target) => throw new NotImplementedException();
}
