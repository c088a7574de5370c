// The image fixture corpus (tests/fixtures/images, written once by PIL, see make_corpus.py): every format and colour
// type the reader accepts, with the pixels PIL decodes, and broken files with the outcome each must have. Also the
// decompression bomb (generated here, not committed), the writer's round trips, and the pinned package.
using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Data;

[TestFixture]
public sealed class ImageCorpusTests
{
    /// <summary>One line of corpus.json.</summary>
    public sealed record Entry(string File, string Outcome, int Width, int Height, string? Rgb, string? Grey, int MaxDiff, double MeanDiff, string Note);

    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "fixtures", "images");

    private static List<Entry> Corpus() =>
        JsonSerializer.Deserialize<List<Entry>>(File.ReadAllText(Path.Combine(Folder, "corpus.json")), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;

    private static IEnumerable<TestCaseData> Images() => Corpus().Where(e => e.Outcome == "image").Select(e => new TestCaseData(e).SetArgDisplayNames(e.File));

    private static IEnumerable<TestCaseData> Broken() => Corpus().Where(e => e.Outcome != "image").Select(e => new TestCaseData(e).SetArgDisplayNames(e.File));

    private static ImageProblem KindOf(string outcome) => outcome switch
    {
        "corrupt" => ImageProblem.Corrupt,
        "not-an-image" => ImageProblem.NotAnImage,
        "too-large" => ImageProblem.TooLarge,
        "refused" => ImageProblem.Refused,
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "unknown outcome in corpus.json"),
    };

    [Test]
    public void TheCorpusCoversEveryFormatAndEveryBrokenKind()
    {
        var corpus = Corpus();
        var extensions = corpus.Where(e => e.Outcome == "image").Select(e => Path.GetExtension(e.File)).ToHashSet();
        Assert.That(extensions, Is.SupersetOf(new[] { ".png", ".jpg", ".bmp", ".gif", ".tga", ".tif", ".webp" }));
        Assert.That(corpus.Select(e => e.Outcome).ToHashSet(), Is.EquivalentTo(new[] { "image", "corrupt", "not-an-image", "too-large", "refused" }));
    }

    /// <summary>Every accepted file decodes to PIL's pixels (exactly, but for JPEG/lossy WebP decoder differences and 16-bit rounding), as RGB and as grey.</summary>
    [TestCaseSource(nameof(Images))]
    public void DecodesToThePixelsPilDecodes(Entry entry)
    {
        var reader = new ImageReader();
        string path = Path.Combine(Folder, entry.File);
        foreach (var (channels, expectedFile) in new[] { (3, entry.Rgb!), (1, entry.Grey!) })
        {
            var image = reader.Read(path, channels);
            Assert.That((image.Width, image.Height, image.Channels), Is.EqualTo((entry.Width, entry.Height, channels)), $"{entry.File}: size ({entry.Note})");
            var expected = File.ReadAllBytes(Path.Combine(Folder, expectedFile));
            Assert.That(image.Pixels, Has.Length.EqualTo(expected.Length));
            int max = 0;
            long sum = 0;
            for (int i = 0; i < expected.Length; i++)
            {
                int d = Math.Abs(image.Pixels[i] - expected[i]);
                max = Math.Max(max, d);
                sum += d;
            }
            double mean = (double)sum / expected.Length;
            TestContext.Out.WriteLine($"{entry.File} C={channels}: max |diff| {max}, mean {mean:F3} (allowed {entry.MaxDiff}, {entry.MeanDiff})");
            Assert.That(max, Is.LessThanOrEqualTo(entry.MaxDiff), $"{entry.File} C={channels}: largest difference to PIL ({entry.Note})");
            Assert.That(mean, Is.LessThanOrEqualTo(entry.MeanDiff + 1e-9), $"{entry.File} C={channels}: mean difference to PIL");
            bool transparent = entry.File is "png-rgba8.png" or "png-la8.png" or "png-palette-trns.png";
            Assert.That(image.DroppedAlpha, Is.EqualTo(transparent), $"{entry.File}: alpha noted");
        }
    }

    /// <summary>PIL's convert("L") is (19595 R + 38470 G + 7471 B + 2^15) >> 16; the corpus checks it on real files, this on the extremes.</summary>
    [Test]
    public void GreyIsPilsLuma()
    {
        Assert.That(ImageReader.Luma(255, 255, 255), Is.EqualTo(255));
        Assert.That(ImageReader.Luma(0, 0, 0), Is.EqualTo(0));
        Assert.That(ImageReader.Luma(255, 0, 0), Is.EqualTo(76));    // PIL: Image.new("RGB", (1, 1), (255, 0, 0)).convert("L") = 76
        Assert.That(ImageReader.Luma(0, 255, 0), Is.EqualTo(150));   // 149.685 rounds up
        Assert.That(ImageReader.Luma(0, 0, 255), Is.EqualTo(29));
    }

    /// <summary>Every broken file is refused with its kind and a one-line reason that names it; none crashes the reader.</summary>
    [TestCaseSource(nameof(Broken))]
    public void BrokenFilesHaveTheirOutcome(Entry entry)
    {
        var e = Assert.Throws<DataFormatException>(() => new ImageReader().Read(Path.Combine(Folder, entry.File), 3), entry.Note)!;
        TestContext.Out.WriteLine($"{entry.File}: {e.Message}");
        Assert.That(e.Kind, Is.EqualTo(KindOf(entry.Outcome)), $"{entry.File} ({entry.Note}): {e.Message}");
        Assert.That(e.Message, Does.StartWith(entry.File + ": "));
        Assert.That(e.Message.Length, Is.LessThan(300));
    }

    /// <summary>The corpus as one folder: every good file used, every broken one skipped by kind; strict, the first broken one is the error.</summary>
    [Test]
    public void TheCorpusAsAFolderUsesTheGoodFilesAndCountsTheRest()
    {
        var corpus = Corpus();
        var data = ImageFolderDataset.Load(Folder, imageSize: 8, channels: 3);
        Assert.That(data.Files.Select(Path.GetFileName), Is.EquivalentTo(corpus.Where(e => e.Outcome == "image").Select(e => e.File)));
        Assert.That(data.Skipped.Select(s => (Path.GetFileName(s.Path), s.Kind)),
            Is.EquivalentTo(corpus.Where(e => e.Outcome != "image").Select(e => (e.File, KindOf(e.Outcome)))));
        Assert.That(data.AlphaDropped, Is.EqualTo(3), "png-rgba8, png-la8, png-palette-trns");

        var strict = Assert.Throws<DataFormatException>(() => ImageFolderDataset.Load(Folder, imageSize: 8, strict: true))!;
        string firstBroken = corpus.Where(e => e.Outcome != "image").Select(e => e.File).Order(StringComparer.Ordinal).First();
        Assert.That(strict.FilePath, Does.EndWith(firstBroken), strict.Message);
    }

    /// <summary>A folder whose every file is refused is an error that says how many of each kind and why the first was.</summary>
    [Test]
    public void AFolderOfRefusedFilesIsAnErrorSayingWhy()
    {
        string dir = Path.Combine(Path.GetTempPath(), "gpugan-refused-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var e in Corpus().Where(e => e.Outcome != "image")) File.Copy(Path.Combine(Folder, e.File), Path.Combine(dir, e.File));
            var error = Assert.Throws<DataFormatException>(() => ImageFolderDataset.Load(dir, imageSize: 8))!;
            TestContext.Out.WriteLine(error.Message);
            Assert.That(error.Message, Does.Contain("all 9 image file(s) refused (2 not an image, 1 above the size limits, 2 refused format variant, 4 truncated or corrupt)"));
            Assert.That(error.Message, Does.Contain("first: broken-bad-crc.png: "));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ------------------------------------------------------------ the decompression bomb

    /// <summary>
    /// A real 14000 × 14000 grey PNG (all rows present, ~200 KB deflated; decoding it would take 196 MB of pixels, 2.9 GB
    /// with the old reader's float copies) is refused by name from its header: the reader allocates next to nothing.
    /// </summary>
    [Test]
    public void TheFourteenThousandSquareBombIsRefusedByNameFromItsHeader()
    {
        const int Side = 14000;
        string dir = Path.Combine(Path.GetTempPath(), "gpugan-bomb-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string bomb = Path.Combine(dir, "bomb.png");
            File.WriteAllBytes(bomb, FullGreyPng(Side, Side));
            long size = new FileInfo(bomb).Length;
            Assert.That(size, Is.LessThan(1 << 20), "the bomb is small on disk");

            var reader = new ImageReader();
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<DataFormatException>(() => reader.Read(bomb, 1))!;
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            TestContext.Out.WriteLine($"{size}-byte bomb: {e.Message}; allocated {allocated} bytes");
            Assert.That(e.Kind, Is.EqualTo(ImageProblem.TooLarge));
            Assert.That(e.Message, Is.EqualTo("bomb.png: PNG image of 14000x14000 = 196000000 pixels is larger than the limit of 67108864 pixels"));
            Assert.That(allocated, Is.LessThan(1L << 20), "only the header is read");

            // In a folder: skipped by name, the other image used, and the whole load allocates a few MB, not the image.
            PngWriter.Save(Path.Combine(dir, "ok.png"), new float[3 * 8 * 8], 3, 8, 8);
            long total = GC.GetTotalAllocatedBytes(precise: true);
            var data = ImageFolderDataset.Load(dir, imageSize: 8);
            total = GC.GetTotalAllocatedBytes(precise: true) - total;
            Assert.That(data.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "ok.png" }));
            Assert.That(data.Skipped.Single().Kind, Is.EqualTo(ImageProblem.TooLarge));
            Assert.That(total, Is.LessThan(16L << 20), "nothing near the declared 196 M pixels is allocated");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A complete 8-bit grey PNG of zeros: every row present, so it would decode in full.</summary>
    private static byte[] FullGreyPng(int width, int height)
    {
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        void Chunk(string type, byte[] data)
        {
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            png.Write(BigEndian((uint)data.Length));
            png.Write(typed);
            png.Write(BigEndian(Crc32(typed)));
        }
        var ihdr = new byte[13];
        BigEndian((uint)width).CopyTo(ihdr, 0);
        BigEndian((uint)height).CopyTo(ihdr, 4);
        ihdr[8] = 8;
        Chunk("IHDR", ihdr);
        var rows = new MemoryStream();
        using (var z = new ZLibStream(rows, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var row = new byte[width + 1];   // filter byte 0, then zeros
            for (int y = 0; y < height; y++) z.Write(row);
        }
        Chunk("IDAT", rows.ToArray());
        Chunk("IEND", []);
        return png.ToArray();
    }

    /// <summary>PNG's CRC-32 (reflected polynomial 0xEDB88320).</summary>
    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    private static byte[] BigEndian(uint v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    // ------------------------------------------------------------ writing

    /// <summary>8-bit grey and RGB, and 16-bit, PNGs written through ImageSharp hold the mapped values, with the right colour type.</summary>
    [Test]
    public void PngWriterWritesEightAndSixteenBitGreyAndRgb()
    {
        string dir = Path.Combine(Path.GetTempPath(), "gpugan-png-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var values = new float[3 * 5 * 7];
            for (int i = 0; i < values.Length; i++) values[i] = -1.2f + 2.4f * i / (values.Length - 1);   // past both ends: clamped
            foreach (int channels in new[] { 1, 3 })
                foreach (int bits in new[] { 8, 16 })
                {
                    string path = Path.Combine(dir, $"c{channels}-b{bits}.png");
                    PngWriter.Save(path, values, channels, 5, 7, bits);
                    var meta = Image.Identify(path).Metadata.GetPngMetadata();
                    Assert.That(meta.ColorType, Is.EqualTo(channels == 1 ? PngColorType.Grayscale : PngColorType.Rgb), path);
                    Assert.That(meta.BitDepth, Is.EqualTo(bits == 8 ? PngBitDepth.Bit8 : PngBitDepth.Bit16), path);
                    using var image = Image.Load<Rgba64>(path);
                    for (int c = 0; c < channels; c++)
                        for (int p = 0; p < 35; p++)
                        {
                            var px = image[p % 7, p / 7];
                            ushort got = c switch { 0 => px.R, 1 => px.G, _ => px.B };
                            int want = bits == 16 ? PngWriter.ToWord(values[c * 35 + p]) : PngWriter.ToByte(values[c * 35 + p]) * 257;
                            Assert.That(got, Is.EqualTo(want), $"{path} channel {c} pixel {p}");
                        }
                }
            Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(4), "no temporary file left");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ------------------------------------------------------------ the packages

    /// <summary>
    /// The image library is ImageSharp 2.1.13 exactly (Apache-2.0; 3.x needs a licence) and no Stb package is resolved
    /// anywhere in the dependency graph. A check that can fail, unlike an audit step that gets no vulnerability data here.
    /// </summary>
    [Test]
    public void ImageSharpIsPinnedAtTwoOneThirteenAndNoStbPackageIsResolved()
    {
        string version = typeof(Image).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.That(version, Does.StartWith("2.1.13"), "ImageSharp's informational version");
        string deps = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "GpuGan.Tests.deps.json"));
        Assert.That(deps, Does.Contain("\"SixLabors.ImageSharp/2.1.13\""));
        // A library entry is "Name/Version"; any package whose name starts with Stb (StbImageSharp, StbImageWriteSharp, …).
        Assert.That(deps, Does.Not.Match("\"Stb[A-Za-z.]*/[0-9]"), "no Stb package may be resolved");
        Assert.That(typeof(ImageReader).Assembly.GetReferencedAssemblies().Select(a => a.Name), Has.None.Contains("Stb"));
    }
}
