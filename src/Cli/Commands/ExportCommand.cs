using System.CommandLine;
using GpuGan.Gan.Export;
using GpuGan.Gan.Training;

namespace GpuGan.Cli.Commands;

/// <summary>gpugan export: a trained generator as ONNX (for inference engines) or as safetensors weights alone.</summary>
internal static class ExportCommand
{
    public static Command Create(CliContext cli)
    {
        var run = new Option<string?>(Words.Run) { Description = $"run folder to export from (its {RunLayout.GeneratorFile})" };
        var checkpoint = new Option<string?>(Words.Checkpoint) { Description = "a generator or training checkpoint .safetensors file" };
        var format = Flags.Choice(Words.Format, "onnx: an ONNX model (opset 17) of the generator in evaluation mode; safetensors: its weights",
            Words.ExportFormats, Defaults.ExportFormat);
        var outFile = new Option<string>(Words.Out) { Description = "output file", Required = true };
        var direction = Flags.Choice(Words.Direction, "which cyclegan generator goes into an ONNX file (a2b: domain A to B; b2a: B to A)", Words.Directions, Defaults.Direction);
        var command = new Command("export", "write a trained generator for inference elsewhere (ONNX Runtime, PyTorch)")
        {
            run, checkpoint, format.Option, outFile, direction.Option,
        };
        command.SetAction(r => cli.Execute("export", () => r.GetValue(run), () =>
        {
            string? runFolder = r.GetValue(run), file = r.GetValue(checkpoint);
            if ((runFolder is null) == (file is null))
                throw new UsageException($"give exactly one of {Words.Run} DIR or {Words.Checkpoint} FILE");
            string path = file ?? Path.Combine(runFolder!, RunLayout.GeneratorFile);
            string output = r.GetValue(outFile)!;
            string? folder = Path.GetDirectoryName(Path.GetFullPath(output));
            if (folder is not null) Directory.CreateDirectory(folder);
            var written = ModelExport.Export(path, output, format.Value(r), direction.Value(r));
            cli.Out.WriteLine($"wrote {written.Path} ({Words.Of(written.Spec.Family)} generator, {written.Bytes} bytes)");
        }));
        return command;
    }
}
