namespace GpuGan.Gan.Data;

/// <summary>Resolves the --data argument into a data set.</summary>
public static class DatasetFactory
{
    /// <summary>
    /// petri | sines | fashion-mnist | mnist:DIR | DIR (IDX files, else an image folder).
    /// imageSize null keeps the natural size (petri 32, IDX 28); channels null keeps the set's own.
    /// </summary>
    public static IDataset Create(string data, int? imageSize, int? channels, int? limit, int syntheticCount, long seed)
    {
        IDataset set;
        // Petri dishes default to 32×32: the DCGAN-32 main job fits in minutes on a 2-core CPU; --image-size 64 gives the canonical DCGAN-64.
        if (data == "petri") set = new PetriDataset(syntheticCount, imageSize ?? 32, seed);
        else if (data == "sines")
        {
            if (imageSize is not null) throw new ArgumentException("--image-size does not apply to sines (curves of 64 points)");
            set = new SinesDataset(syntheticCount, seed);
        }
        else if (data == "fashion-mnist")
        {
            if (!Directory.Exists(IdxDataset.FashionMnistDirectory))
                throw new DataFormatException(IdxDataset.FashionMnistDirectory, "Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist");
            set = IdxDataset.Load(IdxDataset.FashionMnistDirectory, train: true, limit, imageSize);
        }
        else if (data.StartsWith("mnist:", StringComparison.Ordinal)) set = IdxDataset.Load(data["mnist:".Length..], train: true, limit, imageSize);
        else if (Directory.Exists(data))
        {
            bool hasIdx = Directory.EnumerateFiles(data).Any(f => Path.GetFileName(f).Contains("idx3-ubyte", StringComparison.Ordinal));
            set = hasIdx ? IdxDataset.Load(data, train: true, limit, imageSize)
                : ImageFolderDataset.Load(data, imageSize ?? 64, channels ?? 3);
        }
        else throw new ArgumentException($"--data: '{data}' is neither a built-in set (petri, sines, fashion-mnist), mnist:DIR, nor an existing folder");
        return channels is { } c && c != set.Channels ? new ChannelAdapter(set, c) : set;
    }
}

/// <summary>Converts grey to RGB (replicate) or RGB to grey (Rec. 601 luma) on the fly.</summary>
public sealed class ChannelAdapter(IDataset inner, int channels) : IDataset
{
    public int Count => inner.Count;
    public int Channels => channels;
    public int Height => inner.Height;
    public int Width => inner.Width;
    public int ClassCount => inner.ClassCount;
    public string Name => inner.Name;
    public int Label(int index) => inner.Label(index);

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
