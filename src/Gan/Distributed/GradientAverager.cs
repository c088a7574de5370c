// Data-parallel gradient averaging: after each rank's backward pass over its shard, every
// parameter's gradient becomes the mean over the ranks, ḡ = (1/K) Σ_r g_r, which is the gradient of
// the global batch's mean loss when the shards are equal (each rank's loss is the mean over its
// shard). The gradients are packed into one flat host buffer (parameters in module order) and
// reduced in buckets of at most BucketBytes, a few large MPI_Allreduce calls per step instead of
// one per tensor (latency is paid per call; bandwidth-optimal allreduce algorithms need large
// messages). Every rank then holds the same bits (MPI returns one result to all ranks), so the
// optimisers take identical steps and the replicas stay identical without broadcasting weights.
//
// Not overlapped with the backward pass: our tape runs the whole backward in one call, and on the
// CPU kernel set the cores are busy with it anyway; with CUDA-aware MPI or NCCL the buckets would be
// reduced as their gradients become ready, on the device, in a stream beside the backward.
using GpuGan.Tensors;

namespace GpuGan.Gan.Distributed;

/// <summary>Averages parameter gradients over the ranks of a communicator, in a few large buckets.</summary>
public sealed class GradientAverager
{
    /// <summary>The default bucket: 4 MiB (1 Mi float32 values), e.g. 3 buckets for DCGAN-64's critic.</summary>
    public const int DefaultBucketBytes = 4 << 20;

    private readonly ICommunicator _communicator;
    private float[] _flat = [];

    /// <summary>An averager over <paramref name="communicator"/> reducing at most <paramref name="bucketBytes"/> per call.</summary>
    public GradientAverager(ICommunicator communicator, int bucketBytes = DefaultBucketBytes)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketBytes, sizeof(float));
        _communicator = communicator;
        BucketBytes = bucketBytes;
    }

    /// <summary>The largest reduction, in bytes.</summary>
    public int BucketBytes { get; }

    /// <summary>Allreduce calls made so far.</summary>
    public long Calls { get; private set; }

    /// <summary>Bytes reduced so far (each rank's contribution).</summary>
    public long Bytes { get; private set; }

    /// <summary>
    /// Replaces each parameter's gradient by its mean over the ranks. A parameter without a gradient counts as a zero
    /// gradient (and gets one), so every rank reduces the same layout.
    /// </summary>
    public void Average(IReadOnlyList<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (_communicator.Size == 1) return;
        long total = 0;
        foreach (var p in parameters) total += p.Size;
        if (total > Array.MaxLength) throw new ArgumentException($"{total} gradient values do not fit one host buffer", nameof(parameters));
        if (_flat.Length < total) _flat = new float[total];
        var flat = _flat.AsSpan(0, (int)total);

        int offset = 0;
        foreach (var p in parameters)
        {
            var slot = flat.Slice(offset, p.Size);
            if (p.Grad is { } g) g.CopyTo(slot);
            else slot.Clear();
            offset += p.Size;
        }

        int bucket = BucketBytes / sizeof(float);
        for (int start = 0; start < flat.Length; start += bucket)
        {
            var part = flat.Slice(start, Math.Min(bucket, flat.Length - start));
            _communicator.AllReduceSum(part);
            Calls++;
            Bytes += (long)part.Length * sizeof(float);
        }
        float scale = 1f / _communicator.Size;   // exact for a power-of-two rank count
        for (int i = 0; i < flat.Length; i++) flat[i] *= scale;

        offset = 0;
        foreach (var p in parameters)
        {
            var slot = flat.Slice(offset, p.Size);
            if (p.Grad is null)
                using (Autograd.NoGrad()) p.Grad = Tensor.Zeros(p.Shape, p.Device).KeepAlive();
            p.Grad.CopyFrom(slot);
            offset += p.Size;
        }
    }
}
