using GpuGan.Gan.Data;
using NUnit.Framework;

namespace GpuGan.Tests.Data;

public class SinesTests
{
    [Test]
    public void GridIsZeroToTwoPi()
    {
        var x = SinesDataset.XGrid;
        Assert.That(x, Has.Length.EqualTo(64));
        Assert.That(x[0], Is.EqualTo(0f));
        Assert.That(x[63], Is.EqualTo((float)(2 * Math.PI)).Within(1e-6));
        Assert.That(x[1] - x[0], Is.EqualTo(x[63] - x[62]).Within(1e-5));
    }

    [Test]
    public void ValuesMatchTheirParameters()
    {
        var data = new SinesDataset(500, seed: 9);
        Assert.That((data.Channels, data.Height, data.Width, data.ClassCount), Is.EqualTo((1, 1, 64, 0)));
        var x = SinesDataset.XGrid;
        var y = new float[64];
        double minB = 9, maxB = 0, minC = 9, maxC = -1;
        for (int i = 0; i < data.Count; i++)
        {
            var (b, c) = data.Parameters(i);
            data.CopySample(i, y);
            for (int k = 0; k < 64; k++) Assert.That(y[k], Is.EqualTo(Math.Sin(b * x[k] + c)).Within(1e-6));
            Assert.That(data.Label(i), Is.EqualTo(-1));
            (minB, maxB, minC, maxC) = (Math.Min(minB, b), Math.Max(maxB, b), Math.Min(minC, c), Math.Max(maxC, c));
        }
        Assert.That(minB, Is.GreaterThanOrEqualTo(0.5).And.LessThan(0.55));
        Assert.That(maxB, Is.LessThan(2.0).And.GreaterThan(1.95));
        Assert.That(minC, Is.GreaterThanOrEqualTo(0).And.LessThan(0.1));
        Assert.That(maxC, Is.LessThan(Math.PI).And.GreaterThan(Math.PI - 0.1));
        Assert.That(new SinesDataset(5, seed: 9).Parameters(3), Is.EqualTo(data.Parameters(3)), "(seed, index) fixes a curve");
    }

    [Test]
    public void FitRecoversCleanCurves()
    {
        var data = new SinesDataset(200, seed: 4);
        var y = new float[64];
        double worstB = 0, worstC = 0;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < data.Count; i++)
        {
            data.CopySample(i, y);
            var (b, c) = data.Parameters(i);
            var fit = SineFit.Fit(y);
            worstB = Math.Max(worstB, Math.Abs(fit.B - b));
            worstC = Math.Max(worstC, PhaseDistance(fit.C, c));
            Assert.That(fit.RmsResidual, Is.LessThan(1e-5), $"curve {i}");
        }
        TestContext.Out.WriteLine($"worst |Δb| {worstB:E2}, worst |Δc| {worstC:E2}, {sw.Elapsed.TotalMilliseconds / data.Count:F2} ms per fit");
        Assert.That(worstB, Is.LessThan(0.02));
        Assert.That(worstC, Is.LessThan(0.02));
        Assert.That(sw.Elapsed.TotalMilliseconds / data.Count, Is.LessThan(20), "a fit should take about a millisecond");
    }

    [Test]
    public void FitReportsNoisyAndWrongCurves()
    {
        var x = SinesDataset.XGrid;
        var rng = new SplitMix64(1);
        var noisy = x.Select(v => (float)(Math.Sin(1.3 * v + 0.7) + 0.05 * rng.NextGaussian())).ToArray();
        var fit = SineFit.Fit(noisy);
        Assert.That(fit.B, Is.EqualTo(1.3).Within(0.02));
        Assert.That(PhaseDistance(fit.C, 0.7), Is.LessThan(0.05));
        Assert.That(fit.RmsResidual, Is.EqualTo(0.05).Within(0.015));

        var flat = new float[64];
        Assert.That(SineFit.Fit(flat).RmsResidual, Is.GreaterThan(0.3), "a flat line is not a unit sinusoid");
        var half = x.Select(v => (float)(0.5 * Math.Sin(v))).ToArray();
        Assert.That(SineFit.Fit(half).RmsResidual, Is.GreaterThan(0.2), "half amplitude shows in the residual");
        Assert.Throws<ArgumentException>(() => SineFit.Fit(new float[10]));
    }

    private static double PhaseDistance(double a, double b)
    {
        double d = Math.Abs(a - b) % (2 * Math.PI);
        return Math.Min(d, 2 * Math.PI - d);
    }
}
