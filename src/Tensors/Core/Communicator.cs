// The collective operations that data-parallel training needs, over host memory: every rank of a
// job calls the same collectives in the same order with buffers of the same length, and each call
// returns when every rank has contributed. The MPI implementation lives with the trainer
// (GpuGan.Gan.Distributed); this assembly needs only the interface, for the collective ops
// (Ops/Collective: AllReduceSum, SyncBatchNorm2d) that are part of the autograd graph.
namespace GpuGan.Tensors;

/// <summary>A group of <see cref="Size"/> processes (ranks) that reduce and broadcast host buffers together.</summary>
public interface ICommunicator
{
    /// <summary>This process's rank, 0 ≤ Rank &lt; Size.</summary>
    int Rank { get; }

    /// <summary>Ranks in the group.</summary>
    int Size { get; }

    /// <summary>Replaces <paramref name="values"/> on every rank by the elementwise sum over the ranks (the same result on every rank).</summary>
    void AllReduceSum(Span<float> values);

    /// <summary>Replaces <paramref name="values"/> on every rank by the elementwise sum over the ranks.</summary>
    void AllReduceSum(Span<double> values);

    /// <summary>Replaces <paramref name="values"/> on every rank by the elementwise maximum over the ranks.</summary>
    void AllReduceMax(Span<double> values);

    /// <summary>Copies <paramref name="data"/> of rank <paramref name="root"/> into <paramref name="data"/> of every other rank (same length everywhere).</summary>
    void Broadcast(Span<byte> data, int root);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();
}

/// <summary>The group of one process: every collective is the identity.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    /// <summary>The one instance (it holds no state).</summary>
    public static SingleProcessCommunicator Instance { get; } = new();

    private SingleProcessCommunicator() { }

    /// <inheritdoc/>
    public int Rank => 0;

    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values) { }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values) { }

    /// <inheritdoc/>
    public void AllReduceMax(Span<double> values) { }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root) => ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);

    /// <inheritdoc/>
    public void Barrier() { }
}
