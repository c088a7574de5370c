namespace GpuGan.Gan.Data;

/// <summary>Where training samples come from.</summary>
public enum DataSourceKind
{
    /// <summary>Built-in synthetic RGB Petri dishes (<see cref="PetriDataset"/>), rendered from the seed.</summary>
    Petri,
    /// <summary>Built-in synthetic curves y = sin(b·x + c) (<see cref="SinesDataset"/>).</summary>
    Sines,
    /// <summary>Fashion-MNIST as installed by Debian's dataset-fashion-mnist (<see cref="IdxDataset.FashionMnistDirectory"/>).</summary>
    FashionMnist,
    /// <summary>A folder of IDX files (MNIST layout: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]).</summary>
    Idx,
    /// <summary>A folder of PNG/JPEG/BMP images, optionally one subfolder per class.</summary>
    ImageFolder,
    /// <summary>Built-in pairs: the layout of a synthetic Petri dish (A) and its photo (B) (<see cref="PetriPairsDataset"/>).</summary>
    PetriPairs,
    /// <summary>Built-in unpaired dishes in two styles, flat synthetic (A) and realistic (B) (<see cref="PetriStylesDataset"/>).</summary>
    PetriStyles,
    /// <summary>Edge maps of the installed Fashion-MNIST (A) and the items (B) (<see cref="EdgesDataset"/>).</summary>
    FashionMnistEdges,
    /// <summary>A folder of image pairs: A|B images, A/ and B/, or trainA/ and trainB/ (<see cref="TranslationFolderDataset"/>).</summary>
    TranslationFolder,
}

/// <summary>A data source: its kind, its folder (IDX, image folder) or its size (synthetic sets).</summary>
public sealed record DataSource
{
    /// <summary>The kind of source.</summary>
    public required DataSourceKind Kind { get; init; }

    /// <summary>The folder, for <see cref="DataSourceKind.Idx"/> and <see cref="DataSourceKind.ImageFolder"/>; null otherwise.</summary>
    public string? Path { get; init; }

    /// <summary>Samples to synthesise, for <see cref="DataSourceKind.Petri"/> and <see cref="DataSourceKind.Sines"/>; null otherwise.</summary>
    public int? Count { get; init; }

    /// <summary><paramref name="count"/> synthetic Petri dishes.</summary>
    public static DataSource Petri(int count) => new() { Kind = DataSourceKind.Petri, Count = count };

    /// <summary><paramref name="count"/> synthetic sine curves.</summary>
    public static DataSource Sines(int count) => new() { Kind = DataSourceKind.Sines, Count = count };

    /// <summary>The installed Fashion-MNIST training set.</summary>
    public static DataSource FashionMnist() => new() { Kind = DataSourceKind.FashionMnist };

    /// <summary>The IDX files in <paramref name="folder"/>.</summary>
    public static DataSource Idx(string folder) => new() { Kind = DataSourceKind.Idx, Path = folder };

    /// <summary>The images in <paramref name="folder"/>.</summary>
    public static DataSource ImageFolder(string folder) => new() { Kind = DataSourceKind.ImageFolder, Path = folder };

    /// <summary><paramref name="count"/> synthetic (layout, dish) pairs.</summary>
    public static DataSource PetriPairs(int count) => new() { Kind = DataSourceKind.PetriPairs, Count = count };

    /// <summary><paramref name="count"/> synthetic unpaired (flat, realistic) dishes.</summary>
    public static DataSource PetriStyles(int count) => new() { Kind = DataSourceKind.PetriStyles, Count = count };

    /// <summary>Edge maps and items of the installed Fashion-MNIST training set.</summary>
    public static DataSource FashionMnistEdges() => new() { Kind = DataSourceKind.FashionMnistEdges };

    /// <summary>The image pairs in <paramref name="folder"/>.</summary>
    public static DataSource TranslationFolder(string folder) => new() { Kind = DataSourceKind.TranslationFolder, Path = folder };

    /// <summary>True for the synthetic sets, which need a <see cref="Count"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsSynthetic => Kind is DataSourceKind.Petri or DataSourceKind.Sines or DataSourceKind.PetriPairs or DataSourceKind.PetriStyles;

    /// <summary>True for the sources read from a folder, which need a <see cref="Path"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsFolder => Kind is DataSourceKind.Idx or DataSourceKind.ImageFolder or DataSourceKind.TranslationFolder;

    /// <summary>
    /// <paramref name="folder"/> as IDX files when it holds an "…idx3-ubyte…" file, else as an image folder.
    /// </summary>
    /// <exception cref="DataFormatException">The folder does not exist.</exception>
    public static DataSource Folder(string folder)
    {
        if (!Directory.Exists(folder)) throw new DataFormatException(folder, "missing: no such folder");
        bool hasIdx = Directory.EnumerateFiles(folder).Any(f => System.IO.Path.GetFileName(f).Contains("idx3-ubyte", StringComparison.Ordinal));
        return hasIdx ? Idx(folder) : ImageFolder(folder);
    }

    /// <summary>A short name for folders and titles: "petri", "sines", "fashion-mnist", or the folder's name.</summary>
    public string Name => Kind switch
    {
        DataSourceKind.Petri => "petri",
        DataSourceKind.Sines => "sines",
        DataSourceKind.FashionMnist => "fashion-mnist",
        DataSourceKind.PetriPairs => "petri-pairs",
        DataSourceKind.PetriStyles => "petri-styles",
        DataSourceKind.FashionMnistEdges => "fashion-mnist-edges",
        _ => System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(Path ?? "."))),
    };

    /// <summary>"sines (4096)", "idx /data/mnist".</summary>
    public override string ToString() => Path is not null ? $"{Kind} {Path}" : Count is { } c ? $"{Kind} ({c})" : Kind.ToString();
}
