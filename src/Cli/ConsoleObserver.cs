using System.Diagnostics;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
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
    private string _ranks = "";
    private long _lastLogged = -1;
    private double _lastLogTime;

    /// <summary>True when a live progress bar can be drawn.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public void Attach(ProgressTask task) => _task = task;

    public void Started(TrainingStarted started)
    {
        _startStep = started.StartStep;
        _stepsPerEpoch = Math.Max(1, started.StepsPerEpoch);
        _ranks = started.Ranks > 1 ? $"rank {started.Rank}/{started.Ranks} " : "";
        var line = $"run folder {started.RunFolder}; device {started.DeviceName}; model {Describe(started.Spec)}; steps {started.StartStep}→{started.TotalSteps} ({started.StepsPerEpoch} per epoch)"
            + (started.Ranks > 1 ? $"; data-parallel over {started.Ranks} ranks (this is rank {started.Rank}; metrics are means over the ranks)" : "");
        if (_task is not null) AnsiConsole.MarkupLine(Markup.Escape(line));
        else stdout.WriteLine(line);
        if (_task is not null)
        {
            _task.MaxValue = started.TotalSteps;
            _task.Value = started.StartStep;
        }
    }

    public void Step(StepMetrics m, long totalSteps)
    {
        double elapsed = _clock.Elapsed.TotalSeconds;
        double rate = (m.Step - _startStep) / Math.Max(elapsed, 1e-9);
        string losses = $"D {m.DLoss:F3} G {m.GLoss:F3} D(x) {m.DReal:F2} D(G(z)) {m.DFake:F2}" + (double.IsNaN(m.GradientPenalty) ? "" : $" GP {m.GradientPenalty:F3}")
            + (double.IsNaN(m.AugmentP) ? "" : $" p {m.AugmentP:F3}");
        if (_task is not null)
        {
            _task.Value = m.Step;
            _task.Description = Markup.Escape($"{_ranks}step {m.Step}/{totalSteps} epoch {m.Epoch} {rate:F2} it/s {losses}");
            return;
        }
        // Plain mode: a line every ~10 s, and the first and last step.
        if (m.Step == totalSteps || _lastLogged < 0 || elapsed - _lastLogTime >= 10)
        {
            double eta = rate > 0 ? (totalSteps - m.Step) / rate : double.NaN;
            stdout.WriteLine($"{_ranks}step {m.Step}/{totalSteps} epoch {m.Epoch} {rate:F2} it/s eta {FormatEta(eta)} {losses} {m.ImagesPerSecond:F0} img/s");
            _lastLogged = m.Step;
            _lastLogTime = elapsed;
        }
    }

    public void Notice(TrainingNotice notice)
    {
        switch (notice)
        {
            case SkippedFilesNotice skipped:
                foreach (var f in skipped.Files.Take(10)) Warning($"skipped {f.Path}: {f.Reason}");
                Warning($"{skipped.Files.Count} unreadable file(s) skipped in {skipped.DataName}");
                break;
            case DataSummaryNotice d:
                string kinds = string.Join(", ", d.Skipped.Select(k => $"{k.Value} {ImageFolderDataset.SkipWords(k.Key)}"));
                int total = d.Skipped.Values.Sum();
                Info($"data {d.DataName}: {d.Images} images" + (total > 0 ? $", {total} file(s) skipped ({kinds})" : ""));
                if (d.AlphaDropped > 0) Info($"note: {d.AlphaDropped} image(s) have transparency; the alpha channel is dropped, not composited");
                break;
            case ResumedNotice r:
                Info($"resumed {r.RunFolder} at step {r.Step} (epoch {r.Epoch}, batch {r.BatchIndex})");
                break;
            case AlreadyCompleteNotice a:
                Warning($"the run is already at step {a.Step} of {a.TotalSteps}: nothing to do (pass a larger {Words.Steps})");
                break;
            case MetricsRepairedNotice m:
                var what = new List<string>();
                if (m.DroppedTornRow) what.Add("a torn last row (an append was cut off)");
                if (m.DroppedRows > 0) what.Add($"{m.DroppedRows} row(s) after the checkpoint's step {m.CheckpointStep}");
                (m.IsWarning ? (Action<string>)Warning : Info)($"{m.Path}: dropped {string.Join(" and ", what)}");
                break;
            case StartingOverNotice o:
                Warning($"{o.RunFolder} holds no checkpoint yet (the run was stopped before its first one): starting over from step 0 with its saved configuration");
                break;
            case TemporaryFilesRemovedNotice t:
                Info($"removed {t.Files.Count} temporary file(s) left in {t.RunFolder} by an interrupted write");
                break;
            case DiscriminatorWinsNotice d:
                Warning($"step {d.Step}: D(G(z)) has stayed below 0.01 for {d.Steps} steps — the generator may have collapsed");
                break;
            case LowDiversityNotice l:
                Warning($"step {l.Step}: generated samples are nearly identical (pixel std across samples {l.SampleSpread:F4}, data {l.DataSpread:F4}) — mode collapse?");
                break;
            case FeatureNetworkNotice f:
                Info($"feature network for the scores ({(f.Task == GpuGan.Gan.Scoring.FeatureTask.Classes ? "classes and rotation" : "rotation")}): " +
                    $"{(f.FromCache ? "from the cache" : "trained now")}, test accuracy {f.TestAccuracy:F3} on {f.TestCount} held-out images ({f.CachePath})");
                break;
            case ScoresNotice s:
                Info($"step {s.Step}: FD {s.Report.FrechetDistance:G4} KID {s.Report.Kid:G3} ± {s.Report.KidStd:G2} precision {s.Report.Precision:F3} recall {s.Report.Recall:F3} " +
                    $"density {s.Report.Density:F3} coverage {s.Report.Coverage:F3} ({s.Report.SampleCount} samples)");
                break;
            default:
                (notice.IsWarning ? (Action<string>)Warning : Info)(notice.ToString());
                break;
        }
    }

    private void Info(string message)
    {
        if (_task is not null) AnsiConsole.MarkupLine(Markup.Escape(message));
        else stdout.WriteLine(message);
    }

    private void Warning(string message)
    {
        if (_task is not null) AnsiConsole.MarkupLine("[yellow]warning:[/] " + Markup.Escape(message));
        else stderr.WriteLine("warning: " + message);
    }

    /// <summary>"dcgan 3x32x32, nz 100, width 64, batch norm".</summary>
    public static string Describe(GpuGan.Gan.Models.GanSpec spec)
    {
        string width = spec.GeneratorWidth == spec.DiscriminatorWidth ? $"{spec.GeneratorWidth}" : $"{spec.GeneratorWidth}/{spec.DiscriminatorWidth}";
        string norm = spec.DiscriminatorNorm switch
        {
            GpuGan.Gan.Models.NormKind.Batch => "batch norm", GpuGan.Gan.Models.NormKind.Layer => "layer norm", GpuGan.Gan.Models.NormKind.Instance => "instance norm", _ => "no norm",
        };
        if (spec.Family.Kind() == GpuGan.Gan.Models.ModelKind.Translation)
            return $"{Words.Of(spec.Family)} {spec.InputImage} → {spec.Image}, width {width}, {norm}";
        if (spec.Family == GpuGan.Gan.Models.ModelFamily.Aae)
            return $"{Words.Of(spec.Family)} {spec.Image}, codes {spec.LatentDim} ({spec.Prior} prior), width {width}";
        return spec.IsConvolutional
            ? $"{Words.Of(spec.Family)} {spec.Image}, nz {spec.LatentDim}, width {width}, D {norm}" + (spec.IsConditional ? $", {spec.ClassCount} classes" : "")
            : $"{Words.Of(spec.Family)} {spec.Image}, nz {spec.LatentDim}";
    }

    private static string FormatEta(double seconds) => double.IsFinite(seconds) ? TimeSpan.FromSeconds(Math.Round(seconds)).ToString() : "?";
}
