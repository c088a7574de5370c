// A folder of PNG/JPEG/BMP images, decoded once at load with StbImageSharp, resampled and
// centre-cropped to imageSize × imageSize, and kept as bytes (C, S, S) in memory — a quarter
// of the float size; CopySample maps them to [-1, 1]. Meant for small sets (thousands).
//
// Layout: when `classFolders` is true (or null and the root holds no image files but has
// subfolders), every subfolder of the root is a class, labels numbered in ordinal order of
// the folder names, and images are searched recursively inside each. Otherwise every image
// under the root, recursively, is one unlabelled sample. Files are taken in ordinal path
// order so the index of each image is stable across machines.
using GpuGan.Gan.Imaging;
using StbImageSharp;

namespace GpuGan.Gan.Data;

/// <summary>A file the loader could not use, and why.</summary>
public sealed record SkippedFile(string Path, string Reason);

/// <summary>Images read from a folder (optionally one subfolder per class).</summary>
public sealed class ImageFolderDataset : IDataset
{
    /// <summary>Extensions (lower case) taken as images; other files are ignored.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg", ".bmp"];

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

    /// <summary>Image files that could not be decoded, with the reason, in path order.</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }

    /// <summary>
    /// Decodes every image under <paramref name="directory"/>, resampled so the shorter side is
    /// <paramref name="imageSize"/> and centre-cropped to a square.
    /// </summary>
    /// <param name="directory">Root folder.</param>
    /// <param name="imageSize">Side of the square samples.</param>
    /// <param name="channels">1 (grey, stb's luma) or 3 (RGB; alpha dropped).</param>
    /// <param name="classFolders">One subfolder per class; null decides from the layout (see file header).</param>
    /// <param name="resize">Resampling; Auto uses area when shrinking and bilinear when enlarging.</param>
    /// <exception cref="DataFormatException">The folder is missing or holds no readable image.</exception>
    public static ImageFolderDataset Load(string directory, int imageSize, int channels = 3, bool? classFolders = null,
        ResizeMode resize = ResizeMode.Auto)
    {
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

        // Decode in parallel into per-index slots, so the result does not depend on scheduling.
        var decoded = new byte[]?[entries.Count];
        var reasons = new string?[entries.Count];
        Parallel.For(0, entries.Count, i =>
        {
            try
            {
                decoded[i] = Decode(entries[i].Path, imageSize, channels, resize);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                reasons[i] = e.Message.Length > 0 ? e.Message : e.GetType().Name;
            }
        });

        var images = new List<byte[]>();
        var labels = new List<int>();
        var files = new List<string>();
        var skipped = new List<SkippedFile>();
        for (int i = 0; i < entries.Count; i++)
        {
            if (decoded[i] is { } img)
            {
                images.Add(img);
                labels.Add(entries[i].Label);
                files.Add(entries[i].Path);
            }
            else skipped.Add(new SkippedFile(entries[i].Path, reasons[i] ?? "unknown error"));
        }
        if (images.Count == 0)
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

    // Decodes one file to (C, size, size) bytes.
    private static byte[] Decode(string path, int size, int channels, ResizeMode resize)
    {
        ImageResult result;
        using (var stream = File.OpenRead(path))
            result = ImageResult.FromStream(stream, channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue);
        int h = result.Height, w = result.Width;
        if (h < 1 || w < 1 || result.Data is null || result.Data.Length < h * w * channels)
            throw new InvalidDataException($"decoded image is empty or short ({w}x{h})");

        // Interleaved (H, W, C) bytes → planar (C, H, W) floats, resample, back to bytes.
        var planar = new float[channels * h * w];
        int plane = h * w;
        for (int p = 0; p < plane; p++)
            for (int c = 0; c < channels; c++)
                planar[c * plane + p] = result.Data[p * channels + c];
        var resized = new float[channels * size * size];
        ImageResize.ResizeCenterCrop(planar, channels, h, w, resized, size, resize);
        var bytes = new byte[resized.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)Math.Clamp(MathF.Round(resized[i]), 0f, 255f);
        return bytes;
    }
}
