using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>
/// DiffAugment: each transformation against a float64 reference that replays the same random draws, gradcheck and
/// gradgradcheck rows (the op-table harness, every element), exact resume of a WGAN-GP run (the penalty's second order
/// goes through the augmentation), and the command line.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class DiffAugmentTests
{
    private const ulong Seed = 5;
    private static readonly int[] ImageShape = [3, 2, 8, 8];

    /// <summary>The float64 reference of DiffAugment, drawing its parameters from a stream of <paramref name="seed"/> in the same order.</summary>
    /// <remarks>
    /// With a <paramref name="probability"/> p, each transformation first draws n uniforms and applies to sample i only when
    /// u_i &lt; p (identity parameters otherwise), as StyleGAN2-ADA's per-sample probabilities.
    /// </remarks>
    internal static double[] Reference(double[] x, int[] shape, AugmentKinds kinds, ulong seed, double? probability = null)
    {
        var stream = new RandomStream(seed);
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3], plane = h * w, len = c * plane;
        var y = (double[])x.Clone();
        double[] Draw(float low, float high) { var v = new float[n]; stream.FillUniform(v, low, high); return Array.ConvertAll(v, f => (double)f); }
        bool[] Mask()
        {
            if (probability is not { } p) return Enumerable.Repeat(true, n).ToArray();
            var u = new float[n];
            stream.FillUniform(u, 0f, 1f);
            return u.Select(v => v < p).ToArray();
        }
        double[] Masked(float low, float high, double identity)
        {
            var on = Mask();
            var v = Draw(low, high);
            for (int i = 0; i < n; i++) if (!on[i]) v[i] = identity;
            return v;
        }
        if (kinds.HasFlag(AugmentKinds.Color))
        {
            var b = Masked(-0.5f, 0.5f, 0);
            for (int i = 0; i < n; i++) for (int j = 0; j < len; j++) y[i * len + j] += b[i];
            var s = Masked(0f, 2f, 1);
            for (int i = 0; i < n; i++)
                for (int p = 0; p < plane; p++)
                {
                    double m = 0;
                    for (int k = 0; k < c; k++) m += y[i * len + k * plane + p];
                    m /= c;
                    for (int k = 0; k < c; k++) y[i * len + k * plane + p] = (y[i * len + k * plane + p] - m) * s[i] + m;
                }
            var ct = Masked(0.5f, 1.5f, 1);
            for (int i = 0; i < n; i++)
            {
                double m = 0;
                for (int j = 0; j < len; j++) m += y[i * len + j];
                m /= len;
                for (int j = 0; j < len; j++) y[i * len + j] = (y[i * len + j] - m) * ct[i] + m;
            }
        }
        if (kinds.HasFlag(AugmentKinds.Translation))
        {
            int ry = DiffAugment.MaxShift(h), rx = DiffAugment.MaxShift(w);
            var on = Mask();
            var ty = new int[n];
            var tx = new int[n];
            for (int i = 0; i < n; i++) ty[i] = stream.NextInt(2 * ry + 1) - ry;
            for (int i = 0; i < n; i++) tx[i] = stream.NextInt(2 * rx + 1) - rx;
            for (int i = 0; i < n; i++) if (!on[i]) ty[i] = tx[i] = 0;
            var r = new double[y.Length];
            for (int i = 0; i < n; i++)
                for (int k = 0; k < c; k++)
                    for (int yy = 0; yy < h; yy++)
                        for (int xx = 0; xx < w; xx++)
                        {
                            int sy = yy + ty[i], sx = xx + tx[i];
                            r[i * len + k * plane + yy * w + xx] = sy >= 0 && sy < h && sx >= 0 && sx < w ? y[i * len + k * plane + sy * w + sx] : 0;
                        }
            y = r;
        }
        if (kinds.HasFlag(AugmentKinds.Cutout))
        {
            int ch = (int)(h * 0.5 + 0.5), cw = (int)(w * 0.5 + 0.5);
            var on = Mask();
            for (int i = 0; i < n; i++)
            {
                int oy = stream.NextInt(h + (1 - ch % 2)), ox = stream.NextInt(w + (1 - cw % 2));
                if (!on[i]) continue;
                for (int yy = 0; yy < h; yy++)
                    for (int xx = 0; xx < w; xx++)
                        if (yy >= oy - ch / 2 && yy < oy - ch / 2 + ch && xx >= ox - cw / 2 && xx < ox - cw / 2 + cw)
                            for (int k = 0; k < c; k++) y[i * len + k * plane + yy * w + xx] = 0;
            }
        }
        return y;
    }

    private static OpCase Row(AugmentKinds kinds, double? probability = null) => new()
    {
        Name = $"DiffAugment[{kinds}{(probability is { } p ? $", p {p}" : "")}]",
        InputShapes = [ImageShape],
        Forward = x => new DiffAugment(kinds, new RandomStream(Seed), probability).Apply(x[0]),
        Reference = x => Reference(x[0], ImageShape, kinds, Seed, probability),
    };

    private static IEnumerable<AugmentKinds> Kinds() =>
        [AugmentKinds.Color, AugmentKinds.Translation, AugmentKinds.Cutout, AugmentKinds.Color | AugmentKinds.Translation | AugmentKinds.Cutout];

    [TestCaseSource(nameof(Kinds))]
    public void MatchesTheFloat64Reference(AugmentKinds kinds)
    {
        var gen = new RandomStream(3);
        var x = new float[ImageShape.Aggregate(1, (a, b) => a * b)];
        gen.FillNormal(x);
        var ours = new DiffAugment(kinds, new RandomStream(Seed)).Apply(Tensor.FromArray(x, new Shape(ImageShape), Device.Cpu)).ToArray();
        GradCheck.AssertClose(ours, Reference(Array.ConvertAll(x, v => (double)v), ImageShape, kinds, Seed), 1e-5, 1e-5, $"{kinds} forward");
        Assert.That(ours, Is.Not.EqualTo(x), "it changed something");
    }

    [TestCaseSource(nameof(Kinds))]
    public void GradCheck_(AugmentKinds kinds) => GradCheck.Check(Row(kinds), Device.Cpu);

    // Level 1 keeps the row of all three kinds (its second order runs through each kind's double backward); the single kinds'
    // rows (6.7 s of the suite) run at level 2, as their p = 0.5 rows already do, to keep the suite inside its 6 minutes.
    [TestCaseSource(nameof(Kinds))]
    public void GradGradCheck(AugmentKinds kinds)
    {
        if (kinds != (AugmentKinds.Color | AugmentKinds.Translation | AugmentKinds.Cutout))
            FullChecks.RequireImplied($"DiffAugment {kinds} gradgradcheck",
                "the row of all three kinds, which runs this kind's transformation and its double backward, and this kind's first-order row");
        GradCheck.CheckSecondOrder(Row(kinds), Device.Cpu);
    }

    // Per-sample probabilities (ADA's p): the same transformations with identity parameters for the samples left out. Seed 5
    // at p 0.5 leaves some of the 3 samples in and some out of the first transformation (asserted, so the rows test the masks).
    [TestCaseSource(nameof(Kinds))]
    public void WithAProbabilityMatchesTheFloat64Reference(AugmentKinds kinds)
    {
        var gen = new RandomStream(3);
        var x = new float[ImageShape.Aggregate(1, (a, b) => a * b)];
        gen.FillNormal(x);
        var ours = new DiffAugment(kinds, new RandomStream(Seed), 0.5).Apply(Tensor.FromArray(x, new Shape(ImageShape), Device.Cpu)).ToArray();
        GradCheck.AssertClose(ours, Reference(Array.ConvertAll(x, v => (double)v), ImageShape, kinds, Seed, 0.5), 1e-5, 1e-5, $"{kinds} p 0.5 forward");
        var firstMask = new float[ImageShape[0]];
        new RandomStream(Seed).FillUniform(firstMask, 0f, 1f);
        Assert.That(firstMask, Has.Some.LessThan(0.5f).And.Some.GreaterThanOrEqualTo(0.5f), "the first transformation's mask leaves some samples in and some out");
        var none = new DiffAugment(kinds, new RandomStream(Seed), 0).Apply(Tensor.FromArray(x, new Shape(ImageShape), Device.Cpu)).ToArray();
        Assert.That(none, Is.EqualTo(x), "p 0 is the identity");
    }

    [TestCaseSource(nameof(Kinds))]
    public void GradCheckWithAProbability(AugmentKinds kinds) => GradCheck.Check(Row(kinds, 0.5), Device.Cpu);

    [TestCaseSource(nameof(Kinds))]
    public void GradGradCheckWithAProbability(AugmentKinds kinds)
    {
        if (kinds != (AugmentKinds.Color | AugmentKinds.Translation | AugmentKinds.Cutout))
            FullChecks.RequireImplied($"DiffAugment {kinds} at p = 0.5 gradgradcheck",
                "the row of all three kinds at p = 0.5, which runs each kind's masked transformation with its own masks, and this kind's first-order row at p = 0.5");
        GradCheck.CheckSecondOrder(Row(kinds, 0.5), Device.Cpu);
    }

    [Test]
    public void ShiftMovesContentAndZeroFills()
    {
        var x = Tensor.FromArray(Enumerable.Range(1, 5).Select(v => (float)v).ToArray(), new Shape(1, 1, 1, 5), Device.Cpu);
        Assert.That(DiffAugment.Shift(x, 2, 3).ToArray(), Is.EqualTo(new float[] { 3, 4, 5, 0, 0 }));
        Assert.That(DiffAugment.Shift(x, -1, 3).ToArray(), Is.EqualTo(new float[] { 0, 1, 2, 3, 4 }));
        Assert.That(DiffAugment.Shift(x, 0, 3).ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4, 5 }));
        Assert.That(DiffAugment.MaxShift(32), Is.EqualTo(4));
    }

    [Test]
    public void WganGpWithAugmentationResumesBitForBit()
    {
        string root = Directory.CreateTempSubdirectory("gpugan-diffaug-").FullName;
        try
        {
            TrainOptions Options(string folder, int steps) => TinyRuns.Options(ModelFamily.WganGp, DataSource.Petri(64), folder, steps) with
            {
                DiffAugment = AugmentKinds.Color | AugmentKinds.Translation | AugmentKinds.Cutout, CheckpointEvery = 2,
            };
            string straight = Path.Combine(root, "straight"), split = Path.Combine(root, "split");
            TinyRuns.Train(Options(straight, 4));
            TinyRuns.Train(Options(split, 2));
            using (var t = Trainer.Resume(new ResumeOptions { Folder = split, Steps = 4, Device = DeviceKind.Cpu })) t.Run();
            Assert.That(File.ReadAllBytes(Path.Combine(split, RunLayout.GeneratorFile)), Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))));
            var plain = Path.Combine(root, "plain");
            TinyRuns.Train(TinyRuns.Options(ModelFamily.WganGp, DataSource.Petri(64), plain, 4) with { CheckpointEvery = 2 });
            Assert.That(File.ReadAllBytes(Path.Combine(plain, RunLayout.GeneratorFile)), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile))),
                "the augmentation changes training");
            Assert.That(GpuGan.Layers.Serialization.SafeTensors.Read(Path.Combine(straight, RunLayout.CheckpointFile)).Metadata.Keys.Concat(
                File.ReadAllText(Path.Combine(straight, RunLayout.ConfigFile)).Split('"')), Has.Some.Contains("translation"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void TheCommandLineTakesAugment()
    {
        string root = Directory.CreateTempSubdirectory("gpugan-diffaug-cli-").FullName;
        try
        {
            string run = Path.Combine(root, "run");
            var (code, _, err) = TinyRuns.Cli("train", "--image-size", "28", "--batch", "4", "--steps", "1", "--out", run, "--device", "cpu", "--threads", "1", "--augment", "color,cutout");
            Assert.That(code, Is.EqualTo(0), err);
            Assert.That(File.ReadAllText(Path.Combine(run, RunLayout.ConfigFile)), Does.Contain("color, cutout"));
            (code, _, err) = TinyRuns.Cli("train", "--steps", "1", "--out", Path.Combine(root, "bad"), "--augment", "color,rotate");
            Assert.That(code, Is.EqualTo(2));
            Assert.That(err, Does.Contain("--augment").And.Contain("rotate"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
