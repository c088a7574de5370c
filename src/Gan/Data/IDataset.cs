namespace GpuGan.Gan.Data;

/// <summary>
/// A finite, immutable set of samples that produce plain float arrays, independent of tensors.
/// Every sample has the layout (C, H, W) with values normalised to [-1, 1]; 1-D data such as
/// curves has C = 1, H = 1, W = N. Implementations are safe to read from several threads.
/// </summary>
public interface IDataset
{
    /// <summary>Number of samples.</summary>
    int Count { get; }

    /// <summary>Channels per sample (1 grey, 3 RGB).</summary>
    int Channels { get; }

    /// <summary>Height of a sample (1 for 1-D data).</summary>
    int Height { get; }

    /// <summary>Width of a sample (the vector length for 1-D data).</summary>
    int Width { get; }

    /// <summary>Number of classes, 0 when the set is unlabelled.</summary>
    int ClassCount { get; }

    /// <summary>Short human-readable name, e.g. "fashion-mnist/train" or "sines".</summary>
    string Name { get; }

    /// <summary>
    /// Writes sample <paramref name="index"/> into <paramref name="destination"/>, which must hold
    /// at least Channels·Height·Width floats; layout (C, H, W), values in [-1, 1].
    /// </summary>
    void CopySample(int index, Span<float> destination);

    /// <summary>Class label of sample <paramref name="index"/>, or -1 when unlabelled.</summary>
    int Label(int index);
}

/// <summary>Helpers shared by the dataset implementations.</summary>
public static class DatasetExtensions
{
    /// <summary>Floats in one sample: Channels·Height·Width.</summary>
    public static int SampleLength(this IDataset dataset) => dataset.Channels * dataset.Height * dataset.Width;

    /// <summary>Copies samples [start, start + count) into a new array, (count, C, H, W).</summary>
    public static float[] CopySamples(this IDataset dataset, int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (start + count > dataset.Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"samples [{start}, {start + count}) exceed dataset size {dataset.Count}");
        int length = dataset.SampleLength();
        var result = new float[count * length];
        for (int i = 0; i < count; i++) dataset.CopySample(start + i, result.AsSpan(i * length, length));
        return result;
    }

    internal static void CheckIndex(IDataset dataset, int index)
    {
        if ((uint)index >= (uint)dataset.Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"index out of range for {dataset.Name} with {dataset.Count} samples");
    }

    internal static void CheckDestination(IDataset dataset, Span<float> destination)
    {
        if (destination.Length < dataset.SampleLength())
            throw new ArgumentException($"destination holds {destination.Length} floats, a sample of {dataset.Name} needs {dataset.SampleLength()}", nameof(destination));
    }
}
