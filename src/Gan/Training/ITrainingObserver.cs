namespace GpuGan.Gan.Training;

/// <summary>
/// What a training run reports. The library never writes to the console; the CLI supplies an
/// observer (a progress bar on a terminal, plain log lines otherwise) and tests supply their own.
/// </summary>
public interface ITrainingObserver
{
    void Started(string runFolder, string device, long startStep, long totalSteps, int stepsPerEpoch);
    /// <summary>Called after every generator step with that step's metrics.</summary>
    void Step(StepMetrics metrics, long totalSteps);
    void Info(string message);
    void Warning(string message);
}

/// <summary>Discards everything (library callers that do not care).</summary>
public sealed class NullObserver : ITrainingObserver
{
    public static readonly NullObserver Instance = new();
    public void Started(string runFolder, string device, long startStep, long totalSteps, int stepsPerEpoch) { }
    public void Step(StepMetrics metrics, long totalSteps) { }
    public void Info(string message) { }
    public void Warning(string message) { }
}

/// <summary>A loss or weight became NaN/Inf; the last good checkpoint is kept.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
