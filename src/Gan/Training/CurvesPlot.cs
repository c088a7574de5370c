using GpuGan.Gan.Imaging;
using GpuGan.Layers.Serialization;

namespace GpuGan.Gan.Training;

/// <summary>curves.png: losses and D outputs over steps (ScottPlot), two panels stacked.</summary>
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

        const int width = 900, height = 360;
        var top = losses.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
        var bottom = outputs.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
        // Stack the two PNGs (our own, trusted) into one image: decode both to RGB bytes, re-encode once.
        var pixels = new byte[width * height * 2 * 3];
        using (var a = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(top))
            a.CopyPixelDataTo(pixels.AsSpan(0, width * height * 3));
        using (var b = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(bottom))
            b.CopyPixelDataTo(pixels.AsSpan(width * height * 3));
        PngWriter.SaveInterleaved(path, pixels, 3, height * 2, width);
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

    private static void AddLine(ScottPlot.Plot plot, double[] xs, IEnumerable<double> ys, string label)
    {
        var y = ys.Select(v => double.IsFinite(v) ? v : double.NaN).ToArray();
        var line = plot.Add.ScatterLine(xs, y);
        line.LegendText = label;
    }
}
