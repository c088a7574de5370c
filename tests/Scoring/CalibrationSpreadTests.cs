using System.Diagnostics;
using System.Globalization;
using GpuGan.Gan.Data;
using GpuGan.Gan.Scoring;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Scoring;

/// <summary>
/// The scores' own resolution on petri, behind the calibration test's sizes: FD and KID of several disjoint real held-out
/// subsets against the training part (their spread is what "real against real" can vary by), and the paired change that a
/// corruption makes to the same subset. A diagnostic that prints a table (no assertion); Explicit because it only informs
/// the choice of <see cref="CalibrationTests"/>' sizes. Its data (seed 7) is not the calibration test's (seed 3).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class CalibrationSpreadTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-calibration-spread-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    [Test, Explicit("diagnostic: prints the scores' spread over disjoint real subsets; asserts nothing")]
    public void SpreadOfRealSubsetsAndCorruptionEffects()
    {
        var clock = Stopwatch.StartNew();
        var data = new PetriDataset(20000, 32, seed: 7);
        var net = new FeatureNetworkOptions { Width = 16, Steps = 400, Batch = 32, LearningRate = 1e-3f, Seed = 1 };
        var scorer = Scorer.Create(data, net, _root, Device.Cpu);
        var network = scorer.Network;
        TestContext.Out.WriteLine($"feature network: {clock.Elapsed.TotalSeconds:F1} s, test accuracy {network.TestAccuracy:F3}, train {network.TrainCount}, held-out {network.TestCount}");
        int d = network.FeatureSize;
        static string F(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        foreach (int m in new[] { 800, 4000 })
        {
            var (train, _, _) = scorer.TrainingImages(m, seed: 1);
            var fr = network.Features(train, m);
            foreach (int n in new[] { 200, 500, 1000 })
            {
                int subsets = network.TestCount / n;
                var rows = new Dictionary<string, List<(double Fd, double Kid)>>();
                for (int s = 0; s < subsets; s++)
                {
                    var held = data.CopySamples(network.TrainCount + s * n, n);
                    var sets = new (string Name, float[] Images)[]
                    {
                        ("real", held), ("noise 0.1", CalibrationTests.Noise(held, 0.1, 1)), ("noise 0.25", CalibrationTests.Noise(held, 0.25, 1)),
                        ("blur 0.7", CalibrationTests.Blur(held, n, 3, 32, 0.7)),
                    };
                    foreach (var (name, images) in sets)
                    {
                        var ff = network.Features(images, n);
                        double fd = QualityMetrics.FrechetDistance(fr, m, ff, n, d);
                        var kid = QualityMetrics.Kid(fr, m, ff, n, d, 50, Math.Min(1000, Math.Min(m, n) / 2), 1);
                        (rows.TryGetValue(name, out var l) ? l : rows[name] = []).Add((fd, kid.Mean));
                    }
                }
                TestContext.Out.WriteLine($"m = {m} training, n = {n} held-out, {subsets} disjoint subsets ({clock.Elapsed.TotalSeconds:F1} s)");
                TestContext.Out.WriteLine("| set | FD per subset | FD mean ± std | KID per subset | paired ΔFD vs real: mean ± std, min | paired ΔKID: mean ± std |");
                var real = rows["real"];
                foreach (var (name, l) in rows)
                {
                    var fds = l.Select(x => x.Fd).ToArray();
                    var kids = l.Select(x => x.Kid).ToArray();
                    var dFd = fds.Zip(real, (a, r) => a - r.Fd).ToArray();
                    var dKid = kids.Zip(real, (a, r) => a - r.Kid).ToArray();
                    TestContext.Out.WriteLine($"| {name} | {string.Join(" ", fds.Select(F))} | {F(fds.Average())} ± {F(Std(fds))} | {string.Join(" ", kids.Select(F))} | " +
                        $"{F(dFd.Average())} ± {F(Std(dFd))}, {F(dFd.Min())} | {F(dKid.Average())} ± {F(Std(dKid))} |");
                }
            }
        }
        TestContext.Out.WriteLine($"total {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static double Std(double[] v)
    {
        if (v.Length < 2) return double.NaN;
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
    }
}
