using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Gan;

/// <summary>sample --truncation and --interpolate, and the enlarged grids.</summary>
[TestFixture, NonParallelizable]
public sealed class TruncationInterpolationTests
{
    private string _root = "";
    private string _run = "";

    [OneTimeSetUp]
    public void OneTimeSetUp()
    {
        _root = Directory.CreateTempSubdirectory("gpugan-trunc-").FullName;
        _run = Path.Combine(_root, "run");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), _run, steps: 2));
    }

    [OneTimeTearDown]
    public void OneTimeTearDown() => Directory.Delete(_root, recursive: true);

    private Sampler Load() => Sampler.Load(Path.Combine(_run, RunLayout.GeneratorFile), Device.Cpu);

    [Test]
    public void SlerpKeepsTheEndsAndTheLengthOfEqualLengthVectors()
    {
        float[] a = [3, 0, 0], b = [0, 3, 0];
        var r = new float[3];
        Sampler.Slerp(a, b, 0, r);
        Assert.That(r, Is.EqualTo(a).Within(1e-6));
        Sampler.Slerp(a, b, 1, r);
        Assert.That(r, Is.EqualTo(b).Within(1e-6));
        Sampler.Slerp(a, b, 0.5, r);
        Assert.That(Math.Sqrt(r.Sum(v => v * v)), Is.EqualTo(3).Within(1e-5), "a straight line's midpoint would be 3/√2 long");
        Assert.That(r[0], Is.EqualTo(r[1]).Within(1e-6));
        Sampler.Slerp(a, a, 0.3, r);
        Assert.That(r, Is.EqualTo(a).Within(1e-6), "parallel vectors");
    }

    [Test]
    public void TruncationOneChangesNothingAndZeroGivesOneImage()
    {
        var s = Load();
        Assert.That(s.Generate(6, 3, truncation: 1).Values, Is.EqualTo(s.Generate(6, 3).Values));
        var zero = s.Generate(6, 3, truncation: 0);
        int len = zero.Shape.Length;
        for (int i = 1; i < 6; i++)
            Assert.That(zero.Values.AsSpan(i * len, len).ToArray(), Is.EqualTo(zero.Values.AsSpan(0, len).ToArray()));
        var half = s.Generate(6, 3, truncation: 0.5).Values;
        Assert.That(half, Is.Not.EqualTo(zero.Values));
        Assert.Throws<InvalidOptionException>(() => s.Generate(2, 3, truncation: 1.5));
        Assert.Throws<InvalidOptionException>(() => s.Generate(2, 3, truncation: -0.1));
    }

    [Test]
    public void InterpolationRowsStartAndEndAtTheirLatentVectors()
    {
        var s = Load();
        var walk = s.Interpolate(rows: 2, steps: 5, seed: 4);
        Assert.That(walk.Count, Is.EqualTo(10));
        var ends = s.Generate(4, 4).Values;                     // the same four latent vectors, drawn the same way
        int len = walk.Shape.Length;
        float[] Image(float[] v, int i) => v.AsSpan(i * len, len).ToArray();
        Assert.That(Image(walk.Values, 0), Is.EqualTo(Image(ends, 0)).Within(1e-5));
        Assert.That(Image(walk.Values, 4), Is.EqualTo(Image(ends, 1)).Within(1e-5));
        Assert.That(Image(walk.Values, 5), Is.EqualTo(Image(ends, 2)).Within(1e-5));
        Assert.That(Image(walk.Values, 9), Is.EqualTo(Image(ends, 3)).Within(1e-5));
        Assert.Throws<InvalidOptionException>(() => s.Interpolate(1, 1, 4));
    }

    [Test]
    public void TheCommandLineWritesAnEnlargedInterpolationGrid()
    {
        string outDir = Path.Combine(_root, "walk");
        var (code, output, err) = TinyRuns.Cli("sample", "--run", _run, "--interpolate", "6", "--count", "12", "--out", outDir);
        Assert.That(code, Is.EqualTo(0), err);
        string png = Path.Combine(outDir, "interpolation.png");
        Assert.That(output, Does.Contain(png));
        using var image = Image.Load<Rgb24>(png);
        // 6 columns of 28-pixel images: scale 3 (6·(84 + 2) + 2 = 518), two rows.
        Assert.That((image.Width, image.Height), Is.EqualTo((518, 2 * (84 + 2) + 2)));

        (code, _, err) = TinyRuns.Cli("sample", "--run", _run, "--truncation", "1.5", "--out", Path.Combine(_root, "bad"));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--truncation"));
        (code, _, _) = TinyRuns.Cli("sample", "--run", _run, "--truncation", "0.7", "--grid", "--count", "4", "--out", Path.Combine(_root, "t"));
        Assert.That(code, Is.EqualTo(0));
        using var grid = Image.Load<Rgb24>(Path.Combine(_root, "t", "grid.png"));
        Assert.That(grid.Width, Is.GreaterThanOrEqualTo(512));
    }
}
