using GpuGan.Gan.Data;
using GpuGan.Gan.Models;

namespace GpuGan.Gan.Training;

/// <summary>
/// What a training run reports. The library never writes to the console; the CLI supplies an
/// observer (a progress bar on a terminal, plain log lines otherwise) and words the notices;
/// tests supply their own.
/// </summary>
public interface ITrainingObserver
{
    /// <summary>The loop is about to run its first step.</summary>
    void Started(TrainingStarted started);

    /// <summary>Called after every generator step with that step's metrics.</summary>
    void Step(StepMetrics metrics, long totalSteps);

    /// <summary>Something the user may want to know (a resume, a repaired file) or act on (a warning).</summary>
    void Notice(TrainingNotice notice);
}

/// <summary>The run as it starts.</summary>
/// <param name="RunFolder">The run folder.</param>
/// <param name="DeviceName">The device's description.</param>
/// <param name="StartStep">The step it starts after (0 for a new run).</param>
/// <param name="TotalSteps">The step it runs until.</param>
/// <param name="StepsPerEpoch">Generator steps per pass over the data.</param>
/// <param name="Spec">The model's architecture.</param>
public sealed record TrainingStarted(string RunFolder, string DeviceName, long StartStep, long TotalSteps, int StepsPerEpoch, GanSpec Spec)
{
    /// <summary>This process's rank in a data-parallel job (0 in one process).</summary>
    public int Rank { get; init; }

    /// <summary>Ranks in the job (1 in one process).</summary>
    public int Ranks { get; init; } = 1;
}

/// <summary>A fact reported during training; the caller decides how (and whether) to show it.</summary>
public abstract record TrainingNotice
{
    /// <summary>True for conditions that may need the user's attention.</summary>
    public abstract bool IsWarning { get; }
}

/// <summary>Image files of the data set that could not be decoded and were left out.</summary>
public sealed record SkippedFilesNotice(string DataName, IReadOnlyList<SkippedFile> Files) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => true;
}

/// <summary>
/// What the data set holds: <paramref name="Images"/> samples used, the image files skipped by kind (empty for sources
/// that are not files of images), and how many images had their transparency dropped. config.json records the same.
/// </summary>
public sealed record DataSummaryNotice(string DataName, int Images, IReadOnlyDictionary<ImageProblem, int> Skipped, int AlphaDropped) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => false;
}

/// <summary>A run was resumed from its checkpoint.</summary>
public sealed record ResumedNotice(string RunFolder, long Step, long Epoch, int BatchIndex) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => false;
}

/// <summary>The run to resume had not completed its first checkpoint: it starts over from step 0 with its saved configuration.</summary>
public sealed record StartingOverNotice(string RunFolder) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => true;
}

/// <summary>The resumed run has already reached its length; nothing will be trained.</summary>
public sealed record AlreadyCompleteNotice(long Step, long TotalSteps) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => true;
}

/// <summary>metrics.csv was repaired on resume: a torn last row and/or rows past the checkpoint were dropped.</summary>
public sealed record MetricsRepairedNotice(string Path, bool DroppedTornRow, int DroppedRows, long CheckpointStep) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => DroppedTornRow;
}

/// <summary>
/// Temporary files that interrupted writes had left in the run folder (a process killed between writing a file and
/// renaming it into place) were deleted; the files they were to replace are whole.
/// </summary>
public sealed record TemporaryFilesRemovedNotice(string RunFolder, IReadOnlyList<string> Files) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => false;
}

/// <summary>D has won outright (D(x) &gt; 0.99, D(G(z)) &lt; 0.01) for <paramref name="Steps"/> steps in a row.</summary>
public sealed record DiscriminatorWinsNotice(long Step, int Steps) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => true;
}

/// <summary>The generated samples barely vary: their pixel spread is under a tenth of the data's (mode collapse?).</summary>
public sealed record LowDiversityNotice(long Step, double SampleSpread, double DataSpread) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => true;
}

/// <summary>Discards everything (library callers that do not care).</summary>
public sealed class NullObserver : ITrainingObserver
{
    /// <summary>The instance.</summary>
    public static readonly NullObserver Instance = new();

    /// <inheritdoc/>
    public void Started(TrainingStarted started) { }

    /// <inheritdoc/>
    public void Step(StepMetrics metrics, long totalSteps) { }

    /// <inheritdoc/>
    public void Notice(TrainingNotice notice) { }
}

/// <summary>The feature network of the scores is ready: trained now (and cached) or loaded from the cache.</summary>
public sealed record FeatureNetworkNotice(bool FromCache, Scoring.FeatureTask Task, double TestAccuracy, int TestCount, string CachePath) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => false;
}

/// <summary>The scores of the generator after <paramref name="Step"/> (--eval-every).</summary>
public sealed record ScoresNotice(long Step, Scoring.ScoreReport Report) : TrainingNotice
{
    /// <inheritdoc/>
    public override bool IsWarning => false;
}
