// A folder of PNG/JPEG/BMP/GIF/TGA/TIFF/WebP images, decoded once at load with ImageReader (ImageSharp:
// the declared size is checked against ImageLimits before any pixel buffer exists), resized by
// ImageSharp so the shorter side is imageSize and centre-cropped (torchvision's Resize + CenterCrop),
// and kept as bytes (C, S, S) in memory — a quarter of the float size; CopySample maps them to [-1, 1].
// Meant for small sets (thousands); files decode in parallel (one per core) into per-index slots, so
// the result does not depend on scheduling. A file that cannot be used is skipped with a one-line
// reason and its kind (SkippedFile), or, when strict, is an error naming it.
//
// Layout: when `classFolders` is true (or null and the root holds no image files but has
// subfolders), every subfolder of the root is a class, labels numbered in ordinal order of
// the folder names, and images are searched recursively inside each. Otherwise every image
// under the root, recursively, is one unlabelled sample. Files are taken in ordinal path
// order so the index of each image is stable across machines.
using GpuGan.Gan.Imaging;

namespace GpuGan.Gan.Data;

/// <summary>A file the loader could not use, and why.</summary>
/// <param name="Path">The file.</param>
/// <param name="Reason">One short printable line.</param>
/// <param name="Kind">The sort of problem (config.json counts skipped files by it).</param>
public sealed record SkippedFile(string Path, string Reason, ImageProblem Kind);

/// <summary>Images read from a folder (optionally one subfolder per class).</summary>
public sealed class ImageFolderDataset : IDataset
{
    /// <summary>Extensions (lower case) taken as images; other files are ignored.</summary>
    public static readonly IReadOnlyList<string> Extensions = ImageReader.Extensions;

    private readonly byte[][] _images; // each (C, S, S)
    private readonly int[] _labels;

    private ImageFolderDataset(string name, byte[][] images, int[] labels, int channels, int size,
        IReadOnlyList<string> classNames, IReadOnlyList<string> files, IReadOnlyList<SkippedFile> skipped, int alphaDropped)
    {
        AlphaDropped = alphaDropped;
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

    /// <summary>How many of the images used had a transparent pixel; their alpha was dropped, not composited.</summary>
    public int AlphaDropped { get; }

    /// <summary>
    /// Decodes every image under <paramref name="directory"/>, resampled so the shorter side is
    /// <paramref name="imageSize"/> and centre-cropped to a square.
    /// </summary>
    /// <param name="directory">Root folder.</param>
    /// <param name="imageSize">Side of the square samples.</param>
    /// <param name="channels">1 (grey, ITU-R 601 luma as PIL's convert("L")) or 3 (RGB; alpha dropped).</param>
    /// <param name="classFolders">One subfolder per class; null decides from the layout (see file header).</param>
    /// <param name="resize">The resampling filter.</param>
    /// <param name="limits">The largest image decoded; larger ones are skipped with the reason. Null: <see cref="ImageLimits.Standard"/>.</param>
    /// <param name="limit">Use at most this many images: the first in path order (null: all).</param>
    /// <param name="strict">A file that cannot be used is an error naming it instead of being skipped.</param>
    /// <exception cref="DataFormatException">The folder is missing or holds no readable image; with <paramref name="strict"/>, the first unusable file in path order.</exception>
    public static ImageFolderDataset Load(string directory, int imageSize, int channels = 3, bool? classFolders = null,
        ResizeFilter resize = ResizeFilter.Bilinear, ImageLimits? limits = null, int? limit = null, bool strict = false)
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
        var decoded = new DecodedImage?[entries.Count];
        var errors = new DataFormatException?[entries.Count];
        var images = new List<byte[]>();
        var labels = new List<int>();
        var files = new List<string>();
        var skipped = new List<SkippedFile>();
        int alphaDropped = 0;
        for (int next = 0; next < entries.Count && images.Count < wanted;)
        {
            int chunk = limit is null ? entries.Count - next : Math.Min(entries.Count - next, Math.Max(64, wanted - images.Count));
            Parallel.For(next, next + chunk, i =>
            {
                try
                {
                    decoded[i] = reader.ReadResized(entries[i].Path, channels, imageSize, imageSize, resize, ImageFit.CenterCrop);
                }
                catch (DataFormatException e)
                {
                    errors[i] = e;
                }
            });
            for (int i = next; i < next + chunk && images.Count < wanted; i++)
            {
                if (decoded[i] is { } img)
                {
                    images.Add(img.PlanarBytes());
                    if (img.DroppedAlpha) alphaDropped++;
                    labels.Add(entries[i].Label);
                    files.Add(entries[i].Path);
                }
                else if (strict) throw errors[i]!;
                else skipped.Add(new SkippedFile(entries[i].Path, errors[i]!.Problem, errors[i]!.Kind ?? ImageProblem.Corrupt));
                decoded[i] = null;
            }
            next += chunk;
        }
        if (images.Count == 0 && wanted > 0) throw NothingUsable(directory, skipped);

        string name = $"folder:{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)))}";
        return new ImageFolderDataset(name, images.ToArray(), labels.ToArray(), channels, imageSize,
            byClass ? classNames : [], files, skipped, alphaDropped);
    }

    /// <summary>The error for a folder none of whose files could be used: how many of each kind, and the first file's reason.</summary>
    internal static DataFormatException NothingUsable(string directory, IReadOnlyList<SkippedFile> skipped, string what = "readable image")
    {
        if (skipped.Count == 0)
            return new DataFormatException(directory, $"no {what} in the folder (no file named {string.Join(", ", Extensions)})");
        var kinds = skipped.GroupBy(s => s.Kind).OrderBy(g => g.Key).Select(g => $"{g.Count()} {SkipWords(g.Key)}");
        return new DataFormatException(directory, $"no {what} in the folder: all {skipped.Count} image file(s) refused ({string.Join(", ", kinds)}); " +
            $"first: {Path.GetFileName(skipped[0].Path)}: {skipped[0].Reason}");
    }

    /// <summary>The kind of a skipped file in words.</summary>
    public static string SkipWords(ImageProblem kind) => kind switch
    {
        ImageProblem.Unreadable => "unreadable",
        ImageProblem.NotAnImage => "not an image",
        ImageProblem.TooLarge => "above the size limits",
        ImageProblem.Refused => "refused format variant",
        ImageProblem.Corrupt => "truncated or corrupt",
        ImageProblem.Unpaired => "without a partner",
        _ => kind.ToString(),
    };

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
}
