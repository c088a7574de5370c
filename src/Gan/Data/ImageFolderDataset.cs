// A folder of PNG/JPEG/BMP/GIF/TIFF images, decoded once at load with ImageReader (ImageSharp:
// the declared size is checked against ImageLimits before any pixel buffer exists), resampled and
// centre-cropped to imageSize × imageSize one channel plane at a time, and kept as bytes (C, S, S)
// in memory — a quarter of the float size; CopySample maps them to [-1, 1]. Meant for small sets
// (thousands). A file that cannot be used is skipped with a one-line reason (SkippedFile).
//
// Layout: when `classFolders` is true (or null and the root holds no image files but has
// subfolders), every subfolder of the root is a class, labels numbered in ordinal order of
// the folder names, and images are searched recursively inside each. Otherwise every image
// under the root, recursively, is one unlabelled sample. Files are taken in ordinal path
// order so the index of each image is stable across machines.
using GpuGan.Gan.Imaging;

namespace GpuGan.Gan.Data;

/// <summary>A file the loader could not use, and why.</summary>
public sealed record SkippedFile(string Path, string Reason);

/// <summary>Images read from a folder (optionally one subfolder per class).</summary>
public sealed class ImageFolderDataset : IDataset
{
    /// <summary>Extensions (lower case) taken as images; other files are ignored.</summary>
    public static readonly IReadOnlyList<string> Extensions = ImageReader.Extensions;

    private readonly byte[][] _images; // each (C, S, S)
    private readonly int[] _labels;

    private ImageFolderDataset(string name, byte[][] images, int[] labels, int channels, int size,
        IReadOnlyList<string> classNames, IReadOnlyList<string> files, IReadOnlyList<SkippedFile> skipped)
    {
        Name = name;
        _images = images;
        _labels = labels;
        Channels = channels;
        Height = Width = size;
        ClassNames = classNames;
        Files = files;
        Skipped = skipped;
    }

    /// <inheritdoc/>
    public int Count => _images.Length;

    /// <inheritdoc/>
    public int Channels { get; }

    /// <inheritdoc/>
    public int Height { get; }

    /// <inheritdoc/>
    public int Width { get; }

    /// <inheritdoc/>
    public int ClassCount => ClassNames.Count;

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>Class names (subfolder names) in label order; empty when unlabelled.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Path of each sample's file, by sample index.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Image files that could not be used (corrupt, above the limits, a refused format), with a one-line reason, in path order.</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }

    /// <summary>
    /// Decodes every image under <paramref name="directory"/>, resampled so the shorter side is
    /// <paramref name="imageSize"/> and centre-cropped to a square.
    /// </summary>
    /// <param name="directory">Root folder.</param>
    /// <param name="imageSize">Side of the square samples.</param>
    /// <param name="channels">1 (grey, stb's integer luma) or 3 (RGB; alpha dropped).</param>
    /// <param name="classFolders">One subfolder per class; null decides from the layout (see file header).</param>
    /// <param name="resize">Resampling; Auto uses area when shrinking and bilinear when enlarging.</param>
    /// <param name="limits">The largest image decoded; larger ones are skipped with the reason. Null: <see cref="ImageLimits.Standard"/>.</param>
    /// <param name="limit">Use at most this many images: the first in path order (null: all).</param>
    /// <exception cref="DataFormatException">The folder is missing or holds no readable image.</exception>
    public static ImageFolderDataset Load(string directory, int imageSize, int channels = 3, bool? classFolders = null,
        ResizeMode resize = ResizeMode.Auto, ImageLimits? limits = null, int? limit = null)
    {
        if (limit is < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must not be negative");
        var reader = new ImageReader(limits);
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be positive");
        if (channels != 1 && channels != 3) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 or 3");
        if (!Directory.Exists(directory)) throw new DataFormatException(directory, "missing: no such folder");

        var rootImages = ImagesUnder(directory, SearchOption.TopDirectoryOnly);
        var subfolders = Directory.GetDirectories(directory).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        bool byClass = classFolders ?? (rootImages.Count == 0 && subfolders.Length > 0);

        var entries = new List<(string Path, int Label)>();
        var classNames = new List<string>();
        if (byClass)
        {
            foreach (string sub in subfolders)
            {
                int label = classNames.Count;
                classNames.Add(Path.GetFileName(sub));
                foreach (string file in ImagesUnder(sub, SearchOption.AllDirectories)) entries.Add((file, label));
            }
        }
        else
        {
            foreach (string file in ImagesUnder(directory, SearchOption.AllDirectories)) entries.Add((file, -1));
        }

        // Decode in parallel into per-index slots, so the result does not depend on scheduling; with a limit, in chunks
        // of path order until enough images are usable, so a limit of 100 does not decode a folder of 100 000.
        int wanted = limit ?? int.MaxValue;
        var decoded = new byte[]?[entries.Count];
        var reasons = new string?[entries.Count];
        var images = new List<byte[]>();
        var labels = new List<int>();
        var files = new List<string>();
        var skipped = new List<SkippedFile>();
        for (int next = 0; next < entries.Count && images.Count < wanted;)
        {
            int chunk = limit is null ? entries.Count - next : Math.Min(entries.Count - next, Math.Max(64, wanted - images.Count));
            Parallel.For(next, next + chunk, i =>
            {
                try
                {
                    decoded[i] = Decode(reader, entries[i].Path, imageSize, channels, resize);
                }
                catch (DataFormatException e)
                {
                    reasons[i] = e.Problem;
                }
            });
            for (int i = next; i < next + chunk && images.Count < wanted; i++)
            {
                if (decoded[i] is { } img)
                {
                    images.Add(img);
                    labels.Add(entries[i].Label);
                    files.Add(entries[i].Path);
                }
                else skipped.Add(new SkippedFile(entries[i].Path, reasons[i] ?? "unknown error"));
                decoded[i] = null;
            }
            next += chunk;
        }
        if (images.Count == 0 && wanted > 0)
            throw new DataFormatException(directory,
                $"no readable image ({string.Join(", ", Extensions)}) in the folder; {skipped.Count} skipped"
                + (skipped.Count > 0 ? $", first: {Path.GetFileName(skipped[0].Path)}: {skipped[0].Reason}" : ""));

        string name = $"folder:{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)))}";
        return new ImageFolderDataset(name, images.ToArray(), labels.ToArray(), channels, imageSize,
            byClass ? classNames : [], files, skipped);
    }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckIndex(this, index);
        DatasetExtensions.CheckDestination(this, destination);
        var img = _images[index];
        for (int i = 0; i < img.Length; i++) destination[i] = img[i] / 127.5f - 1f;
    }

    /// <inheritdoc/>
    public int Label(int index)
    {
        DatasetExtensions.CheckIndex(this, index);
        return _labels[index];
    }

    private static List<string> ImagesUnder(string directory, SearchOption option) =>
        Directory.EnumerateFiles(directory, "*", option)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();

    // Decodes one file to (C, size, size) bytes, one channel plane at a time (a float copy of one plane, not of three).
    private static byte[] Decode(ImageReader reader, string path, int size, int channels, ResizeMode resize)
    {
        var image = reader.Read(path, channels);
        int h = image.Height, w = image.Width, plane = h * w;
        var source = new float[plane];
        var resized = new float[size * size];
        var bytes = new byte[channels * size * size];
        for (int c = 0; c < channels; c++)
        {
            for (int p = 0; p < plane; p++) source[p] = image.Pixels[p * channels + c];
            ImageResize.ResizeCenterCrop(source, 1, h, w, resized, size, resize);
            var target = bytes.AsSpan(c * size * size, size * size);
            for (int i = 0; i < target.Length; i++) target[i] = (byte)Math.Clamp(MathF.Round(resized[i]), 0f, 255f);
        }
        return bytes;
    }
}
