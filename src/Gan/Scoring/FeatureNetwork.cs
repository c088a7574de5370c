// The feature space of the scores: a small convolutional network that GpuGan trains on the real data
// itself, because Inception weights cannot be downloaded here and would not describe Petri dishes or
// grey 28-pixel items anyway.
//
//   x (N, C, H, W) → Conv 4×4 s2 (w) → LReLU → Conv 4×4 s2 (2w) → LReLU → Conv 3×3 s1 (4w) → LReLU
//     → mean over H, W → features (N, 4w) → Linear → logits (N, K)
//
// No batch norm: features of a sample then do not depend on the other samples in its batch, nor on
// running statistics of a short training.
//
// Every training image is turned by r·90°, r uniform in 0..3, and the network predicts r (Gidaris et
// al. 2018) — jointly with the class where the data has labels: K·4 outputs, target = class·4 + r.
//   classes   — labelled data (Fashion-MNIST, MNIST, class folders, petri's common/rare): predictions
//               are the class of an upright image, argmax over k of the logit (k, r = 0);
//   rotation  — unlabelled data: K = 1, predictions are the rotation.
// Orientation alone is self-supervision that needs the objects' shapes, layout and lighting; joined
// to the labels it keeps the features rich where there are few classes (petri has two, and a
// two-class network's features barely see blur or noise).
// Loss: softmax cross-entropy, log Σ exp zₖ − z_y, built from Exp/Log/Sum ops; the logits are clamped to
// ±30 first so exp cannot overflow in float32 (a logit gap of 30 is a probability beyond 1 − 1e-13,
// where the clamp's zero gradient costs nothing).
//
// The last tenth of the data (at least one sample) is held out: the network never trains on it, its
// accuracy there is the test accuracy stored with the weights, and scoring can compare it with the
// training part (the calibration's "real against real").
//
// Features are centred on the training part's mean and divided by one global scale (the root mean
// per-dimension variance), both stored with the weights: the network's raw activations have an arbitrary
// scale (FD in the hundreds), and KID's kernel (a·b / d + 1)³ assumes features of about unit size — on
// raw features its subsets' spread swamped its mean. One scale for all dimensions keeps the geometry
// (FD is only divided by the scale²; nearly dead units are not blown up).
//
// Cache: <cache>/features/<data-name>-<key>.safetensors, key = SHA-256 of the data (every sample's
// floats, labels, shape), the task and the training configuration, so another data set, a changed
// file or another configuration never reuses a network.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using GpuGan.Gan.Data;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Scoring;

/// <summary>What the feature network learns.</summary>
public enum FeatureTask
{
    /// <summary>The data's classes (jointly with the rotation).</summary>
    Classes,
    /// <summary>Which of four rotations (0°, 90°, 180°, 270°) was applied: self-supervised, for unlabelled data.</summary>
    Rotation,
}

/// <summary>How the feature network is trained (every value from the caller).</summary>
public sealed record FeatureNetworkOptions
{
    /// <summary>Channels of the first convolution; features have 4 × Width values.</summary>
    public required int Width { get; init; }

    /// <summary>Optimiser steps (Adam, β 0.9, 0.999).</summary>
    public required int Steps { get; init; }

    /// <summary>Images per step.</summary>
    public required int Batch { get; init; }

    /// <summary>Learning rate.</summary>
    public required float LearningRate { get; init; }

    /// <summary>Seed of the weights and of the batches.</summary>
    public required long Seed { get; init; }

    /// <exception cref="InvalidOptionException">A value out of range.</exception>
    public void Validate()
    {
        if (Width < 1) throw new InvalidOptionException(nameof(Width), Width, "must be at least 1");
        if (Steps < 1) throw new InvalidOptionException(nameof(Steps), Steps, "must be at least 1");
        if (Batch < 1) throw new InvalidOptionException(nameof(Batch), Batch, "must be at least 1");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new InvalidOptionException(nameof(LearningRate), LearningRate, "must be a positive number");
    }
}

/// <summary>Scores need images (not curves) of at least 8×8 pixels, square for the rotation task.</summary>
public sealed class ScoringNotSupportedException(string dataName, string problem)
    : GanException($"{dataName}: cannot be scored: {problem}")
{
    /// <summary>The data set.</summary>
    public string DataName { get; } = dataName;

    /// <summary>Why not.</summary>
    public string Problem { get; } = problem;
}

/// <summary>Images of another shape than the data's were given to score.</summary>
public sealed class SampleShapeException(string source, int channels, int height, int width, int dataChannels, int dataHeight, int dataWidth)
    : GanException($"{source}: samples are {channels}x{height}x{width}, the data's images {dataChannels}x{dataHeight}x{dataWidth}")
{
    /// <summary>Where the samples came from.</summary>
    public string SampleSource { get; } = source;
}

/// <summary>The feature network of one data set: trained on it, or loaded from the cache.</summary>
public sealed class FeatureNetwork
{
    private const string CacheFormat = "gpugan.features.2";

    private readonly Device _device;
    private readonly Net _net;

    private FeatureNetwork(Net net, Device device, FeatureTask task, int classCount, double testAccuracy, int trainCount, int testCount, string path, bool loaded)
    {
        _net = net;
        _device = device;
        Task = task;
        ClassCount = classCount;
        TestAccuracy = testAccuracy;
        TrainCount = trainCount;
        TestCount = testCount;
        CachePath = path;
        LoadedFromCache = loaded;
    }

    /// <summary>What it was trained to predict.</summary>
    public FeatureTask Task { get; }

    /// <summary>What <see cref="Predict"/> tells apart: the data's classes, or 4 rotations.</summary>
    public int ClassCount { get; }

    /// <summary>Accuracy on the held-out part of the data (for rotation: over all four rotations of each held-out image).</summary>
    public double TestAccuracy { get; }

    /// <summary>Samples it trained on (the first ones of the data).</summary>
    public int TrainCount { get; }

    /// <summary>Held-out samples (the last tenth of the data).</summary>
    public int TestCount { get; }

    /// <summary>Values per feature vector.</summary>
    public int FeatureSize => _net.FeatureSize;

    /// <summary>The cached weights file.</summary>
    public string CachePath { get; }

    /// <summary>True when the weights came from the cache, false when they were trained just now.</summary>
    public bool LoadedFromCache { get; }

    /// <summary>Samples of <paramref name="data"/> held out of training: the last tenth (at least one, at most Count − 1).</summary>
    public static int HeldOutCount(IDataset data) => Math.Clamp(data.Count / 10, 1, Math.Max(1, data.Count - 1));

    /// <summary>
    /// The network for <paramref name="data"/> from <paramref name="cacheFolder"/>, or trained now (and cached) when there is none.
    /// <paramref name="progress"/> hears (step, steps, loss) every few steps of a training.
    /// </summary>
    /// <exception cref="ScoringNotSupportedException">Curves, images under 8 pixels, too few samples, or non-square unlabelled images.</exception>
    /// <exception cref="InvalidOptionException">An option out of range.</exception>
    public static FeatureNetwork LoadOrTrain(IDataset data, FeatureNetworkOptions options, string cacheFolder, Device device,
        IProgress<(int Step, int Steps, double Loss)>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var task = TaskOf(data);
        int classes = task == FeatureTask.Classes ? data.ClassCount : 4;
        int outputs = (task == FeatureTask.Classes ? data.ClassCount : 1) * 4;
        string path = Path.Combine(cacheFolder, "features", $"{SafeName(data.Name)}-{Key(data, task, options)}.safetensors");
        int testCount = HeldOutCount(data), trainCount = data.Count - testCount;
        if (File.Exists(path))
        {
            try
            {
                var file = SafeTensors.Read(path);
                if (file.Metadata.GetValueOrDefault("format") == Checkpoint.WeightsFormat && file.Metadata.GetValueOrDefault("features") == CacheFormat)
                {
                    var net = new Net(data.Channels, options.Width, outputs, new RandomStream(0));
                    net.To(device);
                    Checkpoint.LoadModule(path, net);
                    net.Eval();
                    double accuracy = double.Parse(file.Metadata["test-accuracy"], CultureInfo.InvariantCulture);
                    return new FeatureNetwork(net, device, task, classes, accuracy, trainCount, testCount, path, loaded: true);
                }
            }
            catch (Exception e) when (e is SafeTensorsFormatException or StateDictException or KeyNotFoundException or FormatException)
            {
                // A damaged cache entry is only a cache miss: train again and overwrite it.
            }
        }
        var trained = Train(data, task, outputs, trainCount, options, device, progress);
        trained.Eval();
        Standardise(trained, data, trainCount, device);
        var result = new FeatureNetwork(trained, device, task, classes, 0, trainCount, testCount, path, loaded: false);
        double acc = result.Accuracy(data, trainCount, testCount);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Checkpoint.SaveModule(path, trained, new Dictionary<string, string>
        {
            ["features"] = CacheFormat,
            ["data"] = data.Name,
            ["task"] = task.ToString(),
            ["width"] = options.Width.ToString(CultureInfo.InvariantCulture),
            ["steps"] = options.Steps.ToString(CultureInfo.InvariantCulture),
            ["train-count"] = trainCount.ToString(CultureInfo.InvariantCulture),
            ["test-count"] = testCount.ToString(CultureInfo.InvariantCulture),
            ["test-accuracy"] = acc.ToString("R", CultureInfo.InvariantCulture),
        });
        return new FeatureNetwork(trained, device, task, classes, acc, trainCount, testCount, path, loaded: false);
    }

    /// <summary>The task <paramref name="data"/> gets: its classes when labelled, else rotation.</summary>
    /// <exception cref="ScoringNotSupportedException">The data cannot be scored.</exception>
    public static FeatureTask TaskOf(IDataset data)
    {
        if (data.Height < 8 || data.Width < 8) throw new ScoringNotSupportedException(data.Name, $"images of {data.Height}x{data.Width} (scores need images of at least 8x8 pixels; curves have none)");
        if (data.Count < 20) throw new ScoringNotSupportedException(data.Name, $"{data.Count} samples (the feature network needs at least 20)");
        if (data.Height != data.Width) throw new ScoringNotSupportedException(data.Name, $"images of {data.Height}x{data.Width} (the rotation task needs square images)");
        return data.ClassCount >= 2 ? FeatureTask.Classes : FeatureTask.Rotation;
    }

    /// <summary>Feature vectors (n × FeatureSize, float64 for the metrics) of <paramref name="images"/> (n, C, H, W) in [-1, 1].</summary>
    public double[] Features(float[] images, int n) => Run(images, n, logits: false);

    /// <summary>The predicted class of each of <paramref name="images"/> taken as upright (rotation task: the predicted rotation).</summary>
    public int[] Predict(float[] images, int n)
    {
        var logits = Run(images, n, logits: true);
        int outputs = _net.Outputs;
        // Classes: the logits (k, r = 0), at k·4; rotation: the four logits.
        int stride = Task == FeatureTask.Classes ? 4 : 1;
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int k = 1; k < ClassCount; k++) if (logits[i * outputs + k * stride] > logits[i * outputs + best * stride]) best = k;
            r[i] = best;
        }
        return r;
    }

    private double[] Run(float[] images, int n, bool logits)
    {
        int c = _net.Channels;
        int sample = images.Length / Math.Max(n, 1);
        int width = logits ? _net.Outputs : FeatureSize;
        var r = new double[n * width];
        const int chunk = 128;
        int hw = sample / c, h = (int)Math.Round(Math.Sqrt(hw));
        int side = h * h == hw ? h : -1;
        if (side < 0) throw new ArgumentException("images must be square (C, S, S)", nameof(images));
        for (int start = 0; start < n; start += chunk)
        {
            int m = Math.Min(chunk, n - start);
            using var scope = TensorScope.Begin();
            using var noGrad = Autograd.NoGrad();
            var x = Tensor.FromArray(images.AsSpan(start * sample, m * sample), new Shape(m, c, side, side), _device);
            var f = _net.Embed(x);
            var y = (logits ? _net.Head.Forward(f) : f.Sub(_net.Centre).Div(_net.Scale)).ToArray();
            for (int i = 0; i < m * width; i++) r[start * width + i] = y[i];
        }
        return r;
    }

    /// <summary>Accuracy on samples [start, start + count) of <paramref name="data"/> (rotation: over the four turns of each).</summary>
    private double Accuracy(IDataset data, int start, int count)
    {
        var images = data.CopySamples(start, count);
        int sample = data.SampleLength();
        if (Task == FeatureTask.Classes)
        {
            var predicted = Predict(images, count);
            int right = 0;
            for (int i = 0; i < count; i++) if (predicted[i] == data.Label(start + i)) right++;
            return (double)right / count;
        }
        var turned = new float[count * sample];
        int hits = 0;
        for (int k = 0; k < 4; k++)
        {
            for (int i = 0; i < count; i++) Rotate(images.AsSpan(i * sample, sample), turned.AsSpan(i * sample, sample), data.Channels, data.Height, k);
            foreach (int p in Predict(turned, count)) if (p == k) hits++;
        }
        return hits / (4.0 * count);
    }

    private static Net Train(IDataset data, FeatureTask task, int outputs, int trainCount, FeatureNetworkOptions options, Device device,
        IProgress<(int Step, int Steps, double Loss)>? progress)
    {
        var stream = new RandomStream(unchecked((ulong)options.Seed * 0x9E3779B97F4A7C15UL + 101));
        var net = new Net(data.Channels, options.Width, outputs, stream);
        net.To(device);
        net.Train();
        var opt = new Adam(net, options.LearningRate, 0.9, 0.999);
        int b = options.Batch, sample = data.SampleLength();
        var batch = new float[b * sample];
        var raw = new float[sample];
        var onehot = new float[b * outputs];
        for (int step = 0; step < options.Steps; step++)
        {
            Array.Clear(onehot);
            for (int i = 0; i < b; i++)
            {
                int index = stream.NextInt(trainCount);
                int turn = stream.NextInt(4);
                data.CopySample(index, raw);
                Rotate(raw, batch.AsSpan(i * sample, sample), data.Channels, data.Height, turn);
                int target = (task == FeatureTask.Classes ? data.Label(index) * 4 : 0) + turn;
                onehot[i * outputs + target] = 1;
            }
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(batch, new Shape(b, data.Channels, data.Height, data.Width), device);
            var y = Tensor.FromArray(onehot, new Shape(b, outputs), device);
            var z = net.Head.Forward(net.Embed(x)).Clamp(-30f, 30f);                 // (B, K)
            var loss = z.Exp().Sum([1], keepDim: true).Log().Sub(z.Mul(y).Sum([1], keepDim: true)).Mean();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            if (progress is not null && (step % 50 == 0 || step == options.Steps - 1))
                progress.Report((step + 1, options.Steps, loss.ToArray()[0]));
        }
        return net;
    }

    /// <summary>Sets the network's feature centre and scale from (up to 2,000 of) its training images.</summary>
    private static void Standardise(Net net, IDataset data, int trainCount, Device device)
    {
        int n = Math.Min(trainCount, 2000), d = net.FeatureSize;
        var raw = new FeatureNetwork(net, device, FeatureTask.Rotation, 4, 0, trainCount, 0, "", false).Run(data.CopySamples(0, n), n, logits: false);
        var (mean, cov) = QualityMetrics.MeanCov(raw, n, d);
        double variance = 0;
        for (int i = 0; i < d; i++) variance += cov[i * d + i];
        float scale = (float)Math.Sqrt(Math.Max(variance / d, 1e-12));
        net.Centre.CopyFrom(mean.Select(v => (float)v).ToArray());
        net.Scale.CopyFrom([scale]);
    }

    /// <summary>Turns a (C, S, S) image by k·90° counter-clockwise into <paramref name="destination"/>.</summary>
    public static void Rotate(ReadOnlySpan<float> source, Span<float> destination, int channels, int side, int k)
    {
        int s = side, plane = s * s;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    var (sy, sx) = (k & 3) switch
                    {
                        0 => (y, x),
                        1 => (x, s - 1 - y),
                        2 => (s - 1 - y, s - 1 - x),
                        _ => (s - 1 - x, y),
                    };
                    destination[c * plane + y * s + x] = source[c * plane + sy * s + sx];
                }
    }

    private static string Key(IDataset data, FeatureTask task, FeatureNetworkOptions options)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{CacheFormat}|{task}|{data.Count}|{data.Channels}|{data.Height}|{data.Width}|{data.ClassCount}|{options.Width}|{options.Steps}|{options.Batch}|{options.LearningRate:R}|{options.Seed}|")));
        var sample = new float[data.SampleLength()];
        Span<byte> label = stackalloc byte[4];
        for (int i = 0; i < data.Count; i++)
        {
            data.CopySample(i, sample);
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(sample.AsSpan()));
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(label, data.Label(i));
            sha.AppendData(label);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    private static string SafeName(string s) => new(s.Select(ch => char.IsLetterOrDigit(ch) || ch == '-' ? ch : '_').ToArray());

    /// <summary>The layers: "body" (convolutions) and "head" (the linear classifier).</summary>
    private sealed class Net : Module
    {
        public Net(int channels, int width, int outputs, RandomStream gen)
        {
            Outputs = outputs;
            Channels = channels;
            FeatureSize = 4 * width;
            Body = RegisterModule("body", new Sequential(
                new Conv2d(channels, width, 4, 2, 1, gen: gen), new LeakyReLU(0.2f),
                new Conv2d(width, 2 * width, 4, 2, 1, gen: gen), new LeakyReLU(0.2f),
                new Conv2d(2 * width, 4 * width, 3, 1, 1, gen: gen), new LeakyReLU(0.2f)));
            Head = RegisterModule("head", new Linear(4 * width, outputs, gen: gen));
            RegisterBuffer("feature_centre", Tensor.Zeros(new Shape(FeatureSize)));
            RegisterBuffer("feature_scale", Tensor.Ones(new Shape(1)));
        }

        /// <summary>(4w): the training features' mean.</summary>
        public Tensor Centre => GetBuffer("feature_centre")!;

        /// <summary>(1): the training features' root mean variance.</summary>
        public Tensor Scale => GetBuffer("feature_scale")!;

        public int Outputs { get; }

        public int Channels { get; }

        public int FeatureSize { get; }

        public Sequential Body { get; }

        public Linear Head { get; }

        /// <summary>(N, C, H, W) → (N, 4w): the spatial mean of the last convolution's activations.</summary>
        public Tensor Embed(Tensor x) => Body.Forward(x).Mean([2, 3]);

        public override Tensor Forward(Tensor input) => Head.Forward(Embed(input));
    }
}
