using System.Globalization;
using System.Text;
using GpuGan.Gan.Imaging;

namespace GpuGan.Gan.Training;

/// <summary>One row of metrics.csv.</summary>
public sealed record StepMetrics
{
    public long Step { get; init; }
    public int Epoch { get; init; }
    public double DLoss { get; init; }
    public double GLoss { get; init; }
    /// <summary>Mean D output on real data (a probability for BCE models, a score for Wasserstein critics).</summary>
    public double DReal { get; init; }
    public double DFake { get; init; }
    /// <summary>Gradient penalty (WGAN-GP), NaN when the model has none.</summary>
    public double GradientPenalty { get; init; } = double.NaN;
    public double GradNormD { get; init; }
    public double GradNormG { get; init; }
    public double ImagesPerSecond { get; init; }

    public const string Header = "step,epoch,d_loss,g_loss,d_real,d_fake,gradient_penalty,grad_norm_d,grad_norm_g,images_per_s";

    /// <summary>Round-trip formatting: a resumed run's rows compare equal as text.</summary>
    public string ToCsv() => string.Join(",",
        Step.ToString(CultureInfo.InvariantCulture), Epoch.ToString(CultureInfo.InvariantCulture),
        F(DLoss), F(GLoss), F(DReal), F(DFake), double.IsNaN(GradientPenalty) ? "" : F(GradientPenalty),
        F(GradNormD), F(GradNormG), ImagesPerSecond.ToString("F1", CultureInfo.InvariantCulture));

    private static string F(double v) => ((float)v).ToString("R", CultureInfo.InvariantCulture);

    public static StepMetrics Parse(string line, string source, int lineNumber)
    {
        var p = line.Split(',');
        if (p.Length != 10) throw new InvalidDataException($"{source}:{lineNumber}: expected 10 columns, found {p.Length}");
        static double D(string s) => s.Length == 0 ? double.NaN : double.Parse(s, CultureInfo.InvariantCulture);
        try
        {
            return new StepMetrics
            {
                Step = long.Parse(p[0], CultureInfo.InvariantCulture), Epoch = int.Parse(p[1], CultureInfo.InvariantCulture),
                DLoss = D(p[2]), GLoss = D(p[3]), DReal = D(p[4]), DFake = D(p[5]), GradientPenalty = D(p[6]),
                GradNormD = D(p[7]), GradNormG = D(p[8]), ImagesPerSecond = D(p[9]),
            };
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"{source}:{lineNumber}: {e.Message}", e);
        }
    }
}

/// <summary>
/// metrics.csv: appended one row per logged step and flushed, so an interrupted run keeps every
/// row it logged. On resume the file is cut back to the checkpoint's step (rows after it belong to
/// steps that will be recomputed) — atomically, so nothing is lost if that fails.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly List<StepMetrics> _rows = new();

    public MetricsLog(string path, long resumeStep)
    {
        Path = path;
        if (File.Exists(path) && resumeStep > 0)
        {
            var kept = new StringBuilder(StepMetrics.Header + "\n");
            int lineNumber = 0;
            foreach (var line in File.ReadLines(path))
            {
                lineNumber++;
                if (lineNumber == 1 || line.Length == 0) continue;
                var row = StepMetrics.Parse(line, path, lineNumber);
                if (row.Step > resumeStep) continue;
                _rows.Add(row);
                kept.Append(line).Append('\n');
            }
            AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(kept.ToString()));
            _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
        }
        else
        {
            _writer = new StreamWriter(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read));
            _writer.Write(StepMetrics.Header + "\n");
            _writer.Flush();
        }
    }

    public string Path { get; }
    public IReadOnlyList<StepMetrics> Rows => _rows;

    public void Append(StepMetrics m)
    {
        _rows.Add(m);
        _writer.Write(m.ToCsv() + "\n");
        _writer.Flush();
    }

    public void Dispose() => _writer.Dispose();
}
