using System.Globalization;
using System.Text;
using GpuGan.Layers.Serialization;

namespace GpuGan.Gan.Training;

/// <summary>One row of metrics.csv.</summary>
public sealed record StepMetrics
{
    /// <summary>Training step (1-based).</summary>
    public long Step { get; init; }
    /// <summary>Epoch the step belongs to.</summary>
    public int Epoch { get; init; }
    /// <summary>Discriminator (critic) loss.</summary>
    public double DLoss { get; init; }
    /// <summary>Generator loss.</summary>
    public double GLoss { get; init; }
    /// <summary>Mean D output on real data (a probability for BCE models, a score for Wasserstein critics).</summary>
    public double DReal { get; init; }
    /// <summary>Mean discriminator output on generated samples (a probability for BCE objectives, a score for Wasserstein critics).</summary>
    public double DFake { get; init; }
    /// <summary>Gradient penalty (WGAN-GP), NaN when the model has none.</summary>
    public double GradientPenalty { get; init; } = double.NaN;
    /// <summary>L2 norm of the discriminator's gradient.</summary>
    public double GradNormD { get; init; }
    /// <summary>L2 norm of the generator's gradient.</summary>
    public double GradNormG { get; init; }
    /// <summary>The model's reconstruction term, NaN when it has none: L1 to the target (pix2pix), cycle consistency (CycleGAN), reconstruction (AAE).</summary>
    public double Reconstruction { get; init; } = double.NaN;
    /// <summary>Training throughput in images per second.</summary>
    public double ImagesPerSecond { get; init; }

    /// <summary>Scores of the step's evaluation (--eval-every), NaN on the other steps: Fréchet distance in the data's feature space.</summary>
    public double Fd { get; init; } = double.NaN;
    /// <summary>KID (unbiased MMD², cubic kernel), NaN without an evaluation.</summary>
    public double Kid { get; init; } = double.NaN;
    /// <summary>KID's standard deviation over subsets, NaN without an evaluation.</summary>
    public double KidStd { get; init; } = double.NaN;
    /// <summary>Precision (k-NN), NaN without an evaluation.</summary>
    public double Precision { get; init; } = double.NaN;
    /// <summary>Recall (k-NN), NaN without an evaluation.</summary>
    public double Recall { get; init; } = double.NaN;
    /// <summary>Density (k-NN), NaN without an evaluation.</summary>
    public double Density { get; init; } = double.NaN;
    /// <summary>Coverage (k-NN), NaN without an evaluation.</summary>
    public double Coverage { get; init; } = double.NaN;

    /// <summary>DiffAugment's probability p after the step (fixed, or adjusted by ADA); NaN without per-sample augmentation.</summary>
    public double AugmentP { get; init; } = double.NaN;

    /// <summary>The header row of metrics.csv.</summary>
    public const string Header = "step,epoch,d_loss,g_loss,d_real,d_fake,gradient_penalty,grad_norm_d,grad_norm_g,recon_loss,fd,kid,kid_std,precision,recall,density,coverage,augment_p,images_per_s";

    /// <summary>The header of files written before the augment_p column; read on resume and rewritten in the current layout.</summary>
    public const string HeaderWithoutAugmentP = "step,epoch,d_loss,g_loss,d_real,d_fake,gradient_penalty,grad_norm_d,grad_norm_g,recon_loss,fd,kid,kid_std,precision,recall,density,coverage,images_per_s";

    /// <summary>The header of files written before the score columns; read on resume and rewritten in the current layout.</summary>
    public const string HeaderWithoutScores = "step,epoch,d_loss,g_loss,d_real,d_fake,gradient_penalty,grad_norm_d,grad_norm_g,recon_loss,images_per_s";

    /// <summary>The header of files written before the recon_loss column; read on resume and rewritten in the current layout.</summary>
    public const string HeaderWithoutReconstruction = "step,epoch,d_loss,g_loss,d_real,d_fake,gradient_penalty,grad_norm_d,grad_norm_g,images_per_s";

    /// <summary>Round-trip formatting: a resumed run's rows compare equal as text.</summary>
    public string ToCsv() => string.Join(",",
        Step.ToString(CultureInfo.InvariantCulture), Epoch.ToString(CultureInfo.InvariantCulture),
        F(DLoss), F(GLoss), F(DReal), F(DFake), double.IsNaN(GradientPenalty) ? "" : F(GradientPenalty),
        F(GradNormD), F(GradNormG), double.IsNaN(Reconstruction) ? "" : F(Reconstruction),
        O(Fd), O(Kid), O(KidStd), O(Precision), O(Recall), O(Density), O(Coverage), O(AugmentP),
        ImagesPerSecond.ToString("F1", CultureInfo.InvariantCulture));

    private static string O(double v) => double.IsNaN(v) ? "" : F(v);

    private static string F(double v) => ((float)v).ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Parses one row; <paramref name="source"/> and <paramref name="lineNumber"/> name it in errors.</summary>
    /// <exception cref="RunFileException">Not a row of this layout.</exception>
    public static StepMetrics Parse(string line, string source, int lineNumber)
    {
        var p = line.Split(',');
        // 19 columns; 18 in files written before the augment_p column, 11 before the score columns, 10 before the recon_loss column.
        if (p.Length is not (10 or 11 or 18 or 19)) throw new RunFileException(source, lineNumber, $"expected 19 columns, found {p.Length}");
        bool scores = p.Length >= 18;
        static double D(string s) => s.Length == 0 ? double.NaN : double.Parse(s, CultureInfo.InvariantCulture);
        try
        {
            return new StepMetrics
            {
                Step = long.Parse(p[0], CultureInfo.InvariantCulture), Epoch = int.Parse(p[1], CultureInfo.InvariantCulture),
                DLoss = D(p[2]), GLoss = D(p[3]), DReal = D(p[4]), DFake = D(p[5]), GradientPenalty = D(p[6]),
                GradNormD = D(p[7]), GradNormG = D(p[8]), Reconstruction = p.Length >= 11 ? D(p[9]) : double.NaN, ImagesPerSecond = D(p[^1]),
                Fd = scores ? D(p[10]) : double.NaN, Kid = scores ? D(p[11]) : double.NaN, KidStd = scores ? D(p[12]) : double.NaN,
                Precision = scores ? D(p[13]) : double.NaN, Recall = scores ? D(p[14]) : double.NaN,
                Density = scores ? D(p[15]) : double.NaN, Coverage = scores ? D(p[16]) : double.NaN,
                AugmentP = p.Length == 19 ? D(p[17]) : double.NaN,
            };
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new RunFileException(source, lineNumber, "not a number where one is expected", e);
        }
    }
}

/// <summary>
/// metrics.csv: appended one row per step and flushed, so an interrupted run keeps every row it
/// logged. On resume the file is repaired and cut back to the checkpoint's step — atomically, so
/// nothing is lost if that fails: a torn last row (no line end: the disk filled or the process died
/// while appending) is dropped, and so are rows after the checkpoint (steps that will be recomputed).
/// A damaged row anywhere else is refused: that is not how this file breaks, so nothing is guessed.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly List<StepMetrics> _rows = new();

    /// <summary>
    /// Starts a new metrics.csv at <paramref name="path"/> (<paramref name="resumeStep"/> 0), or keeps the rows
    /// of an existing one up to <paramref name="resumeStep"/>.
    /// </summary>
    /// <exception cref="RunFileException">A row before the last is damaged, or the header is not this layout's.</exception>
    public MetricsLog(string path, long resumeStep)
    {
        Path = path;
        if (File.Exists(path) && resumeStep > 0)
        {
            string text = File.ReadAllText(path);
            var lines = text.Split('\n');
            // A file that does not end with a line end was cut off while appending its last line.
            DroppedTornRow = text.Length > 0 && !text.EndsWith('\n');
            int complete = lines.Length - 1;    // lines before the final "" (or before the torn tail)
            var kept = new StringBuilder(StepMetrics.Header + "\n");
            bool older = complete >= 1 && (lines[0] == StepMetrics.HeaderWithoutReconstruction || lines[0] == StepMetrics.HeaderWithoutScores
                || lines[0] == StepMetrics.HeaderWithoutAugmentP);
            if (complete >= 1 && lines[0] != StepMetrics.Header && !older)
                throw new RunFileException(path, 1, "not a metrics.csv of this version (unexpected header)");
            for (int i = 1; i < complete; i++)
            {
                string line = lines[i];
                if (line.Length == 0) continue;
                var row = StepMetrics.Parse(line, path, i + 1);
                if (row.Step > resumeStep)
                {
                    DroppedRows++;
                    continue;
                }
                _rows.Add(row);
                kept.Append(older ? row.ToCsv() : line).Append('\n');
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

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The rows kept and appended so far.</summary>
    public IReadOnlyList<StepMetrics> Rows => _rows;

    /// <summary>True when opening dropped a torn last row.</summary>
    public bool DroppedTornRow { get; }

    /// <summary>Complete rows dropped on opening because they came after the checkpoint's step.</summary>
    public int DroppedRows { get; }

    /// <summary>Appends <paramref name="m"/> and flushes it to the file.</summary>
    public void Append(StepMetrics m)
    {
        _rows.Add(m);
        _writer.Write(m.ToCsv() + "\n");
        _writer.Flush();
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _writer.Dispose();
}
