// The error path of state dictionaries and checkpoints: a file or dictionary that does not fit
// the objects it is loaded into. The exception carries the facts (the file, and per problem the
// key and both shapes) so that a caller can word them for its audience — the command line names
// the file and the first mismatching key on one line; a library user can inspect every problem.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>What is wrong with one entry of a state dictionary or checkpoint.</summary>
public enum StateDictProblemKind
{
    /// <summary>The key exists on both sides with different shapes.</summary>
    ShapeMismatch,
    /// <summary>The target has the key; the source does not.</summary>
    MissingKey,
    /// <summary>The source has a key that nothing in the target claims.</summary>
    UnexpectedKey,
    /// <summary>The entry's element type is not the one the target stores.</summary>
    WrongDtype,
    /// <summary>The file is a different kind of file (weights only where a training checkpoint is needed, or the reverse) or an unsupported version.</summary>
    WrongFormat,
    /// <summary>An optimiser of another type (or with other state) saved this entry.</summary>
    OptimizerMismatch,
    /// <summary>A random stream was saved with another seed.</summary>
    SeedMismatch,
    /// <summary>Anything else (a malformed counter, a negative step).</summary>
    Invalid,
}

/// <summary>
/// One problem: its kind, the key (in the source's naming, e.g. "G.main.0.weight"), the shape the
/// target expects and the shape the source holds (null where a side has no such entry), and a
/// plain-English description.
/// </summary>
public sealed record StateDictProblem(StateDictProblemKind Kind, string Key, IReadOnlyList<int>? Expected, IReadOnlyList<int>? Actual, string Description)
{
    /// <summary>The description.</summary>
    public override string ToString() => Description;
}

/// <summary>
/// A state dictionary or checkpoint file does not fit its target (missing, unexpected or mis-shaped
/// keys, another optimiser, another seed, another kind of file). Nothing was changed.
/// </summary>
public sealed class StateDictException : Exception
{
    /// <summary>An exception with a message and no structured problems.</summary>
    public StateDictException(string message) : base(message)
    {
        Problems = [];
    }

    /// <summary>An exception for <paramref name="filePath"/> (null for an in-memory source) listing <paramref name="problems"/>.</summary>
    public StateDictException(string? filePath, string heading, IReadOnlyList<StateDictProblem> problems)
        : base(problems.Count == 0 ? heading : heading + ":\n  " + string.Join("\n  ", problems.Select(p => p.Description)))
    {
        FilePath = filePath;
        Problems = problems;
    }

    /// <summary>The file that does not fit; null for an in-memory dictionary.</summary>
    public string? FilePath { get; }

    /// <summary>Every problem found, in the target's order (its keys first, then unexpected ones); may be empty for old-style messages.</summary>
    public IReadOnlyList<StateDictProblem> Problems { get; }

    /// <summary>Formats a shape the way the rest of the library does: "(8, 2)".</summary>
    public static string FormatShape(IReadOnlyList<int>? shape) => shape is null ? "(none)" : Shape.Format(shape.ToArray());
}
