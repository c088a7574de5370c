// ONNX export of trained generators, for inference in other stacks (ONNX Runtime, and anything
// else that reads ONNX). The file is written with Google.Protobuf's generated message classes
// (Export/Onnx/OnnxSubset.g.cs, from our subset of the ONNX schema), never a hand-made wire format.
//
// Graphs (N is a symbolic batch size; every input and output is float32 unless said otherwise):
//   gan, aae:               z (N, nz)        → main → Reshape → image (N, C, H, W)
//   dcgan, wgan, wgan-gp:   z (N, nz, 1, 1)  → main → image (N, C, H, W)
//   cdcgan:                 z (N, nz, 1, 1), class (N) int64 → Gather(E, class) → Reshape (N, nz, 1, 1) → Concat(z, ·) → main → image
//   pix2pix, cyclegan:      image (N, C_in, S, S) → U-Net / ResNet → output (N, C_out, S, S)
// Every layer in evaluation mode (batch norm with running statistics, dropout off): what
// Sampler and Translator compute. The model's metadata_props hold the architecture record ("spec",
// the same JSON as the safetensors files), the latent size, the image shape and the input names.
using System.Globalization;
using System.Reflection;
using Google.Protobuf;
using GpuGan.Gan.Export.Onnx;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;

namespace GpuGan.Gan.Export;

/// <summary>Writes generators as ONNX models (opset <see cref="OpsetVersion"/>).</summary>
public static class OnnxExport
{
    /// <summary>The ONNX operator set the graphs use.</summary>
    public const int OpsetVersion = 17;

    /// <summary>The ONNX IR version written (8 is the IR of opset 17).</summary>
    public const long IrVersion = 8;

    /// <summary>Name of the latent input.</summary>
    public const string LatentInput = "z";

    /// <summary>Name of the class input of conditional generators (int64, one label per sample).</summary>
    public const string ClassInput = "class";

    /// <summary>Name of the image input of translators.</summary>
    public const string ImageInput = "image";

    /// <summary>Name of the output of every graph: images (N, C, H, W) in [-1, 1].</summary>
    public const string Output = "output";

    /// <summary>
    /// The ONNX model of <paramref name="generator"/> (put it in evaluation mode first): inputs <see cref="LatentInput"/>
    /// (and <see cref="ClassInput"/> for conditional generators), output <see cref="Output"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">A layer in training mode, or a layer type the exporter does not know.</exception>
    public static byte[] FromGenerator(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var spec = generator.Spec;
        var b = new OnnxGraphBuilder($"gpugan-{spec.Family.FileName()}-generator");
        int rank = generator.LatentShape(1).Rank;
        long nz = spec.LatentDim;
        string z = rank == 2 ? b.AddInput(LatentInput, TensorProto.Types.DataType.Float, null, nz)
            : b.AddInput(LatentInput, TensorProto.Types.DataType.Float, null, nz, 1, 1);
        string x = z;
        if (generator is ConditionalGenerator c)
        {
            string labels = b.AddInput(ClassInput, TensorProto.Types.DataType.Int64, [null]);
            string e = b.Node("Gather", [b.Initializer("embed.weight", c.Embed.Weight), labels], "embed", null, OnnxGraphBuilder.Int("axis", 0)); // (N, nz)
            e = b.Node("Reshape", [e, b.Int64Initializer("embed/shape", -1, nz, 1, 1)], "embed");                                                  // (N, nz, 1, 1)
            x = b.Node("Concat", [z, e], "condition", null, OnnxGraphBuilder.Int("axis", 1));                                                      // (N, 2·nz, 1, 1)
        }
        x = b.Module(generator.Main, MainPrefix(generator), x);
        var (ch, h, w) = (spec.Image.Channels, spec.Image.Height, spec.Image.Width);
        if (rank == 2) x = b.Node("Reshape", [x, b.Int64Initializer("output/shape", -1, ch, h, w)], "output");
        b.AddOutput(x, Output, null, ch, h, w);

        var meta = Metadata(spec);
        meta["latent_size"] = spec.LatentDim.ToString(CultureInfo.InvariantCulture);
        meta["latent_shape"] = rank == 2 ? $"N,{nz}" : $"N,{nz},1,1";
        meta["inputs"] = generator is ConditionalGenerator ? $"{LatentInput},{ClassInput}" : LatentInput;
        if (spec.IsConditional) meta["class_count"] = spec.ClassCount.ToString(CultureInfo.InvariantCulture);
        if (spec.Family == ModelFamily.Aae) meta["latent_prior"] = spec.Prior.ToString().ToLowerInvariant();
        return Model(b, meta, $"GpuGan {spec.Family.FileName()} generator: {LatentInput} ~ the training prior → {Output} (N, {ch}, {h}, {w}) in [-1, 1]");
    }

    /// <summary>
    /// The ONNX model of an image-to-image generator <paramref name="translator"/> of the model <paramref name="spec"/>
    /// (evaluation mode), running <paramref name="direction"/>: input <see cref="ImageInput"/>, output <see cref="Output"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">A layer in training mode, or a layer type the exporter does not know.</exception>
    public static byte[] FromTranslator(ImageTranslator translator, GanSpec spec, TranslationDirection direction)
    {
        ArgumentNullException.ThrowIfNull(translator);
        ArgumentNullException.ThrowIfNull(spec);
        var b = new OnnxGraphBuilder($"gpugan-{spec.Family.FileName()}-generator");
        long s = spec.Image.Height;
        string x = b.AddInput(ImageInput, TensorProto.Types.DataType.Float, null, translator.InChannels, s, s);
        x = b.Module(translator, "", x);
        b.AddOutput(x, Output, null, translator.OutChannels, s, s);
        var meta = Metadata(spec);
        meta["direction"] = direction == TranslationDirection.AToB ? "a2b" : "b2a";
        meta["input_shape"] = $"{translator.InChannels},{s},{s}";
        meta["image_shape"] = $"{translator.OutChannels},{s},{s}";
        meta["inputs"] = ImageInput;
        return Model(b, meta, $"GpuGan {spec.Family.FileName()} generator ({meta["direction"]}): {ImageInput} (N, {translator.InChannels}, {s}, {s}) in [-1, 1] → {Output} (N, {translator.OutChannels}, {s}, {s}) in [-1, 1]");
    }

    // The state-dict name of the generator's layer stack ("main", or "model" for the autoencoder's decoder).
    private static string MainPrefix(Generator g) => g.NamedChildren().First(c => ReferenceEquals(c.Module, g.Main)).Name;

    private static Dictionary<string, string> Metadata(GanSpec spec) => new(StringComparer.Ordinal)
    {
        ["family"] = spec.Family.FileName(),
        [GanSpec.MetadataKey] = spec.ToJson(),
        ["image_shape"] = $"{spec.Image.Channels},{spec.Image.Height},{spec.Image.Width}",
        ["value_range"] = "-1,1",
    };

    private static byte[] Model(OnnxGraphBuilder b, Dictionary<string, string> metadata, string doc)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "GpuGan",
            ProducerVersion = typeof(OnnxExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            DocString = doc,
            Graph = b.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model.ToByteArray();
    }
}
