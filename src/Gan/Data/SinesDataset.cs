// Sinusoid curves y = sin(b·x + c), the smallest GAN benchmark: a generator that has learnt
// the set produces clean sinusoids whose (b, c) fall in the training ranges, which
// a least-squares sine fit can check (tests/Data/SineFit.cs).
//   x: N = 64 points evenly spaced over [0, 2π], both ends included: x_i = 2π·i / 63
//   b ~ U[1/2, 2], c ~ U[0, π], drawn from SplitMix64.ForStream(seed, index)
// Each sample is (C, H, W) = (1, 1, 64); values are in [-1, 1] by construction.
namespace GpuGan.Gan.Data;

/// <summary>Curves y = sin(b·x + c) sampled on <see cref="XGrid"/>.</summary>
public sealed class SinesDataset : IDataset
{
    /// <summary>Points per curve.</summary>
    public const int Length = 64;

    /// <summary>Range of the frequency b.</summary>
    public const double MinB = 0.5, MaxB = 2.0;

    /// <summary>Range of the phase c.</summary>
    public const double MinC = 0.0, MaxC = Math.PI;

    private static readonly float[] _xGrid = MakeGrid();
    private readonly double[] _b;
    private readonly double[] _c;

    /// <summary>Creates <paramref name="count"/> curves; (seed, index) fixes each curve.</summary>
    public SinesDataset(int count, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        _b = new double[count];
        _c = new double[count];
        for (int i = 0; i < count; i++)
        {
            var rng = SplitMix64.ForStream(unchecked((ulong)seed), (ulong)i);
            _b[i] = rng.NextDouble(MinB, MaxB);
            _c[i] = rng.NextDouble(MinC, MaxC);
        }
    }

    /// <summary>The x positions, 64 points evenly spaced over [0, 2π] with both ends included (a copy).</summary>
    public static float[] XGrid => (float[])_xGrid.Clone();

    internal static ReadOnlySpan<float> X => _xGrid;

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public int Channels => 1;

    /// <inheritdoc/>
    public int Height => 1;

    /// <inheritdoc/>
    public int Width => Length;

    /// <inheritdoc/>
    public int ClassCount => 0;

    /// <inheritdoc/>
    public string Name => "sines";

    /// <summary>The (b, c) of curve <paramref name="index"/>.</summary>
    public (double B, double C) Parameters(int index)
    {
        DatasetExtensions.CheckIndex(this, index);
        return (_b[index], _c[index]);
    }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckIndex(this, index);
        DatasetExtensions.CheckDestination(this, destination);
        double b = _b[index], c = _c[index];
        for (int i = 0; i < Length; i++) destination[i] = (float)Math.Sin(b * _xGrid[i] + c);
    }

    /// <inheritdoc/>
    public int Label(int index)
    {
        DatasetExtensions.CheckIndex(this, index);
        return -1;
    }

    private static float[] MakeGrid()
    {
        var x = new float[Length];
        for (int i = 0; i < Length; i++) x[i] = (float)(2 * Math.PI * i / (Length - 1));
        return x;
    }
}
