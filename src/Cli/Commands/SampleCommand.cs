using System.CommandLine;
using GpuGan.Gan;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Training;
using GpuGan.Tensors;

namespace GpuGan.Cli.Commands;

/// <summary>gpugan sample: images (or curves) from a trained generator; the file describes its own architecture.</summary>
internal static class SampleCommand
{
    public static Command Create(CliContext cli)
    {
        var run = new Option<string?>(Words.Run) { Description = $"run folder to sample from (its {RunLayout.GeneratorFile})" };
        var checkpoint = new Option<string?>(Words.Checkpoint) { Description = "a generator or training checkpoint .safetensors file" };
        var count = Flags.Int(Words.Count, "how many samples", Defaults.SampleCount);
        var outDir = new Option<string>(Words.Out) { Description = "output folder", Required = true };
        var format = Flags.Choice(Words.Format, "output format", [(Words.Png, SampleFormat.Png), (Words.Idx, SampleFormat.Idx)], Defaults.SampleFormat);
        var cls = new Option<string?>(Words.Class) { Description = "class to generate (cdcgan): its name (e.g. rare, common for petri) or number" };
        var seed = Flags.Long(Words.Seed, "latent seed", Defaults.SampleSeed);
        var grid = new Option<bool>(Words.Grid) { Description = "write one grid image instead of one file per sample" };
        var device = Flags.Choice(Words.Device, "device", Words.Devices, Defaults.SampleDevice);
        var bitDepth = Flags.Choice(Words.BitDepth, "bits per channel of the PNG files", [("8", 8), ("16", 16)], Defaults.PngBitDepth);
        var truncation = Flags.OptionalDouble(Words.Truncation, "pull the latent vectors towards their mean: z * PSI, PSI in [0, 1] (more typical, less varied samples)");
        var interpolate = Flags.OptionalInt(Words.Interpolate, $"write interpolation.png: rows of STEPS images between two latent vectors ({Words.Count} / STEPS rows, at least one)");
        var raw = new Option<bool>(Words.Raw) { Description = $"the trained generator weights, not their moving average (runs trained with {Words.Ema})" };
        var command = new Command("sample", "generate images (or curves for sines) from a trained generator")
        {
            run, checkpoint, count, outDir, format.Option, cls, seed, grid, device.Option, raw, truncation, interpolate,
        };
        command.Options.Add(bitDepth.Option);
        command.SetAction(r => cli.Execute("sample", () => r.GetValue(run), () =>
        {
            string? runFolder = r.GetValue(run), file = r.GetValue(checkpoint);
            if ((runFolder is null) == (file is null))
                throw new UsageException($"give exactly one of {Words.Run} DIR or {Words.Checkpoint} FILE");
            string path = RunFiles.GeneratorPath(runFolder, file, r.GetValue(raw));
            var chosen = format.Value(r);
            if (chosen == SampleFormat.Png && r.GetValue(grid)) chosen = SampleFormat.Grid;
            string output = r.GetValue(outDir)!;

            var sampler = Sampler.Load(path, DeviceSelection.Open(device.Value(r), threads: null), r.GetValue(raw));
            SampleWriter.Check(sampler.Spec.Image, chosen);
            int? classLabel = r.GetValue(cls) is { } word ? sampler.ClassOf(word) : null;
            if (r.GetValue(interpolate) is { } steps)
            {
                if (steps < 2) throw new UsageException($"{Words.Interpolate}: must be at least 2, got {steps}");
                int rows = Math.Max(1, r.GetValue(count) / steps);
                var walk = sampler.Interpolate(rows, steps, r.GetValue(seed), classLabel, r.GetValue(truncation));
                cli.Out.WriteLine($"wrote {SampleWriter.WriteGrid(walk, output, "interpolation.png", steps)}");
                return;
            }
            var samples = sampler.Generate(r.GetValue(count), r.GetValue(seed), classLabel, r.GetValue(truncation));
            var written = SampleWriter.Write(samples, output, chosen, bitDepth.Value(r));
            if (written.Count <= 3) foreach (var p in written) cli.Out.WriteLine($"wrote {p}");
            else cli.Out.WriteLine($"wrote {written.Count} files to {output}");
        }));
        return command;
    }
}

/// <summary>Which file of a run to sample from.</summary>
internal static class RunFiles
{
    /// <summary>
    /// <paramref name="file"/> when given; else the run's generator file, or its training checkpoint when <paramref name="raw"/>
    /// weights are asked for and the generator file holds the moving average.
    /// </summary>
    public static string GeneratorPath(string? runFolder, string? file, bool raw)
    {
        if (file is not null) return file;
        string generator = Path.Combine(runFolder!, RunLayout.GeneratorFile);
        return raw && Sampler.HoldsAverage(generator) ? Path.Combine(runFolder!, RunLayout.CheckpointFile) : generator;
    }
}
