// Sample-quality measures on feature vectors, in float64 on the host (n ≤ a few thousand, d ≤ a few
// hundred: the cost is O(n²·d) for the kernel and distance matrices and O(d³) for the eigenproblems).
//
//   Fréchet distance (Heusel et al. 2017, "FID" with Inception features; here with ours):
//     FD = |μr − μg|² + tr Σr + tr Σg − 2 tr (Σr^½ Σg Σr^½)^½
//   The square root of the symmetric PSD product is taken through two Jacobi eigendecompositions
//   (Σr = V Λ Vᵀ → Σr^½ = V Λ^½ Vᵀ; then the eigenvalues of Σr^½ Σg Σr^½), which is exact for symmetric
//   matrices and needs no complex arithmetic (scipy's sqrtm on Σr·Σg returns tiny imaginary parts).
//   Covariances use n − 1 (numpy's cov, as the reference implementations).
//
//   KID (Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial kernel k(a, b) = (a·b / d + 1)³,
//     MMD²ᵤ = Σ_{i≠j} k(xi, xj) / m(m−1) + Σ_{i≠j} k(yi, yj) / m(m−1) − 2 Σ_{i,j} k(xi, yj) / m²,
//   averaged over random subsets of m samples (without replacement) of each set, with the standard
//   deviation (population, as torch-fidelity's np.std) over the subsets. Unbiased: near 0, and sometimes
//   below 0, for two samples of one distribution.
//
//   Precision, recall, density, coverage (Naeem et al. 2020, k nearest neighbours): the radius of a real
//   (generated) point is the distance to its k-th nearest other real (generated) point;
//     precision = share of generated points inside some real ball,
//     recall    = share of real points inside some generated ball,
//     density   = (1 / k) · mean over generated points of the number of real balls holding it,
//     coverage  = share of real points whose nearest generated point is inside their ball.
//   Strict "<", as the authors' code.
namespace GpuGan.Gan.Scoring;

/// <summary>KID's mean over subsets and its standard deviation.</summary>
/// <param name="Mean">Mean unbiased MMD² over the subsets.</param>
/// <param name="Std">Standard deviation over the subsets (0 with one subset).</param>
/// <param name="Subsets">Subsets drawn.</param>
/// <param name="SubsetSize">Samples of each set in a subset.</param>
public readonly record struct KidResult(double Mean, double Std, int Subsets, int SubsetSize);

/// <summary>The k-nearest-neighbour measures of Naeem et al. (2020).</summary>
public readonly record struct PrdcResult(double Precision, double Recall, double Density, double Coverage, int K);

/// <summary>Fréchet distance, KID, precision/recall/density/coverage and entropy on feature vectors (float64, host).</summary>
public static class QualityMetrics
{
    /// <summary>
    /// Fréchet distance between Gaussians fitted to <paramref name="a"/> (n × d, row-major) and <paramref name="b"/> (m × d).
    /// Both need at least 2 rows.
    /// </summary>
    public static double FrechetDistance(double[] a, int n, double[] b, int m, int d)
    {
        Check(a, n, d, 2, nameof(a));
        Check(b, m, d, 2, nameof(b));
        var (mu1, s1) = MeanCov(a, n, d);
        var (mu2, s2) = MeanCov(b, m, d);
        double diff = 0;
        for (int i = 0; i < d; i++) diff += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        double tr1 = 0, tr2 = 0;
        for (int i = 0; i < d; i++) { tr1 += s1[i * d + i]; tr2 += s2[i * d + i]; }
        var root1 = SymmetricSqrt(s1, d);
        var product = MatMul(MatMul(root1, s2, d), root1, d);
        Symmetrise(product, d);
        var (values, _) = JacobiEigen(product, d, vectors: false);
        double trRoot = 0;
        foreach (double v in values) trRoot += Math.Sqrt(Math.Max(v, 0));
        // Rounding can leave a hair below 0 for identical sets; a distance is not negative.
        return Math.Max(0, diff + tr1 + tr2 - 2 * trRoot);
    }

    /// <summary>
    /// KID between <paramref name="a"/> (n × d) and <paramref name="b"/> (m × d): <paramref name="subsets"/> subsets of
    /// <paramref name="subsetSize"/> rows of each (at most min(n, m), at least 2), drawn from <paramref name="seed"/>.
    /// </summary>
    public static KidResult Kid(double[] a, int n, double[] b, int m, int d, int subsets, int subsetSize, long seed)
    {
        Check(a, n, d, 2, nameof(a));
        Check(b, m, d, 2, nameof(b));
        if (subsets < 1) throw new ArgumentOutOfRangeException(nameof(subsets), subsets, "at least one subset");
        if (subsetSize < 2 || subsetSize > Math.Min(n, m))
            throw new ArgumentOutOfRangeException(nameof(subsetSize), subsetSize, $"must be in [2, {Math.Min(n, m)}]");
        // The kernel matrices once; subsets index into them.
        var kaa = PolyKernel(a, n, a, n, d);
        var kbb = PolyKernel(b, m, b, m, d);
        var kab = PolyKernel(a, n, b, m, d);
        var rng = new Random(unchecked((int)(seed ^ (seed >> 32))));
        var values = new double[subsets];
        int s = subsetSize;
        for (int t = 0; t < subsets; t++)
        {
            var ia = Choose(rng, n, s);
            var ib = Choose(rng, m, s);
            double xx = 0, yy = 0, xy = 0;
            for (int i = 0; i < s; i++)
                for (int j = 0; j < s; j++)
                {
                    if (i != j)
                    {
                        xx += kaa[ia[i] * n + ia[j]];
                        yy += kbb[ib[i] * m + ib[j]];
                    }
                    xy += kab[ia[i] * m + ib[j]];
                }
            values[t] = xx / (s * (s - 1.0)) + yy / (s * (s - 1.0)) - 2 * xy / ((double)s * s);
        }
        double mean = values.Average();
        double variance = values.Sum(v => (v - mean) * (v - mean)) / subsets;
        return new KidResult(mean, Math.Sqrt(variance), subsets, s);
    }

    /// <summary>Precision, recall, density and coverage of <paramref name="fake"/> (m × d) against <paramref name="real"/> (n × d), k nearest neighbours.</summary>
    public static PrdcResult Prdc(double[] real, int n, double[] fake, int m, int d, int k)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be at least 1");
        Check(real, n, d, k + 1, nameof(real));
        Check(fake, m, d, k + 1, nameof(fake));
        var drr = Distances(real, n, real, n, d);
        var dff = Distances(fake, m, fake, m, d);
        var drf = Distances(real, n, fake, m, d);           // (n, m)
        var realRadius = KthNeighbour(drr, n, k);
        var fakeRadius = KthNeighbour(dff, m, k);
        int precise = 0;
        double density = 0;
        for (int j = 0; j < m; j++)
        {
            bool inside = false;
            for (int i = 0; i < n; i++)
                if (drf[i * m + j] < realRadius[i]) { inside = true; density++; }
            if (inside) precise++;
        }
        int recalled = 0, covered = 0;
        for (int i = 0; i < n; i++)
        {
            bool inside = false;
            double nearest = double.PositiveInfinity;
            for (int j = 0; j < m; j++)
            {
                double dist = drf[i * m + j];
                if (dist < fakeRadius[j]) inside = true;
                nearest = Math.Min(nearest, dist);
            }
            if (inside) recalled++;
            if (nearest < realRadius[i]) covered++;
        }
        return new PrdcResult((double)precise / m, (double)recalled / n, density / ((double)k * m), (double)covered / n, k);
    }

    /// <summary>Shannon entropy in bits of the class histogram <paramref name="counts"/> (0 for an empty or one-class histogram).</summary>
    public static double EntropyBits(IReadOnlyList<int> counts)
    {
        double total = counts.Sum();
        if (total == 0) return 0;
        double h = 0;
        foreach (int c in counts)
            if (c > 0) h -= c / total * Math.Log2(c / total);
        return h;
    }

    /// <summary>Euclidean distances between the rows of <paramref name="a"/> (n × d) and <paramref name="b"/> (m × d): (n, m).</summary>
    public static double[] Distances(double[] a, int n, double[] b, int m, int d)
    {
        var na = RowSquares(a, n, d);
        var nb = RowSquares(b, m, d);
        var r = new double[n * m];
        Parallel.For(0, n, i =>
        {
            var ai = a.AsSpan(i * d, d);
            for (int j = 0; j < m; j++)
            {
                double dot = Dot(ai, b.AsSpan(j * d, d));
                r[i * m + j] = Math.Sqrt(Math.Max(0, na[i] + nb[j] - 2 * dot));
            }
        });
        return r;
    }

    /// <summary>Row means (d) and covariance (d × d, divisor n − 1) of <paramref name="x"/> (n × d).</summary>
    public static (double[] Mean, double[] Cov) MeanCov(double[] x, int n, int d)
    {
        var mean = new double[d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) mean[j] += x[i * d + j];
        for (int j = 0; j < d; j++) mean[j] /= n;
        var centred = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) centred[i * d + j] = x[i * d + j] - mean[j];
        var cov = new double[d * d];
        Parallel.For(0, d, p =>
        {
            for (int q = p; q < d; q++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += centred[i * d + p] * centred[i * d + q];
                cov[p * d + q] = cov[q * d + p] = s / (n - 1);
            }
        });
        return (mean, cov);
    }

    /// <summary>
    /// Eigenvalues (and, when <paramref name="vectors"/>, eigenvectors as the columns of a d × d matrix) of the
    /// symmetric <paramref name="matrix"/> (d × d, not changed), by cyclic Jacobi rotations.
    /// </summary>
    public static (double[] Values, double[]? Vectors) JacobiEigen(double[] matrix, int d, bool vectors)
    {
        var a = (double[])matrix.Clone();
        double[]? v = null;
        if (vectors)
        {
            v = new double[d * d];
            for (int i = 0; i < d; i++) v[i * d + i] = 1;
        }
        double scale = 0;
        for (int i = 0; i < d * d; i++) scale += a[i] * a[i];
        double tolerance = 1e-30 * Math.Max(scale, 1e-300);
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < d; p++)
                for (int q = p + 1; q < d; q++) off += a[p * d + q] * a[p * d + q];
            if (off <= tolerance) break;
            for (int p = 0; p < d; p++)
                for (int q = p + 1; q < d; q++)
                {
                    double apq = a[p * d + q];
                    if (Math.Abs(apq) < 1e-300) continue;
                    double theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    // A ← Jᵀ A J on rows and columns p, q.
                    for (int k = 0; k < d; k++)
                    {
                        double akp = a[k * d + p], akq = a[k * d + q];
                        a[k * d + p] = c * akp - s * akq;
                        a[k * d + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < d; k++)
                    {
                        double apk = a[p * d + k], aqk = a[q * d + k];
                        a[p * d + k] = c * apk - s * aqk;
                        a[q * d + k] = s * apk + c * aqk;
                    }
                    if (v is not null)
                        for (int k = 0; k < d; k++)
                        {
                            double vkp = v[k * d + p], vkq = v[k * d + q];
                            v[k * d + p] = c * vkp - s * vkq;
                            v[k * d + q] = s * vkp + c * vkq;
                        }
                }
        }
        var values = new double[d];
        for (int i = 0; i < d; i++) values[i] = a[i * d + i];
        return (values, v);
    }

    /// <summary>The symmetric PSD square root V Λ^½ Vᵀ of <paramref name="s"/> (negative rounding eigenvalues clipped to 0).</summary>
    public static double[] SymmetricSqrt(double[] s, int d)
    {
        var (values, v) = JacobiEigen(s, d, vectors: true);
        var r = new double[d * d];
        for (int k = 0; k < d; k++)
        {
            double root = Math.Sqrt(Math.Max(values[k], 0));
            if (root == 0) continue;
            for (int i = 0; i < d; i++)
            {
                double vik = v![i * d + k] * root;
                for (int j = 0; j < d; j++) r[i * d + j] += vik * v[j * d + k];
            }
        }
        return r;
    }

    private static double[] MatMul(double[] a, double[] b, int d)
    {
        var r = new double[d * d];
        Parallel.For(0, d, i =>
        {
            for (int k = 0; k < d; k++)
            {
                double aik = a[i * d + k];
                if (aik == 0) continue;
                for (int j = 0; j < d; j++) r[i * d + j] += aik * b[k * d + j];
            }
        });
        return r;
    }

    private static void Symmetrise(double[] a, int d)
    {
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++)
                a[i * d + j] = a[j * d + i] = 0.5 * (a[i * d + j] + a[j * d + i]);
    }

    private static double[] PolyKernel(double[] a, int n, double[] b, int m, int d)
    {
        var r = new double[n * m];
        Parallel.For(0, n, i =>
        {
            var ai = a.AsSpan(i * d, d);
            for (int j = 0; j < m; j++)
            {
                double t = Dot(ai, b.AsSpan(j * d, d)) / d + 1;
                r[i * m + j] = t * t * t;
            }
        });
        return r;
    }

    /// <summary>Distance of each point to its k-th nearest other point (the diagonal, 0, is the point itself).</summary>
    private static double[] KthNeighbour(double[] dist, int n, int k)
    {
        var r = new double[n];
        Parallel.For(0, n, i =>
        {
            var row = new double[n - 1];
            int c = 0;
            for (int j = 0; j < n; j++) if (j != i) row[c++] = dist[i * n + j];
            Array.Sort(row);
            r[i] = row[k - 1];
        });
        return r;
    }

    private static int[] Choose(Random rng, int n, int s)
    {
        var all = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < s; i++)
        {
            int j = i + rng.Next(n - i);
            (all[i], all[j]) = (all[j], all[i]);
        }
        return all[..s];
    }

    private static double[] RowSquares(double[] x, int n, int d)
    {
        var r = new double[n];
        for (int i = 0; i < n; i++) r[i] = Dot(x.AsSpan(i * d, d), x.AsSpan(i * d, d));
        return r;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static void Check(double[] x, int n, int d, int minRows, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        if (d < 1) throw new ArgumentOutOfRangeException(nameof(d), d, "feature size must be at least 1");
        if (n < minRows) throw new ArgumentOutOfRangeException(name, n, $"needs at least {minRows} rows");
        if (x.Length < (long)n * d) throw new ArgumentException($"{name} holds {x.Length} values, {n} rows of {d} need {(long)n * d}", name);
    }
}
