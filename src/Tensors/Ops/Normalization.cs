// STUB: signatures agreed for the normalisation family; the implementation lands with issue 3.
namespace GpuGan.Tensors;

public sealed partial class Tensor
{
    /// <summary>
    /// Batch normalisation over (N, H, W) per channel of this (N, C, H, W). Training: batch statistics
    /// (biased variance for normalising), and runningMean/runningVar updated in place with momentum
    /// (PyTorch: running = (1 − momentum)·running + momentum·batch, unbiased variance for running_var).
    /// Eval: the running statistics. gamma/beta: (C) or null (no affine).
    /// </summary>
    public Tensor BatchNorm2d(Tensor? gamma, Tensor? beta, Tensor? runningMean, Tensor? runningVar, bool training, float momentum = 0.1f, float eps = 1e-5f)
        => throw new NotImplementedException("BatchNorm2d lands with issue 3");

    /// <summary>Layer normalisation over all non-batch dimensions (C, H, W) of each sample; gamma/beta shaped like those dimensions, or null.</summary>
    public Tensor LayerNorm(Tensor? gamma, Tensor? beta, float eps = 1e-5f)
        => throw new NotImplementedException("LayerNorm lands with issue 3");

    /// <summary>Instance normalisation over (H, W) per sample and channel; gamma/beta: (C) or null.</summary>
    public Tensor InstanceNorm2d(Tensor? gamma, Tensor? beta, float eps = 1e-5f)
        => throw new NotImplementedException("InstanceNorm2d lands with issue 3");
}
