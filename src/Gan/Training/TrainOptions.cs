using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuGan.Gan.Training;

/// <summary>Every setting of a training run; written to config.json and read back on resume.</summary>
public sealed record TrainOptions
{
    public string Model { get; init; } = "dcgan";
    public string Data { get; init; } = "petri";
    /// <summary>Square image side; null picks the data set's natural size (petri 32, IDX 28).</summary>
    public int? ImageSize { get; init; }
    /// <summary>1 or 3; null keeps the data set's channels.</summary>
    public int? Channels { get; init; }
    public int? Epochs { get; init; }
    public int? Steps { get; init; }
    public int Batch { get; init; } = 64;
    /// <summary>Learning rate; null takes the model's canonical value.</summary>
    public float? Lr { get; init; }
    public long Seed { get; init; } = 1;
    public string Device { get; init; } = "auto";
    public string? Out { get; init; }
    public int SampleEvery { get; init; } = 100;
    public int CheckpointEvery { get; init; } = 200;
    /// <summary>CPU kernel threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Size of the synthetic data sets (petri, sines).</summary>
    public int SyntheticCount { get; init; } = 6000;
    /// <summary>Cap on images read from IDX / folders (null = all).</summary>
    public int? Limit { get; init; }
    public int LatentDim { get; init; } = 100;
    /// <summary>Feature-map width of G and D (ngf = ndf), 64 in the canonical DCGAN.</summary>
    public int Width { get; init; } = 64;
    public string Version { get; init; } = typeof(TrainOptions).Assembly.GetName().Version?.ToString() ?? "0";

    public static readonly string[] Models = ["gan", "dcgan", "wgan", "wgan-gp", "cdcgan"];

    /// <summary>Checks values that the parser cannot; throws ArgumentException naming the option.</summary>
    public void Validate()
    {
        if (!Models.Contains(Model)) throw new ArgumentException($"--model: unknown model '{Model}' (expected {string.Join(", ", Models)})");
        if (ImageSize is { } s && s is not (28 or 32 or 64)) throw new ArgumentException($"--image-size: {s} is not supported (expected 28, 32 or 64)");
        if (Channels is { } c && c is not (1 or 3)) throw new ArgumentException($"--channels: {c} is not supported (expected 1 or 3)");
        if (Epochs is < 1) throw new ArgumentException($"--epochs: must be at least 1, got {Epochs}");
        if (Steps is < 1) throw new ArgumentException($"--steps: must be at least 1, got {Steps}");
        if (Epochs is not null && Steps is not null) throw new ArgumentException("--epochs and --steps cannot be given together");
        if (Batch < 1) throw new ArgumentException($"--batch: must be at least 1, got {Batch}");
        if (Lr is { } lr && !(lr > 0 && float.IsFinite(lr))) throw new ArgumentException($"--lr: must be a positive number, got {lr}");
        if (SampleEvery < 1) throw new ArgumentException($"--sample-every: must be at least 1, got {SampleEvery}");
        if (CheckpointEvery < 1) throw new ArgumentException($"--checkpoint-every: must be at least 1, got {CheckpointEvery}");
        if (Threads < 0) throw new ArgumentException($"--threads: must be 0 (all cores) or more, got {Threads}");
        if (!new[] { "auto", "cpu", "ilgpu-cpu", "cuda", "opencl" }.Contains(Device))
            throw new ArgumentException($"--device: unknown device '{Device}' (expected auto, cpu, ilgpu-cpu, cuda or opencl)");
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainOptions FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainOptions>(json, Json) ?? throw new InvalidDataException($"{source}: empty configuration");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a valid run configuration: {e.Message}", e);
        }
    }
}
