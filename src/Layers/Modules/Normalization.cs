// Normalisation layers over the Tensor ops of the normalisation family
// (src/Tensors/Ops/Normalization.cs). Parameter and buffer names as PyTorch:
// weight (γ), bias (β), running_mean, running_var, num_batches_tracked.
//
// num_batches_tracked: kept as a rank-0 float32 buffer (so every buffer is a Tensor that moves
// with To(device) and saves like the rest), exact up to 2^24 batches; the module counts in a long
// and writes it into the buffer, reading it back after a state load. It matters when CumulativeAverage is set
// (PyTorch's momentum=None): batch k (counting from 1 after ResetRunningStats) enters the running statistics with
// weight 1/k, so after K batches they are the plain average of the K batches' statistics (the variance's unbiased).
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>Batch normalisation over (N, H, W) per channel, PyTorch's nn.BatchNorm2d.</summary>
public sealed class BatchNorm2d : Module, IResettable
{
    private long _batchesTracked;

    /// <summary>Batch norm over <paramref name="numFeatures"/> channels with PyTorch's defaults: running statistics updated with <paramref name="momentum"/>, affine γ and β.</summary>
    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true, Device? device = null)
    {
        if (numFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(numFeatures), $"BatchNorm2d({numFeatures}): feature count must be positive");
        (NumFeatures, Eps, Momentum) = (numFeatures, eps, momentum);
        RegisterParameter("weight", affine ? Tensor.Ones(new Shape(numFeatures), device) : null);
        RegisterParameter("bias", affine ? Tensor.Zeros(new Shape(numFeatures), device) : null);
        RegisterBuffer("running_mean", trackRunningStats ? Tensor.Zeros(new Shape(numFeatures), device) : null);
        RegisterBuffer("running_var", trackRunningStats ? Tensor.Ones(new Shape(numFeatures), device) : null);
        RegisterBuffer("num_batches_tracked", trackRunningStats ? Tensor.Zeros(new Shape(), device) : null);
    }

    /// <summary>Channels.</summary>
    public int NumFeatures { get; }
    /// <summary>ε added to the variance.</summary>
    public float Eps { get; }
    /// <summary>Weight of the new batch statistics in the running averages.</summary>
    public float Momentum { get; }

    /// <summary>
    /// When set, training uses the statistics of the global batch over the ranks of this communicator
    /// (<see cref="Tensor.SyncBatchNorm2d"/>, PyTorch's SyncBatchNorm); null (the default) uses this process's batch.
    /// Every rank must then call Forward at the same points. Not saved with the state.
    /// </summary>
    public ICommunicator? Communicator { get; set; }

    /// <summary>γ (C) or null.</summary>
    public Tensor? Weight => GetParameter("weight");
    /// <summary>β (C) or null.</summary>
    public Tensor? Bias => GetParameter("bias");
    /// <summary>Running mean (C), used in evaluation mode; null without running statistics.</summary>
    public Tensor? RunningMean => GetBuffer("running_mean");
    /// <summary>Running variance (C), used in evaluation mode; null without running statistics.</summary>
    public Tensor? RunningVar => GetBuffer("running_var");
    /// <summary>Training batches seen (the state dictionary's num_batches_tracked).</summary>
    public long NumBatchesTracked => _batchesTracked;

    /// <summary>
    /// When true, training updates the running statistics with the cumulative average of every batch since
    /// <see cref="ResetRunningStats"/> (weight 1/k for the k-th; PyTorch's momentum=None) instead of <see cref="Momentum"/>.
    /// Not saved with the state.
    /// </summary>
    public bool CumulativeAverage { get; set; }

    /// <summary>Running mean 0, running variance 1, no batches tracked; γ and β are kept (PyTorch's reset_running_stats).</summary>
    public void ResetRunningStats()
    {
        RunningMean?.Fill(0f);
        RunningVar?.Fill(1f);
        _batchesTracked = 0;
        GetBuffer("num_batches_tracked")?.Fill(0f);
    }

    /// <summary>γ = 1, β = 0, running mean 0, running variance 1, no batches tracked.</summary>
    public void ResetParameters(RandomStream gen)
    {
        if (Weight is not null) Init.Ones(Weight);
        if (Bias is not null) Init.Zeros(Bias);
        ResetRunningStats();
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Rank != 4 || input.Shape[1] != NumFeatures)
            throw new ShapeMismatchException($"BatchNorm2d({NumFeatures}): expects (N, {NumFeatures}, H, W), got {input.Shape}");
        // Without running statistics, batch statistics are used in eval mode too (PyTorch).
        bool useBatchStats = IsTraining || RunningMean is null;
        var counter = IsTraining ? GetBuffer("num_batches_tracked") : null;
        float momentum = CumulativeAverage ? (float)(1.0 / (_batchesTracked + 1)) : Momentum;
        if (Communicator is { } communicator && IsTraining)
        {
            var synced = input.SyncBatchNorm2d(Weight, Bias, RunningMean, RunningVar, training: true, communicator, momentum, Eps);
            if (counter is not null) counter.Fill(++_batchesTracked);
            return synced;
        }
        // The counter is written by the launch that updates the running statistics (no fill of its own).
        var y = input.BatchNorm2d(Weight, Bias, RunningMean, RunningVar, useBatchStats, momentum, Eps, counter, _batchesTracked + 1);
        if (counter is not null) _batchesTracked++;
        return y;
    }

    /// <inheritdoc/>
    protected override void OnStateChanged()
    {
        if (GetBuffer("num_batches_tracked") is { } counter) _batchesTracked = (long)counter.Item();
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{NumFeatures}, eps={Eps}, momentum={Momentum}, affine={(Weight is not null ? "True" : "False")}";
}

/// <summary>Layer normalisation over every non-batch dimension, PyTorch's nn.LayerNorm(input.shape[1:]).</summary>
public sealed class LayerNorm : Module, IResettable
{
    private readonly int[] _normalizedShape;

    /// <summary>Layer norm over the trailing dimensions <paramref name="normalizedShape"/> (1 to 3 of them), with elementwise γ and β unless <paramref name="elementwiseAffine"/> is false.</summary>
    public LayerNorm(int[] normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, Device? device = null)
    {
        if (normalizedShape.Length == 0 || normalizedShape.Length > 3 || normalizedShape.Any(d => d <= 0))
            throw new ArgumentException($"LayerNorm: normalized shape {Shape.Format(normalizedShape)} must have 1 to 3 positive dimensions");
        _normalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        RegisterParameter("weight", elementwiseAffine ? Tensor.Ones(new Shape(normalizedShape), device) : null);
        RegisterParameter("bias", elementwiseAffine ? Tensor.Zeros(new Shape(normalizedShape), device) : null);
    }

    /// <summary>Layer norm over a last dimension of <paramref name="features"/>.</summary>
    public LayerNorm(int features, float eps = 1e-5f, bool elementwiseAffine = true, Device? device = null)
        : this([features], eps, elementwiseAffine, device) { }

    /// <summary>The normalised trailing dimensions.</summary>
    public IReadOnlyList<int> NormalizedShape => _normalizedShape;
    /// <summary>ε added to the variance.</summary>
    public float Eps { get; }
    /// <summary>γ (shaped like the normalised dimensions) or null.</summary>
    public Tensor? Weight => GetParameter("weight");
    /// <summary>β (shaped like the normalised dimensions) or null.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>γ = 1, β = 0.</summary>
    public void ResetParameters(RandomStream gen)
    {
        if (Weight is not null) Init.Ones(Weight);
        if (Bias is not null) Init.Zeros(Bias);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var tail = input.Shape.Dims[1..].ToArray();
        if (!tail.AsSpan().SequenceEqual(_normalizedShape))
            throw new ShapeMismatchException($"LayerNorm{Shape.Format(_normalizedShape)}: input {input.Shape} must be (N, {string.Join(", ", _normalizedShape)}) — this layer normalises all non-batch dimensions");
        return input.LayerNorm(Weight, Bias, Eps);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{Shape.Format(_normalizedShape)}, eps={Eps}, elementwise_affine={(Weight is not null ? "True" : "False")}";
}

/// <summary>Instance normalisation over (H, W) per sample and channel, PyTorch's nn.InstanceNorm2d (no running statistics).</summary>
public sealed class InstanceNorm2d : Module, IResettable
{
    /// <summary>Instance norm over <paramref name="numFeatures"/> channels; affine parameters only with <paramref name="affine"/> (PyTorch's default is none).</summary>
    public InstanceNorm2d(int numFeatures, float eps = 1e-5f, bool affine = false, Device? device = null)
    {
        if (numFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(numFeatures), $"InstanceNorm2d({numFeatures}): feature count must be positive");
        NumFeatures = numFeatures;
        Eps = eps;
        RegisterParameter("weight", affine ? Tensor.Ones(new Shape(numFeatures), device) : null);
        RegisterParameter("bias", affine ? Tensor.Zeros(new Shape(numFeatures), device) : null);
    }

    /// <summary>Channels.</summary>
    public int NumFeatures { get; }
    /// <summary>ε added to the variance.</summary>
    public float Eps { get; }
    /// <summary>γ (C) or null.</summary>
    public Tensor? Weight => GetParameter("weight");
    /// <summary>β (C) or null.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>γ = 1, β = 0.</summary>
    public void ResetParameters(RandomStream gen)
    {
        if (Weight is not null) Init.Ones(Weight);
        if (Bias is not null) Init.Zeros(Bias);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Rank != 4 || input.Shape[1] != NumFeatures)
            throw new ShapeMismatchException($"InstanceNorm2d({NumFeatures}): expects (N, {NumFeatures}, H, W), got {input.Shape}");
        return input.InstanceNorm2d(Weight, Bias, Eps);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{NumFeatures}, eps={Eps}, affine={(Weight is not null ? "True" : "False")}";
}
