// Seeded random numbers that are identical on both kernel sets: counter-based (each element's
// value is a hash of (seed, counter)), so a GPU thread computes element i without a sequential
// state, and the generator's whole state is two integers that a checkpoint can store.
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>A reproducible random stream: state = (seed, offset).</summary>
public sealed class RandomStream(ulong seed, ulong offset = 0)
{
    public ulong Seed { get; } = seed;

    /// <summary>Counters consumed so far; restoring it resumes the stream exactly.</summary>
    public ulong Offset { get; set; } = offset;

    public RandomStream(int seed) : this(unchecked((ulong)seed)) { }

    /// <summary>SplitMix64 finaliser of seed and counter: a good 64-bit hash, cheap on GPUs.</summary>
    internal static ulong Hash(ulong seed, ulong counter)
    {
        ulong z = seed * 0x9E3779B97F4A7C15UL + counter * 0xD1B54A32D192ED03UL + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 24 random bits (exactly representable as float).</summary>
    internal static float Uniform(ulong seed, ulong counter) => (Hash(seed, counter) >> 40) * (1f / 16777216f);

    /// <summary>Standard normal by Box–Muller from counters (2c, 2c+1); math in double so both sets agree.</summary>
    internal static float Normal(ulong seed, ulong counter)
    {
        double u1 = ((Hash(seed, 2 * counter) >> 11) + 1) * (1.0 / 9007199254740992.0); // (0, 1]
        double u2 = (Hash(seed, 2 * counter + 1) >> 11) * (1.0 / 9007199254740992.0);
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }

    /// <summary>Reserves n counters and returns the first.</summary>
    internal ulong Advance(int n)
    {
        ulong start = Offset;
        Offset += (ulong)n;
        return start;
    }

    /// <summary>Fills host memory with N(mean, std²) values (initialisers on the host use this).</summary>
    public void FillNormal(Span<float> destination, float mean = 0f, float std = 1f)
    {
        ulong start = Advance(destination.Length);
        for (int i = 0; i < destination.Length; i++) destination[i] = mean + std * Normal(Seed, start + (ulong)i);
    }

    /// <summary>Fills host memory with U[low, high) values.</summary>
    public void FillUniform(Span<float> destination, float low = 0f, float high = 1f)
    {
        ulong start = Advance(destination.Length);
        for (int i = 0; i < destination.Length; i++) destination[i] = low + (high - low) * Uniform(Seed, start + (ulong)i);
    }

    /// <summary>A uniform integer in [0, n) (for host-side choices such as shuffles).</summary>
    public int NextInt(int n) => (int)((Hash(Seed, Advance(1)) >> 33) % (ulong)n);

    // ============================================================ ILGPU kernels

    [GpuKernel]
    public static void FillRandomKernel(Index1D i, ArrayView<float> y, ulong seed, ulong start, int normal, float a, float b)
    {
        ulong c = start + (ulong)i.X;
        y[i] = normal != 0 ? a + b * Normal(seed, c) : a + (b - a) * Uniform(seed, c);
    }

    internal void Fill(Tensor t, bool normal, float a, float b)
    {
        if (t.Device.IsHost)
        {
            // Parallel host fill: each chunk derives its values from the counter, so chunking does not change them.
            ulong start = Advance(t.Size);
            var span = t.Storage.Host;
            int n = t.Size, chunk = 1 << 14, chunks = (n + chunk - 1) / chunk;
            ulong seed = Seed;
            CpuParallel.For(chunks, c =>
            {
                int end = Math.Min(n, (c + 1) * chunk);
                for (int i = c * chunk; i < end; i++)
                    span[i] = normal ? a + b * Normal(seed, start + (ulong)i) : a + (b - a) * Uniform(seed, start + (ulong)i);
            });
        }
        else if (t.Size > 0)
        {
            ulong start = Advance(t.Size);
            t.Device.Kernel(nameof(FillRandomKernel), acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ulong, ulong, int, float, float>(FillRandomKernel))
                (t.Size, t.View, Seed, start, normal ? 1 : 0, a, b);
        }
    }
}

public sealed partial class Tensor
{
    /// <summary>N(mean, std²) values from the generator.</summary>
    public static Tensor RandN(Shape shape, RandomStream gen, Device? device = null, float mean = 0f, float std = 1f)
    {
        var t = Empty(shape, device ?? Device.Cpu);
        gen.Fill(t, normal: true, mean, std);
        return t;
    }

    /// <summary>U[low, high) values from the generator.</summary>
    public static Tensor RandU(Shape shape, RandomStream gen, Device? device = null, float low = 0f, float high = 1f)
    {
        var t = Empty(shape, device ?? Device.Cpu);
        gen.Fill(t, normal: false, low, high);
        return t;
    }
}
