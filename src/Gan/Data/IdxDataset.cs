// IDX files (LeCun's MNIST format, also Fashion-MNIST): a big-endian header, then raw bytes.
//   magic: 0x00 0x00 <type> <ndims>, type 0x08 = unsigned byte
//   images (magic 0x00000803): int32 count, int32 rows, int32 cols, count·rows·cols bytes
//   labels (magic 0x00000801): int32 count, count bytes
// Files may be gzipped (detected by the gzip magic 1f 8b, not by the name). Pixels 0..255 map
// to [-1, 1] as p/127.5 − 1. The images stay as bytes in memory (47 MB for the 60 000 training
// images); a requested image size is applied per sample in CopySample, so enlarging 28 → 64
// does not multiply the memory by 20.
//
// Hostile files: every header (images and labels) is checked before anything is allocated for it.
// A raw file must be as long as its header says; a gzipped one is read as it decompresses, with a
// buffer that grows only as bytes arrive; image sides and pixel counts are held to ImageLimits.
using System.Buffers.Binary;
using System.IO.Compression;
using GpuGan.Gan.Imaging;

namespace GpuGan.Gan.Data;

/// <summary>Grey images with labels read from a pair of IDX files (MNIST, Fashion-MNIST).</summary>
public sealed class IdxDataset : IDataset
{
    /// <summary>Where Debian's dataset-fashion-mnist package installs Fashion-MNIST.</summary>
    public const string FashionMnistDirectory = "/usr/share/datasets/fashion-mnist";

    internal const int ImagesMagic = 0x00000803;
    internal const int LabelsMagic = 0x00000801;

    private readonly byte[] _pixels; // (Count, SourceHeight, SourceWidth)
    private readonly byte[] _labels; // (Count)
    private readonly ResizeMode _resize;

    private IdxDataset(string name, byte[] pixels, byte[] labels, int count, int sourceH, int sourceW,
        int height, int width, int classCount, ResizeMode resize, string imagesPath, string labelsPath)
    {
        Name = name;
        _pixels = pixels;
        _labels = labels;
        Count = count;
        SourceHeight = sourceH;
        SourceWidth = sourceW;
        Height = height;
        Width = width;
        ClassCount = classCount;
        ClassNames = DatasetExtensions.NumberNames(classCount);
        _resize = resize;
        ImagesPath = imagesPath;
        LabelsPath = labelsPath;
    }

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public int Channels => 1;

    /// <inheritdoc/>
    public int Height { get; }

    /// <inheritdoc/>
    public int Width { get; }

    /// <summary>Image height as stored in the file.</summary>
    public int SourceHeight { get; }

    /// <summary>Image width as stored in the file.</summary>
    public int SourceWidth { get; }

    /// <summary>Largest label in the labels file + 1 (10 for MNIST and Fashion-MNIST).</summary>
    public int ClassCount { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The label numbers ("0" … "9" are MNIST's names), or Fashion-MNIST's names when opened as Fashion-MNIST.</summary>
    public IReadOnlyList<string> ClassNames { get; internal set; } = [];

    /// <summary>Fashion-MNIST's class names in label order, as its authors (and torchvision) name them.</summary>
    public static readonly IReadOnlyList<string> FashionMnistClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The images file that was read.</summary>
    public string ImagesPath { get; }

    /// <summary>The labels file that was read.</summary>
    public string LabelsPath { get; }

    /// <summary>
    /// Loads <c>train-images-idx3-ubyte</c> and <c>train-labels-idx1-ubyte</c> (or the
    /// <c>t10k-*</c> pair when <paramref name="train"/> is false) from <paramref name="directory"/>,
    /// gzipped (<c>.gz</c>) or raw; the dotted spelling <c>train-images.idx3-ubyte</c> is accepted too.
    /// Every header is checked before anything is allocated for what it declares: against the file's length
    /// (raw files), and against <paramref name="limits"/> (the image size). A gzipped file's payload is read
    /// as it decompresses, so memory follows the bytes that are really there, not the header's claim.
    /// </summary>
    /// <param name="directory">Folder holding the IDX files.</param>
    /// <param name="train">The training pair (true) or the test pair (false).</param>
    /// <param name="limit">Read only the first <paramref name="limit"/> images.</param>
    /// <param name="imageSize">Resample each image to imageSize × imageSize (e.g. 28 → 32 or 64).</param>
    /// <param name="resize">Resampling used when <paramref name="imageSize"/> differs from the file's.</param>
    /// <param name="limits">The largest image accepted; null is <see cref="ImageLimits.Standard"/>.</param>
    /// <exception cref="DataFormatException">A file is missing, truncated or malformed, its images exceed the limits, or the counts differ.</exception>
    public static IdxDataset Load(string directory, bool train = true, int? limit = null, int? imageSize = null,
        ResizeMode resize = ResizeMode.Bilinear, ImageLimits? limits = null)
    {
        string prefix = train ? "train" : "t10k";
        string imagesPath = FindFile(directory, prefix, "images", 3);
        string labelsPath = FindFile(directory, prefix, "labels", 1);
        string name = $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)))}/{(train ? "train" : "test")}";
        return Read(name, imagesPath, () => OpenFile(imagesPath), labelsPath, () => OpenFile(labelsPath), limit, imageSize, resize, limits);
    }

    /// <summary>Parses an images file and a labels file held in memory (raw or gzipped); the paths name them in errors.</summary>
    /// <exception cref="DataFormatException">As for <see cref="Load"/>.</exception>
    internal static IdxDataset FromBytes(string name, string imagesPath, byte[] images, string labelsPath, byte[] labels,
        int? limit = null, int? imageSize = null, ImageLimits? limits = null) =>
        Read(name, imagesPath, () => new MemoryStream(images, writable: false), labelsPath, () => new MemoryStream(labels, writable: false),
            limit, imageSize, ResizeMode.Bilinear, limits);

    private static IdxDataset Read(string name, string imagesPath, Func<Stream> openImages, string labelsPath, Func<Stream> openLabels,
        int? limit, int? imageSize, ResizeMode resize, ImageLimits? limits)
    {
        if (limit is < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must not be negative");
        if (imageSize is < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be positive");
        limits ??= ImageLimits.Standard;

        byte[] labels = ReadLabels(labelsPath, openLabels, out int labelCount);
        var (pixels, imageCount, rows, cols) = ReadImages(imagesPath, openImages, limit, limits);
        if (labelCount != imageCount.Total)
            throw new DataFormatException(labelsPath,
                $"count mismatch: holds {labelCount} labels but {Path.GetFileName(imagesPath)} holds {imageCount.Total} images");

        int count = imageCount.Read;
        int classCount = 0;
        foreach (byte b in labels) classCount = Math.Max(classCount, b + 1);
        if (count < labels.Length) labels = labels.AsSpan(0, count).ToArray();

        return new IdxDataset(name, pixels, labels, count, rows, cols, imageSize ?? rows, imageSize ?? cols,
            classCount, resize, imagesPath, labelsPath);
    }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckIndex(this, index);
        DatasetExtensions.CheckDestination(this, destination);
        int plane = SourceHeight * SourceWidth;
        var src = _pixels.AsSpan(index * plane, plane);
        if (Height == SourceHeight && Width == SourceWidth)
        {
            for (int i = 0; i < plane; i++) destination[i] = src[i] / 127.5f - 1f;
            return;
        }
        Span<float> source = plane <= 4096 ? stackalloc float[plane] : new float[plane];
        for (int i = 0; i < plane; i++) source[i] = src[i] / 127.5f - 1f;
        ImageResize.Resize(source, 1, SourceHeight, SourceWidth, destination, Height, Width, _resize);
    }

    /// <inheritdoc/>
    public int Label(int index)
    {
        DatasetExtensions.CheckIndex(this, index);
        return _labels[index];
    }

    /// <summary>The stored (SourceHeight, SourceWidth) bytes of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> RawImage(int index)
    {
        DatasetExtensions.CheckIndex(this, index);
        int plane = SourceHeight * SourceWidth;
        return _pixels.AsSpan(index * plane, plane);
    }

    private static string FindFile(string directory, string prefix, string kind, int dims)
    {
        string[] names = [$"{prefix}-{kind}-idx{dims}-ubyte", $"{prefix}-{kind}.idx{dims}-ubyte"];
        foreach (string name in names)
            foreach (string candidate in new[] { name + ".gz", name })
            {
                string path = Path.Combine(directory, candidate);
                if (File.Exists(path)) return path;
            }
        throw new DataFormatException(Path.Combine(directory, names[0] + ".gz"),
            $"missing: neither {names[0]}[.gz] nor {names[1]}[.gz] is in {directory}");
    }

    private static byte[] ReadLabels(string path, Func<Stream> open, out int count)
    {
        using var stream = OpenMaybeGzip(path, open, out long? rawLength);
        Span<byte> header = stackalloc byte[8];
        ReadHeader(stream, path, header);
        CheckMagic(path, header, LabelsMagic, "labels");
        count = ReadCount(path, header[4..], "label count");
        int claimed = count;
        string Truncated(long holds) => $"truncated: header says {claimed} labels, file holds {holds}";
        if (rawLength is long length && length - header.Length < count) throw new DataFormatException(path, Truncated(length - header.Length));
        return ReadPayload(stream, path, count, rawLength is not null, Truncated);
    }

    private static (byte[] Pixels, (int Total, int Read) Count, int Rows, int Cols) ReadImages(string path, Func<Stream> open, int? limit, ImageLimits limits)
    {
        using var stream = OpenMaybeGzip(path, open, out long? rawLength);
        Span<byte> header = stackalloc byte[16];
        ReadHeader(stream, path, header);
        CheckMagic(path, header, ImagesMagic, "images");
        int count = ReadCount(path, header[4..], "image count");
        int rows = ReadCount(path, header[8..], "row count");
        int cols = ReadCount(path, header[12..], "column count");
        if (rows == 0 || cols == 0)
            throw new DataFormatException(path, $"bad header: images of {rows}x{cols}");
        if (limits.Check(cols, rows) is { } tooLarge) throw new DataFormatException(path, tooLarge);
        long plane = (long)rows * cols;
        if (plane > long.MaxValue / Math.Max(count, 1))
            throw new DataFormatException(path, $"too large: {count} images of {rows}x{cols}");
        long expected = count * plane;
        string Truncated(long holds) =>
            $"truncated: header says {count} images of {rows}x{cols} = {expected} bytes, file holds {holds}";
        // A raw file's size tells at once whether the tail is there, even when only a prefix is read.
        if (rawLength is long length && length - header.Length < expected) throw new DataFormatException(path, Truncated(length - header.Length));
        int read = Math.Min(count, limit ?? count);
        long wanted = read * plane;
        if (wanted > Array.MaxLength)
            throw new DataFormatException(path, $"too large: {read} images of {rows}x{cols} = {wanted} bytes");

        var pixels = ReadPayload(stream, path, wanted, rawLength is not null, got => Truncated(got));
        return (pixels, (count, read), rows, cols);
    }

    /// <summary>
    /// Reads <paramref name="count"/> bytes (at most <see cref="Array.MaxLength"/>). A raw file's length was checked
    /// against the header, so the buffer is allocated at once; a gzip stream's length is known only once decompressed,
    /// so its buffer starts at 1 MiB and doubles as bytes arrive: the header's claim alone never allocates.
    /// </summary>
    private static byte[] ReadPayload(Stream stream, string path, long count, bool lengthChecked, Func<long, string> truncated)
    {
        const int FirstChunk = 1 << 20;
        var buffer = new byte[lengthChecked ? count : Math.Min(count, FirstChunk)];
        int got = ReadFully(stream, path, buffer);
        while (got == buffer.Length && buffer.Length < count)
        {
            Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
            got += ReadFully(stream, path, buffer.AsSpan(got));
        }
        if (got < count) throw new DataFormatException(path, truncated(got));
        return buffer;
    }

    private static Stream OpenFile(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, $"cannot open: {e.Message}", e);
        }
    }

    // Opens a raw or gzipped IDX stream (told apart by the gzip magic 1f 8b, not by the name); rawLength is the length of
    // a raw stream, null for gzip (unknown until decompressed).
    private static Stream OpenMaybeGzip(string path, Func<Stream> open, out long? rawLength)
    {
        var file = open();
        Span<byte> magic = stackalloc byte[2];
        int n = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        {
            rawLength = null;
            return new GZipStream(file, CompressionMode.Decompress);
        }
        rawLength = file.Length;
        return file;
    }

    private static void ReadHeader(Stream stream, string path, Span<byte> header)
    {
        int got = ReadFully(stream, path, header);
        if (got < header.Length)
            throw new DataFormatException(path, $"truncated: {got} bytes, shorter than the {header.Length}-byte IDX header");
    }

    private static void CheckMagic(string path, ReadOnlySpan<byte> header, int expected, string what)
    {
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != expected)
            throw new DataFormatException(path,
                $"bad magic 0x{magic:X8}, expected 0x{expected:X8} (IDX unsigned-byte {what}, {expected & 0xff} dimension{((expected & 0xff) == 1 ? "" : "s")})");
    }

    private static int ReadCount(string path, ReadOnlySpan<byte> bytes, string what)
    {
        int value = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (value < 0) throw new DataFormatException(path, $"bad header: negative {what} {value}");
        return value;
    }

    // Reads until the buffer is full or the stream ends; a damaged gzip stream becomes a DataFormatException.
    private static int ReadFully(Stream stream, string path, Span<byte> buffer)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"corrupt gzip stream: {e.Message}", e);
        }
    }
}
