// A seeded random stream whose values are identical on both kernel sets: counter-based (each
// value is a hash of (seed, counter), see Ops/Random/RandomFill.cs), so the stream's whole state
// is two integers that a checkpoint can store. Tensor fills (RandN, RandU, FillNormal,
// FillUniform) run the fill kernels; the host-span fills below are for small host-side draws.
//
// Sharded (data-parallel training): rank k of K draws the k-th part of the draw that one process
// would make for the global batch. A draw of n values (the rank's share of a batch-major draw of
// K·n) takes counters [Offset + k·n, Offset + (k + 1)·n) and advances Offset by K·n, so the
// K ranks together see exactly the values of the one-process run, and the offset (the state a
// checkpoint holds) is the same on every rank. Every draw from a sharded stream must therefore be
// batch-major and the rank's share of the batch.
namespace GpuGan.Tensors;

/// <summary>A reproducible random stream: state = (seed, offset).</summary>
public sealed class RandomStream(ulong seed, ulong offset = 0)
{
    /// <summary>The seed.</summary>
    public ulong Seed { get; } = seed;

    /// <summary>Counters consumed so far; restoring it resumes the stream exactly.</summary>
    public ulong Offset { get; set; } = offset;

    /// <summary>A stream of <paramref name="seed"/> at offset 0.</summary>
    public RandomStream(int seed) : this(unchecked((ulong)seed)) { }

    /// <summary>This process's part of every draw, 0 ≤ ShardIndex &lt; ShardCount (see the file header); 0 unless sharded.</summary>
    public int ShardIndex { get; init; }

    /// <summary>Parts every draw is split into (the ranks of a data-parallel job); 1 unless sharded.</summary>
    public int ShardCount { get; init; } = 1;

    /// <summary>Reserves n counters (this shard's n of a draw of ShardCount·n) and returns the first.</summary>
    internal ulong Advance(int n)
    {
        if ((uint)ShardIndex >= (uint)ShardCount) throw new InvalidOperationException($"RandomStream: shard {ShardIndex} of {ShardCount} does not exist");
        ulong start = Offset + (ulong)ShardIndex * (ulong)n;
        Offset += (ulong)n * (ulong)ShardCount;
        return start;
    }

    /// <summary>Fills host memory with N(mean, std²) values (the same values a tensor fill would get).</summary>
    public void FillNormal(Span<float> destination, float mean = 0f, float std = 1f)
    {
        ulong start = Advance(destination.Length);
        for (int i = 0; i < destination.Length; i++) destination[i] = mean + std * RandomFill.Normal(Seed, start + (ulong)i);
    }

    /// <summary>Fills host memory with U[low, high) values.</summary>
    public void FillUniform(Span<float> destination, float low = 0f, float high = 1f)
    {
        ulong start = Advance(destination.Length);
        for (int i = 0; i < destination.Length; i++) destination[i] = low + (high - low) * RandomFill.Uniform(Seed, start + (ulong)i);
    }

    /// <summary>Uniform integers in [0, n), one per element: the values of destination.Length calls of <see cref="NextInt"/> (one draw, so it shards).</summary>
    public void NextInts(Span<int> destination, int n)
    {
        ulong start = Advance(destination.Length);
        for (int i = 0; i < destination.Length; i++) destination[i] = (int)((RandomFill.Hash(Seed, start + (ulong)i) >> 33) % (ulong)n);
    }

    /// <summary>A uniform integer in [0, n) (for host-side choices such as shuffles).</summary>
    public int NextInt(int n) => (int)((RandomFill.Hash(Seed, Advance(1)) >> 33) % (ulong)n);
}
