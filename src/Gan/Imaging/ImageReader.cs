// Reading one image file from an untrusted folder, with SixLabors.ImageSharp 2.1.13.
//
// Order of checks, so that a hostile file costs little:
//   1. Image.Identify reads the header only (no pixel buffer) and names the format; only the formats
//      of the allow-list below are configured, so nothing else is even identified.
//   2. The declared width × height is held to ImageLimits before anything is decoded: a 572 KB PNG
//      that declares 14000 × 14000 is refused by name instead of taking 3 GB.
//   3. TIFF: every image directory is walked (bounded) and CCITT/fax compression (methods 2, 3, 4)
//      is refused: ImageSharp 2.1's decoder for it has an out-of-bounds write (reported in 2026).
//      So are strips the decoder would size from the header rather than the pixels: more rows per
//      strip than the image has, or more bytes than the file holds (found by the fuzz test).
//   4. Only then the first frame is decoded (multi-frame GIF and TIFF: the first frame only, so a
//      small file of ten thousand frames does not allocate ten thousand canvases), into RGB bytes.
// As a backstop the decoder's allocator refuses any single buffer above 16 bytes per allowed pixel.
// Every failure is a DataFormatException whose problem is one short printable line, never raw bytes.
//
// Grey is computed from RGB with stb_image's integer luma (77 R + 150 G + 29 B) >> 8, as before the
// move to ImageSharp, so grey data sets keep their exact values; alpha is dropped, not composited.
using System.Buffers.Binary;
using System.Text;
using GpuGan.Gan.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Gan.Imaging;

/// <summary>A decoded image: interleaved (H, W, C) bytes, C = 1 (grey) or 3 (RGB).</summary>
public sealed record DecodedImage(byte[] Pixels, int Channels, int Height, int Width);

/// <summary>
/// Decodes PNG, JPEG, BMP, GIF and TIFF files after checking their declared size against <see cref="ImageLimits"/>
/// (see the file header for the order of checks). One reader may be used from several threads.
/// </summary>
public sealed class ImageReader
{
    /// <summary>The formats read (by content, not by file name).</summary>
    public static readonly IReadOnlyList<string> Formats = ["PNG", "JPEG", "BMP", "GIF", "TIFF"];

    /// <summary>File name extensions (lower case) of those formats.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"];

    /// <summary>TIFF compression methods refused: CCITT modified Huffman RLE (2), CCITT T.4 / Group 3 fax (3), T.6 / Group 4 fax (4).</summary>
    public static readonly IReadOnlyList<int> RefusedTiffCompressions = [2, 3, 4];

    // Bounds of the TIFF directory walk: real files have one directory per page and a few dozen tags.
    private const int MaxTiffDirectories = 256, MaxTiffTags = 4096;

    private readonly Configuration _configuration;

    /// <summary>A reader that refuses images above <paramref name="limits"/> (null: <see cref="ImageLimits.Standard"/>).</summary>
    public ImageReader(ImageLimits? limits = null)
        : this(limits, l => MemoryAllocator.Create(new MemoryAllocatorOptions
        {
            AllocationLimitMegabytes = (int)Math.Clamp(l.MaxPixels * 16 / (1 << 20) + 16, 16, int.MaxValue),
        }))
    {
    }

    /// <summary>A reader whose decoders allocate from <paramref name="allocator"/> (tests: a GC allocator, so allocations can be counted).</summary>
    internal ImageReader(ImageLimits? limits, Func<ImageLimits, MemoryAllocator> allocator)
    {
        Limits = limits ?? ImageLimits.Standard;
        Limits.Validate();
        _configuration = new Configuration(new PngConfigurationModule(), new JpegConfigurationModule(), new BmpConfigurationModule(),
            new GifConfigurationModule(), new TiffConfigurationModule())
        {
            MemoryAllocator = allocator(Limits),
            // Decoding runs one file per core already (the folder loader); the decoder itself stays on one thread.
            MaxDegreeOfParallelism = 1,
        };
        _configuration.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = FrameDecodingMode.First });
        _configuration.ImageFormatsManager.SetDecoder(TiffFormat.Instance, new TiffDecoder { DecodingMode = FrameDecodingMode.First });
    }

    /// <summary>The largest image accepted.</summary>
    public ImageLimits Limits { get; }

    /// <summary>Decodes the file at <paramref name="path"/> to <paramref name="channels"/> channels (1 or 3).</summary>
    /// <exception cref="DataFormatException">Unreadable, not an allowed format, above the limits, a refused TIFF compression, or corrupt.</exception>
    public DecodedImage Read(string path, int channels)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, "cannot open: " + ShortReason(e.Message), e);
        }
        using (stream) return Read(stream, path, channels);
    }

    /// <summary>Decodes the image in <paramref name="stream"/> (readable and seekable); <paramref name="path"/> names it in errors.</summary>
    /// <exception cref="DataFormatException">Not an allowed format, above the limits, a refused TIFF compression, or corrupt.</exception>
    public DecodedImage Read(Stream stream, string path, int channels)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 or 3");
        if (!stream.CanSeek) throw new ArgumentException("the stream must be seekable (the header is read before the pixels)", nameof(stream));
        long start = stream.Position;

        IImageInfo? info;
        IImageFormat? format;
        try
        {
            info = Image.Identify(_configuration, stream, out format);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DataFormatException(path, "unreadable image header: " + Describe(e), e);
        }
        if (info is null || format is null)
            throw new DataFormatException(path, $"not a {Words(Formats)} image");
        string name = FormatName(format);
        if (info.Width < 1 || info.Height < 1)
            throw new DataFormatException(path, $"{name} declares an empty image ({info.Width}x{info.Height})");
        if (Limits.Check(info.Width, info.Height) is { } tooLarge)
            throw new DataFormatException(path, $"{name} {tooLarge}");
        if (format is TiffFormat)
        {
            stream.Position = start;
            if (TiffProblem(stream) is { } problem) throw new DataFormatException(path, problem);
        }

        stream.Position = start;
        Image<Rgb24> image;
        try
        {
            image = Image.Load<Rgb24>(_configuration, stream);
        }
        catch (InvalidMemoryOperationException e)
        {
            throw new DataFormatException(path, $"{name} needs more memory to decode than its {info.Width}x{info.Height} pixels allow (corrupt?)", e);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DataFormatException(path, $"corrupt {name}: " + Describe(e), e);
        }
        using (image)
        {
            // The decoder must give what the header declared; anything else is a corrupt file, not a larger image.
            if (image.Width != info.Width || image.Height != info.Height || Limits.Check(image.Width, image.Height) is not null)
                throw new DataFormatException(path, $"corrupt {name}: declares {info.Width}x{info.Height}, decodes to {image.Width}x{image.Height}");
            return ToBytes(image, channels);
        }
    }

    private static DecodedImage ToBytes(Image<Rgb24> image, int channels)
    {
        int h = image.Height, w = image.Width;
        var pixels = new byte[(long)h * w * channels];
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < h; y++)
            {
                var row = rows.GetRowSpan(y);
                var dst = pixels.AsSpan(y * w * channels, w * channels);
                if (channels == 3)
                {
                    for (int x = 0; x < w; x++)
                    {
                        dst[3 * x] = row[x].R;
                        dst[3 * x + 1] = row[x].G;
                        dst[3 * x + 2] = row[x].B;
                    }
                }
                else
                {
                    for (int x = 0; x < w; x++) dst[x] = (byte)((row[x].R * 77 + row[x].G * 150 + row[x].B * 29) >> 8);
                }
            }
        });
        return new DecodedImage(pixels, channels, h, w);
    }

    /// <summary>Why the TIFF in <paramref name="stream"/> is refused (a CCITT/fax directory, BigTIFF), or null.</summary>
    private static string? TiffProblem(Stream stream)
    {
        long start = stream.Position, length = stream.Length - start;
        Span<byte> head = stackalloc byte[8];
        if (stream.ReadAtLeast(head, 8, throwOnEndOfStream: false) < 8) return "TIFF shorter than its 8-byte header";
        bool little = head[0] == (byte)'I';
        ushort U16(ReadOnlySpan<byte> b) => little ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b);
        uint U32(ReadOnlySpan<byte> b) => little ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b);
        if (U16(head[2..]) != 42) return "BigTIFF (or an unknown TIFF version) is not accepted";

        var visited = new HashSet<uint>();
        uint offset = U32(head[4..]);
        var entry = new byte[12];
        Span<byte> word = stackalloc byte[4];
        for (int directory = 0; offset != 0; directory++)
        {
            if (directory == MaxTiffDirectories) return $"TIFF with more than {MaxTiffDirectories} image directories is not accepted";
            if (!visited.Add(offset) || offset + 2L > length) return null;   // a loop or a bad offset: the decoder reports the corruption
            stream.Position = start + offset;
            if (stream.ReadAtLeast(word[..2], 2, throwOnEndOfStream: false) < 2) return null;
            int count = U16(word);
            if (count > MaxTiffTags) return $"TIFF directory with {count} tags is not accepted (at most {MaxTiffTags})";
            long rows = -1, rowsPerStrip = -1, byteCountsType = 0, byteCountsCount = 0, byteCountsValue = 0;
            for (int t = 0; t < count; t++)
            {
                if (stream.ReadAtLeast(entry, 12, throwOnEndOfStream: false) < 12) return null;
                int tag = U16(entry), type = U16(entry.AsSpan(2));
                long n = U32(entry.AsSpan(4));
                long value = type == 4 ? U32(entry.AsSpan(8)) : U16(entry.AsSpan(8));   // LONG or SHORT, held in the value field
                switch (tag)
                {
                    case 259 when RefusedTiffCompressions.Contains((int)Math.Min(value, int.MaxValue)):
                        return $"TIFF with CCITT/fax compression (method {value}) is refused: the decoder for it is not safe on untrusted files";
                    case 257: rows = value; break;
                    case 278: rowsPerStrip = value; break;
                    case 279: (byteCountsType, byteCountsCount, byteCountsValue) = (type, n, U32(entry.AsSpan(8))); break;
                }
            }
            if (stream.ReadAtLeast(word, 4, throwOnEndOfStream: false) < 4) return null;
            offset = U32(word);
            long next = stream.Position;

            // The decoder sizes its strip buffers from these fields, not from the pixels: a strip of more rows than the image,
            // or a strip said to hold more bytes than the file, would make a small file allocate gigabytes.
            if (rowsPerStrip > rows && rows >= 0 && rowsPerStrip != uint.MaxValue)
                return $"TIFF strips of {rowsPerStrip} rows for an image of {rows} rows are not accepted";
            if (StripBytesBeyond(stream, start, length, little, byteCountsType, byteCountsCount, byteCountsValue) is { } bytes)
                return $"TIFF strip of {bytes} bytes is longer than the file ({length} bytes)";
            stream.Position = next;
        }
        return null;
    }

    /// <summary>The first strip byte count above the file's length, or null (also when the field cannot be read: the decoder reports that).</summary>
    private static long? StripBytesBeyond(Stream stream, long start, long length, bool little, long type, long count, long value)
    {
        int size = type switch { 3 => 2, 4 => 4, _ => 0 };
        if (size == 0 || count < 1) return null;
        if (count * size <= 4)
        {
            // Inline: one LONG, or one or two SHORTs, in the value field (read as a 32-bit word in file order).
            Span<byte> inline = stackalloc byte[4];
            if (little) BinaryPrimitives.WriteUInt32LittleEndian(inline, (uint)value); else BinaryPrimitives.WriteUInt32BigEndian(inline, (uint)value);
            for (int i = 0; i < count; i++)
            {
                long v = size == 4 ? value : little ? BinaryPrimitives.ReadUInt16LittleEndian(inline[(2 * i)..]) : BinaryPrimitives.ReadUInt16BigEndian(inline[(2 * i)..]);
                if (v > length) return v;
            }
            return null;
        }
        if (count > length / size || value + count * size > length) return null;   // the array itself is outside the file
        stream.Position = start + value;
        var array = new byte[count * size];
        if (stream.ReadAtLeast(array, array.Length, throwOnEndOfStream: false) < array.Length) return null;
        for (int i = 0; i < count; i++)
        {
            var at = array.AsSpan(i * size, size);
            long v = size == 4
                ? little ? BinaryPrimitives.ReadUInt32LittleEndian(at) : BinaryPrimitives.ReadUInt32BigEndian(at)
                : little ? BinaryPrimitives.ReadUInt16LittleEndian(at) : BinaryPrimitives.ReadUInt16BigEndian(at);
            if (v > length) return v;
        }
        return null;
    }

    private static string FormatName(IImageFormat format) => format switch
    {
        PngFormat => "PNG",
        JpegFormat => "JPEG",
        BmpFormat => "BMP",
        GifFormat => "GIF",
        TiffFormat => "TIFF",
        _ => format.Name,
    };

    private static string Words(IReadOnlyList<string> words) => string.Join(", ", words.Take(words.Count - 1)) + " or " + words[^1];

    /// <summary>An exception as a short reason: its message cut to one printable line.</summary>
    private static string Describe(Exception e) => e is SixLabors.ImageSharp.ImageFormatException or NotSupportedException or InvalidDataException or EndOfStreamException
        ? ShortReason(e.Message)
        : $"the decoder failed ({e.GetType().Name})";

    /// <summary>
    /// <paramref name="message"/> as one short line of printable characters: decoders quote bytes of the file in their
    /// messages, and a NUL or an escape sequence must not reach a terminal.
    /// </summary>
    public static string ShortReason(string message, int maxLength = 120)
    {
        var text = new StringBuilder(Math.Min(message.Length, maxLength));
        bool space = false;
        foreach (char c in message)
        {
            if (text.Length >= maxLength) break;
            bool printable = c >= ' ' && c != '\x7f' && !char.IsControl(c) && !char.IsSurrogate(c) && c < '\uFFF0';
            if (!printable || char.IsWhiteSpace(c))
            {
                space = text.Length > 0;
                continue;
            }
            if (space) text.Append(' ');
            space = false;
            text.Append(c);
        }
        if (text.Length >= maxLength && message.Length > maxLength) text.Append('…');
        string result = text.ToString();
        return result.Length == 0 ? "no reason given" : result;
    }
}
