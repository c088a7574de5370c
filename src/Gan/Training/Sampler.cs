using System.Globalization;
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Training;

/// <summary>What `gpugan sample` was asked for.</summary>
public sealed record SampleRequest
{
    public string? Run { get; init; }
    public string? Checkpoint { get; init; }
    public int Count { get; init; } = 64;
    public required string Out { get; init; }
    public string Format { get; init; } = "png";
    public int? Class { get; init; }
    public long Seed { get; init; } = 1;
    public bool Grid { get; init; }
    public string Device { get; init; } = "cpu";
}

/// <summary>Generates samples from a trained generator (a run folder, or a weights/checkpoint file).</summary>
public static class Sampler
{
    public static IEnumerable<string> Run(SampleRequest r)
    {
        if ((r.Run is null) == (r.Checkpoint is null)) throw new ArgumentException("give exactly one of --run DIR or --checkpoint FILE");
        if (r.Count < 1) throw new ArgumentException($"--count: must be at least 1, got {r.Count}");
        if (r.Format is not ("png" or "idx")) throw new ArgumentException($"--format: expected png or idx, got '{r.Format}'");

        string weights = r.Checkpoint ?? Path.Combine(r.Run!, Trainer.GeneratorFile);
        if (!File.Exists(weights)) throw new ArgumentException($"{weights} does not exist");
        string? configPath = r.Run is not null ? Path.Combine(r.Run, Trainer.ConfigFile) : FindConfig(weights);
        if (configPath is null || !File.Exists(configPath))
            throw new ArgumentException($"no {Trainer.ConfigFile} found for {weights} (looked beside it and in its parent folder)");
        var options = TrainOptions.FromJson(File.ReadAllText(configPath), configPath);

        // The data set is only asked for its shape and classes (synthetic sets are cheap to describe).
        var shapeSource = DatasetFactory.Create(options.Data, options.ImageSize, options.Channels, 1, Math.Max(options.Batch, 1), options.Seed);
        var device = Tensors.Device.Open(Trainer.DeviceKindOf(r.Device));
        var model = GanModel.Create(options.Model, shapeSource.Channels, shapeSource.Height, shapeSource.Width, shapeSource.ClassCount,
            options.LatentDim, options.Width, options.Lr, options.Seed, device);
        if (IsTrainingCheckpoint(weights))
        {
            Checkpoint.Load(weights, Trainer.BuildState(model, Trainer.NoiseStream(options)));
        }
        else
        {
            Checkpoint.LoadModule(weights, model.G);
        }

        if (r.Class is { } k && (!model.IsConditional || k < 0 || k >= model.ClassCount))
            throw new ArgumentException(model.IsConditional ? $"--class: {k} is outside [0, {model.ClassCount})" : $"--class: {options.Model} is not class-conditional (use cdcgan)");
        int[]? labels = model.IsConditional ? Enumerable.Range(0, r.Count).Select(i => r.Class ?? i % model.ClassCount).ToArray() : null;

        float[] images;
        using (var scope = TensorScope.Begin())
        using (Autograd.NoGrad())
        {
            model.G.Eval();
            var z = Tensor.RandN(model.LatentShape(r.Count), new RandomStream(unchecked((ulong)r.Seed)), device);
            images = model.Generate(z, labels).ToArray();
        }
        Directory.CreateDirectory(r.Out);
        var (c, h, w) = (model.SampleShape[0], model.SampleShape[1], model.SampleShape[2]);
        var written = new List<string>();
        if (h == 1)
        {
            // Curves: CSV (one row per curve, x grid in the header) and a plot.
            string csv = Path.Combine(r.Out, "curves.csv");
            var lines = new List<string> { string.Join(",", Enumerable.Range(0, w).Select(i => (w == SinesDataset.Length ? SinesDataset.XGrid[i] : i).ToString("R", CultureInfo.InvariantCulture))) };
            for (int i = 0; i < r.Count; i++) lines.Add(string.Join(",", images.Skip(i * w).Take(w).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
            AtomicFile.WriteAllBytes(csv, System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
            string png = Path.Combine(r.Out, "curves.png");
            CurvesPlot.SaveCurves(png, images, r.Count, w);
            written.Add(csv);
            written.Add(png);
        }
        else if (r.Format == "idx")
        {
            if (c != 1) throw new ArgumentException($"--format idx holds grey images; this generator makes {c}-channel images (use png)");
            string path = Path.Combine(r.Out, "samples-idx3-ubyte");
            IdxWriter.WriteImages(path, images, r.Count, h, w);
            written.Add(path);
            if (labels is not null)
            {
                string lp = Path.Combine(r.Out, "samples-labels-idx1-ubyte");
                IdxWriter.WriteLabels(lp, labels);
                written.Add(lp);
            }
        }
        else if (r.Grid)
        {
            string path = Path.Combine(r.Out, "grid.png");
            ImageGrid.Save(path, images, r.Count, c, h, w);
            written.Add(path);
        }
        else
        {
            int len = c * h * w;
            for (int i = 0; i < r.Count; i++)
            {
                string path = Path.Combine(r.Out, $"sample-{i:D5}{(labels is null ? "" : $"-class{labels[i]}")}.png");
                PngWriter.Save(path, images.AsSpan(i * len, len), c, h, w);
                written.Add(path);
            }
        }
        return written.Count <= 3 ? written.Select(p => $"wrote {p}") : [$"wrote {written.Count} files to {r.Out}"];
    }

    private static string? FindConfig(string weights)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(weights))!;
        foreach (var d in new[] { dir, Path.GetDirectoryName(dir) })
            if (d is not null && File.Exists(Path.Combine(d, Trainer.ConfigFile))) return Path.Combine(d, Trainer.ConfigFile);
        return null;
    }

    private static bool IsTrainingCheckpoint(string path)
    {
        var file = SafeTensors.Read(path);
        return file.Metadata.TryGetValue("format", out var f) && f == Checkpoint.TrainingFormat;
    }
}
