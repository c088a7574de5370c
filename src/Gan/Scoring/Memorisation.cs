// Memorisation report: does the generator copy its training set?
//
// For each generated image, the nearest training image (the feature network's training part, all of
// it) in the feature space and in pixel space (Euclidean); for each held-out real image — which the
// generator never saw, so its nearness is what "new but typical" looks like — the same distances. A
// generator that copies makes images nearer to a training image than fresh real data ever is:
//   copied share = share of generated images nearer to their nearest training image than the nearest
//                  of all held-out images is (strictly below the held-out minimum).
// For images drawn like the held-out ones the share is about 1/(m + 1) (m held-out images, exchangeable);
// the report flags the generator when the share exceeds 10 % in either space (FlagShare, fixed before
// any run). It also gives the medians of both distributions.
//
// Distances² = |a|² + |b|² − 2 a·b, the products as one MatMul per chunk of training images on the
// scorer's device; minima on the host.
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Tensors;

namespace GpuGan.Gan.Scoring;

/// <summary>Nearest-training-image distances of generated and held-out images, in one space.</summary>
/// <param name="Space">"features" or "pixels".</param>
/// <param name="GeneratedMedian">Median distance of a generated image to its nearest training image.</param>
/// <param name="HeldOutMedian">Median distance of a held-out real image to its nearest training image.</param>
/// <param name="HeldOutMinimum">The smallest held-out distance.</param>
/// <param name="CopiedShare">Share of generated images nearer than <paramref name="HeldOutMinimum"/>.</param>
public sealed record NearestDistances(string Space, double GeneratedMedian, double HeldOutMedian, double HeldOutMinimum, double CopiedShare);

/// <summary>The memorisation report.</summary>
/// <param name="Features">Distances in the feature space.</param>
/// <param name="Pixels">Distances in pixel space.</param>
/// <param name="Flagged">True when the copied share exceeds <see cref="Memorisation.FlagShare"/> in either space.</param>
/// <param name="NearestFeature">Index (in the data set) of each generated image's nearest training image, feature space.</param>
/// <param name="NearestPixel">The same in pixel space.</param>
public sealed record MemorisationReport(NearestDistances Features, NearestDistances Pixels, bool Flagged, int[] NearestFeature, int[] NearestPixel);

/// <summary>Nearest training images of generated images, and the copying flag.</summary>
public static class Memorisation
{
    /// <summary>A copied share above this (in either space) flags the generator.</summary>
    public const double FlagShare = 0.10;

    /// <summary>
    /// The report for <paramref name="count"/> generated <paramref name="images"/> (n, C, H, W) against the training part of
    /// <paramref name="scorer"/>'s data, with its held-out images as the yardstick.
    /// </summary>
    public static MemorisationReport Report(Scorer scorer, IDataset data, float[] images, int count, Device device)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        var net = scorer.Network;
        int trainCount = net.TrainCount, len = data.SampleLength();
        var train = data.CopySamples(0, trainCount);
        var (heldOut, m) = scorer.HeldOutImages(net.TestCount);
        int d = net.FeatureSize;
        var trainFeatures = ToFloat(net.Features(train, trainCount));
        var (fg, fgIndex) = Nearest(ToFloat(net.Features(images, count)), count, trainFeatures, trainCount, d, device);
        var (fh, _) = Nearest(ToFloat(net.Features(heldOut, m)), m, trainFeatures, trainCount, d, device);
        var (pg, pgIndex) = Nearest(images, count, train, trainCount, len, device);
        var (ph, _) = Nearest(heldOut, m, train, trainCount, len, device);
        var features = Summarise("features", fg, fh);
        var pixels = Summarise("pixels", pg, ph);
        return new MemorisationReport(features, pixels, features.CopiedShare > FlagShare || pixels.CopiedShare > FlagShare, fgIndex, pgIndex);
    }

    /// <summary>
    /// Writes a grid of the first <paramref name="rows"/> generated images, each beside its nearest training image in the
    /// feature space and in pixel space (three columns), to <paramref name="path"/>.
    /// </summary>
    public static void SaveGrid(string path, MemorisationReport report, IDataset data, float[] images, int rows)
    {
        int len = data.SampleLength();
        rows = Math.Min(rows, report.NearestPixel.Length);
        var cells = new float[3 * rows * len];
        var sample = new float[len];
        for (int r = 0; r < rows; r++)
        {
            images.AsSpan(r * len, len).CopyTo(cells.AsSpan(3 * r * len, len));
            data.CopySample(report.NearestFeature[r], cells.AsSpan((3 * r + 1) * len, len));
            data.CopySample(report.NearestPixel[r], cells.AsSpan((3 * r + 2) * len, len));
        }
        ImageGrid.Save(path, cells, 3 * rows, data.Channels, data.Height, data.Width, columns: 3);
    }

    private static NearestDistances Summarise(string space, double[] generated, double[] heldOut)
    {
        double min = heldOut.Min();
        return new NearestDistances(space, Median(generated), Median(heldOut), min, generated.Count(v => v < min) / (double)generated.Length);
    }

    private static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static float[] ToFloat(double[] v) => Array.ConvertAll(v, x => (float)x);

    /// <summary>For each row of <paramref name="a"/> (n × d): the distance to, and index of, its nearest row of <paramref name="b"/> (m × d).</summary>
    internal static (double[] Distance, int[] Index) Nearest(float[] a, int n, float[] b, int m, int d, Device device)
    {
        var best = new double[n];
        var index = new int[n];
        Array.Fill(best, double.PositiveInfinity);
        var na = new double[n];
        for (int i = 0; i < n; i++) for (int k = 0; k < d; k++) na[i] += (double)a[i * d + k] * a[i * d + k];
        const int chunk = 4096;
        using (var scope = TensorScope.Begin())
        using (var noGrad = Autograd.NoGrad())
        {
            var ta = Tensor.FromArray(a.AsSpan(0, n * d), new Shape(n, d), device);
            for (int start = 0; start < m; start += chunk)
            {
                int c = Math.Min(chunk, m - start);
                using var inner = TensorScope.Begin();
                var tb = Tensor.FromArray(b.AsSpan(start * d, c * d), new Shape(c, d), device);
                var dots = ta.MatMul(tb, transB: true).ToArray();               // (n, c)
                var nb = new double[c];
                for (int j = 0; j < c; j++) for (int k = 0; k < d; k++) nb[j] += (double)b[(start + j) * d + k] * b[(start + j) * d + k];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < c; j++)
                    {
                        double dist = na[i] + nb[j] - 2 * dots[i * c + j];
                        if (dist < best[i]) { best[i] = dist; index[i] = start + j; }
                    }
            }
        }
        // float32 products: an exact copy can come out a hair above or below 0.
        for (int i = 0; i < n; i++) best[i] = Math.Sqrt(Math.Max(best[i], 0));
        return (best, index);
    }
}
