// Data for the image-to-image families. A sample is the pair (A, B) stacked along channels,
// (C_A + C_B, H, W), so the DataLoader, its shuffling and its resume positioning work unchanged;
// the models split it with Narrow. Aligned sets pair each A with its own B (pix2pix needs that);
// unaligned ones pair A[i] with an unrelated B (CycleGAN): a fixed, seeded pairing, which the
// per-epoch shuffle turns into different B companions within each batch.
//   petri-pairs          A: the dish layout (1 channel: −1 bench, 0 dish, +1 colonies) → B: the photo (3 channels)
//   petri-styles         A: flat synthetic rendering of dish 2i → B: realistic rendering (glare) of dish 2i + 1
//   fashion-mnist-edges  A: edge map of the item (black lines on white) → B: the item (1 channel each)
//   folders              A|B side-by-side images; A/ and B/ with matching file names; trainA/ and trainB/ (unaligned)
using GpuGan.Gan.Imaging;

namespace GpuGan.Gan.Data;

/// <summary>Pairs (A, B) stacked along channels: <see cref="IDataset.Channels"/> = <see cref="ChannelsA"/> + <see cref="ChannelsB"/>.</summary>
public interface IPairedDataset : IDataset
{
    /// <summary>Channels of domain A (the first ones of a sample).</summary>
    int ChannelsA { get; }

    /// <summary>Channels of domain B (the last ones).</summary>
    int ChannelsB { get; }

    /// <summary>True when each A comes with its own B (paired data); false for unpaired domains.</summary>
    bool Aligned { get; }
}

/// <summary>petri-pairs: the layout of a synthetic dish (A, 1 channel) and its photo (B, 3 channels).</summary>
public sealed class PetriPairsDataset : IPairedDataset
{
    private readonly PetriDataset _dishes;

    /// <summary><paramref name="count"/> dishes of <paramref name="imageSize"/>²; (seed, index) fixes each, as in the petri set.</summary>
    public PetriPairsDataset(int count, int imageSize, long seed) => _dishes = new PetriDataset(count, imageSize, seed);

    /// <inheritdoc/>
    public int Count => _dishes.Count;
    /// <inheritdoc/>
    public int Channels => 4;
    /// <inheritdoc/>
    public int ChannelsA => 1;
    /// <inheritdoc/>
    public int ChannelsB => 3;
    /// <inheritdoc/>
    public bool Aligned => true;
    /// <inheritdoc/>
    public int Height => _dishes.Height;
    /// <inheritdoc/>
    public int Width => _dishes.Width;
    /// <inheritdoc/>
    public int ClassCount => 0;
    /// <inheritdoc/>
    public string Name => "petri-pairs";
    /// <inheritdoc/>
    public int Label(int index) { DatasetExtensions.CheckIndex(this, index); return -1; }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckDestination(this, destination);
        int plane = Height * Width;
        _dishes.CopyLayout(index, destination[..plane]);
        _dishes.CopyStyled(index, destination.Slice(plane, 3 * plane), PetriStyle.Photo);
    }
}

/// <summary>petri-styles: unpaired dishes in two lab styles, flat synthetic (A) and realistic with glare (B).</summary>
public sealed class PetriStylesDataset : IPairedDataset
{
    private readonly PetriDataset _dishes;

    /// <summary><paramref name="count"/> samples: A[i] is dish 2i drawn flat, B[i] dish 2i + 1 drawn realistic (different dishes: unpaired).</summary>
    public PetriStylesDataset(int count, int imageSize, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        _dishes = new PetriDataset(2 * count, imageSize, seed);
    }

    /// <inheritdoc/>
    public int Count { get; }
    /// <inheritdoc/>
    public int Channels => 6;
    /// <inheritdoc/>
    public int ChannelsA => 3;
    /// <inheritdoc/>
    public int ChannelsB => 3;
    /// <inheritdoc/>
    public bool Aligned => false;
    /// <inheritdoc/>
    public int Height => _dishes.Height;
    /// <inheritdoc/>
    public int Width => _dishes.Width;
    /// <inheritdoc/>
    public int ClassCount => 0;
    /// <inheritdoc/>
    public string Name => "petri-styles";
    /// <inheritdoc/>
    public int Label(int index) { DatasetExtensions.CheckIndex(this, index); return -1; }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckIndex(this, index);
        DatasetExtensions.CheckDestination(this, destination);
        int part = 3 * Height * Width;
        _dishes.CopyStyled(2 * index, destination[..part], PetriStyle.Flat);
        _dishes.CopyStyled(2 * index + 1, destination.Slice(part, part), PetriStyle.Realistic);
    }
}

/// <summary>fashion-mnist-edges: edge maps of Fashion-MNIST items (A) and the items (B), one channel each.</summary>
public sealed class EdgesDataset : IPairedDataset
{
    private readonly IDataset _items;

    /// <summary>Pairs over the grey images of <paramref name="items"/> (1 channel).</summary>
    public EdgesDataset(IDataset items, string name)
    {
        if (items.Channels != 1) throw new ArgumentException($"{items.Name}: edge maps are drawn from grey images, it has {items.Channels} channels", nameof(items));
        _items = items;
        Name = name;
    }

    /// <inheritdoc/>
    public int Count => _items.Count;
    /// <inheritdoc/>
    public int Channels => 2;
    /// <inheritdoc/>
    public int ChannelsA => 1;
    /// <inheritdoc/>
    public int ChannelsB => 1;
    /// <inheritdoc/>
    public bool Aligned => true;
    /// <inheritdoc/>
    public int Height => _items.Height;
    /// <inheritdoc/>
    public int Width => _items.Width;
    /// <inheritdoc/>
    public int ClassCount => 0;
    /// <inheritdoc/>
    public string Name { get; }
    /// <inheritdoc/>
    public int Label(int index) { DatasetExtensions.CheckIndex(this, index); return -1; }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckDestination(this, destination);
        int plane = Height * Width;
        var item = destination.Slice(plane, plane);
        _items.CopySample(index, item);
        EdgeMap(item, destination[..plane], Height, Width);
    }

    /// <summary>Sobel gradient magnitude on [0, 1] intensities (a unit step gives 4), edges where it exceeds 1: −1 on edges, +1 elsewhere.</summary>
    public static void EdgeMap(ReadOnlySpan<float> image, Span<float> edges, int h, int w)
    {
        float At(ReadOnlySpan<float> img, int y, int x) => (img[Math.Clamp(y, 0, h - 1) * w + Math.Clamp(x, 0, w - 1)] + 1f) * 0.5f;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                float gx = At(image, y - 1, x + 1) + 2 * At(image, y, x + 1) + At(image, y + 1, x + 1)
                         - At(image, y - 1, x - 1) - 2 * At(image, y, x - 1) - At(image, y + 1, x - 1);
                float gy = At(image, y + 1, x - 1) + 2 * At(image, y + 1, x) + At(image, y + 1, x + 1)
                         - At(image, y - 1, x - 1) - 2 * At(image, y - 1, x) - At(image, y - 1, x + 1);
                edges[y * w + x] = gx * gx + gy * gy > 1f ? -1f : 1f;
            }
    }
}

/// <summary>
/// Image pairs from a folder: A|B side-by-side images (the pix2pix data sets' layout; a train/ subfolder is used when
/// present), two folders A/ and B/ with matching file names, or two unpaired folders trainA/ and trainB/ (CycleGAN's).
/// Images are decoded once, resized to size × size (whole, as the reference does) and kept as bytes.
/// </summary>
public sealed class TranslationFolderDataset : IPairedDataset
{
    private readonly byte[][] _a, _b;   // each (C, S, S)
    private readonly int[] _bOf;       // sample i pairs A[i % |A|] with B[_bOf[i]]

    private TranslationFolderDataset(string name, byte[][] a, byte[][] b, int[] bOf, bool aligned, int channels, int size, string layout, IReadOnlyList<SkippedFile> skipped)
    {
        Name = name;
        _a = a;
        _b = b;
        _bOf = bOf;
        Aligned = aligned;
        ChannelsA = ChannelsB = channels;
        Height = Width = size;
        Layout = layout;
        Skipped = skipped;
    }

    /// <inheritdoc/>
    public int Count => _bOf.Length;
    /// <inheritdoc/>
    public int Channels => ChannelsA + ChannelsB;
    /// <inheritdoc/>
    public int ChannelsA { get; }
    /// <inheritdoc/>
    public int ChannelsB { get; }
    /// <inheritdoc/>
    public bool Aligned { get; }
    /// <inheritdoc/>
    public int Height { get; }
    /// <inheritdoc/>
    public int Width { get; }
    /// <inheritdoc/>
    public int ClassCount => 0;
    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>Which layout was found: "A|B images", "A/ and B/", or "trainA/ and trainB/".</summary>
    public string Layout { get; }

    /// <summary>Files that could not be used, and why.</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }

    /// <inheritdoc/>
    public int Label(int index) { DatasetExtensions.CheckIndex(this, index); return -1; }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckIndex(this, index);
        DatasetExtensions.CheckDestination(this, destination);
        var a = _a[index % _a.Length];
        var b = _b[_bOf[index]];
        for (int i = 0; i < a.Length; i++) destination[i] = a[i] / 127.5f - 1f;
        for (int i = 0; i < b.Length; i++) destination[a.Length + i] = b[i] / 127.5f - 1f;
    }

    /// <summary>
    /// Reads the folder (see the class summary for the layouts); <paramref name="seed"/> fixes the pairing of unpaired folders;
    /// images above <paramref name="limits"/> (null: <see cref="ImageLimits.Standard"/>) are skipped with the reason;
    /// <paramref name="limit"/> keeps the first N files of each domain (or pairs, or A|B images) in path order (null: all).
    /// </summary>
    /// <exception cref="DataFormatException">The folder is missing or holds no usable pair; with <paramref name="strict"/>, the first unusable file.</exception>
    public static TranslationFolderDataset Load(string directory, int imageSize, int channels, long seed, ImageLimits? limits = null, int? limit = null,
        ResizeFilter resize = ResizeFilter.Bilinear, bool strict = false)
    {
        if (limit is < 1) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must be at least 1");
        var reader = new ImageReader(limits);
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be positive");
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1 or 3");
        if (!Directory.Exists(directory)) throw new DataFormatException(directory, "missing: no such folder");
        string name = "folder:" + Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        var skipped = new List<SkippedFile>();
        string trainA = Path.Combine(directory, "trainA"), trainB = Path.Combine(directory, "trainB");
        string dirA = Path.Combine(directory, "A"), dirB = Path.Combine(directory, "B");
        if (Directory.Exists(trainA) && Directory.Exists(trainB))
        {
            var a = DecodeAll(reader, Take(Images(trainA), limit), imageSize, channels, skipped, split: false, resize, strict);
            var b = DecodeAll(reader, Take(Images(trainB), limit), imageSize, channels, skipped, split: false, resize, strict);
            if (a.Count == 0 || b.Count == 0) throw Empty(directory, a.Count == 0 ? trainA : trainB, skipped);
            // Every image of both domains once per epoch: max(|A|, |B|) samples, A cycled, B in a seeded order.
            int count = Math.Max(a.Count, b.Count);
            var order = new int[b.Count];
            for (int i = 0; i < order.Length; i++) order[i] = i;
            SplitMix64.ForStream(unchecked((ulong)seed), 0xB0B0).Shuffle<int>(order);
            var bOf = Enumerable.Range(0, count).Select(i => order[i % b.Count]).ToArray();
            return new TranslationFolderDataset(name, a.Select(x => x.A).ToArray(), b.Select(x => x.A).ToArray(), bOf, false, channels, imageSize,
                "trainA/ and trainB/", skipped);
        }
        if (Directory.Exists(dirA) && Directory.Exists(dirB))
        {
            var filesB = Images(dirB).ToDictionary(f => Path.GetRelativePath(dirB, f), StringComparer.Ordinal);
            var pairs = new List<(string A, string B)>();
            foreach (var f in Images(dirA))
            {
                string key = Path.GetRelativePath(dirA, f);
                if (filesB.Remove(key, out var partner)) pairs.Add((f, partner));
                else skipped.Add(Unpaired(f, "no file of the same name in B/", strict));
            }
            foreach (var f in filesB.Values) skipped.Add(Unpaired(f, "no file of the same name in A/", strict));
            if (limit is { } n && n < pairs.Count) pairs = pairs.GetRange(0, n);
            var a = DecodeAll(reader, pairs.Select(p => p.A).ToList(), imageSize, channels, skipped, split: false, resize, strict);
            var b = DecodeAll(reader, pairs.Select(p => p.B).ToList(), imageSize, channels, skipped, split: false, resize, strict);
            // Keep the pairs whose two files both decoded.
            var okA = a.ToDictionary(x => x.Path, x => x.A);
            var okB = b.ToDictionary(x => x.Path, x => x.A);
            var kept = pairs.Where(p => okA.ContainsKey(p.A) && okB.ContainsKey(p.B)).ToList();
            if (kept.Count == 0) throw Empty(directory, dirA, skipped);
            return new TranslationFolderDataset(name, kept.Select(p => okA[p.A]).ToArray(), kept.Select(p => okB[p.B]).ToArray(),
                Enumerable.Range(0, kept.Count).ToArray(), true, channels, imageSize, "A/ and B/", skipped);
        }
        string root = Directory.Exists(Path.Combine(directory, "train")) ? Path.Combine(directory, "train") : directory;
        var both = DecodeAll(reader, Take(Images(root), limit), imageSize, channels, skipped, split: true, resize, strict);
        if (both.Count == 0) throw Empty(directory, root, skipped);
        return new TranslationFolderDataset(name, both.Select(x => x.A).ToArray(), both.Select(x => x.B!).ToArray(),
            Enumerable.Range(0, both.Count).ToArray(), true, channels, imageSize, "A|B images", skipped);
    }

    private static DataFormatException Empty(string directory, string where, List<SkippedFile> skipped) =>
        ImageFolderDataset.NothingUsable(directory, skipped,
            $"usable image pair in {Path.GetFileName(where)} (A|B images, A/ and B/, or trainA/ and trainB/ expected)");

    private static SkippedFile Unpaired(string file, string reason, bool strict) => strict
        ? throw new DataFormatException(file, reason) { Kind = ImageProblem.Unpaired }
        : new SkippedFile(file, reason, ImageProblem.Unpaired);

    private static List<string> Take(List<string> files, int? limit) => limit is { } n && n < files.Count ? files.GetRange(0, n) : files;

    private static List<string> Images(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(f => ImageFolderDataset.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();

    // Decodes in parallel into per-index slots (the result does not depend on scheduling); failures are skipped with the reason.
    private static List<(string Path, byte[] A, byte[]? B)> DecodeAll(ImageReader reader, List<string> files, int size, int channels,
        List<SkippedFile> skipped, bool split, ResizeFilter resize, bool strict)
    {
        var results = new (byte[] A, byte[]? B)?[files.Count];
        var errors = new DataFormatException?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                if (!split)
                {
                    results[i] = (reader.ReadResized(files[i], channels, size, size, resize, ImageFit.Stretch).PlanarBytes(), null);
                    return;
                }
                var image = reader.Read(files[i], channels);
                int h = image.Height, w = image.Width;
                if (w < 2) throw new DataFormatException(files[i], $"{w} pixels wide: not an A|B pair") { Kind = ImageProblem.Unpaired };
                var a = ImageReader.Resize(image, size, size, resize, ImageFit.Stretch, new SixLabors.ImageSharp.Rectangle(0, 0, w / 2, h));
                var b = ImageReader.Resize(image, size, size, resize, ImageFit.Stretch, new SixLabors.ImageSharp.Rectangle(w / 2, 0, w - w / 2, h));
                results[i] = (a.PlanarBytes(), b.PlanarBytes());
            }
            catch (DataFormatException e)
            {
                errors[i] = e;
            }
        });
        var list = new List<(string, byte[], byte[]?)>();
        for (int i = 0; i < files.Count; i++)
        {
            if (results[i] is { } r) list.Add((files[i], r.A, r.B));
            else if (strict) throw errors[i]!;
            else skipped.Add(new SkippedFile(files[i], errors[i]!.Problem, errors[i]!.Kind ?? ImageProblem.Corrupt));
        }
        return list;
    }
}

/// <summary>
/// Random jitter and mirroring of image pairs, as the pix2pix and CycleGAN references train: each part is resized up to
/// round(S·286/256), cropped back to S at a random offset, and flipped left-right with probability ½. Aligned pairs share one
/// draw (A and B must stay registered); unpaired parts draw separately. The draws come from a <see cref="Tensors.RandomStream"/>
/// the checkpoint saves, so a resumed run augments exactly as an uninterrupted one.
/// </summary>
public sealed class PairAugmentation(IPairedDataset data)
{
    private readonly int _size = data.Height;
    private readonly int _load = LoadSize(data.Height);

    /// <summary>The size a side of <paramref name="size"/> is enlarged to before the random crop (286 for 256).</summary>
    public static int LoadSize(int size) => (int)Math.Round(size * 286.0 / 256.0, MidpointRounding.AwayFromZero);

    /// <summary>Augments <paramref name="count"/> samples of <paramref name="batch"/> (each (C_A + C_B, S, S)) in place.</summary>
    public void Apply(Span<float> batch, int count, Tensors.RandomStream stream)
    {
        int plane = _size * _size, length = data.Channels * plane;
        var big = new float[Math.Max(data.ChannelsA, data.ChannelsB) * _load * _load];
        for (int i = 0; i < count; i++)
        {
            var sample = batch.Slice(i * length, length);
            var draw = Draw(stream);
            Transform(sample[..(data.ChannelsA * plane)], data.ChannelsA, draw, big);
            if (!data.Aligned) draw = Draw(stream);
            Transform(sample.Slice(data.ChannelsA * plane, data.ChannelsB * plane), data.ChannelsB, draw, big);
        }
    }

    private (int X, int Y, bool Flip) Draw(Tensors.RandomStream stream)
    {
        int x = stream.NextInt(_load - _size + 1), y = stream.NextInt(_load - _size + 1);
        return (x, y, stream.NextInt(2) == 1);
    }

    private void Transform(Span<float> part, int channels, (int X, int Y, bool Flip) d, float[] big)
    {
        var enlarged = big.AsSpan(0, channels * _load * _load);
        ImageResize.Resize(part, channels, _size, _size, enlarged, _load, _load, ResizeMode.Bilinear);
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < _size; y++)
            {
                var src = enlarged.Slice((c * _load + y + d.Y) * _load + d.X, _size);
                var dst = part.Slice((c * _size + y) * _size, _size);
                src.CopyTo(dst);
                if (d.Flip) dst.Reverse();
            }
    }
}

/// <summary>Opens the paired sources of <see cref="DatasetFactory"/>.</summary>
internal static class PairedSets
{
    /// <summary>
    /// The pairs of <paramref name="source"/>: petri-pairs and petri-styles at <paramref name="imageSize"/> (default 64),
    /// fashion-mnist-edges resized to <paramref name="imageSize"/> (default 32, the smallest U-Net size), folders at
    /// <paramref name="imageSize"/> (default 64) with <paramref name="channels"/> (default 3) on both sides.
    /// </summary>
    public static IPairedDataset Create(DataSource source, int? imageSize, int? channels, int? limit, long seed, ImageLimits? imageLimits = null,
        ResizeFilter? resize = null, bool strict = false)
    {
        if (channels is not null && source.Kind != DataSourceKind.TranslationFolder)
            throw new InvalidOptionException(nameof(Training.TrainOptions.Channels), channels, $"does not apply to {source.Name} (its domains have fixed channels)");
        switch (source.Kind)
        {
            case DataSourceKind.PetriPairs:
                return new PetriPairsDataset(DatasetFactory.Capped(DatasetFactory.SyntheticCount(source), limit), imageSize ?? 64, seed);
            case DataSourceKind.PetriStyles:
                return new PetriStylesDataset(DatasetFactory.Capped(DatasetFactory.SyntheticCount(source), limit), imageSize ?? 64, seed);
            case DataSourceKind.FashionMnistEdges:
                if (!Directory.Exists(IdxDataset.FashionMnistDirectory))
                    throw new DataFormatException(IdxDataset.FashionMnistDirectory, "Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist");
                return new EdgesDataset(IdxDataset.Load(IdxDataset.FashionMnistDirectory, train: true, limit, imageSize ?? 32, limits: imageLimits), "fashion-mnist-edges");
            case DataSourceKind.TranslationFolder:
                return TranslationFolderDataset.Load(DatasetFactory.FolderOf(source), imageSize ?? 64, channels ?? 3, seed, imageLimits, limit,
                    resize ?? ResizeFilter.Bilinear, strict);
            default:
                throw new InvalidOptionException(nameof(Training.TrainOptions.Data), source.Kind, "is not a source of image pairs");
        }
    }
}
