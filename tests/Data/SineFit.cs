// Least-squares fit of a unit-amplitude sinusoid y ≈ sin(b·x + c) on SinesDataset's x grid.
//
// For a fixed b, write s_i = sin(b·x_i), k_i = cos(b·x_i). Then sin(b·x + c) = s·cos c + k·sin c
// and the squared residual is
//   R(b, c) = Σy² − 2(cos c·Σys + sin c·Σyk) + cos²c·Σs² + 2 sin c cos c·Σsk + sin²c·Σk²,
// so after five sums per b every c costs O(1). A coarse grid (b in [0.25, 2.5] step 0.01,
// c in [0, 2π) step 2π/360) finds the basin; shrinking 9×9 grids around the best point narrow
// it, and Gauss-Newton steps (accepted only when they lower the residual) finish along the
// long diagonal valley that b and c form. Amplitude is not fitted: a curve of the wrong
// amplitude shows as a large rms. A test helper: it checks SinesDataset and the curves a trained GAN draws.
using GpuGan.Gan.Data;

namespace GpuGan.Tests.Data;

/// <summary>Result of <see cref="SineFit.Fit"/>: frequency, phase in [0, 2π), and rms residual.</summary>
public readonly record struct SineFitResult(double B, double C, double RmsResidual);

/// <summary>Fits y ≈ sin(b·x + c) on <see cref="SinesDataset.XGrid"/> by least squares.</summary>
public static class SineFit
{
    /// <summary>Lowest b searched.</summary>
    public const double MinB = 0.25;

    /// <summary>Highest b searched.</summary>
    public const double MaxB = 2.5;

    /// <summary>
    /// Fits <paramref name="y"/>, sampled on <see cref="SinesDataset.XGrid"/> (64 values), with
    /// b in [0.25, 2.5] and c in [0, 2π); returns (b, c, rms residual).
    /// </summary>
    public static SineFitResult Fit(ReadOnlySpan<float> y)
    {
        var x = SinesDataset.X;
        if (y.Length != x.Length)
            throw new ArgumentException($"a curve has {x.Length} points on the x grid, got {y.Length}", nameof(y));
        double yy = 0;
        foreach (float v in y) yy += (double)v * v;

        const int coarseB = 226, coarseC = 360;
        double bestB = MinB, bestC = 0, best = double.MaxValue;
        Span<double> cosC = stackalloc double[coarseC];
        Span<double> sinC = stackalloc double[coarseC];
        for (int j = 0; j < coarseC; j++)
        {
            cosC[j] = Math.Cos(2 * Math.PI * j / coarseC);
            sinC[j] = Math.Sin(2 * Math.PI * j / coarseC);
        }
        for (int i = 0; i < coarseB; i++)
        {
            double b = MinB + (MaxB - MinB) * i / (coarseB - 1);
            var sums = Sums(b, x, y);
            for (int j = 0; j < coarseC; j++)
            {
                double r = Residual(sums, yy, cosC[j], sinC[j]);
                if (r < best) { best = r; bestB = b; bestC = 2 * Math.PI * j / coarseC; }
            }
        }

        double stepB = (MaxB - MinB) / (coarseB - 1), stepC = 2 * Math.PI / coarseC;
        for (int round = 0; round < 8; round++)
        {
            double centreB = bestB, centreC = bestC;
            for (int i = -4; i <= 4; i++)
            {
                double b = Math.Clamp(centreB + i * stepB / 2, MinB, MaxB);
                var sums = Sums(b, x, y);
                for (int j = -4; j <= 4; j++)
                {
                    double c = centreC + j * stepC / 2;
                    double r = Residual(sums, yy, Math.Cos(c), Math.Sin(c));
                    if (r < best) { best = r; bestB = b; bestC = c; }
                }
            }
            stepB /= 4;
            stepC /= 4;
        }
        (bestB, bestC, best) = GaussNewton(x, y, bestB, bestC, best);
        bestC %= 2 * Math.PI;
        if (bestC < 0) bestC += 2 * Math.PI;
        return new SineFitResult(bestB, bestC, Math.Sqrt(Math.Max(best, 0) / x.Length));
    }

    // Minimises Σ(y − sin(b·x + c))² from (b, c); J = [−x·cos(·), −cos(·)], 2×2 normal equations.
    private static (double B, double C, double Residual) GaussNewton(ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        double b, double c, double residual)
    {
        for (int iteration = 0; iteration < 10; iteration++)
        {
            double jbb = 0, jbc = 0, jcc = 0, gb = 0, gc = 0;
            for (int i = 0; i < x.Length; i++)
            {
                (double s, double k) = Math.SinCos(b * x[i] + c);
                double r = y[i] - s;
                double db = x[i] * k, dc = k; // derivatives of the model
                jbb += db * db;
                jbc += db * dc;
                jcc += dc * dc;
                gb += db * r;
                gc += dc * r;
            }
            double det = jbb * jcc - jbc * jbc;
            if (Math.Abs(det) < 1e-12) break;
            double stepB = (jcc * gb - jbc * gc) / det;
            double stepC = (jbb * gc - jbc * gb) / det;
            double nb = Math.Clamp(b + stepB, MinB, MaxB), nc = c + stepC;
            double nr = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double e = y[i] - Math.Sin(nb * x[i] + nc);
                nr += e * e;
            }
            if (nr >= residual) break;
            (b, c, residual) = (nb, nc, nr);
        }
        return (b, c, residual);
    }

    private readonly record struct BSums(double Ys, double Yk, double Ss, double Sk, double Kk);

    private static BSums Sums(double b, ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double ys = 0, yk = 0, ss = 0, sk = 0, kk = 0;
        for (int i = 0; i < x.Length; i++)
        {
            (double s, double k) = Math.SinCos(b * x[i]);
            ys += y[i] * s;
            yk += y[i] * k;
            ss += s * s;
            sk += s * k;
            kk += k * k;
        }
        return new BSums(ys, yk, ss, sk, kk);
    }

    private static double Residual(in BSums m, double yy, double cosC, double sinC) =>
        yy - 2 * (cosC * m.Ys + sinC * m.Yk) + cosC * cosC * m.Ss + 2 * sinC * cosC * m.Sk + sinC * sinC * m.Kk;
}
