using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using System.Buffers.Binary;
using System.IO.Compression;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Data;

public class ImageFolderTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "gpugan-folder-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // A (3, h, w) planar image filled with one colour given in [-1, 1].
    private static float[] Solid(int h, int w, float r, float g, float b)
    {
        var img = new float[3 * h * w];
        img.AsSpan(0, h * w).Fill(r);
        img.AsSpan(h * w, h * w).Fill(g);
        img.AsSpan(2 * h * w, h * w).Fill(b);
        return img;
    }

    [Test]
    public void ClassSubfoldersWithACorruptFile()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "cats"));
        Directory.CreateDirectory(Path.Combine(_dir, "dogs"));
        PngWriter.Save(Path.Combine(_dir, "cats", "a.png"), Solid(8, 8, 1, -1, -1), 3, 8, 8);
        PngWriter.Save(Path.Combine(_dir, "cats", "b.png"), Solid(16, 16, -1, 1, -1), 3, 16, 16);
        PngWriter.Save(Path.Combine(_dir, "dogs", "c.png"), Solid(4, 4, -1, -1, 1), 3, 4, 4);
        using (var bmp = Image.LoadPixelData<Rgb24>(Enumerable.Repeat((byte)255, 6 * 6 * 3).ToArray(), 6, 6))
            bmp.SaveAsBmp(Path.Combine(_dir, "dogs", "d.bmp"));
        File.WriteAllBytes(Path.Combine(_dir, "dogs", "broken.png"), [0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]);
        File.WriteAllText(Path.Combine(_dir, "dogs", "notes.txt"), "not an image, ignored");

        var data = ImageFolderDataset.Load(_dir, imageSize: 8);
        Assert.That(data.Count, Is.EqualTo(4));
        Assert.That((data.Channels, data.Height, data.Width), Is.EqualTo((3, 8, 8)));
        Assert.That(data.ClassNames, Is.EqualTo(new[] { "cats", "dogs" }));
        Assert.That(data.ClassCount, Is.EqualTo(2));
        Assert.That(Enumerable.Range(0, 4).Select(data.Label), Is.EqualTo(new[] { 0, 0, 1, 1 }));
        Assert.That(data.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "a.png", "b.png", "c.png", "d.bmp" }));
        Assert.That(data.Skipped, Has.Count.EqualTo(1));
        Assert.That(Path.GetFileName(data.Skipped[0].Path), Is.EqualTo("broken.png"));
        Assert.That(data.Skipped[0].Reason, Is.Not.Empty);
        TestContext.Out.WriteLine($"skipped {data.Skipped[0].Path}: {data.Skipped[0].Reason}");

        var img = new float[3 * 64];
        data.CopySample(1, img); // green, shrunk 16 -> 8
        Assert.That(img.AsSpan(0, 64).ToArray(), Is.All.EqualTo(-1f));
        Assert.That(img.AsSpan(64, 64).ToArray(), Is.All.EqualTo(1f));
        data.CopySample(2, img); // blue, enlarged 4 -> 8
        Assert.That(img.AsSpan(128, 64).ToArray(), Is.All.EqualTo(1f));
        data.CopySample(3, img); // white bmp
        Assert.That(img, Is.All.EqualTo(1f));
    }

    [Test]
    public void CentreCropAndGreyscale()
    {
        // 4 high × 8 wide: two red columns, four green, two blue. The centred 4×4 square is green.
        int h = 4, w = 8;
        var img = new float[3 * h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int c = x < 2 ? 0 : x < 6 ? 1 : 2;
                for (int k = 0; k < 3; k++) img[k * h * w + y * w + x] = k == c ? 1f : -1f;
            }
        PngWriter.Save(Path.Combine(_dir, "wide.png"), img, 3, h, w);

        // The box filter keeps the crop's edge exact (bilinear's support reaches into the cropped-away columns when shrinking, as PIL's does).
        var rgb = ImageFolderDataset.Load(_dir, imageSize: 2, resize: ResizeFilter.Area);
        Assert.That(rgb.ClassCount, Is.EqualTo(0));
        Assert.That(rgb.Label(0), Is.EqualTo(-1));
        Assert.That(rgb.CopySamples(0, 1), Is.EqualTo(new float[] { -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1 }));

        var grey = ImageFolderDataset.Load(_dir, imageSize: 4, channels: 1);
        Assert.That(grey.Channels, Is.EqualTo(1));
        var g = grey.CopySamples(0, 1);
        Assert.That(g, Is.All.EqualTo(g[0]));
        Assert.That(g[0], Is.GreaterThan(0f), "green is bright in luma");
    }

    [Test]
    public void FolderWithoutReadableImagesIsAnError()
    {
        File.WriteAllBytes(Path.Combine(_dir, "x.jpg"), [1, 2, 3]);
        var e = Assert.Throws<DataFormatException>(() => ImageFolderDataset.Load(_dir, 8))!;
        Assert.That(e.Message, Does.Contain("no readable image").And.Contain("all 1 image file(s) refused (1 not an image)").And.Contain("x.jpg"));
        Assert.That(e.Kind, Is.Null, "the folder's error, not one file's");
        Assert.Throws<DataFormatException>(() => ImageFolderDataset.Load(Path.Combine(_dir, "nope"), 8));
    }

    // ------------------------------------------------------------ hostile images (issue 11 items 6 and 9)

    /// <summary>A PNG whose IHDR declares <paramref name="width"/> × <paramref name="height"/> grey pixels, followed by a tiny IDAT (a few rows).</summary>
    internal static byte[] PngDeclaring(int width, int height)
    {
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        void Chunk(string type, byte[] data)
        {
            Span<byte> word = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
            png.Write(word);
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            png.Write(typed);
            BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
            png.Write(word);
        }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;   // bit depth; colour type 0 (grey), deflate, adaptive filter, no interlace
        Chunk("IHDR", ihdr);
        var rows = new MemoryStream();
        using (var z = new ZLibStream(rows, CompressionLevel.Fastest, leaveOpen: true)) z.Write(new byte[4 * (width + 1)]);
        Chunk("IDAT", rows.ToArray());
        Chunk("IEND", []);
        return png.ToArray();
    }

    /// <summary>PNG's CRC-32 (ISO 3309, reflected polynomial 0xEDB88320).</summary>
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

    /// <summary>
    /// Item 6: a 572 KB PNG of 14000 × 14000 took 2.95 GB. The declared size is read first: such a file is skipped by name
    /// with its size and the limit, and loading allocates a few MB, not the image.
    /// </summary>
    [Test]
    public void AnImageDeclaringAHugeSizeIsSkippedBeforeDecoding()
    {
        File.WriteAllBytes(Path.Combine(_dir, "bomb.png"), PngDeclaring(14000, 14000));
        File.WriteAllBytes(Path.Combine(_dir, "wide.png"), PngDeclaring(20000, 2));
        PngWriter.Save(Path.Combine(_dir, "ok.png"), Solid(8, 8, 1, 1, 1), 3, 8, 8);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var data = ImageFolderDataset.Load(_dir, imageSize: 8);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        TestContext.Out.WriteLine($"allocated {allocated} bytes; skipped: {string.Join("; ", data.Skipped)}");
        Assert.That(data.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "ok.png" }));
        Assert.That(data.Skipped.Select(f => (Path.GetFileName(f.Path), f.Reason)), Is.EqualTo(new[]
        {
            ("bomb.png", "PNG image of 14000x14000 = 196000000 pixels is larger than the limit of 67108864 pixels"),
            ("wide.png", "PNG image of 20000x2 is larger than the limit of 16384 pixels on a side"),
        }));
        Assert.That(allocated, Is.LessThan(32L << 20), "nothing near the declared 196 M pixels is allocated");
    }

    [Test]
    public void ImageLimitsAreConfigurable()
    {
        PngWriter.Save(Path.Combine(_dir, "a.png"), Solid(10, 12, 1, 1, 1), 3, 10, 12);
        PngWriter.Save(Path.Combine(_dir, "b.png"), Solid(10, 10, 1, 1, 1), 3, 10, 10);
        var data = ImageFolderDataset.Load(_dir, imageSize: 4, limits: new ImageLimits(11, 1000));
        Assert.That(data.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "b.png" }));
        Assert.That(data.Skipped.Single().Reason, Is.EqualTo("PNG image of 12x10 is larger than the limit of 11 pixels on a side"));
        data = ImageFolderDataset.Load(_dir, imageSize: 4, limits: new ImageLimits(100, 100));
        Assert.That(data.Skipped.Select(f => f.Reason), Is.EqualTo(new[]
        {
            "PNG image of 12x10 = 120 pixels is larger than the limit of 100 pixels",
        }));
    }

    /// <summary>A little-endian TIFF of 8 × 8, one strip; <paramref name="compressions"/> gives each image directory's compression (chained).</summary>
    internal static byte[] Tiff(params ushort[] compressions)
    {
        var bytes = new List<byte> { (byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0 };
        void U16(ushort v) { bytes.Add((byte)v); bytes.Add((byte)(v >> 8)); }
        void U32(uint v) { for (int k = 0; k < 4; k++) bytes.Add((byte)(v >> (8 * k))); }
        const int Tags = 9, DirectorySize = 2 + Tags * 12 + 4;
        for (int d = 0; d < compressions.Length; d++)
        {
            uint start = (uint)bytes.Count, strip = start + DirectorySize, next = d + 1 < compressions.Length ? strip + 64 : 0;
            U16(Tags);
            void Tag(ushort tag, ushort type, uint value) { U16(tag); U16(type); U32(1); U32(value); }
            Tag(256, 3, 8);                    // ImageWidth
            Tag(257, 3, 8);                    // ImageLength
            Tag(258, 3, 8);                    // BitsPerSample
            Tag(259, 3, compressions[d]);      // Compression
            Tag(262, 3, 1);                    // PhotometricInterpretation: black is zero
            Tag(273, 4, strip);                // StripOffsets
            Tag(277, 3, 1);                    // SamplesPerPixel
            Tag(278, 3, 8);                    // RowsPerStrip
            Tag(279, 4, 64);                   // StripByteCounts
            U32(next);
            for (int i = 0; i < 64; i++) bytes.Add((byte)(i * 4));
        }
        return bytes.ToArray();
    }

    [Test]
    public void TiffIsReadButCcittFaxCompressionIsRefused()
    {
        File.WriteAllBytes(Path.Combine(_dir, "a-plain.tif"), Tiff(1));
        File.WriteAllBytes(Path.Combine(_dir, "b-fax3.tif"), Tiff(3));
        File.WriteAllBytes(Path.Combine(_dir, "c-fax4.tiff"), Tiff(4));
        File.WriteAllBytes(Path.Combine(_dir, "d-rle.tif"), Tiff(2));
        File.WriteAllBytes(Path.Combine(_dir, "e-second-page-fax.tif"), Tiff(1, 4));
        var data = ImageFolderDataset.Load(_dir, imageSize: 8, channels: 1);
        Assert.That(data.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "a-plain.tif" }));
        var expected = data.CopySamples(0, 1);
        for (int i = 0; i < 64; i++) Assert.That(expected[i], Is.EqualTo(i * 4 / 127.5f - 1f).Within(1e-6), $"pixel {i}");
        Assert.That(data.Skipped.Select(f => Path.GetFileName(f.Path)), Is.EqualTo(new[] { "b-fax3.tif", "c-fax4.tiff", "d-rle.tif", "e-second-page-fax.tif" }));
        foreach (var (file, method) in data.Skipped.Zip(new[] { 3, 4, 2, 4 }))
            Assert.That(file.Reason, Does.StartWith($"TIFF with CCITT/fax compression (method {method}) is refused"), file.Path);
    }

    [Test]
    public void FormatsAreReadByContentAndOthersAreSkippedWhateverTheirName()
    {
        using (var image = new Image<Rgb24>(4, 4))
        {
            image.SaveAsTga(Path.Combine(_dir, "tga-named.png"));
            image.SaveAsWebp(Path.Combine(_dir, "webp-named.jpg"));
            image.SaveAsGif(Path.Combine(_dir, "ok.gif"));
            image.SaveAsPbm(Path.Combine(_dir, "pbm-named.bmp"));
        }
        var data = ImageFolderDataset.Load(_dir, imageSize: 4);
        Assert.That(data.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "ok.gif", "tga-named.png", "webp-named.jpg" }));
        Assert.That(data.Skipped.Select(f => (Path.GetFileName(f.Path), f.Reason, f.Kind)), Is.EqualTo(new[]
        {
            ("pbm-named.bmp", "not a PNG, JPEG, BMP, GIF, TGA, TIFF or WebP image", ImageProblem.NotAnImage),
        }));
    }

    /// <summary>Item 9: a corrupt image's reason is one short printable line, without the file's bytes or NULs.</summary>
    [Test]
    public void CorruptImageReasonsAreShortAndPrintable()
    {
        var rng = new Random(5);
        var garbage = new byte[600];
        rng.NextBytes(garbage);
        File.WriteAllBytes(Path.Combine(_dir, "a.png"), [.. PngDeclaring(8, 8)[..33], .. garbage]);
        File.WriteAllBytes(Path.Combine(_dir, "b.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0, 0x1b, (byte)'[', (byte)'2', (byte)'J', .. garbage]);
        File.WriteAllBytes(Path.Combine(_dir, "c.bmp"), [(byte)'B', (byte)'M', .. garbage]);
        File.WriteAllBytes(Path.Combine(_dir, "d.gif"), [.. "GIF89a"u8.ToArray(), 8, 0, 8, 0, 0xF7, 0, 0, .. garbage]);
        PngWriter.Save(Path.Combine(_dir, "ok.png"), Solid(8, 8, 1, 1, 1), 3, 8, 8);
        var data = ImageFolderDataset.Load(_dir, imageSize: 8);
        Assert.That(data.Skipped, Has.Count.EqualTo(4));
        foreach (var f in data.Skipped)
        {
            TestContext.Out.WriteLine($"{Path.GetFileName(f.Path)}: {f.Reason}");
            Assert.That(f.Reason.Length, Is.InRange(1, 121), f.Reason);
            Assert.That(f.Reason.All(c => c >= ' ' && c < '\x7f' || c == '…'), Is.True, f.Reason);
        }
    }
}
