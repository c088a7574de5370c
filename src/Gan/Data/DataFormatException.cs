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

    /// <summary>Which sort of problem an image file has (null for other data files).</summary>
    public ImageProblem? Kind { get; init; }
}

/// <summary>Why an image file was not used; config.json counts skipped files by these (kebab-case names).</summary>
public enum ImageProblem
{
    /// <summary>The file could not be opened (permissions, an I/O error).</summary>
    Unreadable,
    /// <summary>The content is none of the formats read, whatever the file name says (an empty file too).</summary>
    NotAnImage,
    /// <summary>The header declares a size above the image limits; nothing was decoded.</summary>
    TooLarge,
    /// <summary>A format variant refused before decoding (TIFF with CCITT/fax compression, BigTIFF, strips the decoder would size from the header).</summary>
    Refused,
    /// <summary>Truncated or corrupt: the decoder failed, or the pixels do not match the header.</summary>
    Corrupt,
    /// <summary>An image-to-image folder file without its partner of the same name.</summary>
    Unpaired,
}
