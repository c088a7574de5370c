using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Conv;

/// <summary>
/// The operands of one conv geometry for the read/write-past-the-end tests of the host kernels: x, gy, w and both biases
/// random in [−1, 1] and followed by NaNs (a kernel that reads past an input gets a NaN into its results), the three
/// outputs followed by a sentinel (a kernel that writes past an output changes it).
/// </summary>
internal sealed class GuardedConvBuffers
{
    private const int Guard = 64;
    private const float Sentinel = 12345.5f;
    private readonly ConvGeometry _g;

    public readonly float[] X, Gy, W, B, Bt, Y, Dx, Dw;

    public GuardedConvBuffers(ConvGeometry g, int seed)
    {
        _g = g;
        var rng = new Random(seed);
        float[] Padded(int count, float fill)
        {
            var a = new float[count + Guard];
            for (int i = 0; i < a.Length; i++) a[i] = i < count ? (float)(rng.NextDouble() * 2 - 1) : fill;
            return a;
        }
        X = Padded(Nx, float.NaN);
        Gy = Padded(Ny, float.NaN);
        W = Padded(Nw, float.NaN);
        B = Padded(g.Cout, float.NaN);
        Bt = Padded(g.Cin, float.NaN);
        Y = Padded(Ny, 0f);
        Dx = Padded(Nx, 0f);
        Dw = Padded(Nw, 0f);
        Array.Fill(Y, Sentinel, Ny, Guard);
        Array.Fill(Dx, Sentinel, Nx, Guard);
        Array.Fill(Dw, Sentinel, Nw, Guard);
    }

    private int Nx => _g.N * _g.Cin * _g.HW;
    private int Ny => _g.N * _g.Cout * _g.P;
    private int Nw => _g.Cout * _g.Ckk;

    /// <summary>Every output finite (no NaN read from past an input) and its guard untouched.</summary>
    public void AssertNothingReadOrWrittenPastTheEnds()
    {
        foreach (var (name, a, count) in new[] { ("forward", Y, Ny), ("input gradient", Dx, Nx), ("weight gradient", Dw, Nw) })
        {
            Assert.That(a.Take(count).All(float.IsFinite), Is.True, $"{_g}: {name} read a NaN past its inputs");
            Assert.That(a.Skip(count).All(v => v == Sentinel), Is.True, $"{_g}: {name} wrote past its output");
        }
    }
}
