using GpuGan.Gan.Scoring;
using NUnit.Framework;

namespace GpuGan.Tests.Scoring;

/// <summary>The metrics against closed forms and direct sums (float64, small sets).</summary>
[TestFixture]
public sealed class QualityMetricsTests
{
    private static double[] Gaussian(Random rng, int n, int d, double shift = 0, double scale = 1)
    {
        var x = new double[n * d];
        for (int i = 0; i < x.Length; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = shift + scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
        return x;
    }

    [Test]
    public void JacobiEigenReconstructsTheMatrix()
    {
        int d = 9;
        var rng = new Random(3);
        var a = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = i; j < d; j++) a[i * d + j] = a[j * d + i] = rng.NextDouble() * 2 - 1;
        var (values, v) = QualityMetrics.JacobiEigen(a, d, vectors: true);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double s = 0;
                for (int k = 0; k < d; k++) s += v![i * d + k] * values[k] * v[j * d + k];
                Assert.That(s, Is.EqualTo(a[i * d + j]).Within(1e-10), $"({i}, {j})");
            }
    }

    [Test]
    public void FrechetDistanceMatchesTheTwoByTwoClosedForm()
    {
        // For 2×2 SPD matrices the eigenvalues λ1, λ2 of Σ1Σ2 are positive and
        // tr (Σ1^½ Σ2 Σ1^½)^½ = √λ1 + √λ2 = √(tr Σ1Σ2 + 2 √(det Σ1 det Σ2)).
        var rng = new Random(5);
        int n = 50, m = 70, d = 2;
        var a = Gaussian(rng, n, d);
        var b = Gaussian(rng, m, d, shift: 0.7, scale: 1.8);
        for (int i = 0; i < m; i++) b[i * 2 + 1] += 0.6 * b[i * 2];        // correlated
        var (mu1, s1) = QualityMetrics.MeanCov(a, n, d);
        var (mu2, s2) = QualityMetrics.MeanCov(b, m, d);
        double trProd = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
        double det1 = s1[0] * s1[3] - s1[1] * s1[2], det2 = s2[0] * s2[3] - s2[1] * s2[2];
        double expected = Math.Pow(mu1[0] - mu2[0], 2) + Math.Pow(mu1[1] - mu2[1], 2) + s1[0] + s1[3] + s2[0] + s2[3]
            - 2 * Math.Sqrt(trProd + 2 * Math.Sqrt(det1 * det2));
        Assert.That(QualityMetrics.FrechetDistance(a, n, b, m, d), Is.EqualTo(expected).Within(1e-9 * Math.Abs(expected)));
    }

    [Test]
    public void FrechetDistanceOfASetWithItselfIsZero()
    {
        var a = Gaussian(new Random(1), 40, 6);
        Assert.That(QualityMetrics.FrechetDistance(a, 40, a, 40, 6), Is.EqualTo(0).Within(1e-9));
    }

    [Test]
    public void KidWithOneFullSubsetIsTheUnbiasedMmdOfTheWholeSets()
    {
        var rng = new Random(7);
        int n = 30, d = 4;
        var a = Gaussian(rng, n, d);
        var b = Gaussian(rng, n, d, shift: 0.3);
        double K(double[] x, int i, double[] y, int j)
        {
            double dot = 0;
            for (int k = 0; k < d; k++) dot += x[i * d + k] * y[j * d + k];
            return Math.Pow(dot / d + 1, 3);
        }
        double xx = 0, yy = 0, xy = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i != j) { xx += K(a, i, a, j); yy += K(b, i, b, j); }
                xy += K(a, i, b, j);
            }
        double expected = xx / (n * (n - 1.0)) + yy / (n * (n - 1.0)) - 2 * xy / (n * (double)n);
        var kid = QualityMetrics.Kid(a, n, b, n, d, subsets: 1, subsetSize: n, seed: 1);
        Assert.That(kid.Mean, Is.EqualTo(expected).Within(1e-10 * Math.Abs(expected)));
        Assert.That(kid.Std, Is.EqualTo(0));
    }

    [Test]
    public void KidIsNearZeroForOneDistributionAndLargeForAnother()
    {
        var rng = new Random(9);
        int n = 400, d = 8;
        var a = Gaussian(rng, n, d);
        var same = Gaussian(rng, n, d);
        var other = Gaussian(rng, n, d, shift: 0.5);
        var kSame = QualityMetrics.Kid(a, n, same, n, d, 20, 200, 1);
        var kOther = QualityMetrics.Kid(a, n, other, n, d, 20, 200, 1);
        Assert.That(Math.Abs(kSame.Mean), Is.LessThan(3 * kSame.Std + 1e-3));
        Assert.That(kOther.Mean, Is.GreaterThan(10 * Math.Abs(kSame.Mean) + 3 * kOther.Std));
    }

    [Test]
    public void PrdcOfASetWithItselfIsOneEverywhere()
    {
        // Each real ball holds its own point and its k − 1 nearer neighbours (the k-th lies on the boundary, "<"),
        // so with the same points as samples every ball holds exactly k samples: density 1.
        var a = Gaussian(new Random(11), 60, 3);
        var r = QualityMetrics.Prdc(a, 60, a, 60, 3, k: 5);
        Assert.That((r.Precision, r.Recall, r.Coverage), Is.EqualTo((1.0, 1.0, 1.0)));
        Assert.That(r.Density, Is.EqualTo(1.0).Within(1e-12));
    }

    [Test]
    public void PrdcOfAFarAwaySetIsZero()
    {
        var rng = new Random(13);
        var a = Gaussian(rng, 50, 3);
        var b = Gaussian(rng, 50, 3, shift: 100);
        var r = QualityMetrics.Prdc(a, 50, b, 50, 3, k: 5);
        Assert.That((r.Precision, r.Recall, r.Density, r.Coverage), Is.EqualTo((0.0, 0.0, 0.0, 0.0)));
    }

    [Test]
    public void PrdcOfOneRepeatedPointHasNoRecall()
    {
        var rng = new Random(17);
        var a = Gaussian(rng, 50, 3);
        var b = new double[50 * 3];
        for (int i = 0; i < 50; i++) Array.Copy(a, 0, b, i * 3, 3);           // the first real point, 50 times
        var r = QualityMetrics.Prdc(a, 50, b, 50, 3, k: 5);
        Assert.That(r.Precision, Is.EqualTo(1.0));                            // it is a real point
        Assert.That(r.Recall, Is.EqualTo(0.0));                               // its ball has radius 0
        Assert.That(r.Coverage, Is.LessThan(0.5));                            // only the few balls that hold that point
    }

    [Test]
    public void EntropyInBits()
    {
        Assert.That(QualityMetrics.EntropyBits([5, 5, 5, 5]), Is.EqualTo(2.0).Within(1e-12));
        Assert.That(QualityMetrics.EntropyBits([9, 0, 0]), Is.EqualTo(0.0));
        Assert.That(QualityMetrics.EntropyBits([1, 1]), Is.EqualTo(1.0).Within(1e-12));
    }
}
