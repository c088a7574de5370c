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

    /// <summary>
    /// The name of each class in label order (<see cref="ClassCount"/> of them; empty when unlabelled): what
    /// <c>gpugan sample --class</c> accepts besides the number. By default the label numbers ("0", "1", …).
    /// </summary>
    IReadOnlyList<string> ClassNames => DatasetExtensions.NumberNames(ClassCount);
}

/// <summary>Helpers shared by the dataset implementations.</summary>
public static class DatasetExtensions
{
    /// <summary>"0", "1", …, the label numbers as names (<paramref name="classCount"/> of them).</summary>
    public static IReadOnlyList<string> NumberNames(int classCount) =>
        Enumerable.Range(0, Math.Max(0, classCount)).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>
    /// The label of the class <paramref name="word"/> names among <paramref name="names"/>: a class number, or a name compared
    /// without case and with spaces, underscores and hyphens alike ("ankle-boot" finds "Ankle boot"); -1 when none.
    /// </summary>
    public static int FindClass(IReadOnlyList<string> names, string word)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(word);
        static string Key(string s) => s.Trim().ToLowerInvariant().Replace(' ', '-').Replace('_', '-');
        for (int i = 0; i < names.Count; i++)
            if (Key(names[i]) == Key(word)) return i;
        if (int.TryParse(word, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int k) && k < names.Count) return k;
        return -1;
    }

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
