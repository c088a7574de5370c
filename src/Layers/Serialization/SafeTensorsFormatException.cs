namespace GpuGan.Layers.Serialization;

/// <summary>
/// A file or buffer is not a valid safetensors file. The message names the source (path or
/// the name the caller gave) and the problem.
/// </summary>
public sealed class SafeTensorsFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="sourceName"/> and <paramref name="problem"/>.</summary>
    public SafeTensorsFormatException(string sourceName, string problem, Exception? innerException = null)
        : base($"'{sourceName}' is not a valid safetensors file: {problem}", innerException)
    {
        SourceName = sourceName;
        Problem = problem;
    }

    /// <summary>The path or name of the rejected input.</summary>
    public string SourceName { get; }

    /// <summary>What is wrong, without the source name.</summary>
    public string Problem { get; }
}
