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
        var cls = Flags.OptionalInt(Words.Class, "class to generate (cdcgan)");
        var seed = Flags.Long(Words.Seed, "latent seed", Defaults.SampleSeed);
        var grid = new Option<bool>(Words.Grid) { Description = "write one grid image instead of one file per sample" };
        var device = Flags.Choice(Words.Device, "device", Words.Devices, Defaults.SampleDevice);
        var bitDepth = Flags.Choice(Words.BitDepth, "bits per channel of the PNG files", [("8", 8), ("16", 16)], Defaults.PngBitDepth);
        var command = new Command("sample", "generate images (or curves for sines) from a trained generator")
        {
            run, checkpoint, count, outDir, format.Option, cls, seed, grid, device.Option,
        };
        command.Options.Add(bitDepth.Option);
        command.SetAction(r => cli.Execute("sample", () => r.GetValue(run), () =>
        {
            string? runFolder = r.GetValue(run), file = r.GetValue(checkpoint);
            if ((runFolder is null) == (file is null))
                throw new UsageException($"give exactly one of {Words.Run} DIR or {Words.Checkpoint} FILE");
            string path = file ?? Path.Combine(runFolder!, RunLayout.GeneratorFile);
            var chosen = format.Value(r);
            if (chosen == SampleFormat.Png && r.GetValue(grid)) chosen = SampleFormat.Grid;
            string output = r.GetValue(outDir)!;

            var sampler = Sampler.Load(path, DeviceSelection.Open(device.Value(r), threads: null));
            SampleWriter.Check(sampler.Spec.Image, chosen);
            var samples = sampler.Generate(r.GetValue(count), r.GetValue(seed), r.GetValue(cls));
            var written = SampleWriter.Write(samples, output, chosen, bitDepth.Value(r));
            if (written.Count <= 3) foreach (var p in written) cli.Out.WriteLine($"wrote {p}");
            else cli.Out.WriteLine($"wrote {written.Count} files to {output}");
        }));
        return command;
    }
}
