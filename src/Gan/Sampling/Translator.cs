// Translating images with a trained pix2pix or CycleGAN model. The file (generator.safetensors or a
// training checkpoint) carries its architecture record, so the generator is rebuilt from the file
// alone. pix2pix translates A → B; CycleGAN A → B (G_A) or B → A (G_B). Inputs are decoded with the
// domain's channels and resized whole to the model's size, as the training folders are; each output
// is written as a PNG under the input's relative path with the extension .png. The generator runs
// in evaluation mode (batch-norm running statistics, no dropout: the reference's --eval). The inputs take the folder
// data sets' reader options: the resampling filter, the image limits and strict data.
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Sampling;

/// <summary>Which way a translation model is run.</summary>
public enum TranslationDirection
{
    /// <summary>Domain A to domain B (pix2pix's only direction; CycleGAN's G_A).</summary>
    AToB,
    /// <summary>Domain B to domain A (CycleGAN's G_B).</summary>
    BToA,
}

/// <summary>The result of translating files: what was written and what could not be read.</summary>
public sealed record TranslatedFiles(IReadOnlyList<string> Written, IReadOnlyList<SkippedFile> Skipped);

/// <summary>A trained image-to-image generator loaded from a file, ready to translate.</summary>
public sealed class Translator
{
    private const int Group = 8;
    private readonly Device _device;

    private Translator(string filePath, GanSpec spec, ImageTranslator generator, TranslationDirection direction, Device device)
    {
        FilePath = filePath;
        Spec = spec;
        Generator = generator;
        Direction = direction;
        _device = device;
    }

    /// <summary>The file the weights came from.</summary>
    public string FilePath { get; }

    /// <summary>The model's architecture, as the file records it.</summary>
    public GanSpec Spec { get; }

    /// <summary>The generator used, in evaluation mode.</summary>
    public ImageTranslator Generator { get; }

    /// <summary>The direction it translates.</summary>
    public TranslationDirection Direction { get; }

    /// <summary>(C, S, S) of an input.</summary>
    public ImageShape Input => new(Generator.InChannels, Spec.Image.Height, Spec.Image.Width);

    /// <summary>(C, S, S) of an output.</summary>
    public ImageShape Output => new(Generator.OutChannels, Spec.Image.Height, Spec.Image.Width);

    /// <summary>Loads the generator for <paramref name="direction"/> from a generator weights file or a training checkpoint of a translation model.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="SafeTensorsFormatException">The file is truncated or not safetensors.</exception>
    /// <exception cref="ArchitectureRecordException">The file has no (valid) architecture record.</exception>
    /// <exception cref="WrongModelKindException">The file holds a model that does not translate images.</exception>
    /// <exception cref="DirectionNotAvailableException">B → A asked of a pix2pix model.</exception>
    /// <exception cref="StateDictException">The weights do not fit the recorded architecture.</exception>
    public static Translator Load(string path, Device device, TranslationDirection direction = TranslationDirection.AToB)
    {
        var (spec, training) = ModelFiles.ReadSpec(path);
        if (spec.Family.Kind() != ModelKind.Translation) throw new WrongModelKindException(path, spec.Family, ModelKind.Translation);
        ImageTranslator g;
        if (spec.Family == ModelFamily.Pix2pix)
        {
            if (direction != TranslationDirection.AToB) throw new DirectionNotAvailableException(spec.Family);
            g = Pix2PixModel.CreateGenerator(spec, device);
            if (training) Checkpoint.LoadModule(path, g, "G");
            else Checkpoint.LoadModule(path, g);
        }
        else
        {
            var pair = CycleGanModel.CreateGenerators(spec, device);
            if (training)
            {
                Checkpoint.LoadModule(path, pair.GA, "G_A");
                Checkpoint.LoadModule(path, pair.GB, "G_B");
            }
            else Checkpoint.LoadModule(path, pair);
            g = direction == TranslationDirection.AToB ? pair.GA : pair.GB;
        }
        g.Eval();
        return new Translator(path, spec, g, direction, device);
    }

    /// <summary>Translates <paramref name="count"/> images (count, C_in, S, S) in [-1, 1]; returns (count, C_out, S, S).</summary>
    public float[] Translate(float[] images, int count)
    {
        int inLength = Input.Length;
        if (count < 1 || images.Length < count * inLength)
            throw new ArgumentException($"{images.Length} values do not hold {count} images of {Input}", nameof(images));
        var result = new float[count * Output.Length];
        for (int start = 0; start < count; start += Group)
        {
            int n = Math.Min(Group, count - start);
            using var scope = TensorScope.Begin();
            using var noGrad = Autograd.NoGrad();
            var x = Tensor.FromArray(images.AsSpan(start * inLength, n * inLength), new Shape(n, Input.Channels, Input.Height, Input.Width), _device);
            Generator.Forward(x).ToArray().CopyTo(result, start * Output.Length);
        }
        return result;
    }

    /// <summary>
    /// Translates the image <paramref name="input"/>, or every image under the folder <paramref name="input"/>, into PNGs
    /// under <paramref name="outputFolder"/> (created if needed), keeping each file's relative path with the extension .png.
    /// Files that cannot be decoded are skipped and listed.
    /// </summary>
    /// <exception cref="DataFormatException">The input does not exist, holds no image, or two inputs would write the same output.</exception>
    public TranslatedFiles TranslateFiles(string input, string outputFolder) => TranslateFiles(input, outputFolder, ResizeFilter.Bilinear);

    /// <summary>
    /// Translates as <see cref="TranslateFiles(string, string)"/>, reading the inputs as the training folders read theirs:
    /// resampled to the model's size with <paramref name="resize"/>, refused above <paramref name="limits"/> (null:
    /// <see cref="ImageLimits.Standard"/>), and with <paramref name="strict"/> a file that cannot be used is an error instead of skipped.
    /// </summary>
    /// <exception cref="DataFormatException">The input does not exist, holds no image, or two inputs would write the same output; with <paramref name="strict"/>, the first unusable file in path order.</exception>
    public TranslatedFiles TranslateFiles(string input, string outputFolder, ResizeFilter resize, ImageLimits? limits = null, bool strict = false)
    {
        if (!Enum.IsDefined(resize)) throw new ArgumentOutOfRangeException(nameof(resize), resize, "not a known filter");
        List<(string File, string Relative)> files;
        if (File.Exists(input)) files = [(input, Path.GetFileName(input))];
        else if (Directory.Exists(input))
            files = Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories)
                .Where(f => ImageFolderDataset.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => f, StringComparer.Ordinal)
                .Select(f => (f, Path.GetRelativePath(input, f)))
                .ToList();
        else throw new DataFormatException(input, "missing: no such file or folder");
        if (files.Count == 0) throw new DataFormatException(input, $"no image ({string.Join(", ", ImageFolderDataset.Extensions)}) in the folder");
        var outputs = files.Select(f => Path.Combine(outputFolder, Path.ChangeExtension(f.Relative, ".png"))).ToList();
        var clash = outputs.GroupBy(o => o, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null) throw new DataFormatException(input, $"two inputs would both be written to {clash.Key} (names differing only in extension)");

        var skipped = new List<SkippedFile>();
        var written = new List<string>();
        var reader = new ImageReader(limits);
        int s = Spec.Image.Height, inLength = Input.Length;
        for (int start = 0; start < files.Count; start += Group)
        {
            var batch = new List<(int Index, float[] Image)>();
            for (int i = start; i < Math.Min(files.Count, start + Group); i++)
            {
                try
                {
                    var bytes = reader.ReadResized(files[i].File, Input.Channels, s, s, resize, ImageFit.Stretch).PlanarBytes();
                    var image = new float[inLength];
                    for (int k = 0; k < image.Length; k++) image[k] = bytes[k] / 127.5f - 1f;
                    batch.Add((i, image));
                }
                catch (DataFormatException) when (strict)
                {
                    throw;
                }
                catch (Exception e) when (e is IOException or InvalidDataException or DataFormatException or UnauthorizedAccessException or ArgumentException)
                {
                    skipped.Add(new SkippedFile(files[i].File, e.Message, (e as DataFormatException)?.Kind ?? ImageProblem.Unreadable));
                }
            }
            if (batch.Count == 0) continue;
            var translated = Translate(batch.SelectMany(b => b.Image).ToArray(), batch.Count);
            for (int k = 0; k < batch.Count; k++)
            {
                string path = outputs[batch[k].Index];
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                PngWriter.Save(path, translated.AsSpan(k * Output.Length, Output.Length), Output.Channels, s, s);
                written.Add(path);
            }
        }
        return new TranslatedFiles(written, skipped);
    }
}

/// <summary>Reading the architecture record of a model file.</summary>
internal static class ModelFiles
{
    /// <summary>The record in <paramref name="path"/>, and whether the file is a training checkpoint (true) or weights (false).</summary>
    public static (GanSpec Spec, bool Training) ReadSpec(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist", path);
        var file = SafeTensors.Read(path);
        if (!file.Metadata.TryGetValue(GanSpec.MetadataKey, out var json))
            throw new ArchitectureRecordException(path, "holds no architecture record (it was not written by this version of GpuGan)");
        bool training = file.Metadata.TryGetValue("format", out var format) && format == Checkpoint.TrainingFormat;
        return (GanSpec.FromJson(json, path), training);
    }
}
