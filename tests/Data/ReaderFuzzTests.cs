using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using NUnit.Framework;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Formats.Tiff.Constants;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Tests.Data;

/// <summary>
/// Fuzzing the IDX and image readers, in memory and seeded (like the safetensors fuzz test): thousands of mutated
/// files each parse, or are refused with a DataFormatException whose message is one short printable line. Nothing
/// else may escape, the process must not abort, and no case may allocate more than a stated bound (counted on this
/// thread; the image decoders allocate from a GC allocator in this test so their buffers are counted too).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class ReaderFuzzTests
{
    /// <summary>Per case: the file's own bytes (×16 for decoding and copies) plus 4 MiB (the 1 MiB first gzip chunk, decoder tables).</summary>
    private static long AllocationBound(long inputBytes) => 16 * inputBytes + (4L << 20);

    private static void CheckRefusal(DataFormatException e, string file, List<string> failures, int i)
    {
        string m = e.Message;
        if (m.Length > 300 || m.Any(c => c < ' ' || c == '\x7f') || !m.StartsWith(file + ": ", StringComparison.Ordinal))
            failures.Add($"case {i}: refusal is not one short printable line naming {file}: {m}");
    }

    // ------------------------------------------------------------ IDX

    private static byte[] Gzip(byte[] raw)
    {
        var o = new MemoryStream();
        using (var z = new GZipStream(o, CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw);
        return o.ToArray();
    }

    private static byte[] IdxImages(int count, int rows, int cols, Random random)
    {
        var bytes = new byte[16 + count * rows * cols];
        BinaryPrimitives.WriteInt32BigEndian(bytes, 0x803);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), cols);
        random.NextBytes(bytes.AsSpan(16));
        return bytes;
    }

    private static byte[] IdxLabels(int count, Random random)
    {
        var bytes = new byte[8 + count];
        BinaryPrimitives.WriteInt32BigEndian(bytes, 0x801);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        for (int i = 0; i < count; i++) bytes[8 + i] = (byte)random.Next(10);
        return bytes;
    }

    private static readonly int[] Interesting = [0, 1, -1, 2, 3, 7, 28, 255, 256, 65535, 65536, 16384, 16385, 0x7FFFFFFF, unchecked((int)0x80000000), 0x40000000, 0x10000000, 1 << 20];

    /// <summary>Generic byte mutations plus big-endian header words set to interesting values.</summary>
    private static byte[] MutateIdx(byte[] seed, int headerWords, Random random)
    {
        var bytes = new List<byte>(seed);
        int rounds = 1 + random.Next(3);
        for (int r = 0; r < rounds && bytes.Count > 0; r++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(8))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[at] = (byte)random.Next(256); break;
                case 2: bytes.Insert(at, (byte)random.Next(256)); break;
                case 3: bytes.RemoveRange(at, Math.Min(1 + random.Next(8), bytes.Count - at)); break;
                case 4: bytes.RemoveRange(at, bytes.Count - at); break;
                default:                                                                  // a header word
                    int word = random.Next(headerWords);
                    if (4 * word + 4 > bytes.Count) break;
                    var w = new byte[4];
                    int value = random.Next(3) == 0 ? random.Next() : Interesting[random.Next(Interesting.Length)];
                    BinaryPrimitives.WriteInt32BigEndian(w, value);
                    for (int k = 0; k < 4; k++) bytes[4 * word + k] = w[k];
                    break;
            }
        }
        return bytes.ToArray();
    }

    [Test]
    public void FuzzedIdxFilesParseOrAreRefusedInOneLine()
    {
        const int Cases = 10000;
        var random = new Random(20260311);
        var seeds = new List<(byte[] Images, byte[] Labels)>
        {
            (IdxImages(5, 4, 3, random), IdxLabels(5, random)),
            (IdxImages(1, 28, 28, random), IdxLabels(1, random)),
            (IdxImages(0, 2, 2, random), IdxLabels(0, random)),
        };
        var failures = new List<string>();
        int parsed = 0, refused = 0;
        long maxAllocated = 0;
        var clock = Stopwatch.StartNew();
        var run = Task.Run(() =>
        {
            for (int i = 0; i < Cases; i++)
            {
                var (images, labels) = seeds[random.Next(seeds.Count)];
                int which = random.Next(3);   // mutate the images, the labels, or both
                if (which != 1) images = MutateIdx(images, 4, random);
                if (which != 0) labels = MutateIdx(labels, 2, random);
                bool gzip = random.Next(3) == 0;
                if (gzip)
                {
                    // Mutate the plain bytes and compress them, or (one time in two) compress then mutate the gzip stream.
                    images = Gzip(images);
                    labels = Gzip(labels);
                    if (random.Next(2) == 0)
                    {
                        if (random.Next(2) == 0) images = MutateIdx(images, 1, random);
                        else labels = MutateIdx(labels, 1, random);
                    }
                }
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    var data = IdxDataset.FromBytes("fuzz", "images", images, "labels", labels, limit: random.Next(2) == 0 ? null : 1 + random.Next(4));
                    parsed++;
                    // What was accepted is consistent: every sample and label reads back within bounds.
                    var sample = new float[data.SampleLength()];
                    for (int k = 0; k < data.Count; k++)
                    {
                        data.CopySample(k, sample);
                        if (sample.Any(v => v is < -1f or > 1f) || data.Label(k) >= data.ClassCount)
                            failures.Add($"case {i}: sample {k} out of range");
                    }
                }
                catch (DataFormatException e)
                {
                    refused++;
                    CheckRefusal(e, e.FilePath, failures, i);
                }
                catch (Exception e)
                {
                    failures.Add($"case {i}: {e.GetType().Name}: {e.Message}");
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                maxAllocated = Math.Max(maxAllocated, allocated);
                if (allocated > AllocationBound(images.Length + labels.Length))
                    failures.Add($"case {i}: allocated {allocated} bytes for {images.Length + labels.Length} bytes of input");
            }
        });
        Assert.That(run.Wait(TimeSpan.FromSeconds(60)), Is.True, "fuzz loop did not finish (hang?)");
        TestContext.Out.WriteLine($"{Cases} IDX cases in {clock.ElapsedMilliseconds} ms: {parsed} parsed, {refused} refused, largest allocation {maxAllocated} bytes");
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(5)));
        Assert.That(refused, Is.GreaterThan(Cases / 2));
        Assert.That(parsed, Is.GreaterThan(Cases / 50), "mutations of pixel bytes keep a pair valid");
    }

    // ------------------------------------------------------------ images

    private static byte[] Encode(Action<Stream> save)
    {
        var o = new MemoryStream();
        save(o);
        return o.ToArray();
    }

    private static List<(string Name, byte[] Bytes)> ImageSeeds()
    {
        var random = new Random(7);
        using var rgb = new Image<Rgb24>(16, 12);
        using var grey = new Image<L8>(9, 13);
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 16; x++) rgb[x, y] = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)(x * 16));
        for (int y = 0; y < 13; y++)
            for (int x = 0; x < 9; x++) grey[x, y] = new L8((byte)(x * y));
        return
        [
            ("a.png", Encode(s => rgb.SaveAsPng(s))),
            ("b.png", Encode(s => grey.SaveAsPng(s, new PngEncoder { ColorType = PngColorType.Grayscale }))),
            ("c.png", Encode(s => rgb.SaveAsPng(s, new PngEncoder { ColorType = PngColorType.Palette }))),
            ("d.png", Encode(s => rgb.SaveAsPng(s, new PngEncoder { InterlaceMethod = PngInterlaceMode.Adam7 }))),
            ("e.jpg", Encode(s => rgb.SaveAsJpeg(s, new JpegEncoder { Quality = 80 }))),
            ("f.jpg", Encode(s => grey.SaveAsJpeg(s))),
            ("g.bmp", Encode(s => rgb.SaveAsBmp(s))),
            ("h.gif", Encode(s => rgb.SaveAsGif(s, new GifEncoder()))),
            ("i.tif", Encode(s => rgb.SaveAsTiff(s, new TiffEncoder { Compression = TiffCompression.None }))),
            ("j.tif", Encode(s => rgb.SaveAsTiff(s, new TiffEncoder { Compression = TiffCompression.Lzw }))),
            ("k.tif", Encode(s => grey.SaveAsTiff(s, new TiffEncoder { Compression = TiffCompression.Deflate }))),
            ("l.tif", ImageFolderTests.Tiff(1, 3)),
            ("m.tga", Encode(s => rgb.SaveAsTga(s, new TgaEncoder { Compression = TgaCompression.RunLength }))),
            ("n.webp", Encode(s => rgb.SaveAsWebp(s, new WebpEncoder { FileFormat = WebpFileFormatType.Lossless }))),
            ("o.webp", Encode(s => rgb.SaveAsWebp(s, new WebpEncoder { FileFormat = WebpFileFormatType.Lossy, Quality = 80 }))),
        ];
    }

    /// <summary>Generic byte mutations plus the image's declared size set to interesting values (PNG with its CRC fixed).</summary>
    private static byte[] MutateImage(string name, byte[] seed, Random random)
    {
        var bytes = seed.ToArray();
        var list = new List<byte>(bytes);
        int rounds = 1 + random.Next(3);
        for (int r = 0; r < rounds && list.Count > 0; r++)
        {
            int at = random.Next(list.Count);
            switch (random.Next(9))
            {
                case 0: list[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: list[at] = (byte)random.Next(256); break;
                case 2: list.Insert(at, (byte)random.Next(256)); break;
                case 3: list.RemoveRange(at, Math.Min(1 + random.Next(16), list.Count - at)); break;
                case 4: list.RemoveRange(at, list.Count - at); break;
                case 5: if (at < 64) list[at] = (byte)random.Next(256); break;                 // the header region
                default:                                                                       // the declared size
                    var b = list.ToArray();
                    int w = Interesting[random.Next(Interesting.Length)], h = random.Next(2) == 0 ? w : Interesting[random.Next(Interesting.Length)];
                    SetDeclaredSize(name, b, w, h);
                    list = new List<byte>(b);
                    break;
            }
        }
        return list.ToArray();
    }

    private static void SetDeclaredSize(string name, byte[] b, int w, int h)
    {
        switch (Path.GetExtension(name))
        {
            case ".png" when b.Length >= 33:
                BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), w);
                BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), h);
                BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), Crc32(b.AsSpan(12, 17)));
                break;
            case ".bmp" when b.Length >= 26:
                BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), w);
                BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), h);
                break;
            case ".gif" when b.Length >= 10:
                BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), (ushort)w);
                BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), (ushort)h);
                break;
            case ".jpg":
                for (int i = 2; i + 9 < b.Length; i++)
                    if (b[i] == 0xFF && b[i + 1] is 0xC0 or 0xC1 or 0xC2)
                    {
                        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(i + 5), (ushort)h);
                        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(i + 7), (ushort)w);
                        break;
                    }
                break;
            case ".tif":
                // Little-endian files: the first directory's ImageWidth (256) and ImageLength (257) entries.
                if (b.Length < 8 || b[0] != 'I') break;
                int ifd = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(4));
                if (ifd < 8 || ifd + 2 > b.Length) break;
                int count = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(ifd));
                for (int e = 0; e < count && ifd + 2 + 12 * e + 12 <= b.Length; e++)
                {
                    var entry = b.AsSpan(ifd + 2 + 12 * e, 12);
                    int tag = BinaryPrimitives.ReadUInt16LittleEndian(entry);
                    if (tag is not (256 or 257)) continue;
                    BinaryPrimitives.WriteUInt16LittleEndian(entry[2..], 4);   // LONG
                    BinaryPrimitives.WriteInt32LittleEndian(entry[8..], tag == 256 ? w : h);
                }
                break;
        }
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    [Test]
    public void FuzzedImagesDecodeOrAreRefusedInOneLine()
    {
        const int Cases = 20000;
        var seeds = ImageSeeds();
        var limits = new ImageLimits(64, 2048);
        var reader = new ImageReader(limits, _ => new SimpleGcMemoryAllocator());
        // Every seed decodes (the CCITT TIFF aside): the fuzz starts from valid files.
        foreach (var (name, bytes) in seeds.Where(s => s.Name != "l.tif"))
            Assert.DoesNotThrow(() => reader.Read(new MemoryStream(bytes), name, 3), name);
        Assert.Throws<DataFormatException>(() => reader.Read(new MemoryStream(seeds.Single(s => s.Name == "l.tif").Bytes), "l.tif", 3));

        var random = new Random(20260312);
        var failures = new List<string>();
        int parsed = 0, refused = 0, tooLarge = 0;
        long maxAllocated = 0;
        var clock = Stopwatch.StartNew();
        var run = Task.Run(() =>
        {
            for (int i = 0; i < Cases; i++)
            {
                var (name, seed) = seeds[random.Next(seeds.Count)];
                var bytes = MutateImage(name, seed, random);
                int channels = random.Next(2) == 0 ? 1 : 3;
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    var image = reader.Read(new MemoryStream(bytes), name, channels);
                    parsed++;
                    if (limits.Check(image.Width, image.Height) is not null || image.Pixels.Length != image.Width * image.Height * channels)
                        failures.Add($"case {i}: accepted {image.Width}x{image.Height}x{image.Channels} with {image.Pixels.Length} bytes");
                }
                catch (DataFormatException e)
                {
                    refused++;
                    if (e.Problem.Contains("larger than the limit", StringComparison.Ordinal)) tooLarge++;
                    CheckRefusal(e, name, failures, i);
                }
                catch (Exception e)
                {
                    failures.Add($"case {i} ({name}): {e.GetType().Name}: {e.Message}");
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                maxAllocated = Math.Max(maxAllocated, allocated);
                if (allocated > AllocationBound(bytes.Length))
                    failures.Add($"case {i} ({name}): allocated {allocated} bytes for a {bytes.Length}-byte file: {Convert.ToHexString(bytes)}");
            }
        });
        Assert.That(run.Wait(TimeSpan.FromSeconds(90)), Is.True, "fuzz loop did not finish (hang?)");
        TestContext.Out.WriteLine($"{Cases} image cases in {clock.ElapsedMilliseconds} ms: {parsed} decoded, {refused} refused ({tooLarge} above the limits), largest allocation {maxAllocated} bytes");
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(8)));
        Assert.That(parsed, Is.GreaterThan(Cases / 10), "many mutations (pixel bytes) keep a file decodable");
        Assert.That(tooLarge, Is.GreaterThan(Cases / 20), "declared sizes above the limits are reached and refused");
    }
}
