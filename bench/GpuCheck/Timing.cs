// Sections 2 and 3 of the kit: kernel throughput and training-iteration time on the device.
//
// Every timed region ends with Device.Synchronize(): ILGPU launches are asynchronous, so a clock
// read without it measures the queueing, not the work. Each measurement warms up first (the first
// call compiles the kernels: ILGPU to PTX, the driver PTX to SASS), then repeats until a count or a
// time budget is reached, and reports the median (and the minimum) per repetition.
//
// SGEMM: C = A·B at 4096³ (2·4096³ FLOP), the one shape every GPU engineer knows the peak of.
// DCGAN-64 layers: for each conv layer of the model the forward, the input gradient and the weight
// gradient, called as the autograd rules call them (Conv2d's input gradient is ConvTranspose2d's
// forward and the other way round; the weight gradient is its own op), each 2·N·Cin·Cout·k²·P FLOP
// with P the conv-side output pixels.
// Training iterations: GanAdapter.Step, synchronised after each iteration, median of the timed ones.
using System.Diagnostics;
using GpuGan.Tensors;

namespace GpuGan.GpuCheck;

internal sealed class KernelTiming
{
    public string Name { get; set; } = "";
    public string Shape { get; set; } = "";
    public double Flops { get; set; }
    public int Repetitions { get; set; }
    public double MedianMs { get; set; }
    public double MinMs { get; set; }
    public double Gflops { get; set; }
    public string? Error { get; set; }
}

internal sealed class TrainTiming
{
    public string Model { get; set; } = "";
    public string Title { get; set; } = "";
    public int Batch { get; set; }
    public int WarmupIterations { get; set; }
    public double WarmupMs { get; set; }
    public List<double> IterationMs { get; set; } = [];
    public double MedianMs { get; set; }
    public double MinMs { get; set; }
    public string? Error { get; set; }
}

/// <summary>How long each measurement may run: the full run must finish in about six minutes on an H100.</summary>
/// <remarks>The dry run does everything once, without warm-up: it checks the kit, it measures nothing.</remarks>
internal sealed record Budget(int GemmSize, int KernelWarmup, int MaxRepetitions, TimeSpan PerKernel, int TrainWarmup, int MaxTrainIterations,
    TimeSpan PerModel, TimeSpan Parity)
{
    public static readonly Budget Full = new(4096, 1, 20, TimeSpan.FromSeconds(1.0), 2, 30, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(100));
    public static readonly Budget DryRun = new(64, 0, 1, TimeSpan.Zero, 0, 1, TimeSpan.Zero, TimeSpan.FromMinutes(30));
}

internal static class Timing
{
    /// <summary>Median and minimum ms of <paramref name="body"/> (synchronised), after the warm-up calls.</summary>
    private static KernelTiming Measure(string name, string shape, double flops, Device device, Budget budget, Action body)
    {
        var result = new KernelTiming { Name = name, Shape = shape, Flops = flops };
        try
        {
            for (int i = 0; i < budget.KernelWarmup; i++) body();
            device.Synchronize();
            var times = new List<double>();
            var total = Stopwatch.StartNew();
            while (times.Count < budget.MaxRepetitions && (times.Count == 0 || total.Elapsed < budget.PerKernel))
            {
                long t0 = Stopwatch.GetTimestamp();
                body();
                device.Synchronize();
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            times.Sort();
            result.Repetitions = times.Count;
            result.MedianMs = Median(times);
            result.MinMs = times[0];
            result.Gflops = flops / (result.MedianMs * 1e6);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            result.Error = $"{e.GetType().Name}: {e.Message}";
        }
        return result;
    }

    public static KernelTiming Sgemm(Device device, Budget budget)
    {
        int n = budget.GemmSize;
        var gen = new RandomStream(5);
        using var scope = TensorScope.Begin();
        var a = Tensor.RandN(new Shape(n, n), gen, device);
        var b = Tensor.RandN(new Shape(n, n), gen, device);
        return Measure("SGEMM", $"{n}x{n}x{n}", 2.0 * n * n * n, device, budget, () =>
        {
            using var inner = TensorScope.Begin();
            _ = a.MatMul(b);
        });
    }

    /// <summary>Forward, input gradient and weight gradient of every conv layer of the model.</summary>
    public static IEnumerable<KernelTiming> Layers(ModelSpec spec, Scale scale, Device device, Budget budget)
    {
        var gen = new RandomStream(6);
        foreach (var l in LayerPlan.Resolve(spec, scale))
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.RandN(new Shape(l.InputShape), gen, device);
            var w = Tensor.RandN(new Shape(l.WeightShape), gen, device, 0f, 0.02f);
            var gy = Tensor.RandN(new Shape(l.OutputShape), gen, device);
            int s = l.Stride, p = l.Padding;
            // Output padding that makes the adjoint land on the forward's input size.
            int opConv = l.InSize - ((l.OutSize - 1) * s - 2 * p + l.Kernel);   // Conv2d's dX = ConvT(gy) back to InSize
            var shape = l.Describe();
            KernelTiming Time(string what, Action body)
            {
                var r = Measure($"{l.Name} {what}", shape, l.Flops, device, budget, () =>
                {
                    using var inner = TensorScope.Begin();
                    body();
                });
                return r;
            }
            using (Autograd.NoGrad())
            {
                if (l.Transposed)
                {
                    // y = ConvT(x, w): conv orientation has y as the conv input, x as the conv output.
                    yield return Time("forward", () => x.ConvTranspose2d(w, null, s, p));
                    yield return Time("input gradient", () => gy.Conv2d(w, null, s, p));
                    yield return Time("weight gradient", () => Tensor.Conv2dWeightGrad(gy, x, (l.Kernel, l.Kernel), s, p, 1));
                }
                else
                {
                    yield return Time("forward", () => x.Conv2d(w, null, s, p));
                    yield return Time("input gradient", () => gy.ConvTranspose2d(w, null, s, p, opConv));
                    yield return Time("weight gradient", () => Tensor.Conv2dWeightGrad(x, gy, (l.Kernel, l.Kernel), s, p, 1));
                }
            }
        }
    }

    public static TrainTiming Train(ModelSpec spec, Scale scale, Device device, Budget budget, int seed, Action<string> progress)
    {
        var result = new TrainTiming { Model = spec.Id, Title = spec.Title, Batch = scale.Batch, WarmupIterations = budget.TrainWarmup };
        try
        {
            using var adapter = GanAdapter.Create(spec, scale, device, seed);
            long w0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < budget.TrainWarmup; i++)
            {
                adapter.Step();
                device.Synchronize();
            }
            result.WarmupMs = Stopwatch.GetElapsedTime(w0).TotalMilliseconds;
            progress($"warm-up {budget.TrainWarmup} iteration(s) {result.WarmupMs:F0} ms");
            var total = Stopwatch.StartNew();
            while (result.IterationMs.Count < budget.MaxTrainIterations && (result.IterationMs.Count < 3 || total.Elapsed < budget.PerModel))
            {
                long t0 = Stopwatch.GetTimestamp();
                adapter.Step();
                device.Synchronize();
                result.IterationMs.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                if (result.IterationMs.Count >= budget.MaxTrainIterations) break;
            }
            var sorted = result.IterationMs.Order().ToList();
            result.MedianMs = Median(sorted);
            result.MinMs = sorted[0];
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            result.Error = $"{e.GetType().Name}: {e.Message}";
        }
        return result;
    }

    public static double Median(IReadOnlyList<double> sorted)
        => sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}
