// Batch-norm statistics of a generator re-estimated from its own activations ("standing statistics", BigGAN;
// PyTorch's torch.optim.swa_utils.update_bn), for the moving average of G's weights (--ema).
//
// The averaged weights θ_ema were never trained with batch statistics of their own: the running statistics a
// training run keeps describe the trained weights' activations. So, before G_ema is used in evaluation mode,
// every batch-norm layer's running statistics are reset and re-estimated: K batches of B latent vectors
// (conditional models cycle through the classes) go through G_ema in training mode, no gradients, each
// layer's running statistics the cumulative average of the K batches' statistics:
//   μ = (1/K) Σ_k mean_k(x),   σ² = (1/K) Σ_k var_k(x)  (unbiased within each batch, as PyTorch keeps running_var),
// where x is the layer's input when the layers before it normalise with their batch statistics (training mode).
// The latent vectors come from a fixed stream of their own, so the result depends on G_ema's weights alone:
// no training stream moves, and the statistics of a resumed run are those of an uninterrupted one.
// Cost: K·B forward samples (32 × 64 = 2,048), once per use (a grid, a score, a saved generator file).
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>Re-estimates a generator's batch-norm running statistics from its own activations on latent noise.</summary>
public static class StandingStatistics
{
    /// <summary>Batches of latent noise per estimate.</summary>
    public const int Batches = 32;

    /// <summary>Latent vectors per batch.</summary>
    public const int BatchSize = 64;

    /// <summary>
    /// Metadata key, in generator files and checkpoints, saying the averaged generator's statistics were re-estimated
    /// ("32x64": batches × batch size). Files without it (written before) are re-estimated when loaded.
    /// </summary>
    public const string MetadataKey = "ema-bn";

    /// <summary>The <see cref="MetadataKey"/> value this build writes.</summary>
    public static string MetadataValue => $"{Batches}x{BatchSize}";

    /// <summary>Seed of the latent stream (fixed: the estimate is a function of the weights alone).</summary>
    private const ulong StreamSeed = 0x57A2D1A6B5E0F00DUL;

    /// <summary>The latent stream of an estimate (a new one each time).</summary>
    internal static RandomStream LatentStream() => new(StreamSeed);

    /// <summary>
    /// Resets the running statistics of every batch-norm layer of <paramref name="generator"/> and re-estimates them over
    /// <paramref name="batches"/> batches of <paramref name="batchSize"/> latent vectors (cumulative average, no gradients);
    /// leaves the generator in evaluation mode. False (and nothing changed but the mode) when it has no running statistics.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Fewer than one batch, or batches of fewer than two.</exception>
    public static bool Estimate(Generator generator, Device device, int batches = Batches, int batchSize = BatchSize)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(batches, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 2);
        var norms = generator.Modules().OfType<BatchNorm2d>().Where(b => b.RunningMean is not null).ToList();
        if (norms.Count == 0)
        {
            generator.Eval();
            return false;
        }
        var stream = LatentStream();
        var spec = generator.Spec;
        foreach (var bn in norms)
        {
            bn.ResetRunningStats();
            bn.CumulativeAverage = true;
        }
        generator.Train();
        try
        {
            using var noGrad = Autograd.NoGrad();
            for (int k = 0; k < batches; k++)
            {
                using var scope = TensorScope.Begin();
                var z = generator.SampleLatent(batchSize, stream, device);
                int[]? labels = spec.IsConditional ? Enumerable.Range(k * batchSize, batchSize).Select(i => i % spec.ClassCount).ToArray() : null;
                generator.Generate(z, labels);
            }
        }
        finally
        {
            foreach (var bn in norms) bn.CumulativeAverage = false;
            generator.Eval();
        }
        return true;
    }
}
