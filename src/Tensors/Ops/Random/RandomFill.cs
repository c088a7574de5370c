// Random fills: U[low, high) and N(mean, std²) values from a counter-based stream, identical on
// both kernel sets. Element i of a fill that starts at counter c0 is a pure function of
// (seed, c0 + i), so a GPU thread computes its element without a sequential state, the host
// splits the work into any chunks without changing the values, and the stream's whole state is
// two integers (seed, offset) that a checkpoint stores.
//
//   hash(s, c)   = SplitMix64 finaliser of s·φ + c·K + C (a good 64-bit mix, cheap on GPUs)
//   uniform(s, c)= (hash(s, c) >> 40) · 2^−24                ∈ [0, 1), 24 bits: exact in float
//   normal(s, c) = √(−2 ln u1) · cos(2π u2),  u1 = ((hash(s, 2c) >> 11) + 1)·2^−53 ∈ (0, 1],
//                                             u2 = (hash(s, 2c + 1) >> 11)·2^−53   (Box–Muller)
//   U fill: low + (high − low)·uniform, in float;   N fill: mean + std·normal, normal in double.
//
// CPU: the uniform fill hashes 8 counters per Vector512<ulong> (AVX-512 multiplies 64-bit lanes)
// and converts exactly, so it equals the scalar form bit for bit. The normal fill stays scalar:
// Box–Muller's log and cos in double are what make the two sets agree bit for bit, and the vector
// log/cos of the BCL are different approximations.
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

internal static class RandomFill
{
    private const ulong Phi = 0x9E3779B97F4A7C15UL, K = 0xD1B54A32D192ED03UL, C = 0x632BE59BD9B4E019UL;
    private const ulong M1 = 0xBF58476D1CE4E5B9UL, M2 = 0x94D049BB133111EBUL;

    /// <summary>SplitMix64 finaliser of seed and counter.</summary>
    public static ulong Hash(ulong seed, ulong counter)
    {
        ulong z = seed * Phi + counter * K + C;
        z = (z ^ (z >> 30)) * M1;
        z = (z ^ (z >> 27)) * M2;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 24 random bits (exactly representable as float).</summary>
    public static float Uniform(ulong seed, ulong counter) => (Hash(seed, counter) >> 40) * (1f / 16777216f);

    /// <summary>Standard normal by Box–Muller from counters (2c, 2c+1); math in double so both sets agree.</summary>
    public static float Normal(ulong seed, ulong counter) => (float)NormalDouble(seed, counter);

    private static double NormalDouble(ulong seed, ulong counter)
    {
        double u1 = ((Hash(seed, 2 * counter) >> 11) + 1) * (1.0 / 9007199254740992.0); // (0, 1]
        double u2 = (Hash(seed, 2 * counter + 1) >> 11) * (1.0 / 9007199254740992.0);
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    // ============================================================ float64 reference

    /// <summary>
    /// The fill in double (the test oracle): element i of a fill from counter <paramref name="start"/>,
    /// low + (high − low)·u for uniform (a = low, b = high), mean + std·z for normal (a = mean, b = std).
    /// </summary>
    public static double[] Reference(ulong seed, ulong start, int n, bool normal, double a, double b)
    {
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            ulong c = start + (ulong)i;
            y[i] = normal ? a + b * NormalDouble(seed, c) : a + (b - a) * ((Hash(seed, c) >> 40) / 16777216.0);
        }
        return y;
    }

    // ============================================================ ILGPU kernel

    [GpuKernel]
    public static void FillRandomKernel(Index1D i, ArrayView<float> y, ulong seed, ulong start, int normal, float a, float b)
    {
        ulong c = start + (ulong)i.X;
        y[i] = normal != 0 ? a + b * Normal(seed, c) : a + (b - a) * Uniform(seed, c);
    }

    // ============================================================ CPU SIMD kernels

    public static unsafe void FillCpu(CpuParallel parallel, float* y, int n, ulong seed, ulong start, bool normal, float a, float b)
    {
        nint yp = (nint)y;
        // A chunk's values depend on their counters only, so the cut changes nothing. The normal
        // fill costs a log, a sqrt and a cos per element: chunks of a quarter of the usual work.
        parallel.ForChunks(n, CpuParallel.Grain(normal ? 4 : 1), (from, to) =>
        {
            float* ys = (float*)yp;
            if (normal)
            {
                for (int i = from; i < to; i++) ys[i] = a + b * Normal(seed, start + (ulong)i);
            }
            else
            {
                UniformRange(ys, from, to, seed, start, a, b);
            }
        });
    }

    private static unsafe void UniformRange(float* y, int from, int to, ulong seed, ulong start, float low, float high)
    {
        int i = from;
        float range = high - low;
        if (Vector512.IsHardwareAccelerated)
        {
            var lanes = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
            var vs = Vector512.Create(seed * Phi + C);
            Vector512<float> vlow = Vector512.Create(low), vrange = Vector512.Create(range), scale = Vector512.Create(1f / 16777216f);
            for (; i <= to - 16; i += 16)
            {
                var c0 = Vector512.Create(start + (ulong)i) + lanes;
                var bits = Vector512.Narrow(HashBits(vs, c0), HashBits(vs, c0 + Vector512.Create(8UL)));
                (vlow + vrange * (Vector512.ConvertToSingle(bits) * scale)).Store(y + i);
            }
        }
        for (; i < to; i++) y[i] = low + range * Uniform(seed, start + (ulong)i);
    }

    /// <summary>hash(s, c) >> 40 for 8 counters; <paramref name="seedTerm"/> = s·φ + C.</summary>
    private static Vector512<ulong> HashBits(Vector512<ulong> seedTerm, Vector512<ulong> counter)
    {
        var z = seedTerm + counter * Vector512.Create(K);
        z = (z ^ Vector512.ShiftRightLogical(z, 30)) * Vector512.Create(M1);
        z = (z ^ Vector512.ShiftRightLogical(z, 27)) * Vector512.Create(M2);
        return Vector512.ShiftRightLogical(z ^ Vector512.ShiftRightLogical(z, 31), 40);
    }

    // ============================================================ launcher

    /// <summary>Fills t from the stream's next t.Size counters.</summary>
    public static unsafe void Fill(Tensor t, RandomStream stream, bool normal, float a, float b)
    {
        if (t.Size == 0) return;
        using var _ = t.Device.BeginOp(normal ? "FillNormal" : "FillUniform");
        ulong start = stream.Advance(t.Size);
        if (t.Device.IsHost)
        {
            fixed (float* yp = t.HostSpan) FillCpu(t.Device.Parallel, yp, t.Size, stream.Seed, start, normal, a, b);
        }
        else
        {
            // Writes only. Flops (the integer hashing is not counted): uniform = the 2^-24 scale and the
            // affine map (4); normal = Box–Muller in double (log, sqrt, cos and 5 multiplies) and mean + std·z (10).
            t.Device.Launch(FillRandomKernel, t.Size, LaunchCost.Elementwise(t.Size, normal ? 10 : 4, readsPerElement: 0),
                t.View, stream.Seed, start, normal ? 1 : 0, a, b);
        }
    }
}

public sealed partial class Tensor
{
    /// <summary>A new tensor of N(mean, std²) values from <paramref name="stream"/> (advancing it by the size).</summary>
    public static Tensor RandN(Shape shape, RandomStream stream, Device? device = null, float mean = 0f, float std = 1f)
    {
        var t = Empty(shape, device ?? Device.Cpu);
        RandomFill.Fill(t, stream, normal: true, mean, std);
        return t;
    }

    /// <summary>A new tensor of U[low, high) values from <paramref name="stream"/> (advancing it by the size).</summary>
    public static Tensor RandU(Shape shape, RandomStream stream, Device? device = null, float low = 0f, float high = 1f)
    {
        var t = Empty(shape, device ?? Device.Cpu);
        RandomFill.Fill(t, stream, normal: false, low, high);
        return t;
    }

    /// <summary>Overwrites every element with N(mean, std²) values from <paramref name="stream"/>, in place (not recorded).</summary>
    public void FillNormal(RandomStream stream, float mean = 0f, float std = 1f) => RandomFill.Fill(this, stream, normal: true, mean, std);

    /// <summary>Overwrites every element with U[low, high) values from <paramref name="stream"/>, in place (not recorded).</summary>
    public void FillUniform(RandomStream stream, float low = 0f, float high = 1f) => RandomFill.Fill(this, stream, normal: false, low, high);
}
