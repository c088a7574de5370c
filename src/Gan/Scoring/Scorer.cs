// Scores generated images against real ones in the feature space of the data's own network
// (FeatureNetwork): Fréchet distance, KID, precision/recall/density/coverage (QualityMetrics), and for
// labelled data the class histogram the network sees in the samples, its entropy, and for conditional
// samples the share recognised as the class that was asked for.
//
// The real reference is a seeded random choice of `Count` images from the network's training part, or
// (HeldOutReference) from its held-out part, which a generator trained on a --limit subset of the full
// data never saw either; HeldOutImages gives the part it never saw (the calibration's "real held-out
// against real train").
using System.Text.Json;
using System.Text.Json.Serialization;
using GpuGan.Gan.Data;
using GpuGan.Tensors;

namespace GpuGan.Gan.Scoring;

/// <summary>How samples are scored (every value from the caller).</summary>
public sealed record ScoreOptions
{
    /// <summary>Real images in the reference set (at most the network's training part).</summary>
    public required int RealCount { get; init; }

    /// <summary>Neighbours for precision, recall, density and coverage.</summary>
    public required int K { get; init; }

    /// <summary>KID's subsets.</summary>
    public required int KidSubsets { get; init; }

    /// <summary>KID's largest subset size (clipped to half the smaller set, so that subsets differ).</summary>
    public required int KidSubsetSize { get; init; }

    /// <summary>Seed of the real reference choice and of KID's subsets.</summary>
    public required long Seed { get; init; }

    /// <summary>
    /// Draw the real reference from the network's held-out part (images no generator of the full data trained on, nor the network)
    /// instead of its training part; <see cref="RealCount"/> then takes at most the held-out count.
    /// </summary>
    public bool HeldOutReference { get; init; }
}

/// <summary>The scores of one set of samples.</summary>
public sealed record ScoreReport
{
    /// <summary>Generated (or compared) images scored.</summary>
    public required int SampleCount { get; init; }
    /// <summary>Real reference images.</summary>
    public required int RealCount { get; init; }
    /// <summary>The data set's name.</summary>
    public required string Data { get; init; }
    /// <summary>What the feature network predicts.</summary>
    public required FeatureTask FeatureTask { get; init; }
    /// <summary>The feature network's held-out accuracy.</summary>
    public required double FeatureTestAccuracy { get; init; }
    /// <summary>Fréchet distance in the feature space.</summary>
    public required double FrechetDistance { get; init; }
    /// <summary>KID (unbiased MMD², cubic kernel), mean over subsets.</summary>
    public required double Kid { get; init; }
    /// <summary>KID's standard deviation over subsets.</summary>
    public required double KidStd { get; init; }
    /// <summary>Share of samples inside the real manifold (k-NN balls).</summary>
    public required double Precision { get; init; }
    /// <summary>Share of real images inside the samples' manifold.</summary>
    public required double Recall { get; init; }
    /// <summary>Mean count of real balls holding a sample, over k (≈ 1 for samples distributed as the data).</summary>
    public required double Density { get; init; }
    /// <summary>Share of real images whose ball holds a sample.</summary>
    public required double Coverage { get; init; }
    /// <summary>Neighbours used.</summary>
    public required int K { get; init; }
    /// <summary>Labelled data: how many samples the network puts in each class; null otherwise.</summary>
    public int[]? ClassCounts { get; init; }
    /// <summary>Labelled data: entropy (bits) of <see cref="ClassCounts"/>; NaN otherwise.</summary>
    public double ClassEntropyBits { get; init; } = double.NaN;
    /// <summary>Labelled data: entropy (bits) of the real reference's predicted classes, for comparison; NaN otherwise.</summary>
    public double RealClassEntropyBits { get; init; } = double.NaN;
    /// <summary>Conditional samples: share the network recognises as the class asked for; NaN otherwise.</summary>
    public double AskedClassAccuracy { get; init; } = double.NaN;
    /// <summary>Labelled data: the data's class names in label order; null otherwise.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
    /// <summary>Labelled data: how many of the real reference images the network puts in each class (its view of the data); null otherwise.</summary>
    public int[]? RealClassCounts { get; init; }
    /// <summary>Labelled data: the true labels of the real reference images, counted per class; null otherwise.</summary>
    public int[]? RealLabelCounts { get; init; }
    /// <summary>Conditional samples: for each class asked for (in label order), how many samples asked for it the network recognises as it; null otherwise.</summary>
    public IReadOnlyList<AskedClass>? AskedClasses { get; init; }

    /// <summary>The report as indented JSON (kebab-case keys; NaN written as null).</summary>
    public string ToJson()
    {
        var o = new Dictionary<string, object?>
        {
            ["data"] = Data,
            ["sample-count"] = SampleCount,
            ["real-count"] = RealCount,
            ["feature-task"] = FeatureTask.ToString().ToLowerInvariant(),
            ["feature-test-accuracy"] = FeatureTestAccuracy,
            ["frechet-distance"] = FrechetDistance,
            ["kid"] = Kid,
            ["kid-std"] = KidStd,
            ["precision"] = Precision,
            ["recall"] = Recall,
            ["density"] = Density,
            ["coverage"] = Coverage,
            ["k"] = K,
            ["class-counts"] = ClassCounts,
            ["class-entropy-bits"] = Nullable(ClassEntropyBits),
            ["real-class-entropy-bits"] = Nullable(RealClassEntropyBits),
            ["asked-class-accuracy"] = Nullable(AskedClassAccuracy),
            ["class-names"] = ClassNames,
            ["real-class-counts"] = RealClassCounts,
            ["real-label-counts"] = RealLabelCounts,
            ["asked-classes"] = AskedClasses?.Select(a => new Dictionary<string, object> { ["class"] = a.Label, ["name"] = a.Name, ["asked"] = a.Asked, ["recognised"] = a.Recognised }).ToArray(),
        };
        return JsonSerializer.Serialize(o, new JsonSerializerOptions { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never });
    }

    private static double? Nullable(double v) => double.IsFinite(v) ? v : null;
}

/// <summary>
/// The samples a conditional generator was asked to make of class <paramref name="Label"/> (<paramref name="Name"/>): <paramref name="Asked"/>
/// of them, of which the feature network recognises <paramref name="Recognised"/> as that class.
/// </summary>
/// <param name="Label">The class number.</param>
/// <param name="Name">The class name.</param>
/// <param name="Asked">Samples asked for the class.</param>
/// <param name="Recognised">Of those, the samples the network puts in the class.</param>
public sealed record AskedClass(int Label, string Name, int Asked, int Recognised)
{
    /// <summary><see cref="Recognised"/> / <see cref="Asked"/>.</summary>
    public double Share => Asked == 0 ? double.NaN : (double)Recognised / Asked;
}

/// <summary>Scores samples against a data set in its feature network's space.</summary>
public sealed class Scorer
{
    private readonly IDataset _data;

    /// <summary>A scorer for <paramref name="data"/> with its (trained or cached) <paramref name="network"/>.</summary>
    public Scorer(IDataset data, FeatureNetwork network)
    {
        _data = data ?? throw new ArgumentNullException(nameof(data));
        Network = network ?? throw new ArgumentNullException(nameof(network));
    }

    /// <summary>The feature network.</summary>
    public FeatureNetwork Network { get; }

    /// <summary>The scorer of <paramref name="data"/>: its network from <paramref name="cacheFolder"/>, or trained now.</summary>
    public static Scorer Create(IDataset data, FeatureNetworkOptions options, string cacheFolder, Device device,
        IProgress<(int Step, int Steps, double Loss)>? progress = null) =>
        new(data, FeatureNetwork.LoadOrTrain(data, options, cacheFolder, device, progress));

    /// <summary>The first <paramref name="count"/> (at most all) held-out images, (n, C, H, W); n is returned.</summary>
    public (float[] Images, int Count) HeldOutImages(int count)
    {
        int n = Math.Min(count, Network.TestCount);
        return (_data.CopySamples(Network.TrainCount, n), n);
    }

    /// <summary>A seeded choice of <paramref name="count"/> (at most all) images of the network's training part, with their labels.</summary>
    public (float[] Images, int[] Labels, int Count) TrainingImages(int count, long seed) => Choose(0, Network.TrainCount, count, seed);

    /// <summary>A seeded choice of <paramref name="count"/> (at most all) of the <paramref name="available"/> images from <paramref name="start"/>, with their labels.</summary>
    private (float[] Images, int[] Labels, int Count) Choose(int start, int available, int count, long seed)
    {
        int n = Math.Min(count, available);
        var order = Enumerable.Range(start, available).ToArray();
        new Random(unchecked((int)(seed * 31 + 7))).Shuffle(order);
        int len = _data.SampleLength();
        var images = new float[n * len];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            _data.CopySample(order[i], images.AsSpan(i * len, len));
            labels[i] = _data.Label(order[i]);
        }
        return (images, labels, n);
    }

    /// <summary>
    /// Scores <paramref name="count"/> images (n, C, H, W) in [-1, 1] against the real reference; <paramref name="askedLabels"/>
    /// are the classes a conditional generator was asked for (null otherwise).
    /// </summary>
    /// <exception cref="InvalidOptionException">Too few samples or reference images for k, or an option out of range.</exception>
    public ScoreReport Score(float[] images, int count, int[]? askedLabels, ScoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(options);
        if (options.K < 1) throw new InvalidOptionException(nameof(options.K), options.K, "must be at least 1");
        if (options.KidSubsets < 1) throw new InvalidOptionException(nameof(options.KidSubsets), options.KidSubsets, "must be at least 1");
        if (count < options.K + 1) throw new InvalidOptionException("count", count, $"must be at least {options.K + 1} (k + 1) to score");
        if (images.Length != (long)count * _data.SampleLength()) throw new ArgumentException($"images hold {images.Length} floats, {count} images of {_data.SampleLength()} need {(long)count * _data.SampleLength()}", nameof(images));
        var (real, realLabels, n) = options.HeldOutReference
            ? Choose(Network.TrainCount, Network.TestCount, options.RealCount, options.Seed)
            : TrainingImages(options.RealCount, options.Seed);
        if (n < options.K + 1) throw new InvalidOptionException(nameof(options.RealCount), n, $"must be at least {options.K + 1} (k + 1) to score");
        int d = Network.FeatureSize;
        var fr = Network.Features(real, n);
        var ff = Network.Features(images, count);
        int subset = Math.Max(2, Math.Min(options.KidSubsetSize, Math.Min(n, count) / 2));
        var kid = QualityMetrics.Kid(fr, n, ff, count, d, options.KidSubsets, subset, options.Seed);
        var prdc = QualityMetrics.Prdc(fr, n, ff, count, d, options.K);
        var report = new ScoreReport
        {
            Data = _data.Name, SampleCount = count, RealCount = n, FeatureTask = Network.Task, FeatureTestAccuracy = Network.TestAccuracy,
            FrechetDistance = QualityMetrics.FrechetDistance(fr, n, ff, count, d),
            Kid = kid.Mean, KidStd = kid.Std,
            Precision = prdc.Precision, Recall = prdc.Recall, Density = prdc.Density, Coverage = prdc.Coverage, K = prdc.K,
        };
        if (Network.Task == FeatureTask.Classes)
        {
            var predicted = Network.Predict(images, count);
            var counts = new int[Network.ClassCount];
            foreach (int p in predicted) counts[p]++;
            var realCounts = new int[Network.ClassCount];
            foreach (int p in Network.Predict(real, n)) realCounts[p]++;
            var labelCounts = new int[Network.ClassCount];
            foreach (int l in realLabels) if ((uint)l < (uint)labelCounts.Length) labelCounts[l]++;
            var names = _data.ClassNames.Count == Network.ClassCount ? _data.ClassNames : DatasetExtensions.NumberNames(Network.ClassCount);
            report = report with
            {
                ClassCounts = counts,
                ClassEntropyBits = QualityMetrics.EntropyBits(counts),
                RealClassEntropyBits = QualityMetrics.EntropyBits(realCounts),
                ClassNames = names, RealClassCounts = realCounts, RealLabelCounts = labelCounts,
            };
            if (askedLabels is not null)
            {
                if (askedLabels.Length != count) throw new ArgumentException($"{askedLabels.Length} asked labels for {count} samples", nameof(askedLabels));
                int right = 0;
                var asked = new int[Network.ClassCount];
                var recognised = new int[Network.ClassCount];
                for (int i = 0; i < count; i++)
                {
                    if ((uint)askedLabels[i] >= (uint)asked.Length)
                        throw new ArgumentOutOfRangeException(nameof(askedLabels), askedLabels[i], $"sample {i} was asked for class {askedLabels[i]}; the data has {asked.Length} classes");
                    asked[askedLabels[i]]++;
                    if (predicted[i] == askedLabels[i]) { right++; recognised[askedLabels[i]]++; }
                }
                report = report with
                {
                    AskedClassAccuracy = (double)right / count,
                    AskedClasses = Enumerable.Range(0, asked.Length).Where(k => asked[k] > 0).Select(k => new AskedClass(k, names[k], asked[k], recognised[k])).ToArray(),
                };
            }
        }
        return report;
    }

    /// <summary>Checks that samples of <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/> from <paramref name="source"/> fit the data.</summary>
    /// <exception cref="SampleShapeException">They do not.</exception>
    public void CheckShape(string source, int channels, int height, int width)
    {
        if (channels != _data.Channels || height != _data.Height || width != _data.Width)
            throw new SampleShapeException(source, channels, height, width, _data.Channels, _data.Height, _data.Width);
    }
}

/// <summary>Reads samples that <c>gpugan sample</c> wrote.</summary>
public static class SampleFiles
{
    /// <summary>The IDX image file of <see cref="Sampling.SampleWriter"/>.</summary>
    public const string IdxImages = "samples-idx3-ubyte", IdxLabels = "samples-labels-idx1-ubyte";

    /// <summary>
    /// The IDX samples in <paramref name="folder"/> (<see cref="IdxImages"/>, and the classes asked for in <see cref="IdxLabels"/>
    /// when the generator was conditional); null when the folder holds no IDX samples.
    /// </summary>
    /// <exception cref="DataFormatException">The files are damaged.</exception>
    public static (IDataset Samples, bool Labelled)? ReadIdx(string folder)
    {
        string images = Path.Combine(folder, IdxImages), labels = Path.Combine(folder, IdxLabels);
        if (!File.Exists(images)) return null;
        var imageBytes = File.ReadAllBytes(images);
        byte[] labelBytes;
        bool labelled = File.Exists(labels);
        if (labelled) labelBytes = File.ReadAllBytes(labels);
        else
        {
            // No labels: an all-zero labels file of the images' count, so the one IDX reader checks the images.
            int count = imageBytes.Length >= 8 ? System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(imageBytes.AsSpan(4)) : 0;
            labelBytes = new byte[8 + Math.Max(count, 0)];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(labelBytes, 0x801);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(labelBytes.AsSpan(4), Math.Max(count, 0));
        }
        return (IdxDataset.FromBytes(Path.GetFileName(folder), images, imageBytes, labels, labelBytes), labelled);
    }
}
