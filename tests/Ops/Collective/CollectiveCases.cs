using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Collective rows (Ops/Collective/Collective.cs), checked in one process with two communicators:
// - one rank (SingleProcessCommunicator): AllReduceSum is the identity and SyncBatchNorm2d is batch norm;
// - k replicas (ReplicatedCommunicator): the communicator answers as if k ranks held this rank's very data,
//   so AllReduceSum is k·x and its rule k·u, and SyncBatchNorm2d's global statistics over the k·m values
//   (sums k·Σx, count k·m) are this batch's own: the output and its true gradient are batch norm's. That
//   exercises the count reduction, the 1/M scaling and the rule of AllReduceSum inside the composition
//   (a sum reduced without the matching count, or a rule that forgot the reduction, is off by k).
// Oracles: the batch-norm references of NormalizationCases (NormView); tolerances as those rows (the
// composed statistics sum in float32 where the fused kernel merges blocks in double: a few ulps of O(1) values).
public static partial class OpCases
{
    public static IEnumerable<OpCase> CollectiveCases()
    {
        foreach (var (tag, k) in new[] { ("one rank", 1), ("3 replicas", 3) })
        {
            ICommunicator comm = k == 1 ? SingleProcessCommunicator.Instance : new ReplicatedCommunicator(k);
            int[] shape = [2, 3, 5];
            yield return new OpCase
            {
                Name = $"AllReduceSum[{tag}]",
                InputShapes = [shape],
                Forward = x => x[0].AllReduceSum(comm),
                Reference = r => r[0].Select(v => k * v).ToArray(),
                Vjp = (r, u) => [u.Select(v => k * v).ToArray()],
            };
        }

        foreach (var (tag, k, shape, affine) in new (string, int, int[], bool)[]
        {
            ("one rank,affine", 1, [3, 4, 3, 3], true),
            ("2 replicas,affine", 2, [3, 4, 3, 3], true),
            ("2 replicas,batch1", 2, [1, 3, 5, 7], false),
            ("3 replicas,(N,C)", 3, [6, 5], true),
        })
        {
            ICommunicator comm = k == 1 ? SingleProcessCommunicator.Instance : new ReplicatedCommunicator(k);
            int c = shape[1];
            yield return new OpCase
            {
                Name = $"SyncBatchNorm2d[{tag}]",
                InputShapes = affine ? [shape, [c], [c]] : [shape],
                Forward = x => x[0].SyncBatchNorm2d(affine ? x[1] : null, affine ? x[2] : null, null, null, training: true, comm),
                Reference = r => NormView.Forward(r[0], NormView.Batch(shape), affine ? r[1] : null, affine ? r[2] : null),
                Vjp = (r, u) => NormView.Vjp(r[0], NormView.Batch(shape), affine ? r[1] : null, u, affine),
                Inputs = NormalInputs,
                Atol = 2e-5,
                HeavyOnIlgpu = shape.Length == 4,
            };
        }
    }
}

/// <summary>
/// A test communicator of <see cref="Size"/> ranks that all hold this process's data: a sum is Size times the value,
/// a maximum the value itself, a broadcast leaves the data as it is (see CollectiveCases.cs).
/// </summary>
public sealed class ReplicatedCommunicator(int size) : ICommunicator
{
    public int Rank => 0;
    public int Size { get; } = size;
    public long Calls { get; private set; }

    public void AllReduceSum(Span<float> values)
    {
        Calls++;
        foreach (ref var v in values) v *= Size;
    }

    public void AllReduceSum(Span<double> values)
    {
        Calls++;
        foreach (ref var v in values) v *= Size;
    }

    public void AllReduceMax(Span<double> values) => Calls++;

    public void Broadcast(Span<byte> data, int root) => Calls++;

    public void Barrier() => Calls++;
}
