// Exporting the generator of a model file (a run's generator.safetensors or a training checkpoint)
// for inference elsewhere: as ONNX (OnnxExport), or as safetensors weights alone — the generator's
// state dictionary under PyTorch names with the architecture record in the header's metadata, the
// layout of a run's generator.safetensors, so `sample`/`translate` and PyTorch read it. For CycleGAN
// the safetensors file keeps both directions (G_A, G_B); the ONNX graph runs the one asked for.
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Layers;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Export;

/// <summary>The file formats a generator can be exported to.</summary>
public enum ExportFormat
{
    /// <summary>An ONNX model (opset <see cref="OnnxExport.OpsetVersion"/>), for ONNX Runtime and other inference engines.</summary>
    Onnx,
    /// <summary>The generator's weights as safetensors (PyTorch names, architecture record in the header).</summary>
    Safetensors,
}

/// <summary>What <see cref="ModelExport.Export"/> wrote.</summary>
/// <param name="Path">The file written.</param>
/// <param name="Spec">The architecture of the exported model.</param>
/// <param name="Format">Its format.</param>
/// <param name="Bytes">Its size in bytes.</param>
public sealed record ExportedModel(string Path, GanSpec Spec, ExportFormat Format, long Bytes);

/// <summary>Exports the generator held in a model file.</summary>
public static class ModelExport
{
    /// <summary>
    /// Writes the generator of <paramref name="modelPath"/> (generator weights or a training checkpoint, of any family)
    /// to <paramref name="outputPath"/> in <paramref name="format"/>, atomically. <paramref name="direction"/> picks the
    /// CycleGAN generator of an ONNX export (pix2pix has only A → B; the other families ignore it).
    /// </summary>
    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="SafeTensorsFormatException">The model file is truncated or not safetensors.</exception>
    /// <exception cref="ArchitectureRecordException">The model file has no (valid) architecture record.</exception>
    /// <exception cref="DirectionNotAvailableException">B → A asked of a pix2pix model.</exception>
    /// <exception cref="StateDictException">The weights do not fit the recorded architecture.</exception>
    public static ExportedModel Export(string modelPath, string outputPath, ExportFormat format, TranslationDirection direction = TranslationDirection.AToB)
    {
        var (spec, _) = ModelFiles.ReadSpec(modelPath);
        var device = Device.Cpu;
        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        if (spec.Family.Kind() == ModelKind.Translation)
        {
            var translator = Translator.Load(modelPath, device, direction);
            if (format == ExportFormat.Onnx) AtomicFile.WriteAllBytes(outputPath, OnnxExport.FromTranslator(translator.Generator, spec, direction));
            else Checkpoint.SaveModule(outputPath, spec.Family == ModelFamily.Cyclegan ? LoadCycleGanPair(modelPath, spec, device) : translator.Generator, Metadata(spec));
        }
        else
        {
            var sampler = Sampler.Load(modelPath, device);
            if (format == ExportFormat.Onnx) AtomicFile.WriteAllBytes(outputPath, OnnxExport.FromGenerator(sampler.Generator));
            else Checkpoint.SaveModule(outputPath, sampler.Generator, Metadata(spec));
        }
        return new ExportedModel(outputPath, spec, format, new FileInfo(outputPath).Length);
    }

    private static Module LoadCycleGanPair(string path, GanSpec spec, Device device)
    {
        var pair = CycleGanModel.CreateGenerators(spec, device);
        if (ModelFiles.ReadSpec(path).Training)
        {
            Checkpoint.LoadModule(path, pair.GA, "G_A");
            Checkpoint.LoadModule(path, pair.GB, "G_B");
        }
        else Checkpoint.LoadModule(path, pair);
        return pair;
    }

    // The metadata of a run's generator.safetensors (Trainer), less the step it was written at.
    private static Dictionary<string, string> Metadata(GanSpec spec) => new()
    {
        ["model"] = spec.Family.FileName(),
        [GanSpec.MetadataKey] = spec.ToJson(),
        ["exported-by"] = "gpugan export " + typeof(ModelExport).Assembly.GetName().Version?.ToString(3),
    };
}
