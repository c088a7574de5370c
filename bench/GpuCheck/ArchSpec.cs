// The kit's three models as models.json describes them (the one file torch_check.py reads too).
// Channel counts are expressions over (nz, nc, width) so that the dry run can shrink every layer
// with the same file: an integer, "nz", "nc" or "<k>w".
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuGan.GpuCheck;

/// <summary>One conv (D) or transposed conv (G) stage: no bias, optional BatchNorm2d, then the activation.</summary>
internal sealed record StageSpec(string In, string Out, int Kernel, int Stride, int Padding, bool Norm, string Act);

internal sealed record OptimizerSpec(string Name, double Lr, double Beta1, double Beta2, double Eps);

internal sealed record ModelSpec(string Id, string Title, string Kind, int Channels, int Size, int CriticSteps,
    string Loss, double? Penalty, OptimizerSpec Optimizer, StageSpec[] Generator, StageSpec[] Discriminator);

/// <summary>Batch, latent size and feature width: the full-size run or the dry run's shrunken one.</summary>
internal sealed record Scale(int Batch, int Nz, int Width);

internal sealed record ModelsFile(string Comment, Scale Full, Scale DryRun, ModelSpec[] Models)
{
    public static ModelsFile Load(string path)
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = JsonNumberHandling.Strict };
        return JsonSerializer.Deserialize<ModelsFile>(File.ReadAllText(path), options)
            ?? throw new InvalidDataException($"{path}: empty");
    }

    public ModelSpec Get(string id) => Models.FirstOrDefault(m => m.Id == id)
        ?? throw new ArgumentException($"unknown model '{id}' (models.json has {string.Join(", ", Models.Select(m => m.Id))})");
}

/// <summary>A stage with its channel counts and spatial sizes resolved for one scale.</summary>
internal sealed record Layer(string Name, bool Transposed, int Batch, int In, int Out, int Kernel, int Stride, int Padding,
    int InSize, int OutSize, bool Norm, string Act)
{
    /// <summary>Multiply-adds × 2 of the forward pass; each of the two backward passes costs the same.</summary>
    public double Flops => 2.0 * Batch * In * Out * Kernel * Kernel * (Transposed ? (double)InSize * InSize : (double)OutSize * OutSize);

    public int[] InputShape => [Batch, In, InSize, InSize];
    public int[] OutputShape => [Batch, Out, OutSize, OutSize];
    /// <summary>Conv2d: (Cout, Cin, k, k); ConvTranspose2d: (Cin, Cout, k, k), as PyTorch.</summary>
    public int[] WeightShape => Transposed ? [In, Out, Kernel, Kernel] : [Out, In, Kernel, Kernel];

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Name} {(Transposed ? "ConvT" : "Conv")} {Batch}x{In}x{InSize}x{InSize} -> {Out}x{OutSize}x{OutSize} k{Kernel} s{Stride} p{Padding}");
}

internal static class LayerPlan
{
    public static int Channels(string expression, int nz, int nc, int width)
    {
        if (expression == "nz") return nz;
        if (expression == "nc") return nc;
        if (expression.EndsWith('w')) return int.Parse(expression[..^1], CultureInfo.InvariantCulture) * width;
        return int.Parse(expression, CultureInfo.InvariantCulture);
    }

    /// <summary>Both networks' stages at this scale: G from (N, nz, 1, 1), D from (N, nc, size, size).</summary>
    public static List<Layer> Resolve(ModelSpec spec, Scale scale)
    {
        var layers = new List<Layer>();
        int size = 1;
        for (int i = 0; i < spec.Generator.Length; i++)
        {
            var s = spec.Generator[i];
            int outSize = (size - 1) * s.Stride - 2 * s.Padding + s.Kernel;
            layers.Add(new Layer($"G{i + 1}", true, scale.Batch, Channels(s.In, scale.Nz, spec.Channels, scale.Width),
                Channels(s.Out, scale.Nz, spec.Channels, scale.Width), s.Kernel, s.Stride, s.Padding, size, outSize, s.Norm, s.Act));
            size = outSize;
        }
        if (size != spec.Size) throw new InvalidDataException($"{spec.Id}: the generator ends at {size}x{size}, not {spec.Size}x{spec.Size}");
        for (int i = 0; i < spec.Discriminator.Length; i++)
        {
            var s = spec.Discriminator[i];
            int outSize = (size + 2 * s.Padding - s.Kernel) / s.Stride + 1;
            layers.Add(new Layer($"D{i + 1}", false, scale.Batch, Channels(s.In, scale.Nz, spec.Channels, scale.Width),
                Channels(s.Out, scale.Nz, spec.Channels, scale.Width), s.Kernel, s.Stride, s.Padding, size, outSize, s.Norm, s.Act));
            size = outSize;
        }
        if (size != 1) throw new InvalidDataException($"{spec.Id}: the discriminator ends at {size}x{size}, not 1x1");
        return layers;
    }

    /// <summary>
    /// The layer sequence a network should have, as the adapter describes a built one:
    /// "ConvT(100,512,k4,s1,p0)", "BN(512)", "ReLU", "LeakyReLU(0.2)", "Tanh", "Conv(...)".
    /// </summary>
    public static List<string> ExpectedSequence(IEnumerable<Layer> layers)
    {
        var seq = new List<string>();
        foreach (var l in layers)
        {
            seq.Add(string.Create(CultureInfo.InvariantCulture,
                $"{(l.Transposed ? "ConvT" : "Conv")}({l.In},{l.Out},k{l.Kernel},s{l.Stride},p{l.Padding})"));
            if (l.Norm) seq.Add(string.Create(CultureInfo.InvariantCulture, $"BN({l.Out})"));
            switch (l.Act)
            {
                case "relu": seq.Add("ReLU"); break;
                case "leaky": seq.Add("LeakyReLU(0.2)"); break;
                case "tanh": seq.Add("Tanh"); break;
                case "none": break;
                default: throw new InvalidDataException($"unknown activation '{l.Act}'");
            }
        }
        return seq;
    }
}
