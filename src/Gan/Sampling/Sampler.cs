// Making samples from a trained generator.
//
// Truncation (ψ in [0, 1]): z ← ψ·z, pulling the N(0, I) latent towards its mean, the StyleGAN form of the
// truncation trick without a mapping network: samples become more typical and less varied as ψ falls
// (ψ = 0 gives the one image G(0)). Only for the Gaussian latents of the latent-noise GANs.
// Interpolation: rows of `steps` images along the great circle between two latent vectors (spherical
// interpolation; a straight line between two Gaussian vectors of ~√nz length passes through vectors
// of atypically small length, which the generator rarely saw). The file (a generator.safetensors or a training
// checkpoint) carries its architecture record, so the generator is rebuilt from the file alone:
// no configuration, no data set.
using System.Globalization;
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Sampling;

/// <summary>Generated samples: values (N, C, H, W) in [-1, 1], and the class of each for conditional models.</summary>
public sealed record GeneratedSamples(float[] Values, int Count, ImageShape Shape, int[]? Labels);

/// <summary>A trained generator loaded from a file, ready to sample.</summary>
public sealed class Sampler
{
    private readonly Device _device;

    private Sampler(string filePath, GanSpec spec, Generator generator, Device device)
    {
        FilePath = filePath;
        Spec = spec;
        Generator = generator;
        _device = device;
    }

    /// <summary>The file the weights came from.</summary>
    public string FilePath { get; }

    /// <summary>The generator's architecture, as the file records it.</summary>
    public GanSpec Spec { get; }

    /// <summary>The generator, in evaluation mode.</summary>
    public Generator Generator { get; }

    /// <summary>
    /// Loads the generator in <paramref name="path"/>: a generator weights file or a training checkpoint, either with
    /// its architecture record.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="SafeTensorsFormatException">The file is truncated or not safetensors.</exception>
    /// <exception cref="ArchitectureRecordException">The file has no (valid) architecture record.</exception>
    /// <exception cref="WrongModelKindException">The file holds an image-to-image model (use <see cref="Translator"/>).</exception>
    /// <exception cref="GpuGan.Layers.StateDictException">The weights do not fit the recorded architecture.</exception>
    /// <remarks>
    /// A run trained with an EMA decay keeps two generators: the moving average (the generator file holds it; the checkpoint
    /// holds it as "G_ema") and the trained weights (the checkpoint's "G"). The average is loaded unless <paramref name="raw"/>;
    /// a file written before its batch-norm statistics were re-estimated (no <see cref="StandingStatistics.MetadataKey"/>) gets them
    /// re-estimated here.
    /// </remarks>
    /// <exception cref="RawWeightsNotInFileException"><paramref name="raw"/> for a generator file that holds the average only.</exception>
    public static Sampler Load(string path, Device device, bool raw = false)
    {
        var (spec, training) = ModelFiles.ReadSpec(path);
        if (spec.Family.Kind() == ModelKind.Translation) throw new WrongModelKindException(path, spec.Family, ModelKind.Generative);
        var g = spec.Family == ModelFamily.Aae ? AaeModel.CreateGenerator(spec, device) : GanModel.CreateGenerator(spec, device);
        var file = SafeTensors.Read(path);
        bool averaged;
        if (training)
        {
            averaged = !raw && file.Tensors.Keys.Any(k => k.StartsWith(GanModel.EmaModuleName + ".", StringComparison.Ordinal));
            Checkpoint.LoadModule(path, g, spec.Family == ModelFamily.Aae ? AaeModel.DecoderPrefix : averaged ? GanModel.EmaModuleName : "G");
        }
        else
        {
            averaged = file.Metadata.ContainsKey(GanModel.EmaMetadataKey);
            if (raw && averaged) throw new RawWeightsNotInFileException(path);
            Checkpoint.LoadModule(path, g);
        }
        g.Eval();
        // Files written before the averaged generator's statistics were re-estimated carry G's: estimate them now.
        if (averaged && !file.Metadata.ContainsKey(StandingStatistics.MetadataKey)) StandingStatistics.Estimate(g, device);
        return new Sampler(path, spec, g, device) { Averaged = averaged, ClassNames = ReadClassNames(path, spec, file.Metadata) };
    }

    /// <summary>
    /// A conditional model's class names in label order, as its file records them ("common", "rare" for petri); the label
    /// numbers for files written before names were recorded; empty for unconditional models.
    /// </summary>
    public IReadOnlyList<string> ClassNames { get; private init; } = [];

    private static IReadOnlyList<string> ReadClassNames(string path, GanSpec spec, IReadOnlyDictionary<string, string> metadata)
    {
        if (!spec.IsConditional) return [];
        if (!metadata.TryGetValue(GanModel.ClassNamesMetadataKey, out var json)) return DatasetExtensions.NumberNames(spec.ClassCount);
        string[]? names;
        try
        {
            names = System.Text.Json.JsonSerializer.Deserialize<string[]>(json);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ArchitectureRecordException(path, "unreadable class names (metadata \"" + GanModel.ClassNamesMetadataKey + "\")", e);
        }
        if (names is null || names.Length != spec.ClassCount || names.Any(string.IsNullOrWhiteSpace))
            throw new ArchitectureRecordException(path, $"the class names do not fit the model's {spec.ClassCount} classes");
        return names;
    }

    /// <summary>The label of the class <paramref name="word"/> names: a name of <see cref="ClassNames"/> (any case) or a class number.</summary>
    /// <exception cref="ModelNotConditionalException">The model is not class-conditional.</exception>
    /// <exception cref="UnknownClassException">No class of the model has that name or number.</exception>
    public int ClassOf(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (!Spec.IsConditional) throw new ModelNotConditionalException(Spec.Family);
        int k = DatasetExtensions.FindClass(ClassNames, word);
        return k >= 0 ? k : throw new UnknownClassException(word, ClassNames);
    }

    /// <summary>True when the weights are the moving average of a run trained with an EMA decay.</summary>
    public bool Averaged { get; private init; }

    /// <summary>True when <paramref name="generatorFile"/> holds a moving average (so the trained weights are in the run's checkpoint only).</summary>
    public static bool HoldsAverage(string generatorFile) =>
        File.Exists(generatorFile) && SafeTensors.Read(generatorFile).Metadata.ContainsKey(GanModel.EmaMetadataKey);

    /// <summary>
    /// <paramref name="count"/> samples from latent noise of <paramref name="seed"/>. Conditional models make class
    /// <paramref name="classLabel"/>, or cycle through the classes when it is null.
    /// </summary>
    /// <exception cref="InvalidOptionException">A count below 1.</exception>
    /// <exception cref="ModelNotConditionalException">A class for an unconditional model.</exception>
    /// <exception cref="ClassOutOfRangeException">A class the model does not have.</exception>
    /// <remarks><paramref name="truncation"/> ψ in [0, 1] scales the latent vectors (see the file header); null leaves them.</remarks>
    /// <exception cref="InvalidOptionException">ψ outside [0, 1], or truncation of a model without a Gaussian latent (aae).</exception>
    public GeneratedSamples Generate(int count, long seed, int? classLabel = null, double? truncation = null)
    {
        if (count < 1) throw new InvalidOptionException("count", count, "must be at least 1");
        CheckClass(classLabel);
        CheckTruncation(truncation);
        int[]? labels = Spec.IsConditional ? Enumerable.Range(0, count).Select(i => classLabel ?? i % Spec.ClassCount).ToArray() : null;
        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        var z = Generator.SampleLatent(count, new RandomStream(unchecked((ulong)seed)), _device);
        if (truncation is { } psi) z = z.MulScalar((float)psi);
        return new GeneratedSamples(Generator.Generate(z, labels).ToArray(), count, Spec.Image, labels);
    }

    /// <summary>
    /// <paramref name="rows"/> interpolations of <paramref name="steps"/> images each (row-major): row r walks from one random latent
    /// vector to another along the great circle between them (both ends included). Conditional models keep one class per row
    /// (<paramref name="classLabel"/>, or the rows cycle through the classes).
    /// </summary>
    /// <exception cref="InvalidOptionException">Fewer than 1 row or 2 steps, or a truncation outside [0, 1].</exception>
    public GeneratedSamples Interpolate(int rows, int steps, long seed, int? classLabel = null, double? truncation = null)
    {
        if (rows < 1) throw new InvalidOptionException("count", rows, "must be at least 1");
        if (steps < 2) throw new InvalidOptionException("Interpolate", steps, "must be at least 2");
        CheckClass(classLabel);
        CheckTruncation(truncation);
        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        var ends = Generator.SampleLatent(2 * rows, new RandomStream(unchecked((ulong)seed)), _device).ToArray();
        int nz = ends.Length / (2 * rows), count = rows * steps;
        var path = new float[count * nz];
        for (int r = 0; r < rows; r++)
        {
            var a = ends.AsSpan(2 * r * nz, nz);
            var b = ends.AsSpan((2 * r + 1) * nz, nz);
            for (int s = 0; s < steps; s++)
                Slerp(a, b, (double)s / (steps - 1), path.AsSpan((r * steps + s) * nz, nz));
        }
        var shape = Generator.LatentShape(count);
        var z = Tensor.FromArray(path, shape, _device);
        if (truncation is { } psi) z = z.MulScalar((float)psi);
        int[]? labels = Spec.IsConditional ? Enumerable.Range(0, count).Select(i => classLabel ?? (i / steps) % Spec.ClassCount).ToArray() : null;
        return new GeneratedSamples(Generator.Generate(z, labels).ToArray(), count, Spec.Image, labels);
    }

    /// <summary>Spherical interpolation between <paramref name="a"/> and <paramref name="b"/> at t ∈ [0, 1] (linear when they are parallel).</summary>
    public static void Slerp(ReadOnlySpan<float> a, ReadOnlySpan<float> b, double t, Span<float> destination)
    {
        double na = 0, nb = 0, dot = 0;
        for (int i = 0; i < a.Length; i++) { na += a[i] * (double)a[i]; nb += b[i] * (double)b[i]; dot += a[i] * (double)b[i]; }
        double cos = Math.Clamp(dot / Math.Sqrt(Math.Max(na * nb, 1e-300)), -1, 1);
        double omega = Math.Acos(cos), sin = Math.Sin(omega);
        double wa, wb;
        if (sin < 1e-6) (wa, wb) = (1 - t, t);
        else (wa, wb) = (Math.Sin((1 - t) * omega) / sin, Math.Sin(t * omega) / sin);
        for (int i = 0; i < a.Length; i++) destination[i] = (float)(wa * a[i] + wb * b[i]);
    }

    private void CheckClass(int? classLabel)
    {
        if (classLabel is { } k)
        {
            if (!Spec.IsConditional) throw new ModelNotConditionalException(Spec.Family);
            if (k < 0 || k >= Spec.ClassCount) throw new ClassOutOfRangeException(k, Spec.ClassCount);
        }
    }

    private void CheckTruncation(double? truncation)
    {
        if (truncation is not { } psi) return;
        if (!(psi >= 0 && psi <= 1)) throw new InvalidOptionException("Truncation", psi, "must be between 0 and 1");
        if (Spec.Family.Kind() != ModelKind.Generative) throw new InvalidOptionException("Truncation", psi, $"applies to the Gaussian latents of the latent-noise GANs, not {Spec.Family.FileName()}");
    }
}

/// <summary>How <see cref="SampleWriter"/> writes images (curves are always written as CSV and a plot).</summary>
public enum SampleFormat
{
    /// <summary>One PNG per sample.</summary>
    Png,
    /// <summary>One PNG grid of all samples.</summary>
    Grid,
    /// <summary>IDX files (grey images, and labels for conditional models), as MNIST is distributed.</summary>
    Idx,
}

/// <summary>Writes generated samples into a folder.</summary>
public static class SampleWriter
{
    /// <summary>Checks that <paramref name="format"/> can hold samples of <paramref name="shape"/> before anything is generated or written.</summary>
    /// <exception cref="SampleFormatException">IDX for colour images.</exception>
    public static void Check(ImageShape shape, SampleFormat format)
    {
        if (format == SampleFormat.Idx && shape.Height > 1 && shape.Channels != 1) throw new SampleFormatException("IDX", shape.Channels);
    }

    /// <summary>Writes <paramref name="samples"/> as one grid image <paramref name="fileName"/> of <paramref name="columns"/> columns in <paramref name="folder"/>; returns its path.</summary>
    /// <exception cref="InvalidOptionException">Curves (there is no image to tile).</exception>
    public static string WriteGrid(GeneratedSamples samples, string folder, string fileName, int columns)
    {
        var (c, h, w) = (samples.Shape.Channels, samples.Shape.Height, samples.Shape.Width);
        if (h == 1) throw new InvalidOptionException("Grid", fileName, "needs images; this generator makes curves");
        Directory.CreateDirectory(folder);
        AtomicFile.RemoveStaleTemporaryFiles(folder);
        string path = Path.Combine(folder, fileName);
        ImageGrid.Save(path, samples.Values, samples.Count, c, h, w, columns);
        return path;
    }

    /// <summary>
    /// Writes <paramref name="samples"/> into <paramref name="folder"/> (created if needed): curves (H = 1) as curves.csv
    /// (one row per curve, the x grid in the header) and curves.png; images as <paramref name="format"/> says, PNG files
    /// with <paramref name="bitDepth"/> (8 or 16) bits per channel. Returns the files written.
    /// </summary>
    /// <exception cref="SampleFormatException">IDX for colour images (checked before anything is written).</exception>
    public static IReadOnlyList<string> Write(GeneratedSamples samples, string folder, SampleFormat format, int bitDepth = 8)
    {
        PngWriter.CheckBitDepth(bitDepth);
        var (c, h, w) = (samples.Shape.Channels, samples.Shape.Height, samples.Shape.Width);
        Check(samples.Shape, format);
        Directory.CreateDirectory(folder);
        AtomicFile.RemoveStaleTemporaryFiles(folder);
        var images = samples.Values;
        int n = samples.Count;
        var written = new List<string>();
        if (h == 1)
        {
            string csv = Path.Combine(folder, "curves.csv");
            var lines = new List<string> { string.Join(",", Enumerable.Range(0, w).Select(i => (w == SinesDataset.Length ? SinesDataset.XGrid[i] : i).ToString("R", CultureInfo.InvariantCulture))) };
            for (int i = 0; i < n; i++) lines.Add(string.Join(",", images.Skip(i * w).Take(w).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
            AtomicFile.WriteAllBytes(csv, System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
            string png = Path.Combine(folder, "curves.png");
            CurvesPlot.SaveCurves(png, images, n, w);
            written.Add(csv);
            written.Add(png);
        }
        else if (format == SampleFormat.Idx)
        {
            string path = Path.Combine(folder, Scoring.SampleFiles.IdxImages);
            IdxWriter.WriteImages(path, images, n, h, w);
            written.Add(path);
            if (samples.Labels is { } labels)
            {
                string lp = Path.Combine(folder, Scoring.SampleFiles.IdxLabels);
                IdxWriter.WriteLabels(lp, labels);
                written.Add(lp);
            }
        }
        else if (format == SampleFormat.Grid)
        {
            string path = Path.Combine(folder, "grid.png");
            ImageGrid.Save(path, images, n, c, h, w, bitDepth: bitDepth);
            written.Add(path);
        }
        else
        {
            int len = c * h * w;
            for (int i = 0; i < n; i++)
            {
                string path = Path.Combine(folder, $"sample-{i:D5}{(samples.Labels is null ? "" : $"-class{samples.Labels[i]}")}.png");
                PngWriter.Save(path, images.AsSpan(i * len, len), c, h, w, bitDepth);
                written.Add(path);
            }
        }
        return written;
    }
}
