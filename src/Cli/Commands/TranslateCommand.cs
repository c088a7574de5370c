using System.CommandLine;
using GpuGan.Gan;
using GpuGan.Gan.Data;
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
        // The folder data sets' reader options; with --run, what the run was trained with unless given here.
        var resize = Flags.Choice(Words.Resize, $"resampling filter of the inputs (ImageSharp; antialiased when shrinking); default: the run's, else {Defaults.Resize}", Words.ResizeFilters, Defaults.Resize);
        var maxSide = Flags.Int(Words.MaxImageSide, "skip input images wider or taller than N pixels (checked before decoding); default: the run's", Defaults.MaxImageSide);
        var maxPixels = Flags.Long(Words.MaxImagePixels, "skip input images of more than N pixels (width x height, checked before decoding); default: the run's", Defaults.MaxImagePixels);
        var strictData = new Option<bool>(Words.StrictData) { Description = "an input that cannot be used (corrupt, too large, refused) is an error, not a skipped file" };
        var command = new Command("translate", "translate images with a trained pix2pix or cyclegan model")
        {
            run, checkpoint, input, outDir, direction.Option, device.Option, resize.Option, maxSide, maxPixels, strictData,
        };
        command.SetAction(r => cli.Execute("translate", () => r.GetValue(run), () =>
        {
            string? runFolder = r.GetValue(run), file = r.GetValue(checkpoint);
            if ((runFolder is null) == (file is null))
                throw new UsageException($"give exactly one of {Words.Run} DIR or {Words.Checkpoint} FILE");
            string path = file ?? Path.Combine(runFolder!, RunLayout.GeneratorFile);
            var translator = Translator.Load(path, DeviceSelection.Open(device.Value(r), threads: null), direction.Value(r));
            string? configPath = runFolder is null ? null : Path.Combine(runFolder, RunLayout.ConfigFile);
            var saved = configPath is not null && File.Exists(configPath) ? TrainOptions.FromJson(File.ReadAllText(configPath), configPath) : null;
            var filter = Flags.Given(r, resize.Option) ? resize.Value(r) : saved?.Resize ?? resize.Value(r);
            var limits = new ImageLimits(
                Flags.Given(r, maxSide) ? r.GetValue(maxSide) : saved?.ImageLimits.MaxSide ?? r.GetValue(maxSide),
                Flags.Given(r, maxPixels) ? r.GetValue(maxPixels) : saved?.ImageLimits.MaxPixels ?? r.GetValue(maxPixels));
            if (limits.MaxSide < 1) throw new UsageException($"{Words.MaxImageSide}: must be at least 1, got {limits.MaxSide}");
            if (limits.MaxPixels < 1) throw new UsageException($"{Words.MaxImagePixels}: must be at least 1, got {limits.MaxPixels}");
            string output = r.GetValue(outDir)!;
            var result = translator.TranslateFiles(r.GetValue(input)!, output, filter, limits, r.GetValue(strictData));
            foreach (var s in result.Skipped) cli.Err.WriteLine($"warning: skipped {s.Path}: {s.Reason}");
            // Every input unusable is bad data (exit 1), as a folder without images is, not a bad command line.
            if (result.Written.Count == 0) throw new DataFormatException(r.GetValue(input)!, $"no image could be read ({result.Skipped.Count} skipped)");
            if (result.Written.Count <= 3) foreach (var p in result.Written) cli.Out.WriteLine($"wrote {p}");
            else cli.Out.WriteLine($"wrote {result.Written.Count} files to {output}");
        }));
        return command;
    }
}
