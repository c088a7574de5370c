// Reading one image file from an untrusted folder, with SixLabors.ImageSharp 2.1.13.
//
// Order of checks, so that a hostile file costs little:
//   1. Image.Identify reads the header only (no pixel buffer) and names the format; only the formats
//      of the allow-list below are configured, so nothing else is even identified.
//   2. The declared width × height is held to ImageLimits before anything is decoded: a 572 KB PNG
//      that declares 14000 × 14000 is refused by name instead of taking 3 GB.
//   0. WebP: the RIFF chunk sizes are held to the file's length first (ImageSharp 2.1 allocates a chunk's
//      declared size to identify it: a 491-byte file took 788 MB; found by the fuzz test).
//   3. TIFF: every image directory is walked (bounded) and CCITT/fax compression (methods 2, 3, 4)
//      is refused: ImageSharp 2.1's decoder for it has an out-of-bounds write (reported in 2026).
//      So are strips the decoder would size from the header rather than the pixels: more rows per
//      strip than the image has, or more bytes than the file holds (found by the fuzz test).
//   4. Only then the first frame is decoded (multi-frame GIF and TIFF: the first frame only, so a small
//      file of ten thousand frames does not allocate ten thousand canvases; ImageSharp 2.x's WebP decoder
//      has no first-frame option, and animated WebP is not covered by the corpus), into RGBA, and the
//      EXIF orientation is applied (a portrait photo stored sideways comes out upright, as PIL's
//      ImageOps.exif_transpose and every viewer show it).
// As a backstop the decoder's allocator refuses any single buffer above 16 bytes per allowed pixel.
// Every failure is a DataFormatException whose problem is one short printable line, never raw bytes,
// and whose Kind says which sort of failure it is (the run counts skipped files by kind).
//
// Channels: alpha is dropped, not composited (PIL's convert("RGB") does the same); DecodedImage says
// when an image had any pixel that was not opaque, so the caller can note it once. Grey is ITU-R 601
// luma with PIL's fixed-point rounding, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16, so that
// convert("L") in PIL and this reader give the same bytes (checked on the fixture corpus).
//
// Resampling (ReadResized) is ImageSharp's, in the file's gamma space (no companding) as PIL and
// torchvision resize; the filters scale their support when shrinking (antialiased), as PIL's do.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using GpuGan.Gan.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using SixLabors.ImageSharp.Processing.Processors.Transforms;

namespace GpuGan.Gan.Imaging;

/// <summary>A decoded image: interleaved (H, W, C) bytes, C = 1 (grey) or 3 (RGB).</summary>
/// <param name="Pixels">(H, W, C) bytes.</param>
/// <param name="Channels">1 or 3.</param>
/// <param name="Height">Rows.</param>
/// <param name="Width">Columns.</param>
/// <param name="DroppedAlpha">The file had an alpha channel with at least one pixel that was not opaque; it was dropped, not composited.</param>
public sealed record DecodedImage(byte[] Pixels, int Channels, int Height, int Width, bool DroppedAlpha = false)
{
    /// <summary>The pixels as planar (C, H, W) bytes.</summary>
    public byte[] PlanarBytes()
    {
        if (Channels == 1) return Pixels;
        int plane = Height * Width;
        var planar = new byte[Pixels.Length];
        for (int p = 0; p < plane; p++)
            for (int c = 0; c < Channels; c++)
                planar[c * plane + p] = Pixels[p * Channels + c];
        return planar;
    }
}

/// <summary>The resampling filter of <see cref="ImageReader.ReadResized"/> (ImageSharp's resamplers, antialiased when shrinking).</summary>
public enum ResizeFilter
{
    /// <summary>Box filter: the mean of the source pixels under each output pixel (PIL's BOX, OpenCV's INTER_AREA).</summary>
    Area,
    /// <summary>Triangle filter: bilinear interpolation, support widened when shrinking (PIL's BILINEAR, torchvision's Resize(antialias=True)).</summary>
    Bilinear,
    /// <summary>Cubic convolution with a = −0.5 (PIL's BICUBIC).</summary>
    Bicubic,
    /// <summary>Lanczos with three lobes (PIL's LANCZOS).</summary>
    Lanczos,
}

/// <summary>How <see cref="ImageReader.ReadResized"/> fits an image to the requested size.</summary>
public enum ImageFit
{
    /// <summary>Scale so the image covers the target, keeping its aspect ratio, and keep the centre (torchvision's Resize(S) then CenterCrop(S)).</summary>
    CenterCrop,
    /// <summary>Scale each axis to the target, whatever the aspect ratio.</summary>
    Stretch,
}

/// <summary>
/// Decodes PNG, JPEG, BMP, GIF, TGA, TIFF and WebP files after checking their declared size against <see cref="ImageLimits"/>
/// (see the file header for the order of checks). One reader may be used from several threads.
/// </summary>
public sealed class ImageReader
{
    /// <summary>The formats read (by content, not by file name).</summary>
    public static readonly IReadOnlyList<string> Formats = ["PNG", "JPEG", "BMP", "GIF", "TGA", "TIFF", "WebP"];

    /// <summary>File name extensions (lower case) of those formats.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".tif", ".tiff", ".webp"];

    /// <summary>TIFF compression methods refused: CCITT modified Huffman RLE (2), CCITT T.4 / Group 3 fax (3), T.6 / Group 4 fax (4).</summary>
    public static readonly IReadOnlyList<int> RefusedTiffCompressions = [2, 3, 4];

    // Bounds of the TIFF directory walk: real files have one directory per page and a few dozen tags.
    private const int MaxTiffDirectories = 256, MaxTiffTags = 4096;

    private readonly Configuration _configuration;
    private readonly SmallImageResampler _small = new();

    // Files up to this size are read whole into a pooled buffer and decoded from memory: one read instead of a 64 KB
    // FileStream buffer per file (a 28 x 28 PNG is 400 bytes) and the header and pixel passes over the same bytes.
    private const int WholeFileBytes = 1 << 20;

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
            new GifConfigurationModule(), new TgaConfigurationModule(), new TiffConfigurationModule(), new WebpConfigurationModule())
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

    /// <summary>Decode into L8 or Rgb24 where the header shows nothing is lost (false: always Rgba32; tests compare the two).</summary>
    internal bool DecodeDirect { get; init; } = true;

    /// <summary>Resample tiny images with <see cref="SmallImageResampler"/> (false: always ImageSharp; tests compare the two).</summary>
    internal bool OwnResampler { get; init; } = true;

    /// <summary>Decodes the file at <paramref name="path"/> to <paramref name="channels"/> channels (1 or 3), at its own size.</summary>
    /// <exception cref="DataFormatException">Unreadable, not an allowed format, above the limits, a refused TIFF compression, or corrupt.</exception>
    public DecodedImage Read(string path, int channels) => WithFile(path, stream => Decode(stream, path, channels, resize: null));

    /// <summary>Decodes the image in <paramref name="stream"/> (readable and seekable); <paramref name="path"/> names it in errors.</summary>
    /// <exception cref="DataFormatException">Not an allowed format, above the limits, a refused TIFF compression, or corrupt.</exception>
    public DecodedImage Read(Stream stream, string path, int channels) => Decode(stream, path, channels, resize: null);

    /// <summary>
    /// Decodes the file at <paramref name="path"/> to <paramref name="channels"/> channels and resamples it with
    /// <paramref name="filter"/> to <paramref name="height"/> × <paramref name="width"/> as <paramref name="fit"/> says.
    /// </summary>
    /// <exception cref="DataFormatException">Unreadable, not an allowed format, above the limits, a refused TIFF compression, or corrupt.</exception>
    public DecodedImage ReadResized(string path, int channels, int height, int width, ResizeFilter filter, ImageFit fit = ImageFit.CenterCrop)
    {
        var options = Options(height, width, filter, fit);
        return WithFile(path, stream => Decode(stream, path, channels, options));
    }

    /// <summary>
    /// Resamples <paramref name="image"/> (already decoded) with <paramref name="filter"/> to <paramref name="height"/> ×
    /// <paramref name="width"/> as <paramref name="fit"/> says; <paramref name="region"/> is cut out first when given.
    /// </summary>
    public static DecodedImage Resize(DecodedImage image, int height, int width, ResizeFilter filter, ImageFit fit = ImageFit.CenterCrop, Rectangle? region = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var options = Options(height, width, filter, fit);
        if (region is { } box && !new Rectangle(0, 0, image.Width, image.Height).Contains(box))
            throw new ArgumentOutOfRangeException(nameof(region), region, $"outside the {image.Width}x{image.Height} image");
        void Apply(IImageProcessingContext x)
        {
            if (region is { } box) x.Crop(box);
            Fit(x, options);
        }
        if (image.Channels == 3)
        {
            using var rgb = Image.LoadPixelData<Rgb24>(image.Pixels, image.Width, image.Height);
            rgb.Mutate(Apply);
            var pixels = new byte[rgb.Width * rgb.Height * 3];
            rgb.CopyPixelDataTo(pixels);
            return new DecodedImage(pixels, 3, rgb.Height, rgb.Width, image.DroppedAlpha);
        }
        using var grey = Image.LoadPixelData<L8>(image.Pixels, image.Width, image.Height);
        grey.Mutate(Apply);
        return Bytes(grey, image.DroppedAlpha);
    }

    /// <summary>A resampling target: size, filter and fit.</summary>
    private sealed record Target(int Height, int Width, ResizeFilter Filter, ImageFit Fit);

    private static Target Options(int height, int width, ResizeFilter filter, ImageFit fit)
    {
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"target size {height}x{width} is empty");
        if (!Enum.IsDefined(filter)) throw new ArgumentOutOfRangeException(nameof(filter), filter, "not a known filter");
        if (!Enum.IsDefined(fit)) throw new ArgumentOutOfRangeException(nameof(fit), fit, "not a known fit");
        return new Target(height, width, filter, fit);
    }

    /// <summary>
    /// Resizes the image in <paramref name="x"/> to <paramref name="target"/>. Centre crop follows torchvision's Resize(S) +
    /// CenterCrop(S) to the pixel: the side that must fit becomes the target, the other int(target · long / short), then the
    /// crop starts at round((n − S) / 2), rounding half to even as Python does. (ImageSharp's own crop mode places the
    /// window at a sub-pixel offset instead: 4.7 to 10 grey levels from PIL on non-square photos, against 0.07 this way.)
    /// </summary>
    private static void Fit(IImageProcessingContext x, Target target)
    {
        var size = x.GetCurrentSize();
        var (nh, nw, top, left) = Window(size.Height, size.Width, target);
        if (nw != size.Width || nh != size.Height)
            x.Resize(new ResizeOptions
            {
                Size = new Size(nw, nh),
                Mode = SixLabors.ImageSharp.Processing.ResizeMode.Stretch,
                Sampler = Resampler(target.Filter),
                Compand = false,
            });
        if (nw != target.Width || nh != target.Height) x.Crop(new Rectangle(left, top, target.Width, target.Height));
    }

    /// <summary>The size an image of <paramref name="height"/> × <paramref name="width"/> is resampled to, and where the target's window starts in it (see <see cref="Fit"/>).</summary>
    private static (int Height, int Width, int Top, int Left) Window(int height, int width, Target target)
    {
        int nw = target.Width, nh = target.Height;
        if (target.Fit == ImageFit.CenterCrop)
        {
            if ((long)target.Width * height >= (long)target.Height * width)
                nh = Math.Max(target.Height, (int)((long)height * target.Width / width));
            else
                nw = Math.Max(target.Width, (int)((long)width * target.Height / height));
        }
        int left = (int)Math.Round((nw - target.Width) / 2.0, MidpointRounding.ToEven);
        int top = (int)Math.Round((nh - target.Height) / 2.0, MidpointRounding.ToEven);
        return (nh, nw, top, left);
    }

    /// <summary>ImageSharp's resampler for <paramref name="filter"/>.</summary>
    public static IResampler Resampler(ResizeFilter filter) => filter switch
    {
        ResizeFilter.Area => KnownResamplers.Box,
        ResizeFilter.Bilinear => KnownResamplers.Triangle,
        ResizeFilter.Bicubic => KnownResamplers.Bicubic,
        ResizeFilter.Lanczos => KnownResamplers.Lanczos3,
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "not a known filter"),
    };

    /// <summary>Runs <paramref name="decode"/> on the file's bytes: read whole into a pooled buffer when small, else streamed.</summary>
    private static DecodedImage WithFile(string path, Func<Stream, DecodedImage> decode)
    {
        byte[]? buffer = null;
        MemoryStream? memory = null;
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            try
            {
                long length = file.Length;
                if (length <= WholeFileBytes)
                {
                    buffer = ArrayPool<byte>.Shared.Rent((int)length);
                    int read = file.ReadAtLeast(buffer.AsSpan(0, (int)length), (int)length, throwOnEndOfStream: false);
                    memory = new MemoryStream(buffer, 0, read, writable: false);
                    file.Dispose();
                }
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            throw new DataFormatException(path, "cannot open: " + ShortReason(e.Message), e) { Kind = ImageProblem.Unreadable };
        }
        if (memory is not null)
        {
            try
            {
                return decode(memory);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer!);
            }
        }
        // Large files: ImageSharp reads through its own buffered stream; a small buffer here serves the TIFF/WebP walks.
        using var large = new BufferedStream(file, 1 << 12);
        return decode(large);
    }

    private DecodedImage Decode(Stream stream, string path, int channels, Target? resize)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 or 3");
        if (!stream.CanSeek) throw new ArgumentException("the stream must be seekable (the header is read before the pixels)", nameof(stream));
        long start = stream.Position;

        // WebP's structure is checked before identification: ImageSharp 2.1 reads a whole chunk to identify the file.
        if (WebpProblem(stream) is { } webp) throw new DataFormatException(path, webp) { Kind = ImageProblem.Corrupt };
        stream.Position = start;

        IImageInfo? info;
        IImageFormat? format;
        try
        {
            info = Image.Identify(_configuration, stream, out format);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DataFormatException(path, "unreadable image header: " + Describe(e), e) { Kind = ImageProblem.Corrupt };
        }
        if (info is null || format is null)
            throw new DataFormatException(path, $"not a {Words(Formats)} image") { Kind = ImageProblem.NotAnImage };
        string name = FormatName(format);
        if (info.Width < 1 || info.Height < 1)
            throw new DataFormatException(path, $"{name} declares an empty image ({info.Width}x{info.Height})") { Kind = ImageProblem.Corrupt };
        if (Limits.Check(info.Width, info.Height) is { } tooLarge)
            throw new DataFormatException(path, $"{name} {tooLarge}") { Kind = ImageProblem.TooLarge };
        if (format is TiffFormat)
        {
            stream.Position = start;
            if (TiffProblem(stream) is { } problem) throw new DataFormatException(path, problem) { Kind = ImageProblem.Refused };
        }

        stream.Position = start;
        // Decode straight into the pixels needed where the header proves it loses nothing: a grey file without transparency
        // into L8 for grey, a file without alpha into Rgb24 (no alpha pass, a quarter less memory); the rest into Rgba32.
        var direct = DecodeDirect ? DirectPixels(format, info, channels) : null;
        if (direct == typeof(L8))
        {
            using var grey = Load<L8>(stream, path, name, info);
            return Finish(grey, resize, alpha: false);
        }
        if (direct == typeof(Rgb24))
        {
            using var rgb = Load<Rgb24>(stream, path, name, info);
            if (channels == 3) return Finish(rgb, resize, alpha: false);
            using var fromRgb = Grey(rgb);
            return Finish(fromRgb, resize, alpha: false);
        }
        using var image = Load<Rgba32>(stream, path, name, info);
        bool alpha = DropAlpha(image);
        if (channels == 3) return Finish(image, resize, alpha);
        using var fromRgba = Grey(image);
        return Finish(fromRgba, resize, alpha);
    }

    /// <summary>
    /// The pixel type that decodes this file exactly as the Rgba32 path would, or null for Rgba32: L8 for a grey PNG without
    /// tRNS or a grey JPEG when grey is wanted; Rgb24 for a PNG without alpha or tRNS (grey or RGB) and any JPEG.
    /// The header's metadata says which (ImageSharp's Identify reads tRNS, which comes before IDAT); tests check the
    /// two paths give the same bytes on the whole fixture corpus.
    /// </summary>
    private static Type? DirectPixels(IImageFormat format, IImageInfo info, int channels)
    {
        bool grey, opaque;
        switch (format)
        {
            case PngFormat:
                var png = info.Metadata.GetPngMetadata();
                grey = png.ColorType == PngColorType.Grayscale;
                opaque = !png.HasTransparency && png.ColorType is PngColorType.Grayscale or PngColorType.Rgb;
                break;
            case JpegFormat:
                var jpeg = info.Metadata.GetJpegMetadata();
                grey = jpeg.ColorType == JpegColorType.Luminance;
                opaque = jpeg.ColorType is not null;
                break;
            default:
                return null;
        }
        if (!opaque) return null;
        return grey && channels == 1 ? typeof(L8) : typeof(Rgb24);
    }

    /// <summary>Decodes the first frame as <typeparamref name="TPixel"/>, checks it against the header and applies the EXIF orientation.</summary>
    private Image<TPixel> Load<TPixel>(Stream stream, string path, string name, IImageInfo info)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        Image<TPixel> image;
        try
        {
            image = Image.Load<TPixel>(_configuration, stream);
        }
        catch (InvalidMemoryOperationException e)
        {
            throw new DataFormatException(path, $"{name} needs more memory to decode than its {info.Width}x{info.Height} pixels allow (corrupt?)", e) { Kind = ImageProblem.Corrupt };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DataFormatException(path, $"corrupt {name}: " + Describe(e), e) { Kind = ImageProblem.Corrupt };
        }
        try
        {
            // The decoder must give what the header declared; anything else is a corrupt file, not a larger image.
            if (image.Width != info.Width || image.Height != info.Height || Limits.Check(image.Width, image.Height) is not null)
                throw new DataFormatException(path, $"corrupt {name}: declares {info.Width}x{info.Height}, decodes to {image.Width}x{image.Height}") { Kind = ImageProblem.Corrupt };
            // Without an EXIF profile there is no orientation to apply (AutoOrient would only build a processing context).
            if (image.Metadata.ExifProfile is not null)
            {
                try
                {
                    image.Mutate(x => x.AutoOrient());
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    throw new DataFormatException(path, $"corrupt {name} orientation: " + Describe(e), e) { Kind = ImageProblem.Corrupt };
                }
            }
            return image;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The decoded image's bytes, resampled to <paramref name="resize"/> when given: tiny grey images by our copy of
    /// ImageSharp's resize with cached kernel maps (SmallImageResampler), the others by ImageSharp; an image already of the
    /// target size is not resampled.
    /// </summary>
    private DecodedImage Finish<TPixel>(Image<TPixel> image, Target? resize, bool alpha)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        if (resize is null) return Bytes(image, alpha);
        var (nh, nw, top, left) = Window(image.Height, image.Width, resize);
        if (nw == image.Width && nh == image.Height && top == 0 && left == 0) return Bytes(image, alpha);
        if (OwnResampler && image is Image<L8> && SmallImageResampler.Takes(image.Width, image.Height, nw, nh))
        {
            var bytes = Bytes(image, alpha);
            var pixels = _small.Resize(bytes.Pixels, bytes.Channels, bytes.Height, bytes.Width, nh, nw, top, left, resize.Height, resize.Width, resize.Filter);
            return new DecodedImage(pixels, bytes.Channels, resize.Height, resize.Width, alpha);
        }
        image.Mutate(x => Fit(x, resize));
        return Bytes(image, alpha);
    }

    /// <summary>Makes every pixel opaque; true when any was not (the file's alpha is dropped, not composited, as PIL's convert("RGB")).</summary>
    private static bool DropAlpha(Image<Rgba32> image)
    {
        bool any = false;
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
                foreach (ref var p in rows.GetRowSpan(y))
                {
                    if (p.A != 255)
                    {
                        any = true;
                        p.A = 255;
                    }
                }
        });
        return any;
    }

    /// <summary>ITU-R 601 luma with PIL's rounding: (19595 R + 38470 G + 7471 B + 2^15) >> 16, the weights 0.299, 0.587, 0.114 in 16-bit fixed point.</summary>
    public static byte Luma(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    /// <summary>Grey by <see cref="Luma"/> from 8-bit RGB or RGBA pixels (alpha ignored); generic over the two so the JIT compiles one loop per pixel type.</summary>
    private Image<L8> Grey<TPixel>(Image<TPixel> image) where TPixel : unmanaged, IPixel<TPixel>
    {
        var grey = new Image<L8>(_configuration, image.Width, image.Height);
        grey.ProcessPixelRows(image, (dst, src) =>
        {
            Rgba32 c = default;
            for (int y = 0; y < src.Height; y++)
            {
                var s = src.GetRowSpan(y);
                var d = dst.GetRowSpan(y);
                for (int x = 0; x < s.Length; x++)
                {
                    s[x].ToRgba32(ref c);
                    d[x] = new L8(Luma(c.R, c.G, c.B));
                }
            }
        });
        return grey;
    }

    /// <summary>The pixels as (H, W, C) bytes: L8 as grey, Rgb24 as RGB, Rgba32 as RGB without its alpha.</summary>
    private static DecodedImage Bytes<TPixel>(Image<TPixel> image, bool alpha)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        switch (image)
        {
            case Image<L8> grey:
            {
                var pixels = new byte[(long)grey.Height * grey.Width];
                grey.CopyPixelDataTo(pixels);
                return new DecodedImage(pixels, 1, grey.Height, grey.Width, alpha);
            }
            case Image<Rgb24> rgb:
            {
                var pixels = new byte[(long)rgb.Height * rgb.Width * 3];
                rgb.CopyPixelDataTo(pixels);
                return new DecodedImage(pixels, 3, rgb.Height, rgb.Width, alpha);
            }
            case Image<Rgba32> rgba:
            {
                int h = rgba.Height, w = rgba.Width;
                var pixels = new byte[(long)h * w * 3];
                rgba.ProcessPixelRows(rows =>
                {
                    for (int y = 0; y < h; y++)
                    {
                        var row = rows.GetRowSpan(y);
                        var dst = pixels.AsSpan(y * w * 3, w * 3);
                        for (int x = 0; x < w; x++)
                        {
                            dst[3 * x] = row[x].R;
                            dst[3 * x + 1] = row[x].G;
                            dst[3 * x + 2] = row[x].B;
                        }
                    }
                });
                return new DecodedImage(pixels, 3, h, w, alpha);
            }
            default:
                throw new ArgumentException($"no byte layout for {typeof(TPixel).Name}", nameof(image));
        }
    }

    /// <summary>
    /// Why the file in <paramref name="stream"/>, when it is a WebP (RIFF....WEBP), is refused, or null: a RIFF chunk that
    /// claims more bytes than the file holds.
    /// ImageSharp 2.1's WebP decoder allocates a chunk's declared size (twice, for VP8) before reading it, so a 500-byte file
    /// whose VP8L chunk says 0x2F0000D8 bytes took 788 MB (found by the fuzz test).
    /// </summary>
    private static string? WebpProblem(Stream stream)
    {
        const int MaxChunks = 1024;
        long start = stream.Position, length = stream.Length - start;
        Span<byte> head = stackalloc byte[12];
        if (stream.ReadAtLeast(head, 12, throwOnEndOfStream: false) < 12 || !head[..4].SequenceEqual("RIFF"u8) || !head[8..].SequenceEqual("WEBP"u8))
            return null;
        long riff = BinaryPrimitives.ReadUInt32LittleEndian(head[4..]);
        if (riff + 8 > length) return $"truncated WebP: the RIFF header declares {riff + 8} bytes, the file holds {length}";
        long end = riff + 8;
        Span<byte> chunk = stackalloc byte[8];
        long offset = 12;
        for (int n = 0; offset + 8 <= end; n++)
        {
            if (n == MaxChunks) return $"WebP with more than {MaxChunks} chunks is not accepted";
            stream.Position = start + offset;
            if (stream.ReadAtLeast(chunk, 8, throwOnEndOfStream: false) < 8) return null;
            long size = BinaryPrimitives.ReadUInt32LittleEndian(chunk[4..]);
            if (offset + 8 + size > end)
                return $"corrupt WebP: a {ShortReason(System.Text.Encoding.ASCII.GetString(chunk[..4]), 4)} chunk declares {size} bytes beyond the file's {length}";
            offset += 8 + size + (size & 1);
        }
        return null;
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
        TgaFormat => "TGA",
        TiffFormat => "TIFF",
        WebpFormat => "WebP",
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
