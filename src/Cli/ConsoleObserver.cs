using System.Diagnostics;
using GpuGan.Gan.Training;
using Spectre.Console;

namespace GpuGan.Cli;

/// <summary>
/// Training output: a Spectre.Console progress bar (step, epoch, it/s, ETA, losses) when stdout
/// is a terminal; one plain line per interval otherwise (logs, CI, pipes).
/// </summary>
internal sealed class ConsoleObserver(TextWriter stdout, TextWriter stderr) : ITrainingObserver
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private ProgressTask? _task;
    private long _startStep;
    private int _stepsPerEpoch = 1;
    private long _lastLogged = -1;
    private double _lastLogTime;

    /// <summary>True when a live progress bar can be drawn.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public void Attach(ProgressTask task) => _task = task;

    public void Started(string runFolder, string device, long startStep, long totalSteps, int stepsPerEpoch)
    {
        _startStep = startStep;
        _stepsPerEpoch = Math.Max(1, stepsPerEpoch);
        var line = $"run folder {runFolder}; device {device}; steps {startStep}→{totalSteps} ({stepsPerEpoch} per epoch)";
        if (_task is not null) AnsiConsole.MarkupLine(Markup.Escape(line));
        else stdout.WriteLine(line);
        if (_task is not null)
        {
            _task.MaxValue = totalSteps;
            _task.Value = startStep;
        }
    }

    public void Step(StepMetrics m, long totalSteps)
    {
        double elapsed = _clock.Elapsed.TotalSeconds;
        double rate = (m.Step - _startStep) / Math.Max(elapsed, 1e-9);
        string losses = $"D {m.DLoss:F3} G {m.GLoss:F3} D(x) {m.DReal:F2} D(G(z)) {m.DFake:F2}" + (double.IsNaN(m.GradientPenalty) ? "" : $" GP {m.GradientPenalty:F3}");
        if (_task is not null)
        {
            _task.Value = m.Step;
            _task.Description = Markup.Escape($"step {m.Step}/{totalSteps} epoch {m.Epoch} {rate:F2} it/s {losses}");
            return;
        }
        // Plain mode: a line every ~10 s, and the first and last step.
        if (m.Step == totalSteps || _lastLogged < 0 || elapsed - _lastLogTime >= 10)
        {
            double eta = rate > 0 ? (totalSteps - m.Step) / rate : double.NaN;
            stdout.WriteLine($"step {m.Step}/{totalSteps} epoch {m.Epoch} {rate:F2} it/s eta {FormatEta(eta)} {losses} {m.ImagesPerSecond:F0} img/s");
            _lastLogged = m.Step;
            _lastLogTime = elapsed;
        }
    }

    public void Info(string message)
    {
        if (_task is not null) AnsiConsole.MarkupLine(Markup.Escape(message));
        else stdout.WriteLine(message);
    }

    public void Warning(string message)
    {
        if (_task is not null) AnsiConsole.MarkupLine("[yellow]warning:[/] " + Markup.Escape(message));
        else stderr.WriteLine("warning: " + message);
    }

    private static string FormatEta(double seconds) => double.IsFinite(seconds) ? TimeSpan.FromSeconds(Math.Round(seconds)).ToString() : "?";
}
