// The TorchSharp half of --breakdown: the same per-layer isolation timing as Breakdown.cs, on the
// identical layers of TorchEngine, so each GpuGan layer has its libtorch counterpart beside it.
// Each timed call gets a non-leaf copy of its input (clone, untimed) so the in-place ReLU /
// LeakyReLU of the torch networks can run as they do in training.
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuGan.Compare;

internal static class TorchBreakdown
{
    public sealed record LayerTime(double ForwardMs, double BackwardFullMs, double BackwardInputMs);

    /// <summary>Per-layer times of G then D (same order as the GpuGan rows), then Adam G and Adam D.</summary>
    public static List<LayerTime> Run(ModelSpec spec, Options o)
    {
        TorchEngine.SetThreads(o.Threads);
        using var engine = new TorchEngine(spec, o.Seed);
        engine.Step();   // warm-up; also creates the gradients and Adam state
        engine.Step();
        var result = new List<LayerTime>();
        var z = randn(spec.Batch, spec.LatentDim, 1, 1);
        var img = rand(spec.Batch, spec.Channels, spec.Size, spec.Size) * 2 - 1;
        result.AddRange(TimeNet(engine.G, z));
        result.AddRange(TimeNet(engine.D, img));
        foreach (var opt in new[] { engine.OptG, engine.OptD })
        {
            double ms = Median(5, () => { long t0 = Stopwatch.GetTimestamp(); opt.step(); return Stopwatch.GetElapsedTime(t0).TotalMilliseconds; });
            result.Add(new LayerTime(ms, 0, 0));
        }
        return result;
    }

    private static IEnumerable<LayerTime> TimeNet(TorchSharp.Modules.Sequential net, Tensor input)
    {
        var layers = net.children().Cast<nn.Module<Tensor, Tensor>>().ToArray();
        var x = input;
        var result = new List<LayerTime>();
        foreach (var layer in layers)
        {
            var parameters = layer.parameters().ToArray();
            double fwd = Median(3, () =>
            {
                using var scope = NewDisposeScope();
                var xi = x.detach().requires_grad_(true);
                var h = xi.clone();
                long t0 = Stopwatch.GetTimestamp();
                layer.forward(h);
                return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            });
            double full = Median(3, () => TimeBackward(layer, x, parameters));
            double inputOnly = parameters.Length == 0 ? full : Median(3, () => TimeBackward(layer, x, []));
            result.Add(new LayerTime(fwd, full, inputOnly));
            using (no_grad())
            {
                var next = layer.forward(x.detach().clone()).DetachFromDisposeScope();
                x = next;
            }
        }
        return result;
    }

    private static double TimeBackward(nn.Module<Tensor, Tensor> layer, Tensor x, Tensor[] parameters)
    {
        using var scope = NewDisposeScope();
        var xi = x.detach().requires_grad_(true);
        var y = layer.forward(xi.clone());
        var u = randn_like(y);
        long t0 = Stopwatch.GetTimestamp();
        autograd.grad([y], [xi, .. parameters], [u]);
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    private static double Median(int reps, Func<double> run)
    {
        var xs = new List<double>();
        for (int i = 0; i < reps; i++) xs.Add(run());
        return Harness.Median(xs);
    }
}
