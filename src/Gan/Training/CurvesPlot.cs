using GpuGan.Layers.Serialization;

namespace GpuGan.Gan.Training;

/// <summary>curves.png: losses and D outputs over steps (ScottPlot), two panels stacked on one canvas.</summary>
public static class CurvesPlot
{
    /// <summary>Plots the loss and D-output curves of <paramref name="rows"/> as a PNG at <paramref name="path"/>, titled <paramref name="title"/>.</summary>
    public static void Save(string path, IReadOnlyList<StepMetrics> rows, string title)
    {
        if (rows.Count == 0) return;
        var steps = rows.Select(r => (double)r.Step).ToArray();

        var losses = new ScottPlot.Plot();
        losses.Title(title);
        AddLine(losses, steps, rows.Select(r => r.DLoss), "d_loss");
        AddLine(losses, steps, rows.Select(r => r.GLoss), "g_loss");
        if (rows.Any(r => !double.IsNaN(r.GradientPenalty)))
            AddLine(losses, steps, rows.Select(r => r.GradientPenalty), "gradient penalty");
        losses.XLabel("step");
        losses.YLabel("loss");
        losses.ShowLegend();

        var outputs = new ScottPlot.Plot();
        AddLine(outputs, steps, rows.Select(r => r.DReal), "D(x)");
        AddLine(outputs, steps, rows.Select(r => r.DFake), "D(G(z))");
        outputs.XLabel("step");
        outputs.YLabel("discriminator output");
        outputs.ShowLegend();

        // Both panels render onto one canvas and are encoded once: no PNG is encoded and decoded in between.
        const int width = 900, height = 360;
        // A third panel when the run scores itself (--eval-every): FD, and KID scaled to share the axis.
        var panels = new List<ScottPlot.Plot> { losses, outputs };
        var scored = rows.Where(r => double.IsFinite(r.Fd)).ToList();
        if (scored.Count > 0)
        {
            var scores = new ScottPlot.Plot();
            var at = scored.Select(r => (double)r.Step).ToArray();
            AddLine(scores, at, scored.Select(r => r.Fd), "Fréchet distance");
            double kidScale = KidScale(scored);
            AddLine(scores, at, scored.Select(r => r.Kid * kidScale), $"KID × {kidScale:G3}");
            scores.XLabel("step");
            scores.YLabel("score (lower is better)");
            scores.ShowLegend();
            panels.Add(scores);
        }
        // The panels rendered onto one canvas and encoded once (no PNG encode/decode in between).
        using var surface = SkiaSharp.SKSurface.Create(new SkiaSharp.SKImageInfo(width, panels.Count * height));
        surface.Canvas.Clear(SkiaSharp.SKColors.White);
        for (int i = 0; i < panels.Count; i++)
            panels[i].Render(surface.Canvas, new ScottPlot.PixelRect(new ScottPlot.Pixel(0, i * height), new ScottPlot.PixelSize(width, height)));
        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, png.ToArray());
    }

    /// <summary>Generated 1-D samples (sines) drawn over the data's x grid, at most 16 curves.</summary>
    public static void SaveCurves(string path, float[] values, int count, int length)
    {
        var plot = new ScottPlot.Plot();
        var xs = length == Data.SinesDataset.Length ? Data.SinesDataset.XGrid.Select(v => (double)v).ToArray() : Enumerable.Range(0, length).Select(i => (double)i).ToArray();
        for (int i = 0; i < Math.Min(count, 16); i++)
            plot.Add.ScatterLine(xs, values.Skip(i * length).Take(length).Select(v => (double)v).ToArray());
        plot.Axes.SetLimitsY(-1.2, 1.2);
        plot.XLabel("x");
        plot.YLabel("y");
        var png = plot.GetImageBytes(800, 450, ScottPlot.ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>A power of ten that brings the largest |KID| near the largest FD (both start high and should fall).</summary>
    private static double KidScale(IReadOnlyList<StepMetrics> rows)
    {
        double fd = rows.Max(r => Math.Abs(r.Fd)), kid = rows.Max(r => double.IsFinite(r.Kid) ? Math.Abs(r.Kid) : 0);
        if (!(fd > 0) || !(kid > 0)) return 1;
        return Math.Pow(10, Math.Round(Math.Log10(fd / kid)));
    }

    private static void AddLine(ScottPlot.Plot plot, double[] xs, IEnumerable<double> ys, string label)
    {
        var y = ys.Select(v => double.IsFinite(v) ? v : double.NaN).ToArray();
        var line = plot.Add.ScatterLine(xs, y);
        line.LegendText = label;
    }
}
