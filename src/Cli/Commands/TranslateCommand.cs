using System.CommandLine;
using GpuGan.Gan;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Training;

namespace GpuGan.Cli.Commands;

/// <summary>gpugan translate: images through a trained pix2pix or CycleGAN generator, one output per input, names kept.</summary>
internal static class TranslateCommand
{
    public static Command Create(CliContext cli)
    {
        var run = new Option<string?>(Words.Run) { Description = $"run folder to translate with (its {RunLayout.GeneratorFile})" };
        var checkpoint = new Option<string?>(Words.Checkpoint) { Description = "a generator or training checkpoint .safetensors file" };
        var input = new Option<string>(Words.Input) { Description = "an image, or a folder of images (searched recursively)", Required = true };
        var outDir = new Option<string>(Words.Out) { Description = "output folder (one PNG per input, same relative path)", Required = true };
        var direction = Flags.Choice(Words.Direction, "a2b: domain A to B; b2a: B to A (cyclegan only)", Words.Directions, Defaults.Direction);
        var device = Flags.Choice(Words.Device, "device", Words.Devices, Defaults.SampleDevice);
        var command = new Command("translate", "translate images with a trained pix2pix or cyclegan model")
        {
            run, checkpoint, input, outDir, direction.Option, device.Option,
        };
        command.SetAction(r => cli.Execute("translate", () => r.GetValue(run), () =>
        {
            string? runFolder = r.GetValue(run), file = r.GetValue(checkpoint);
            if ((runFolder is null) == (file is null))
                throw new UsageException($"give exactly one of {Words.Run} DIR or {Words.Checkpoint} FILE");
            string path = file ?? Path.Combine(runFolder!, RunLayout.GeneratorFile);
            var translator = Translator.Load(path, DeviceSelection.Open(device.Value(r), threads: null), direction.Value(r));
            string output = r.GetValue(outDir)!;
            var result = translator.TranslateFiles(r.GetValue(input)!, output);
            foreach (var s in result.Skipped) cli.Err.WriteLine($"warning: skipped {s.Path}: {s.Reason}");
            if (result.Written.Count == 0) throw new UsageException($"{Words.Input}: no image could be read ({result.Skipped.Count} skipped)");
            if (result.Written.Count <= 3) foreach (var p in result.Written) cli.Out.WriteLine($"wrote {p}");
            else cli.Out.WriteLine($"wrote {result.Written.Count} files to {output}");
        }));
        return command;
    }
}
