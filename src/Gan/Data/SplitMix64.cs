namespace GpuGan.Gan.Data;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator whose output is fixed by its
/// algorithm, unlike System.Random's. Used for shuffling and for the synthetic data sets so
/// that a (seed, epoch) or (seed, index) always gives the same numbers on every .NET version.
/// </summary>
public struct SplitMix64
{
    private ulong _state;

    /// <summary>Starts the sequence at <paramref name="seed"/>.</summary>
    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>A generator for stream <paramref name="stream"/> of <paramref name="seed"/>, e.g. (seed, epoch).</summary>
    public static SplitMix64 ForStream(ulong seed, ulong stream) => new(Mix(seed ^ Mix(stream + 0x632BE59BD9B4E019UL)));

    /// <summary>The SplitMix64 finaliser: a bijective 64-bit hash.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform integer in [0, n) (Lemire's multiply-high; bias below 2^-32 for n below 2^32).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "bound must be positive");
        return (int)Math.BigMul(NextUInt64(), (ulong)n, out _);
    }

    /// <summary>Uniform integer in [min, max] inclusive.</summary>
    public int NextInt(int min, int max) => min + NextInt(max - min + 1);

    /// <summary>Uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform double in [min, max).</summary>
    public double NextDouble(double min, double max) => min + (max - min) * NextDouble();

    /// <summary>Standard normal variate (Box-Muller).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Fisher-Yates shuffle of <paramref name="items"/>.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
