// The library's user-facing failures. Each type carries the facts (the option, the value, the
// file, the sizes) as properties; the message is plain English for library callers and never
// names a command-line flag. The CLI (src/Cli) turns each type into one line with its own words.
// Anything that is not a GanException (or one of the file-format exceptions of the layers below)
// is a bug, and the CLI reports it as an internal error.
using GpuGan.Gan.Models;

namespace GpuGan.Gan;

/// <summary>
/// A problem with what the caller supplied — options, run folders, files, data — or with how
/// training went (divergence). Not a bug in the library: the caller can fix it.
/// </summary>
public abstract class GanException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>An option (a property of the options record) has a value the library cannot use.</summary>
public sealed class InvalidOptionException(string option, object? value, string requirement, string? configFile = null)
    : GanException(configFile is null
        ? $"{option}: {requirement}, got {Describe(value)}"
        : $"{configFile}: {option}: {requirement}, got {Describe(value)}")
{
    /// <summary>The property name, e.g. nameof(TrainOptions.Batch).</summary>
    public string Option { get; } = option;

    /// <summary>The rejected value (null when the option is missing).</summary>
    public object? Value { get; } = value;

    /// <summary>What a valid value is, e.g. "must be at least 1".</summary>
    public string Requirement { get; } = requirement;

    /// <summary>The saved configuration the value came from; null when the caller passed it directly.</summary>
    public string? ConfigFile { get; } = configFile;

    /// <summary>A value as the messages show it ("(none)" for null).</summary>
    public static string Describe(object? value) => value switch
    {
        null => "(none)",
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "(none)",
    };
}

/// <summary>A new run was asked for in a folder that already holds files; nothing was overwritten.</summary>
public sealed class RunFolderExistsException(string folder)
    : GanException($"{folder} already holds a run (nothing was overwritten)")
{
    /// <summary>The run folder.</summary>
    public string Folder { get; } = folder;
}

/// <summary>Resume was asked for a folder that is not a run folder (it has no saved configuration).</summary>
public sealed class NotARunFolderException(string folder, string missingFile)
    : GanException($"{folder} is not a run folder: {missingFile} does not exist")
{
    /// <summary>The folder.</summary>
    public string Folder { get; } = folder;

    /// <summary>The configuration file that is missing.</summary>
    public string MissingFile { get; } = missingFile;
}

/// <summary>Resume was asked for a run that saved no checkpoint.</summary>
public sealed class NoCheckpointException(string folder, string checkpointPath)
    : GanException($"{checkpointPath} does not exist (the run in {folder} saved no checkpoint)")
{
    /// <summary>The run folder.</summary>
    public string Folder { get; } = folder;

    /// <summary>Where the checkpoint should be.</summary>
    public string CheckpointPath { get; } = checkpointPath;
}

/// <summary>A file of the run folder (config.json, metrics.csv) cannot be read back.</summary>
public sealed class RunFileException(string path, int? line, string problem, Exception? inner = null)
    : GanException(line is null ? $"{path}: {problem}" : $"{path}:{line}: {problem}", inner)
{
    /// <summary>The file.</summary>
    public string FilePath { get; } = path;

    /// <summary>The 1-based line, when the problem is on one line.</summary>
    public int? Line { get; } = line;

    /// <summary>What is wrong.</summary>
    public string Problem { get; } = problem;
}

/// <summary>The batch is larger than the data set, so not one batch can be drawn.</summary>
public sealed class BatchLargerThanDataException(int batch, int count, string dataName)
    : GanException($"a batch of {batch} is larger than the data set {dataName} ({count} samples)")
{
    /// <summary>The batch size asked for.</summary>
    public int Batch { get; } = batch;

    /// <summary>Samples in the data set.</summary>
    public int Count { get; } = count;

    /// <summary>The data set's name.</summary>
    public string DataName { get; } = dataName;
}

/// <summary>A class-conditional model was asked for on data without (at least two) classes.</summary>
public sealed class ModelNeedsLabelsException(ModelFamily family, string dataName, int classCount)
    : GanException($"{family} is class-conditional and needs labelled data; {dataName} has {(classCount == 0 ? "no" : classCount.ToString(System.Globalization.CultureInfo.InvariantCulture))} classes")
{
    /// <summary>The model family.</summary>
    public ModelFamily Family { get; } = family;

    /// <summary>The data set's name.</summary>
    public string DataName { get; } = dataName;

    /// <summary>Classes in the data set.</summary>
    public int ClassCount { get; } = classCount;
}

/// <summary>What a family needs of its data.</summary>
public enum DataRequirement
{
    /// <summary>Aligned image pairs (A with its own B): pix2pix.</summary>
    AlignedPairs,
    /// <summary>Images of two domains, paired or not: CycleGAN.</summary>
    TwoDomains,
    /// <summary>Plain samples, not pairs: the latent-noise GANs and the autoencoder.</summary>
    SingleDomain,
}

/// <summary>The data is not the kind the model family trains on (pairs for pix2pix, two domains for CycleGAN, single images otherwise).</summary>
public sealed class ModelDataMismatchException(ModelFamily family, string dataName, DataRequirement requirement)
    : GanException(requirement switch
    {
        DataRequirement.AlignedPairs => $"{family} trains on aligned image pairs; {dataName} is not",
        DataRequirement.TwoDomains => $"{family} trains on images of two domains; {dataName} is not",
        _ => $"{family} trains on single images; {dataName} holds image pairs",
    })
{
    /// <summary>The model family.</summary>
    public ModelFamily Family { get; } = family;

    /// <summary>The data set's name.</summary>
    public string DataName { get; } = dataName;

    /// <summary>What the family needs.</summary>
    public DataRequirement Requirement { get; } = requirement;
}

/// <summary>A model file holds a model of another kind than the command needs (a noise generator to translate with, a translator to sample from).</summary>
public sealed class WrongModelKindException(string filePath, ModelFamily family, ModelKind needed)
    : GanException($"{filePath} holds a {family} model; " + needed switch
    {
        ModelKind.Translation => "translating needs a pix2pix or CycleGAN model",
        _ => "sampling needs a model that generates from latent codes (gan, dcgan, wgan, wgan-gp, cdcgan, aae)",
    })
{
    /// <summary>The file.</summary>
    public string FilePath { get; } = filePath;

    /// <summary>The family the file holds.</summary>
    public ModelFamily Family { get; } = family;

    /// <summary>The kind of model the command needs.</summary>
    public ModelKind Needed { get; } = needed;
}

/// <summary>B → A was asked of a model that only translates A → B (pix2pix).</summary>
public sealed class DirectionNotAvailableException(ModelFamily family)
    : GanException($"a {family} model translates A to B only")
{
    /// <summary>The model family.</summary>
    public ModelFamily Family { get; } = family;
}

/// <summary>The family's networks are not defined for the image shape the data gives.</summary>
public sealed class UnsupportedImageSizeException(ModelFamily family, int height, int width, IReadOnlyList<int> supportedSizes)
    : GanException($"{family} works on square images of {string.Join(", ", supportedSizes)} pixels, got {height}x{width}")
{
    /// <summary>The model family.</summary>
    public ModelFamily Family { get; } = family;

    /// <summary>Image height.</summary>
    public int Height { get; } = height;

    /// <summary>Image width.</summary>
    public int Width { get; } = width;

    /// <summary>The square sizes the family supports.</summary>
    public IReadOnlyList<int> SupportedSizes { get; } = supportedSizes;
}

/// <summary>An architecture record (<see cref="GanSpec"/>) is missing from a file, unreadable, or describes no model this library builds.</summary>
public sealed class ArchitectureRecordException(string? filePath, string problem, Exception? inner = null)
    : GanException(filePath is null ? problem : $"{filePath}: {problem}", inner)
{
    /// <summary>The file holding (or lacking) the record; null for a record passed in memory.</summary>
    public string? FilePath { get; } = filePath;

    /// <summary>What is wrong.</summary>
    public string Problem { get; } = problem;
}

/// <summary>A class was asked for that the conditional model does not have.</summary>
public sealed class ClassOutOfRangeException(int requested, int classCount)
    : GanException($"class {requested} is outside [0, {classCount})")
{
    /// <summary>The class asked for.</summary>
    public int Requested { get; } = requested;

    /// <summary>Classes of the model.</summary>
    public int ClassCount { get; } = classCount;
}

/// <summary>A class was asked for from a model that is not class-conditional.</summary>
public sealed class ModelNotConditionalException(ModelFamily family)
    : GanException($"{family} is not class-conditional")
{
    /// <summary>The model family.</summary>
    public ModelFamily Family { get; } = family;
}

/// <summary>A class name (or number) that the conditional model does not have.</summary>
public sealed class UnknownClassException(string requested, IReadOnlyList<string> names)
    : GanException($"no class '{requested}' (the classes are {string.Join(", ", names)})")
{
    /// <summary>The word asked for.</summary>
    public string Requested { get; } = requested;

    /// <summary>The model's class names in label order.</summary>
    public IReadOnlyList<string> Names { get; } = names;
}

/// <summary>An output format cannot hold the generator's samples (IDX holds grey images only).</summary>
public sealed class SampleFormatException(string format, int channels)
    : GanException($"{format} holds grey images; this generator makes {channels}-channel images")
{
    /// <summary>The format's name.</summary>
    public string Format { get; } = format;

    /// <summary>Channels of the generated images.</summary>
    public int Channels { get; } = channels;
}

/// <summary>A loss or weight became NaN/Inf; the last good checkpoint is kept.</summary>
public sealed class TrainingDivergedException(long step, string what, string? keptCheckpoint)
    : GanException($"training diverged at step {step}: {what}; " +
        (keptCheckpoint is null ? "no checkpoint had been written yet" : $"the last good checkpoint is kept at {keptCheckpoint}"))
{
    /// <summary>The step at which a non-finite value appeared.</summary>
    public long Step { get; } = step;

    /// <summary>What became non-finite ("d_loss NaN, g_loss 0.7", "weight main.0.weight holds NaN").</summary>
    public string What { get; } = what;

    /// <summary>The checkpoint left in place, or null when none had been written.</summary>
    public string? KeptCheckpoint { get; } = keptCheckpoint;
}

/// <summary>Two options that exclude each other were both given.</summary>
public sealed class ConflictingOptionsException(string option, string otherOption, string? configFile)
    : GanException((configFile is null ? "" : configFile + ": ") + $"{option} and {otherOption} cannot be given together")
{
    /// <summary>One property.</summary>
    public string Option { get; } = option;

    /// <summary>The property it conflicts with.</summary>
    public string OtherOption { get; } = otherOption;

    /// <summary>The saved configuration the values came from; null when the caller passed them.</summary>
    public string? ConfigFile { get; } = configFile;
}

/// <summary>The trained (not averaged) generator weights were asked for from a generator file that holds only the moving average.</summary>
public sealed class RawWeightsNotInFileException(string filePath)
    : GanException($"{filePath} holds the moving average of the generator only; the trained weights are in the run's training checkpoint")
{
    /// <summary>The generator file.</summary>
    public string FilePath { get; } = filePath;
}

/// <summary>The global batch does not split into equal shards over the ranks of a data-parallel job.</summary>
public sealed class BatchNotDivisibleException(int batch, int ranks)
    : GanException($"a batch of {batch} does not split into {ranks} equal shards (one per rank); choose a multiple of {ranks}")
{
    /// <summary>The global batch.</summary>
    public int Batch { get; } = batch;

    /// <summary>Ranks in the job.</summary>
    public int Ranks { get; } = ranks;
}

/// <summary>The model family is not trained data-parallel (only the latent-noise GANs are).</summary>
public sealed class DistributedNotSupportedException(ModelFamily family)
    : GanException($"{family} is not trained across processes; data-parallel training covers gan, dcgan, wgan, wgan-gp and cdcgan")
{
    /// <summary>The family asked for.</summary>
    public ModelFamily Family { get; } = family;
}

/// <summary>The ranks of a data-parallel job were started with different configurations or data.</summary>
public sealed class RanksDisagreeException(string what)
    : GanException($"the ranks of the job disagree on {what}; every rank must be started with the same options and data")
{
    /// <summary>What differs.</summary>
    public string What { get; } = what;
}
