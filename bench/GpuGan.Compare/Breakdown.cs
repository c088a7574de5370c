// --breakdown: where the time of OUR DCGAN-64 iteration goes. Each layer of G and D is timed in
// isolation at the shape it sees in training (batch 64, train mode, parameters requiring grad):
// forward; backward for input and parameter gradients ("full"); backward for the input gradient
// only. One GanModel.TrainStep (dcgan) runs
//   G: 1 forward, 1 full backward (from the G step; z needs no gradient — counted as full);
//   D: 3 forwards (real, fake, fake for G), 2 full backwards (the D step's loss over real and fake),
//      1 input-only backward (the G step: only G's parameters are asked for);
// plus one Adam step per network and the loss/metrics glue. The per-layer estimate is set beside a
// measured TrainStep; the difference ("other") is losses, metrics read-back, gradient norms,
// graph bookkeeping and scope disposal.
using System.Diagnostics;
using System.Globalization;
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Compare;

internal sealed class BreakdownRow
{
    public string Net { get; set; } = "";
    public string Layer { get; set; } = "";
    public string Family { get; set; } = "";
    public string InputShape { get; set; } = "";
    public double ForwardMs { get; set; }
    public double BackwardFullMs { get; set; }
    public double BackwardInputMs { get; set; }
    public int Forwards { get; set; }
    public int FullBackwards { get; set; }
    public int InputBackwards { get; set; }
    public double PerIterationMs { get; set; }
    public double? TorchForwardMs { get; set; }
    public double? TorchBackwardFullMs { get; set; }
    public double? TorchBackwardInputMs { get; set; }
    public double? TorchPerIterationMs { get; set; }
}

internal static class Breakdown
{
    public static List<BreakdownRow> RunAndPrint(Options o, out double measuredStepMs)
    {
        var spec = ModelSpec.Get(o.BreakdownModel);
        using var engine = new GpuGanEngine(spec, o.Seed, o.Threads);
        var model = engine.Model;
        Console.WriteLine($"== breakdown of GpuGan's {spec.Title} iteration ({o.Threads} thread(s)); each layer timed alone, median of 3");

        // Warm up (JIT, buffer pool), then the measured step: 3 steps now and 3 after the layer
        // timings, so a burst of load on a shared machine does not decide "other" alone.
        engine.Step();
        var steps = new List<double>();
        var cpu = new List<double>();
        void MeasureSteps()
        {
            var proc = Process.GetCurrentProcess();
            for (int i = 0; i < 3; i++)
            {
                proc.Refresh();
                var c0 = proc.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                engine.Step();
                steps.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                proc.Refresh();
                cpu.Add((proc.TotalProcessorTime - c0).TotalMilliseconds);
            }
        }
        MeasureSteps();

        var rows = new List<BreakdownRow>();
        var gen = new RandomStream(99);
        var z = Tensor.RandN(model.G.LatentShape(spec.Batch), gen, model.Device).KeepAlive();
        var img = Tensor.RandU(new Shape(spec.Batch, spec.Channels, spec.Size, spec.Size), gen, model.Device, -1f, 1f).KeepAlive();
        rows.AddRange(TimeNet("G", model.G.Main, z, gen, forwards: 1, full: 1, inputOnly: 0));
        int criticSteps = spec.Kind == "wgan-gp" ? 5 : 1;
        if (spec.Kind == "wgan-gp")
            Console.WriteLine("   (wgan-gp: the counts below ignore the gradient penalty's double backward; see 'other')");
        rows.AddRange(TimeNet("D", ((DcganDiscriminator)model.D).Main, img, gen, forwards: 2 * criticSteps + 1, full: 2 * criticSteps, inputOnly: 1));

        // Adam: one step per network (gradients exist after the warm-up steps).
        rows.Add(TimeAdam("G", model.OptG));
        rows.Add(TimeAdam("D", model.OptD));
        MeasureSteps();
        measuredStepMs = Harness.Median(steps);
        Console.WriteLine($"   measured TrainStep: wall {string.Join(", ", steps.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))} ms; " +
                          $"process CPU time {string.Join(", ", cpu.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))} ms");

        // The same layers in TorchSharp, for the side-by-side columns.
        var torch = TorchBreakdown.Run(spec, o);
        if (torch.Count != rows.Count)
            throw new InvalidOperationException($"breakdown: {rows.Count} GpuGan rows but {torch.Count} TorchSharp rows (architectures differ)");
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            r.TorchForwardMs = torch[i].ForwardMs;
            r.TorchBackwardFullMs = torch[i].BackwardFullMs;
            r.TorchBackwardInputMs = torch[i].BackwardInputMs;
            r.TorchPerIterationMs = r.Forwards * torch[i].ForwardMs + r.FullBackwards * torch[i].BackwardFullMs + r.InputBackwards * torch[i].BackwardInputMs;
        }

        double estimated = rows.Sum(r => r.PerIterationMs);
        Print(rows, measuredStepMs, estimated);
        return rows;
    }

    private static IEnumerable<BreakdownRow> TimeNet(string net, Sequential main, Tensor input, RandomStream gen, int forwards, int full, int inputOnly)
    {
        var x = input;
        var result = new List<BreakdownRow>();
        for (int i = 0; i < main.Count; i++)
        {
            var layer = main[i];
            var row = new BreakdownRow
            {
                Net = net,
                Layer = $"{net}.main.{i} {Describe(layer)}",
                Family = Family(layer),
                InputShape = string.Join("×", x.Shape.ToArray()),
                Forwards = forwards,
                FullBackwards = full,
                InputBackwards = inputOnly,
            };
            var parameters = layer.Parameters().ToArray();
            row.ForwardMs = Median(3, () =>
            {
                using var scope = TensorScope.Begin();
                var xi = x.Detach();
                xi.RequiresGrad = true;
                long t0 = Stopwatch.GetTimestamp();
                layer.Forward(xi);
                return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            });
            row.BackwardFullMs = Median(3, () => TimeBackward(layer, x, gen, parameters));
            row.BackwardInputMs = parameters.Length == 0 ? row.BackwardFullMs : Median(3, () => TimeBackward(layer, x, gen, []));
            row.PerIterationMs = forwards * row.ForwardMs + full * row.BackwardFullMs + inputOnly * row.BackwardInputMs;
            result.Add(row);
            using (Autograd.NoGrad())
            {
                var next = layer.Forward(x.Detach()).KeepAlive();
                if (!ReferenceEquals(x, input)) x.Dispose();
                x = next;
            }
        }
        return result;
    }

    private static double TimeBackward(Module layer, Tensor x, RandomStream gen, Tensor[] parameters)
    {
        using var scope = TensorScope.Begin();
        var xi = x.Detach();
        xi.RequiresGrad = true;
        var y = layer.Forward(xi);
        var u = Tensor.RandN(y.Shape, gen, x.Device);
        long t0 = Stopwatch.GetTimestamp();
        Autograd.Grad([y], [xi, .. parameters], [u]);
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    private static BreakdownRow TimeAdam(string net, GpuGan.Layers.Optim.Optimizer opt)
    {
        double ms = Median(5, () =>
        {
            long t0 = Stopwatch.GetTimestamp();
            opt.Step();
            return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        });
        return new BreakdownRow { Net = net, Layer = $"{net} Adam step", Family = "Adam", InputShape = "", ForwardMs = ms, Forwards = 1, PerIterationMs = ms };
    }

    private static double Median(int reps, Func<double> run)
    {
        var xs = new List<double>();
        for (int i = 0; i < reps; i++) xs.Add(run());
        return Harness.Median(xs);
    }

    private static string Family(Module m) => m switch
    {
        ConvTranspose2d => "ConvTranspose2d",
        Conv2d => "Conv2d",
        BatchNorm2d => "BatchNorm2d",
        _ => "activation",
    };

    private static string Describe(Module m) => m switch
    {
        ConvTranspose2d c => $"ConvT {c.InChannels}→{c.OutChannels} k{c.KernelSize} s{c.Stride} p{c.Padding}",
        Conv2d c => $"Conv {c.InChannels}→{c.OutChannels} k{c.KernelSize} s{c.Stride} p{c.Padding}",
        BatchNorm2d b => $"BatchNorm2d({b.NumFeatures})",
        LeakyReLU l => $"LeakyReLU({l.NegativeSlope.ToString(CultureInfo.InvariantCulture)})",
        _ => m.GetType().Name,
    };

    private static void Print(List<BreakdownRow> rows, double measured, double estimated)
    {
        Console.WriteLine($"{"",-36} {"",-14} {"---------------- GpuGan ----------------",-42} {"------ TorchSharp ------",-35}");
        Console.WriteLine($"{"layer",-36} {"input",-14} {"fwd ms",8} {"bwd ms",8} {"bwd-in",8} {"ms/it",8} {"%",6} {"fwd ms",8} {"bwd ms",8} {"bwd-in",8} {"ms/it",8} {"×f/b/bi",8}");
        foreach (var r in rows)
            Console.WriteLine($"{r.Layer,-36} {r.InputShape,-14} {r.ForwardMs,8:F1} {r.BackwardFullMs,8:F1} {r.BackwardInputMs,8:F1} " +
                              $"{r.PerIterationMs,8:F1} {100 * r.PerIterationMs / measured,6:F1} " +
                              $"{r.TorchForwardMs,8:F1} {r.TorchBackwardFullMs,8:F1} {r.TorchBackwardInputMs,8:F1} {r.TorchPerIterationMs,8:F1} " +
                              $"{$"{r.Forwards}/{r.FullBackwards}/{r.InputBackwards}",8}");
        Console.WriteLine();
        Console.WriteLine("by op family (per iteration):");
        foreach (var g in rows.GroupBy(r => r.Family).OrderByDescending(g => g.Sum(r => r.PerIterationMs)))
        {
            double fwd = g.Sum(r => r.Forwards * r.ForwardMs);
            double bwd = g.Sum(r => r.PerIterationMs) - fwd;
            double torchTotal = g.Sum(r => r.TorchPerIterationMs ?? 0);
            Console.WriteLine($"  {g.Key,-16} fwd {fwd,8:F1} ms   bwd {bwd,8:F1} ms   total {fwd + bwd,8:F1} ms   {100 * (fwd + bwd) / measured,5:F1}%" +
                              $"   TorchSharp {torchTotal,8:F1} ms   ratio {(fwd + bwd) / torchTotal,5:F2}");
        }
        Console.WriteLine($"  {"sum of layers",-16} {estimated,44:F1} ms   {100 * estimated / measured,5:F1}%   TorchSharp {rows.Sum(r => r.TorchPerIterationMs ?? 0),8:F1} ms");
        Console.WriteLine($"  {"measured step",-16} {measured,44:F1} ms   (other: {measured - estimated:F1} ms)");
    }
}
