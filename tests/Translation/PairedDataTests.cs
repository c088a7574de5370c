// The image-to-image data: the built-in pairs and styles, the three folder layouts, and the jitter and
// mirroring the trainer applies (registered for aligned pairs, independent for unpaired ones, reproducible).
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Translation;

[TestFixture]
public sealed class PairedDataTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = TranslationRuns.TempFolder("gpugan-pairs-");

    [TearDown]
    public void TearDown() => TranslationRuns.Delete(_root);

    [Test]
    public void PetriPairsAreTheLayoutAndThePhotoOfTheSameDish()
    {
        var pairs = new PetriPairsDataset(6, 48, 7);
        var photos = new PetriDataset(6, 48, 7);
        Assert.That((pairs.Channels, pairs.ChannelsA, pairs.ChannelsB, pairs.Aligned), Is.EqualTo((4, 1, 3, true)));
        int plane = 48 * 48;
        var sample = new float[4 * plane];
        var photo = new float[3 * plane];
        for (int i = 0; i < pairs.Count; i++)
        {
            pairs.CopySample(i, sample);
            photos.CopySample(i, photo);
            Assert.That(sample[plane..], Is.EqualTo(photo), "B is the petri set's photo of the same dish");
            var layout = sample[..plane];
            Assert.That(layout.Min(), Is.EqualTo(-1f), "bench");
            Assert.That(layout.Count(v => v > 0.9f), Is.GreaterThan(0), "colonies");
            Assert.That(layout.Count(v => Math.Abs(v) < 0.05f), Is.GreaterThan(plane / 4), "dish");
            // Where the layout marks a colony, the photo is brighter than the agar around it.
            var (cx, cy, _, colonies) = photos.Describe(i);
            var c = colonies[0];
            int px = (int)(c.X * 48), py = (int)(c.Y * 48);
            Assert.That(layout[py * 48 + px], Is.GreaterThan(0.5f), $"dish {i}: colony centre");
        }
    }

    [Test]
    public void PetriStylesAreFlatAgainstTexturedWithGlare()
    {
        var styles = new PetriStylesDataset(4, 48, 3);
        Assert.That((styles.Channels, styles.ChannelsA, styles.ChannelsB, styles.Aligned), Is.EqualTo((6, 3, 3, false)));
        int part = 3 * 48 * 48;
        var s = new float[2 * part];
        for (int i = 0; i < styles.Count; i++)
        {
            styles.CopySample(i, s);
            // Flat regions: most pixels equal their left neighbour exactly in the flat style, almost none do
            // in the realistic one (lighting gradient, mottled agar, pixel noise).
            Assert.That(EqualNeighbours(s.AsSpan(0, part)), Is.GreaterThan(0.7), $"sample {i}: flat");
            Assert.That(EqualNeighbours(s.AsSpan(part, part)), Is.LessThan(0.1), $"sample {i}: realistic");
            // The styles' colours differ: a light bench against a dark one.
            Assert.That(s[0], Is.GreaterThan(0.3f), "flat bench (top-left corner, red)");
            Assert.That(s[part], Is.LessThan(-0.3f), "realistic bench");
        }
        var again = new float[2 * part];
        styles.CopySample(2, again);
        styles.CopySample(2, s);
        Assert.That(again, Is.EqualTo(s), "a pure function of (seed, index)");
    }

    private static double EqualNeighbours(ReadOnlySpan<float> image)
    {
        int equal = 0, pairs = 0;
        for (int i = 1; i < image.Length; i++)
        {
            if (i % 48 == 0) continue;
            pairs++;
            if (image[i] == image[i - 1]) equal++;
        }
        return (double)equal / pairs;
    }

    [Test]
    public void EdgeMapMarksTheBorderOfASquare()
    {
        var image = new float[10 * 10];
        Array.Fill(image, -1f);
        for (int y = 3; y < 7; y++) for (int x = 3; x < 7; x++) image[y * 10 + x] = 1f;
        var edges = new float[100];
        EdgesDataset.EdgeMap(image, edges, 10, 10);
        Assert.That(edges[0], Is.EqualTo(1f), "background");
        Assert.That(edges[3 * 10 + 3], Is.EqualTo(-1f), "corner");
        Assert.That(edges[5 * 10 + 2], Is.EqualTo(-1f), "left border, outside");
        Assert.That(edges[5 * 10 + 5], Is.EqualTo(1f), "inside, flat");
    }

    [Test]
    public void FashionMnistEdgesWhenInstalled()
    {
        if (!Directory.Exists(IdxDataset.FashionMnistDirectory)) Assert.Ignore($"Fashion-MNIST is not installed ({IdxDataset.FashionMnistDirectory})");
        var set = (IPairedDataset)DatasetFactory.Create(DataSource.FashionMnistEdges(), null, null, 10, 1);
        Assert.That((set.Count, set.ChannelsA, set.ChannelsB, set.Height), Is.EqualTo((10, 1, 1, 32)));
        var s = new float[2 * 32 * 32];
        set.CopySample(0, s);
        Assert.That(s[..1024].Count(v => v < 0), Is.GreaterThan(20), "edge pixels");
    }

    private static void Save(string path, float[] planar, int c, int h, int w)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        PngWriter.Save(path, planar, c, h, w);
    }

    private static float[] Solid(int c, int h, int w, float value)
    {
        var v = new float[c * h * w];
        Array.Fill(v, value);
        return v;
    }

    [Test]
    public void FolderLayoutsAreRecognised()
    {
        // A|B side by side in train/: A is the left half, B the right.
        string sideBySide = Path.Combine(_root, "facades");
        var ab = new float[3 * 8 * 16];
        for (int c = 0; c < 3; c++) for (int y = 0; y < 8; y++) for (int x = 0; x < 16; x++) ab[(c * 8 + y) * 16 + x] = x < 8 ? -1f : 1f;
        Save(Path.Combine(sideBySide, "train", "1.png"), ab, 3, 8, 16);
        Save(Path.Combine(sideBySide, "train", "2.png"), ab, 3, 8, 16);
        var set = TranslationFolderDataset.Load(sideBySide, 4, 3, seed: 1);
        Assert.That((set.Layout, set.Count, set.Aligned), Is.EqualTo(("A|B images", 2, true)));
        var s = new float[6 * 16];
        set.CopySample(0, s);
        Assert.That(s[..48].All(v => v == -1f) && s[48..].All(v => v == 1f), "left half is A, right half is B");

        // A/ and B/ by name; a file without a partner is skipped with the reason.
        string named = Path.Combine(_root, "named");
        Save(Path.Combine(named, "A", "x.png"), Solid(1, 6, 6, -1f), 1, 6, 6);
        Save(Path.Combine(named, "B", "x.png"), Solid(1, 6, 6, 1f), 1, 6, 6);
        Save(Path.Combine(named, "A", "lonely.png"), Solid(1, 6, 6, 0f), 1, 6, 6);
        var pairs = TranslationFolderDataset.Load(named, 4, 1, seed: 1);
        Assert.That((pairs.Layout, pairs.Count, pairs.Aligned), Is.EqualTo(("A/ and B/", 1, true)));
        Assert.That(pairs.Skipped.Single().Path, Does.EndWith("lonely.png"));

        // trainA/ and trainB/: unpaired, max(|A|, |B|) samples, every B once per epoch.
        string unpaired = Path.Combine(_root, "horse2zebra");
        for (int i = 0; i < 2; i++) Save(Path.Combine(unpaired, "trainA", $"a{i}.png"), Solid(3, 5, 5, -1f), 3, 5, 5);
        for (int i = 0; i < 5; i++) Save(Path.Combine(unpaired, "trainB", $"b{i}.png"), Solid(3, 5, 5, i / 5f), 3, 5, 5);
        var domains = TranslationFolderDataset.Load(unpaired, 4, 3, seed: 1);
        Assert.That((domains.Layout, domains.Count, domains.Aligned), Is.EqualTo(("trainA/ and trainB/", 5, false)));
        var firstB = new HashSet<float>();
        var u = new float[6 * 16];
        for (int i = 0; i < 5; i++) { domains.CopySample(i, u); firstB.Add(u[48]); }
        Assert.That(firstB, Has.Count.EqualTo(5), "each B image once");

        Assert.Throws<DataFormatException>(() => TranslationFolderDataset.Load(Path.Combine(_root, "missing"), 4, 3, 1));
    }

    [Test]
    public void AugmentationKeepsAlignedPairsRegisteredAndIsReproducible()
    {
        var aligned = new TwinDataset(aligned: true);
        var unaligned = new TwinDataset(aligned: false);
        int length = 2 * 32 * 32;
        float[] Augment(TwinDataset set, ulong seed)
        {
            var batch = set.CopySamples(0, 3);
            new PairAugmentation(set).Apply(batch, 3, new RandomStream(seed));
            return batch;
        }
        var a = Augment(aligned, 5);
        Assert.That(a, Is.Not.EqualTo(aligned.CopySamples(0, 3)), "something moved");
        for (int i = 0; i < 3; i++)
            Assert.That(a.AsSpan(i * length, 1024).ToArray(), Is.EqualTo(a.AsSpan(i * length + 1024, 1024).ToArray()), $"sample {i}: A and B moved together");
        Assert.That(Augment(aligned, 5), Is.EqualTo(a), "the same stream, the same result");
        var u = Augment(unaligned, 5);
        bool anyDiffers = Enumerable.Range(0, 3).Any(i => !u.AsSpan(i * length, 1024).SequenceEqual(u.AsSpan(i * length + 1024, 1024)));
        Assert.That(anyDiffers, "unpaired parts draw their own jitter");
        Assert.That(PairAugmentation.LoadSize(256), Is.EqualTo(286));
        Assert.That(PairAugmentation.LoadSize(32), Is.EqualTo(36));
    }

    /// <summary>Pairs whose A and B are the same gradient image (so registration is visible).</summary>
    private sealed class TwinDataset(bool aligned) : IPairedDataset
    {
        public int Count => 3;
        public int Channels => 2;
        public int ChannelsA => 1;
        public int ChannelsB => 1;
        public bool Aligned => aligned;
        public int Height => 32;
        public int Width => 32;
        public int ClassCount => 0;
        public string Name => "twins";
        public int Label(int index) => -1;

        public void CopySample(int index, Span<float> destination)
        {
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    destination[y * 32 + x] = destination[1024 + y * 32 + x] = MathF.Sin(0.3f * x * (index + 1)) * MathF.Cos(0.2f * y);
        }
    }
}
