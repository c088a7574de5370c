// Collective ops: the autograd-visible communication of data-parallel training.
//
// AllReduceSum:  y_r = Σ_s x_s on every rank r (a host-buffer allreduce through an ICommunicator).
//   With the job's objective L = Σ_s L_s (each rank's loss on its shard), ∂L/∂x_r = Σ_s ∂L_s/∂y_s,
//   so the vector-Jacobian product is the same collective applied to the upstream gradients:
//   vjp(g) = AllReduceSum(g). The op is linear, so its rule is itself differentiable and double
//   backward falls out (every rank runs the same graph, so the backward collectives line up).
//   On an ILGPU device the values take one explicit download and one upload (a CUDA-aware MPI or
//   NCCL would reduce device memory in place; see the README's section on MPI).
//
// SyncBatchNorm2d: batch normalisation whose statistics are those of the whole global batch:
//   M  = Σ_r m_r                         (values per channel on all ranks; a double allreduce)
//   μ  = AllReduceSum(Σ x) / M           (C)
//   σ² = AllReduceSum(Σ (x − μ)²) / M    (C, biased; two passes as the fused kernel, no E[x²] − μ² cancellation)
//   y  = (x − μ)·(σ² + ε)^(−1/2)·γ + β
//   Composed of differentiable ops plus AllReduceSum, so forward, backward (the two allreduces of its
//   statistics' gradients) and double backward are exact for the global batch. Running statistics
//   are updated from the global μ and the unbiased global σ²·M/(M − 1), so they agree on every rank.
//   With a one-rank communicator it equals BatchNorm2d up to float32 reduction order. Eval mode
//   uses the running statistics and communicates nothing.
namespace GpuGan.Tensors;

public sealed partial class Tensor
{
    /// <summary>
    /// The elementwise sum of this tensor over the ranks of <paramref name="communicator"/>, on every rank. Differentiable:
    /// the gradient is the same sum of the upstream gradients (see Ops/Collective/Collective.cs). Every rank must call it
    /// with the same shape at the same point of the program.
    /// </summary>
    public Tensor AllReduceSum(ICommunicator communicator)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        using var _ = Device.BeginOp("AllReduceSum");
        var y = Empty(Shape, Device);
        if (Device.IsHost)
        {
            HostSpan.CopyTo(y.HostSpan);
            communicator.AllReduceSum(y.HostSpan);
        }
        else
        {
            var host = new float[Size];
            CopyTo(host);
            communicator.AllReduceSum(host);
            y.CopyFrom(host);
        }
        return Autograd.Record(y, "AllReduceSum", [this], g => [g[0].AllReduceSum(communicator)]);
    }

    /// <summary>
    /// Batch normalisation of this (N, C, H, W) or (N, C) with the statistics of the global batch over the ranks of
    /// <paramref name="communicator"/> in training mode (see Ops/Collective/Collective.cs); eval mode is
    /// <see cref="BatchNorm2d"/>'s. Arguments as <see cref="BatchNorm2d"/>.
    /// </summary>
    public Tensor SyncBatchNorm2d(Tensor? gamma, Tensor? beta, Tensor? runningMean, Tensor? runningVar, bool training, ICommunicator communicator,
        float momentum = 0.1f, float eps = 1e-5f)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        if (!training) return BatchNorm2d(gamma, beta, runningMean, runningVar, training: false, momentum, eps);
        if (Rank != 2 && Rank != 4) throw new ShapeMismatchException($"SyncBatchNorm2d: expects (N, C, H, W) or (N, C), got {Describe()}");
        if ((runningMean is null) != (runningVar is null)) throw new ArgumentException("SyncBatchNorm2d: give both runningMean and runningVar, or neither");
        using var _ = Device.BeginOp("SyncBatchNorm2d");
        int c = Shape[1];
        CheckPerChannel(gamma, c, "SyncBatchNorm2d", "gamma");
        CheckPerChannel(beta, c, "SyncBatchNorm2d", "beta");
        CheckPerChannel(runningMean, c, "SyncBatchNorm2d", "runningMean");
        CheckPerChannel(runningVar, c, "SyncBatchNorm2d", "runningVar");
        int[] axes = Rank == 4 ? [0, 2, 3] : [0];
        int[] perChannel = Rank == 4 ? [1, c, 1, 1] : [1, c];

        // Values per channel over all ranks (shards may differ in size).
        Span<double> count = [Size / c];
        communicator.AllReduceSum(count);
        double m = count[0];
        if (m <= 1) throw new ArgumentException($"SyncBatchNorm2d: training needs more than one value per channel over all ranks, got {m} (input {Describe()} on this rank)");

        var mean = Sum(axes).AllReduceSum(communicator).MulScalar((float)(1.0 / m));                        // (C)
        var centred = Sub(mean.Reshape(perChannel));                                                        // like x
        var variance = centred.Square().Sum(axes).AllReduceSum(communicator).MulScalar((float)(1.0 / m));   // (C)
        var y = centred.Mul(variance.AddScalar(eps).Pow(-0.5f).Reshape(perChannel));
        if (gamma is not null) y = y.Mul(gamma.Reshape(perChannel));
        if (beta is not null) y = y.Add(beta.Reshape(perChannel));
        if (runningMean is not null)
            UpdateRunningStatsRaw(runningMean, runningVar!, mean, variance, momentum, (float)(m / (m - 1)));
        return y;
    }
}
