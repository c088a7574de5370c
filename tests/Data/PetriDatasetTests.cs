using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using NUnit.Framework;

namespace GpuGan.Tests.Data;

public class PetriDatasetTests
{
    [Test]
    public void RareFractionIsAboutTwentyPercent()
    {
        var data = new PetriDataset(1000, seed: 7);
        int rare = 0;
        for (int i = 0; i < data.Count; i++) rare += data.Label(i);
        Assert.That(rare / 1000.0, Is.InRange(0.15, 0.25));
        Assert.That(data.ClassCount, Is.EqualTo(2));
    }

    [Test]
    public void RareDishesHaveFewSmallColoniesNearTheRim()
    {
        var data = new PetriDataset(200, seed: 3);
        for (int i = 0; i < data.Count; i++)
        {
            var (cx, cy, radius, colonies) = data.Describe(i);
            bool rare = data.Label(i) == 1;
            Assert.That(colonies, Has.Count.InRange(rare ? 1 : 3, rare ? 3 : 8), $"sample {i}");
            foreach (var c in colonies)
            {
                double dist = Math.Sqrt((c.X - cx) * (c.X - cx) + (c.Y - cy) * (c.Y - cy));
                if (rare)
                {
                    Assert.That(c.Radius, Is.LessThan(0.036), $"sample {i}");
                    Assert.That(dist, Is.GreaterThan(0.6 * radius), $"sample {i}");
                }
                else
                {
                    Assert.That(c.Radius, Is.GreaterThan(0.044), $"sample {i}");
                    Assert.That(dist, Is.LessThan(0.6 * radius), $"sample {i}");
                }
                Assert.That(dist + c.Radius, Is.LessThan(radius), $"sample {i}: colony leaves the dish");
            }
        }
    }

    [Test]
    public void ValuesInRangeAndDishDiffersFromBackground()
    {
        var data = new PetriDataset(100, seed: 11);
        int s = data.Height, plane = s * s;
        var img = new float[3 * plane];
        double dishMinusCornerSum = 0;
        for (int i = 0; i < data.Count; i++)
        {
            data.CopySample(i, img);
            Assert.That(img.Min(), Is.GreaterThanOrEqualTo(-1f));
            Assert.That(img.Max(), Is.LessThanOrEqualTo(1f));
            // Mean brightness of a 4x4 corner (background) vs. a ring inside the dish (agar).
            double corner = 0, dish = 0;
            int cornerN = 0, dishN = 0;
            var (cx, cy, radius, _) = data.Describe(i);
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    double u = (x + 0.5) / s, v = (y + 0.5) / s;
                    double d = Math.Sqrt((u - cx) * (u - cx) + (v - cy) * (v - cy));
                    double lum = 0;
                    for (int c = 0; c < 3; c++) lum += img[c * plane + y * s + x];
                    if (x < 4 && y < 4) { corner += lum; cornerN++; }
                    else if (d < 0.6 * radius) { dish += lum; dishN++; }
                }
            double diff = dish / dishN - corner / cornerN;
            Assert.That(diff, Is.GreaterThan(0.5), $"sample {i}: dish is not brighter than the background");
            dishMinusCornerSum += diff;
        }
        TestContext.Out.WriteLine($"mean (dish - background) luminance over 3 channels: {dishMinusCornerSum / data.Count:F3}");
    }

    [Test, Explicit("timing")]
    public void RenderTime()
    {
        var data = new PetriDataset(1000, seed: 1);
        var img = new float[data.SampleLength()];
        for (int i = 0; i < 50; i++) data.CopySample(i, img);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < data.Count; i++) data.CopySample(i, img);
        TestContext.Out.WriteLine($"{sw.Elapsed.TotalMilliseconds / data.Count:F3} ms per 64x64 image");
    }

    [Test]
    public void SamplesAreDeterministicAndDistinct()
    {
        var a = new PetriDataset(10, seed: 5);
        var b = new PetriDataset(10, seed: 5);
        var c = new PetriDataset(10, seed: 6);
        Assert.That(a.CopySamples(0, 10), Is.EqualTo(b.CopySamples(0, 10)));
        Assert.That(a.CopySamples(0, 10), Is.Not.EqualTo(c.CopySamples(0, 10)));
        Assert.That(a.CopySamples(3, 1), Is.Not.EqualTo(a.CopySamples(4, 1)));
    }

    [Test]
    public void SavesGridForInspection()
    {
        var data = new PetriDataset(32, seed: 1);
        // Show rare ones first so both cases appear in the picture.
        var order = Enumerable.Range(0, data.Count).OrderByDescending(data.Label).Take(16).ToArray();
        var images = new float[16 * data.SampleLength()];
        for (int k = 0; k < order.Length; k++) data.CopySample(order[k], images.AsSpan(k * data.SampleLength()));
        string path = Path.Combine(Path.GetTempPath(), "petri.png");
        ImageGrid.Save(path, images, 16, 3, data.Height, data.Width, columns: 8);
        Assert.That(File.Exists(path));
        // A 4x enlargement (area resampling of an integer factor = pixel replication) to look at.
        int s = data.Height, big = 4 * s, sample = data.SampleLength();
        var enlarged = new float[16 * 3 * big * big];
        for (int k = 0; k < 16; k++)
            ImageResize.Resize(images.AsSpan(k * sample, sample), 3, s, s, enlarged.AsSpan(k * 3 * big * big, 3 * big * big), big, big, ResizeMode.Area);
        ImageGrid.Save(Path.Combine(Path.GetTempPath(), "petri-x4.png"), enlarged, 16, 3, big, big, columns: 4);
        TestContext.Out.WriteLine($"wrote {path}; rare: {string.Join(",", order.Select(data.Label))}");
    }
}
