namespace GpuGan.Gan.Data;

/// <summary>Opens a <see cref="DataSource"/> as a data set.</summary>
public static class DatasetFactory
{
    /// <summary>
    /// Opens <paramref name="source"/>. <paramref name="imageSize"/> null keeps the set's natural size (petri 32,
    /// IDX 28, image folders 64); <paramref name="channels"/> null keeps the set's own; <paramref name="limit"/>
    /// caps the samples of every source (the first N: of the file, of the folder in path order, of the synthetic
    /// stream; null = all); <paramref name="imageLimits"/> is the largest input image read from files (null:
    /// <see cref="ImageLimits.Standard"/>); <paramref name="resize"/> resamples image files (null: bilinear);
    /// <paramref name="strict"/> makes an unusable image file an error instead of a skipped file.
    /// </summary>
    /// <exception cref="InvalidOptionException">An option that does not apply to the source (an image size for curves) or a source without its folder or size.</exception>
    /// <exception cref="DataFormatException">A data file or folder is missing or unreadable.</exception>
    public static IDataset Create(DataSource source, int? imageSize, int? channels, int? limit, long seed, ImageLimits? imageLimits = null,
        Imaging.ResizeFilter? resize = null, bool strict = false)
    {
        if (limit is < 1) throw new InvalidOptionException(nameof(Training.TrainOptions.Limit), limit, "must be at least 1");
        IDataset set;
        switch (source.Kind)
        {
            // Petri dishes default to 32×32: the DCGAN-32 main job fits in minutes on a 2-core CPU; 64 gives the canonical DCGAN-64.
            case DataSourceKind.Petri:
                set = new PetriDataset(Capped(SyntheticCount(source), limit), imageSize ?? 32, seed);
                break;
            case DataSourceKind.Sines:
                if (imageSize is not null)
                    throw new InvalidOptionException(nameof(Training.TrainOptions.ImageSize), imageSize, "does not apply to sines (curves of 64 points)");
                set = new SinesDataset(Capped(SyntheticCount(source), limit), seed);
                break;
            case DataSourceKind.FashionMnist:
                if (!Directory.Exists(IdxDataset.FashionMnistDirectory))
                    throw new DataFormatException(IdxDataset.FashionMnistDirectory, "Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist");
                var fashion = IdxDataset.Load(IdxDataset.FashionMnistDirectory, train: true, limit, imageSize, limits: imageLimits);
                if (fashion.ClassCount == IdxDataset.FashionMnistClassNames.Count) fashion.ClassNames = IdxDataset.FashionMnistClassNames;
                set = fashion;
                break;
            case DataSourceKind.Idx:
                set = IdxDataset.Load(FolderOf(source), train: true, limit, imageSize, limits: imageLimits);
                break;
            case DataSourceKind.ImageFolder:
                set = ImageFolderDataset.Load(FolderOf(source), imageSize ?? 64, channels ?? 3, limits: imageLimits, limit: limit,
                    resize: resize ?? Imaging.ResizeFilter.Bilinear, strict: strict);
                break;
            case DataSourceKind.PetriPairs or DataSourceKind.PetriStyles or DataSourceKind.FashionMnistEdges or DataSourceKind.TranslationFolder:
                return PairedSets.Create(source, imageSize, channels, limit, seed, imageLimits, resize, strict);
            default:
                throw new InvalidOptionException(nameof(Training.TrainOptions.Data), source.Kind, "is not a known data source");
        }
        return channels is { } c && c != set.Channels ? new ChannelAdapter(set, c) : set;
    }

    internal static int Capped(int count, int? limit) => limit is { } n ? Math.Min(count, n) : count;

    internal static int SyntheticCount(DataSource source) => source.Count is int n && n >= 1
        ? n
        : throw new InvalidOptionException(nameof(DataSource.Count), source.Count, $"{source.Kind} needs a sample count of at least 1");

    internal static string FolderOf(DataSource source) => source.Path is { Length: > 0 } p
        ? p
        : throw new InvalidOptionException(nameof(DataSource.Path), source.Path, $"{source.Kind} needs a folder");
}

/// <summary>Converts grey to RGB (replicate) or RGB to grey (Rec. 601 luma) on the fly.</summary>
public sealed class ChannelAdapter(IDataset inner, int channels) : IDataset
{
    /// <inheritdoc/>
    public int Count => inner.Count;
    /// <inheritdoc/>
    public int Channels => channels;
    /// <inheritdoc/>
    public int Height => inner.Height;
    /// <inheritdoc/>
    public int Width => inner.Width;
    /// <inheritdoc/>
    public int ClassCount => inner.ClassCount;
    /// <inheritdoc/>
    public string Name => inner.Name;
    /// <inheritdoc/>
    public int Label(int index) => inner.Label(index);
    /// <inheritdoc/>
    public IReadOnlyList<string> ClassNames => inner.ClassNames;

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        int plane = Height * Width;
        Span<float> source = inner.Channels * plane <= 4096 ? stackalloc float[inner.Channels * plane] : new float[inner.Channels * plane];
        inner.CopySample(index, source);
        if (inner.Channels == 1)
            for (int c = 0; c < channels; c++) source[..plane].CopyTo(destination.Slice(c * plane, plane));
        else
            for (int i = 0; i < plane; i++)
                destination[i] = 0.299f * source[i] + 0.587f * source[plane + i] + 0.114f * source[2 * plane + i];
    }
}
