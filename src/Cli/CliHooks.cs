using GpuGan.Gan.Training;

namespace GpuGan.Cli;

/// <summary>
/// Test-only injection points (internal: only the test assembly can pass them). They let a test
/// make the library fail the way a bug would, to check how the CLI reports internal errors.
/// </summary>
/// <param name="WrapObserver">Wraps the training observer (a wrapper that throws fails the run from inside the trainer).</param>
/// <param name="BeforeCommand">Called with the command's name before it runs.</param>
/// <param name="TrainerReady">Called with train's prepared trainer before it runs (harnesses that watch the weights).</param>
internal sealed record CliHooks(Func<ITrainingObserver, ITrainingObserver>? WrapObserver = null, Action<string>? BeforeCommand = null, Action<Trainer>? TrainerReady = null)
{
    public static readonly CliHooks None = new();
}
