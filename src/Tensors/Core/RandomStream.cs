// A seeded random stream whose values are identical on both kernel sets: counter-based (each
// value is a hash of (seed, counter), see Ops/Random/RandomFill.cs), so the stream's whole state
// is two integers that a checkpoint can store. Tensor fills (RandN, RandU, FillNormal,
// FillUniform) run the fill kernels; the host-span fills below are for small host-side draws.
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

    /// <summary>Reserves n counters and returns the first.</summary>
    internal ulong Advance(int n)
    {
        ulong start = Offset;
        Offset += (ulong)n;
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

    /// <summary>A uniform integer in [0, n) (for host-side choices such as shuffles).</summary>
    public int NextInt(int n) => (int)((RandomFill.Hash(Seed, Advance(1)) >> 33) % (ulong)n);
}
