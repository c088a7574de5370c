using System.Buffers.Binary;
using System.IO.Compression;
using GpuGan.Gan.Data;
using NUnit.Framework;

namespace GpuGan.Tests.Data;

public class IdxTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "gpugan-idx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static byte[] Pixels(int count, int h, int w)
    {
        var bytes = new byte[count * h * w];
        var rng = new SplitMix64(42);
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)rng.NextInt(256);
        bytes[0] = 0;
        bytes[1] = 255;
        return bytes;
    }

    [TestCase(true)]
    [TestCase(false)]
    public void RoundTrip(bool gzip)
    {
        string ext = gzip ? ".gz" : "";
        var pixels = Pixels(7, 5, 6);
        int[] labels = [3, 0, 9, 1, 1, 4, 2];
        IdxWriter.WriteImages(Path.Combine(_dir, "train-images-idx3-ubyte" + ext), pixels, 7, 5, 6);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte" + ext), labels);

        var data = IdxDataset.Load(_dir);
        Assert.That(data.Count, Is.EqualTo(7));
        Assert.That((data.Channels, data.Height, data.Width), Is.EqualTo((1, 5, 6)));
        Assert.That(data.ClassCount, Is.EqualTo(10));
        Assert.That(Enumerable.Range(0, 7).Select(data.Label), Is.EqualTo(labels));
        for (int i = 0; i < 7; i++) Assert.That(data.RawImage(i).ToArray(), Is.EqualTo(pixels.AsSpan(i * 30, 30).ToArray()));
        var sample = new float[30];
        data.CopySample(0, sample);
        Assert.That(sample[0], Is.EqualTo(-1f));
        Assert.That(sample[1], Is.EqualTo(1f));
        Assert.That(sample[2], Is.EqualTo(pixels[2] / 127.5f - 1f));
        Assert.That(Directory.GetFiles(_dir), Has.Length.EqualTo(2), "no temp files left behind");
    }

    [Test]
    public void FloatImagesAndDottedNamesAndLimit()
    {
        var images = new float[3 * 4 * 4];
        for (int i = 0; i < images.Length; i++) images[i] = i % 2 == 0 ? -1f : 1f;
        IdxWriter.WriteImages(Path.Combine(_dir, "t10k-images.idx3-ubyte"), images, 3, 4, 4);
        IdxWriter.WriteLabels(Path.Combine(_dir, "t10k-labels.idx1-ubyte"), [1, 2, 3]);
        var data = IdxDataset.Load(_dir, train: false, limit: 2);
        Assert.That(data.Count, Is.EqualTo(2));
        Assert.That(data.ClassCount, Is.EqualTo(4), "class count comes from all labels, not the limited prefix");
        Assert.That(data.CopySamples(0, 2), Is.EqualTo(images.AsSpan(0, 32).ToArray()));
    }

    [Test]
    public void ResizesOnRequest()
    {
        var pixels = new byte[2 * 28 * 28];
        Array.Fill(pixels, (byte)255, 0, 28 * 28); // image 0 white, image 1 black
        IdxWriter.WriteImages(Path.Combine(_dir, "train-images-idx3-ubyte"), pixels, 2, 28, 28);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte"), [0, 1]);
        var data = IdxDataset.Load(_dir, imageSize: 32);
        Assert.That((data.Height, data.Width, data.SourceHeight), Is.EqualTo((32, 32, 28)));
        var all = data.CopySamples(0, 2);
        Assert.That(all.AsSpan(0, 1024).ToArray(), Is.All.EqualTo(1f).Within(1e-6));
        Assert.That(all.AsSpan(1024).ToArray(), Is.All.EqualTo(-1f).Within(1e-6));
    }

    private void WriteRaw(string name, byte[] bytes, bool gzip = false)
    {
        string path = Path.Combine(_dir, name);
        if (!gzip) { File.WriteAllBytes(path, bytes); return; }
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(bytes);
    }

    private static byte[] Header(int magic, params int[] dims)
    {
        var h = new byte[4 + 4 * dims.Length];
        BinaryPrimitives.WriteInt32BigEndian(h, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + 4 * i), dims[i]);
        return h;
    }

    private DataFormatException LoadFails() => Assert.Throws<DataFormatException>(() => IdxDataset.Load(_dir))!;

    [Test]
    public void BadMagicNamesTheFile()
    {
        WriteRaw("train-images-idx3-ubyte.gz", [.. Header(0x00000801, 2, 2, 2), .. new byte[8]], gzip: true);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte.gz"), [0, 1]);
        var e = LoadFails();
        Assert.That(e.Message, Does.StartWith("train-images-idx3-ubyte.gz: bad magic 0x00000801"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void TruncatedImagesNamesTheFile(bool gzip)
    {
        string name = "train-images-idx3-ubyte" + (gzip ? ".gz" : "");
        WriteRaw(name, [.. Header(0x00000803, 10, 28, 28), .. new byte[1000]], gzip);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte"), new int[10]);
        var e = LoadFails();
        Assert.That(e.Message, Is.EqualTo($"{name}: truncated: header says 10 images of 28x28 = 7840 bytes, file holds 1000"));
        Assert.That(e.FilePath, Is.EqualTo(Path.Combine(_dir, name)));
    }

    [Test]
    public void TruncatedRawFileIsCaughtEvenWithALimit()
    {
        WriteRaw("train-images-idx3-ubyte", [.. Header(0x00000803, 10, 2, 2), .. new byte[12]]);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte"), new int[10]);
        var e = Assert.Throws<DataFormatException>(() => IdxDataset.Load(_dir, limit: 2))!;
        Assert.That(e.Message, Does.StartWith("train-images-idx3-ubyte: truncated"));
    }

    /// <summary>
    /// Issue 11 item 5: a labels header claiming 0x7FFFFFFF items (or 1 G) used to allocate what it claimed and abort the
    /// process. Every header is checked before allocating: a raw file against its length, a gzipped one by reading only
    /// what decompresses; at most a few MB are allocated whatever the header says.
    /// </summary>
    [TestCase(0x7FFFFFFF, false)]
    [TestCase(0x7FFFFFFF, true)]
    [TestCase(0x40000000, false)]
    [TestCase(0x40000000, true)]
    public void HugeLabelCountIsRefusedWithoutAllocatingIt(int claimed, bool gzip)
    {
        IdxWriter.WriteImages(Path.Combine(_dir, "train-images-idx3-ubyte"), new byte[3 * 4], 3, 2, 2);
        string name = "train-labels-idx1-ubyte" + (gzip ? ".gz" : "");
        WriteRaw(name, [.. Header(0x00000801, claimed), 1, 2, 3], gzip);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = LoadFails();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(e.Message, Is.EqualTo($"{name}: truncated: header says {claimed} labels, file holds 3"));
        Assert.That(allocated, Is.LessThan(4 << 20), "allocations follow the file's bytes, not its header");
    }

    [TestCase(0x7FFFFFFF, 2, 2, false, "truncated: header says 2147483647 images of 2x2 = 8589934588 bytes, file holds 64")]
    [TestCase(0x7FFFFFFF, 2, 2, true, "too large: 2147483647 images of 2x2")]
    [TestCase(0x10000000, 2, 2, true, "truncated: header says 268435456 images of 2x2 = 1073741824 bytes, file holds 64")]
    [TestCase(1, 100000, 1, false, "image of 1x100000 is larger than the limit of 16384 pixels on a side")]
    [TestCase(1, 8192, 8193, true, "image of 8193x8192 = 67117056 pixels is larger than the limit of 67108864 pixels")]
    [TestCase(0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, false, "16384 pixels on a side")]
    public void HugeImageHeadersAreRefusedWithoutAllocatingThem(int count, int rows, int cols, bool gzip, string reason)
    {
        string name = "train-images-idx3-ubyte" + (gzip ? ".gz" : "");
        WriteRaw(name, [.. Header(0x00000803, count, rows, cols), .. new byte[64]], gzip);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte"), new int[3]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = LoadFails();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(e.Message, Does.StartWith(name + ": ").And.Contain(reason));
        Assert.That(allocated, Is.LessThan(4 << 20));
    }

    [Test]
    public void ImageLimitsAreConfigurable()
    {
        IdxWriter.WriteImages(Path.Combine(_dir, "train-images-idx3-ubyte"), new byte[2 * 6 * 5], 2, 6, 5);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte"), [0, 1]);
        Assert.That(IdxDataset.Load(_dir, limits: new ImageLimits(6, 30)).Count, Is.EqualTo(2));
        Assert.That(Assert.Throws<DataFormatException>(() => IdxDataset.Load(_dir, limits: new ImageLimits(5, 30)))!.Message,
            Does.Contain("image of 5x6 is larger than the limit of 5 pixels on a side"));
        Assert.That(Assert.Throws<DataFormatException>(() => IdxDataset.Load(_dir, limits: new ImageLimits(6, 29)))!.Message,
            Does.Contain("image of 5x6 = 30 pixels is larger than the limit of 29 pixels"));
    }

    [Test]
    public void TruncatedHeaderNamesTheFile()
    {
        WriteRaw("train-images-idx3-ubyte", [0, 0, 8, 3, 0]);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte"), [0]);
        Assert.That(LoadFails().Message, Does.StartWith("train-images-idx3-ubyte: truncated: 5 bytes"));
    }

    [Test]
    public void LabelCountMismatchNamesBothFiles()
    {
        IdxWriter.WriteImages(Path.Combine(_dir, "train-images-idx3-ubyte.gz"), new byte[3 * 4], 3, 2, 2);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte.gz"), [0, 1]);
        var e = LoadFails();
        Assert.That(e.Message, Is.EqualTo("train-labels-idx1-ubyte.gz: count mismatch: holds 2 labels but train-images-idx3-ubyte.gz holds 3 images"));
    }

    [Test]
    public void MissingFileNamesTheFile()
    {
        IdxWriter.WriteImages(Path.Combine(_dir, "train-images-idx3-ubyte.gz"), new byte[4], 1, 2, 2);
        var e = LoadFails();
        Assert.That(e.Message, Does.StartWith("train-labels-idx1-ubyte.gz: missing"));
        Assert.That(e.Message, Does.Contain(_dir));
    }

    [Test]
    public void CorruptGzipIsADataFormatException()
    {
        IdxWriter.WriteImages(Path.Combine(_dir, "train-images-idx3-ubyte.gz"), Pixels(50, 8, 8), 50, 8, 8);
        IdxWriter.WriteLabels(Path.Combine(_dir, "train-labels-idx1-ubyte.gz"), new int[50]);
        string path = Path.Combine(_dir, "train-images-idx3-ubyte.gz");
        var bytes = File.ReadAllBytes(path);
        for (int i = 20; i < bytes.Length - 8; i += 7) bytes[i] ^= 0x5a;
        File.WriteAllBytes(path, bytes);
        var e = LoadFails();
        Assert.That(e.Message, Does.StartWith("train-images-idx3-ubyte.gz: "));
    }

    [Test]
    public void FashionMnistLoadsWhenInstalled()
    {
        string dir = IdxDataset.FashionMnistDirectory;
        if (!Directory.Exists(dir))
            Assert.Ignore($"{dir} is absent (apt-get install dataset-fashion-mnist provides it)");
        var data = IdxDataset.Load(dir);
        Assert.That(data.Count, Is.EqualTo(60000));
        Assert.That((data.Channels, data.Height, data.Width), Is.EqualTo((1, 28, 28)));
        Assert.That(data.ClassCount, Is.EqualTo(10));
        var counts = new int[10];
        for (int i = 0; i < data.Count; i++) counts[data.Label(i)]++;
        Assert.That(counts, Is.All.EqualTo(6000), "Fashion-MNIST's training set is balanced");
        float min = float.MaxValue, max = float.MinValue;
        var sample = new float[784];
        for (int i = 0; i < data.Count; i += 97)
        {
            data.CopySample(i, sample);
            min = Math.Min(min, sample.Min());
            max = Math.Max(max, sample.Max());
        }
        Assert.That(min, Is.EqualTo(-1f));
        Assert.That(max, Is.EqualTo(1f));

        var test = IdxDataset.Load(dir, train: false, limit: 100, imageSize: 32);
        Assert.That((test.Count, test.Height, test.Width, test.Name), Is.EqualTo((100, 32, 32, "fashion-mnist/test")));
    }
}
