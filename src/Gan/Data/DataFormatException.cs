namespace GpuGan.Gan.Data;

/// <summary>
/// A data file is missing, truncated or not in the expected format. The message starts with
/// the file's name and says what is wrong with it.
/// </summary>
public sealed class DataFormatException : GanException
{
    /// <summary>Creates the exception for <paramref name="path"/>; the message is "name: problem".</summary>
    public DataFormatException(string path, string problem, Exception? inner = null)
        : base($"{System.IO.Path.GetFileName(path)}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>Full path of the offending file (or of the expected file when it is missing).</summary>
    public string FilePath { get; }

    /// <summary>The problem, without the file name.</summary>
    public string Problem { get; }
}
