using System.Globalization;
using GpuGan.Gan.Data;
using GpuGan.Gan.Scoring;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Scoring;

/// <summary>
/// Calibration of the scores on petri (32×32, labelled common/rare; the feature network learns class and rotation):
/// the held-out real images against the real training images score best; Gaussian blur and additive noise of rising
/// strength score progressively worse; one image repeated scores worse than the real held-out images.
/// Only orderings are asserted; the figures go to the README's calibration table.
/// <para>Two tests. <see cref="CorruptionsScoreProgressivelyWorse"/> is the first design (200 held-out dishes against 800
/// training dishes, every ordering in FD and KID, written before its first run); it failed and stays Explicit, unchanged.
/// <see cref="CorruptionsScoreProgressivelyWorseAtResolvableSizes"/> is the corrected design, fixed and committed before
/// its own first run, after <see cref="CalibrationSpreadTests"/> measured the scores' resolution on other dishes (seed 7):
/// over 10 disjoint sets of 200 held-out dishes, real-against-real FD ranged 0.004–1.84 (mean 0.55 ± 0.55), so one set of
/// 200 cannot order close corruptions; and noise σ = 0.1 moved FD and KID of the same images by −0.05 to +0.004 and
/// −0.04 to −0.01 (paired, at 200 to 1,000 dishes; ± 0.003 FD at 1,000), i.e. slightly <i>closer</i> to the training
/// images at every size: this feature network (spatial means of convolution responses, in which zero-mean pixel noise
/// averages out) does not see σ = 0.1 as a degradation at all, and sees σ = 0.25 in FD (+0.6 to +0.9) but not in KID
/// (−0.13 to +0.02). The corrected test therefore compares every corruption with the <i>same</i> 1,000 held-out dishes
/// (paired), against 2,000 training dishes, and asserts only what the scores can resolve: every FD ordering except noise
/// σ = 0.1 against the real images, and KID for blur, strong noise and the repeated image; σ = 0.1 (and σ = 0.25 in KID)
/// is reported, not asserted.</para>
/// </summary>
[TestFixture, NonParallelizable]
public sealed class CalibrationTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-calibration-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    /// <summary>Gaussian blur of (N, C, S, S) images, separable, σ in pixels, borders clamped.</summary>
    internal static float[] Blur(float[] images, int n, int c, int s, double sigma)
    {
        int radius = (int)Math.Ceiling(3 * sigma);
        var w = Enumerable.Range(-radius, 2 * radius + 1).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
        double sum = w.Sum();
        for (int i = 0; i < w.Length; i++) w[i] /= sum;
        var tmp = new float[images.Length];
        var r = new float[images.Length];
        int plane = s * s;
        for (int p = 0; p < n * c; p++)
        {
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    double v = 0;
                    for (int k = -radius; k <= radius; k++) v += w[k + radius] * images[p * plane + y * s + Math.Clamp(x + k, 0, s - 1)];
                    tmp[p * plane + y * s + x] = (float)v;
                }
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    double v = 0;
                    for (int k = -radius; k <= radius; k++) v += w[k + radius] * tmp[p * plane + Math.Clamp(y + k, 0, s - 1) * s + x];
                    r[p * plane + y * s + x] = (float)v;
                }
        }
        return r;
    }

    /// <summary>Additive N(0, σ²) noise, clamped to [-1, 1].</summary>
    internal static float[] Noise(float[] images, double sigma, ulong seed)
    {
        var noise = new float[images.Length];
        new RandomStream(seed).FillNormal(noise, 0f, (float)sigma);
        return images.Select((v, i) => Math.Clamp(v + noise[i], -1f, 1f)).ToArray();
    }

    /// <summary>The first image, n times.</summary>
    internal static float[] Repeated(float[] images, int n)
    {
        int len = images.Length / n;
        var r = new float[images.Length];
        for (int i = 0; i < n; i++) Array.Copy(images, 0, r, i * len, len);
        return r;
    }

    /// <summary>
    /// Both designs' sets: petri dishes (seed 3), the feature network W = 16 / 400 steps, <paramref name="heldOutCount"/> held-out
    /// dishes and corrupted copies of them, each scored against <paramref name="realCount"/> training dishes; prints the table.
    /// </summary>
    private Dictionary<string, ScoreReport> ScoreCorruptions(int dishes, int heldOutCount, int realCount)
    {
        var data = new PetriDataset(dishes, 32, seed: 3);
        var net = new FeatureNetworkOptions { Width = 16, Steps = 400, Batch = 32, LearningRate = 1e-3f, Seed = 1 };
        var scorer = Scorer.Create(data, net, _root, Device.Cpu);
        var (heldOut, n) = scorer.HeldOutImages(heldOutCount);
        Assert.That(n, Is.EqualTo(heldOutCount));
        var options = new ScoreOptions { RealCount = realCount, K = 5, KidSubsets = 50, KidSubsetSize = 1000, Seed = 1 };
        var sets = new List<(string Name, float[] Images)>
        {
            ("real held-out", heldOut),
            ("blur 0.7", Blur(heldOut, n, 3, 32, 0.7)), ("blur 1.5", Blur(heldOut, n, 3, 32, 1.5)), ("blur 3", Blur(heldOut, n, 3, 32, 3)),
            ("noise 0.1", Noise(heldOut, 0.1, 1)), ("noise 0.25", Noise(heldOut, 0.25, 1)), ("noise 0.5", Noise(heldOut, 0.5, 1)),
            ("one image repeated", Repeated(heldOut, n)),
        };
        var reports = sets.ToDictionary(s => s.Name, s => scorer.Score(s.Images, n, null, options));

        static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
        TestContext.Out.WriteLine($"feature network test accuracy {F(scorer.Network.TestAccuracy)} ({scorer.Network.Task})");
        TestContext.Out.WriteLine("| set | FD | KID (± std) | precision | recall | density | coverage |");
        TestContext.Out.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (name, r) in reports)
            TestContext.Out.WriteLine($"| {name} | {F(r.FrechetDistance)} | {F(r.Kid)} ± {F(r.KidStd)} | {F(r.Precision)} | {F(r.Recall)} | {F(r.Density)} | {F(r.Coverage)} |");
        return reports;
    }

    // Explicit, not in the suite: it FAILS as written, and its strengths are not changed after seeing that. At 200 images the
    // mildest noise (σ = 0.1) is below the scores' resolution: FD 0.068 (0.142 before the features were standardised) against the
    // real held-out images' 0.109 (0.228), KID −0.093 against −0.085 (± 0.6). Every other ordering holds (see the README's table).
    [Test, Explicit("fails: noise σ = 0.1 scores better than the real held-out images (below the resolution at 200 images); see the comment")]
    public void CorruptionsScoreProgressivelyWorse()
    {
        var reports = ScoreCorruptions(dishes: 2000, heldOutCount: 200, realCount: 800);

        var real = reports["real held-out"];
        using var all = Assert.EnterMultipleScope();
        foreach (var (name, r) in reports.Where(p => p.Key != "real held-out"))
        {
            Assert.That(r.FrechetDistance, Is.GreaterThan(real.FrechetDistance), $"FD: {name} against real held-out");
            Assert.That(r.Kid, Is.GreaterThan(real.Kid), $"KID: {name} against real held-out");
        }
        foreach (var family in new[] { new[] { "blur 0.7", "blur 1.5", "blur 3" }, new[] { "noise 0.1", "noise 0.25", "noise 0.5" } })
            for (int i = 1; i < family.Length; i++)
            {
                Assert.That(reports[family[i]].FrechetDistance, Is.GreaterThan(reports[family[i - 1]].FrechetDistance), $"FD: {family[i]} against {family[i - 1]}");
                Assert.That(reports[family[i]].Kid, Is.GreaterThan(reports[family[i - 1]].Kid), $"KID: {family[i]} against {family[i - 1]}");
            }
        Assert.That(reports["one image repeated"].Recall, Is.LessThan(real.Recall), "recall: one image repeated against real held-out");
    }

    // The corrected design (see the type's summary), fixed before its first run. Sizes: 10,000 dishes (seed 3, as the first
    // design), so 1,000 held out; 2,000 training dishes as the reference; the same network. Slow for the suite (the 8 sets are
    // scored against 2,000 reference images, k-NN and kernel tables included: tens of seconds on 2 cores): level 2.
    [Test]
    public void CorruptionsScoreProgressivelyWorseAtResolvableSizes()
    {
        FullChecks.RequireSlow("score calibration on 1,000 held-out dishes", "tens of seconds on 2 cores, and the suite is at its budget");
        var reports = ScoreCorruptions(dishes: 10000, heldOutCount: 1000, realCount: 2000);

        var real = reports["real held-out"];
        using var all = Assert.EnterMultipleScope();
        foreach (var name in new[] { "blur 0.7", "blur 1.5", "blur 3", "noise 0.25", "noise 0.5", "one image repeated" })
            Assert.That(reports[name].FrechetDistance, Is.GreaterThan(real.FrechetDistance), $"FD: {name} against real held-out");
        foreach (var name in new[] { "blur 0.7", "blur 1.5", "blur 3", "noise 0.5", "one image repeated" })
            Assert.That(reports[name].Kid, Is.GreaterThan(real.Kid), $"KID: {name} against real held-out");
        foreach (var family in new[] { new[] { "blur 0.7", "blur 1.5", "blur 3" }, new[] { "noise 0.1", "noise 0.25", "noise 0.5" } })
            for (int i = 1; i < family.Length; i++)
            {
                Assert.That(reports[family[i]].FrechetDistance, Is.GreaterThan(reports[family[i - 1]].FrechetDistance), $"FD: {family[i]} against {family[i - 1]}");
                if (family[i] != "noise 0.25")
                    Assert.That(reports[family[i]].Kid, Is.GreaterThan(reports[family[i - 1]].Kid), $"KID: {family[i]} against {family[i - 1]}");
            }
        Assert.That(reports["one image repeated"].Recall, Is.LessThan(real.Recall), "recall: one image repeated against real held-out");
    }
}
