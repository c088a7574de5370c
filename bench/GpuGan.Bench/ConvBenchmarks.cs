// Convolution benchmarks on the CPU SIMD kernel set: the three conv kernels (forward, input
// gradient = ConvTranspose2d forward, weight gradient) on every layer of the canonical DCGAN-64
// (batch 64) and of a 28x28 (MNIST) DCGAN. Layers are given in conv orientation: a generator
// ConvTranspose2d layer is the adjoint of a conv from its output to its input, so its forward
// is the InputGrad kernel, its backward the Forward and WeightGrad kernels — one training step
// of either layer type costs exactly these three. GFLOP/s = 2·MACs / time (MACs = N·Cout·Ho·Wo·Cin·kH·kW).
//
// BenchmarkDotNet: `dotnet run -c Release -- --filter *ConvBenchmarks*` (GFLOP/s column).
// Stopwatch table for quick iteration and the per-layer summary: `dotnet run -c Release -- conv-quick [seconds] [filter]`
// (CONV_VERSUS_GEMM_LOWERING=1 adds, per kernel, a paired timing against a device with the GEMM lowering only).
// (CONV_IM2COL=1: the im2col reference lowering instead of the implicit GEMM of the forward and weight gradient;
// CONV_GEMM_LOWERING=1: the GEMM lowering for the few-channel layers too, instead of their direct kernels; CONV_THREADS=n: n threads).
using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GpuGan.Tensors;

namespace GpuGan.Bench;

public static class ConvLayers
{
    /// <summary>Name → (conv geometry, "Conv2d" or "ConvT2d"). Batch 64.</summary>
    internal static readonly (string Name, string Op, ConvGeometry G)[] All =
    [
        ("D64.G1 100>512 1>4", "ConvT2d", Geo(512, 4, 100, 4, 1, 0)),
        ("D64.G2 512>256 4>8", "ConvT2d", Geo(256, 8, 512, 4, 2, 1)),
        ("D64.G3 256>128 8>16", "ConvT2d", Geo(128, 16, 256, 4, 2, 1)),
        ("D64.G4 128>64 16>32", "ConvT2d", Geo(64, 32, 128, 4, 2, 1)),
        ("D64.G5 64>3 32>64", "ConvT2d", Geo(3, 64, 64, 4, 2, 1)),
        ("D64.D1 3>64 64>32", "Conv2d", Geo(3, 64, 64, 4, 2, 1)),
        ("D64.D2 64>128 32>16", "Conv2d", Geo(64, 32, 128, 4, 2, 1)),
        ("D64.D3 128>256 16>8", "Conv2d", Geo(128, 16, 256, 4, 2, 1)),
        ("D64.D4 256>512 8>4", "Conv2d", Geo(256, 8, 512, 4, 2, 1)),
        ("D64.D5 512>1 4>1", "Conv2d", Geo(512, 4, 1, 4, 1, 0)),
        ("M28.G1 128>64 7>14", "ConvT2d", Geo(64, 14, 128, 4, 2, 1)),
        ("M28.G2 64>1 14>28", "ConvT2d", Geo(1, 28, 64, 4, 2, 1)),
        ("M28.D1 1>64 28>14", "Conv2d", Geo(1, 28, 64, 4, 2, 1)),
        ("M28.D2 64>128 14>7", "Conv2d", Geo(64, 14, 128, 4, 2, 1)),
        // The generator of today's dcgan/wgan-gp 28 (ngf 128): its InputGrad is the 7×7 → 14×14 col2im gather.
        ("M28.G1w 256>128 7>14", "ConvT2d", Geo(128, 14, 256, 4, 2, 1)),
        ("M28.G2w 128>1 14>28", "ConvT2d", Geo(1, 28, 128, 4, 2, 1)),
    ];

    private static ConvGeometry Geo(int cin, int h, int cout, int k, int s, int p, int n = 64)
    {
        int ho = ConvGeometry.OutputSize(h, k, s, p, 1);
        return new ConvGeometry(n, cin, h, h, cout, k, k, ho, ho, s, p, 1);
    }

    internal static ConvGeometry Find(string name) => All.First(l => l.Name == name).G;
}

/// <summary>Tensors for one layer and the three kernels on them (raw launchers, no autograd).</summary>
internal sealed class ConvLayerRun : IDisposable
{
    private readonly Tensor _x, _w, _y, _gy, _dx, _dw;
    private readonly Device _device;
    public ConvGeometry G { get; }

    /// <param name="device">A host device (default <see cref="Device.Cpu"/>); its options set threads and lowering.</param>
    public ConvLayerRun(ConvGeometry g, Device? device = null)
    {
        G = g;
        var gen = new RandomStream(42);
        var d = _device = device ?? Device.Cpu;
        _x = Tensor.RandN(g.InputShape, gen, d).KeepAlive();
        _w = Tensor.RandN(g.WeightShape, gen, d, std: 0.05f).KeepAlive();
        _gy = Tensor.RandN(g.OutputShape, gen, d).KeepAlive();
        _y = Tensor.Zeros(g.OutputShape, d).KeepAlive();
        _dx = Tensor.Zeros(g.InputShape, d).KeepAlive();
        _dw = Tensor.Zeros(g.WeightShape, d).KeepAlive();
    }

    public void Forward() => ConvKernels.Forward(_x, _w, null, _y, G);
    public void InputGrad() => ConvKernels.BackwardInput(_gy, _w, null, _dx, G);
    public void WeightGrad() => ConvKernels.WeightGrad(_x, _gy, _dw, G);

    /// <summary>The same kernel's GEMMs alone on scratch buffers: the lowering overhead is the difference.</summary>
    public unsafe void GemmOnly(string kernel)
    {
        var g = G;
        // The input gradient materialises col; the forward and weight gradient gather patches (their own grouping).
        int gs = kernel == "InputGrad" ? ConvKernels.GroupSize(g, _device.ConvLowering) : ConvKernels.PatchGroupSize(g, _device.ConvLowering);
        long cols = (long)gs * g.P;
        _scratch ??= new float[Math.Max((long)g.Ckk * cols, Math.Max((long)g.Cout * cols, (long)g.Cout * g.Ckk)) * 3];
        fixed (float* s = _scratch)
        {
            float* a = s, b = s + _scratch.Length / 3, c = s + 2 * (_scratch.Length / 3);
            for (int n0 = 0; n0 < g.N; n0 += gs)
            {
                int cn = Math.Min(gs, g.N - n0) * g.P;
                if (kernel == "Forward") GpuGan.Tensors.Ops.MatMulKernels.GemmCpu(_device.Parallel, false, false, g.Cout, cn, g.Ckk, 1f, a, b, 0f, c);
                else if (kernel == "InputGrad") GpuGan.Tensors.Ops.MatMulKernels.GemmCpu(_device.Parallel, true, false, g.Ckk, cn, g.Cout, 1f, a, b, 0f, c);
                else GpuGan.Tensors.Ops.MatMulKernels.GemmCpu(_device.Parallel, false, true, g.Cout, g.Ckk, cn, 1f, a, b, n0 == 0 ? 0f : 1f, c);
            }
        }
    }

    private float[]? _scratch;

    public void Dispose()
    {
        foreach (var t in new[] { _x, _w, _y, _gy, _dx, _dw }) t.Dispose();
    }
}

public class ConvConfig : ManualConfig
{
    public ConvConfig() => AddColumn(new ConvGflopsColumn());
}

/// <summary>GFLOP/s = 2·MACs of the layer / mean time.</summary>
public sealed class ConvGflopsColumn : IColumn
{
    public string Id => "ConvGflops";
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "2·MACs / mean time";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats) return "-";
        var layer = (string)benchmarkCase.Parameters["Layer"];
        return (ConvLayers.Find(layer).Flops / stats.Mean).ToString("F1"); // flops per ns = GFLOP/s
    }

    public override string ToString() => ColumnName;
}

[Config(typeof(ConvConfig))]
[ShortRunJob]
public class ConvBenchmarks
{
    public static IEnumerable<string> LayerNames => ConvLayers.All.Select(l => l.Name);

    [ParamsSource(nameof(LayerNames))]
    public string Layer { get; set; } = ConvLayers.All[0].Name;

    private ConvLayerRun? _run, _im2col, _gemm, _winograd;
    private Device? _im2colDevice, _gemmDevice, _winogradDevice;

    [GlobalSetup]
    public void Setup()
    {
        _run = new ConvLayerRun(ConvLayers.Find(Layer));
        // The reference lowering (column matrix materialised, same bits) beside the implicit GEMM.
        _im2colDevice = Device.CreateCpu(new CpuKernelOptions { Conv = new ConvLoweringOptions { Im2Col = true } });
        _im2col = new ConvLayerRun(ConvLayers.Find(Layer), _im2colDevice);
        // The GEMM lowering for the few-channel layers (Ckk ≤ 64), which the default device runs on direct kernels.
        _gemmDevice = Device.CreateCpu(new CpuKernelOptions { Conv = new ConvLoweringOptions { GemmOnly = true } });
        _gemm = new ConvLayerRun(ConvLayers.Find(Layer), _gemmDevice);
        // The opt-in Winograd kernels (k4 s2 p1 layers where the dispatch takes them; elsewhere the same as the default).
        _winogradDevice = Device.CreateCpu(new CpuKernelOptions { Conv = new ConvLoweringOptions { Winograd = true } });
        _winograd = new ConvLayerRun(ConvLayers.Find(Layer), _winogradDevice);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _run?.Dispose();
        _im2col?.Dispose();
        _im2colDevice?.Dispose();
        _gemm?.Dispose();
        _gemmDevice?.Dispose();
        _winograd?.Dispose();
        _winogradDevice?.Dispose();
    }

    // The CPU kernels are synchronous: each method returns when the result is written.
    // Forward and WeightGrad are implicit GEMMs (patches packed straight into the B panels), or the direct kernels for few input channels; the *Im2Col
    // variants run the same GEMMs on a materialised column matrix.
    [Benchmark] public void Forward() => _run!.Forward();
    [Benchmark] public void InputGrad() => _run!.InputGrad();
    [Benchmark] public void WeightGrad() => _run!.WeightGrad();
    [Benchmark] public void ForwardIm2Col() => _im2col!.Forward();
    [Benchmark] public void WeightGradIm2Col() => _im2col!.WeightGrad();
    // The few-channel layers (D1 of both discriminators, G5 / G2 of the generators) run on the direct kernels of
    // ConvFewChannels.cs in the three entries above; these time the GEMM lowering they replace (same as above elsewhere).
    [Benchmark] public void ForwardGemmLowering() => _gemm!.Forward();
    [Benchmark] public void InputGradGemmLowering() => _gemm!.InputGrad();
    [Benchmark] public void WeightGradGemmLowering() => _gemm!.WeightGrad();
    // ConvWinograd.cs (ConvLoweringOptions.Winograd): the three kernels of the k4 s2 p1 layers it takes (elsewhere the same as the default).
    [Benchmark] public void ForwardWinograd() => _winograd!.Forward();
    [Benchmark] public void InputGradWinograd() => _winograd!.InputGrad();
    [Benchmark] public void WeightGradWinograd() => _winograd!.WeightGrad();
}

/// <summary>Stopwatch table over all layers (median and best of repeated runs) and the DCGAN-64 aggregate.</summary>
internal static class ConvQuick
{
    public static void Run(string[] args)
    {
        double seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1.0;
        var filter = args.Length > 1 ? args[1] : "";
        var lowering = new ConvLoweringOptions();
        if (Environment.GetEnvironmentVariable("CONV_TARGET") is { } t) lowering = lowering with { ColumnTarget = int.Parse(t) };
        if (Environment.GetEnvironmentVariable("CONV_BUDGET") is { } b) lowering = lowering with { WorkspaceBudget = long.Parse(b) };
        if (Environment.GetEnvironmentVariable("CONV_IM2COL") == "1") lowering = lowering with { Im2Col = true }; // the reference lowering
        if (Environment.GetEnvironmentVariable("CONV_GEMM_LOWERING") == "1") lowering = lowering with { GemmOnly = true }; // no direct few-channel kernels
        if (Environment.GetEnvironmentVariable("CONV_WINOGRAD") == "1") lowering = lowering with { Winograd = true }; // the opt-in Winograd kernels
        var options = new CpuKernelOptions { Conv = lowering };
        if (Environment.GetEnvironmentVariable("CONV_THREADS") is { } th) options = options with { Threads = int.Parse(th) };
        using var device = Device.CreateCpu(options);
        Console.WriteLine($"column target {lowering.ColumnTarget}, workspace budget {lowering.WorkspaceBudget} floats, {device.CpuOptions.Threads} threads{(lowering.Im2Col ? ", im2col lowering" : "")}{(lowering.GemmOnly ? ", GEMM lowering only" : "")}{(lowering.Winograd ? ", Winograd" : "")}");
        Console.WriteLine($"{"layer",-22} {"op",-8} {"kernel",-10} {"GFLOP",7} {"median ms",10} {"best ms",9} {"GFLOP/s med",12} {"best",7}");
        var sums = new Dictionary<string, (double Flops, double Med, double Best)>();
        foreach (var (name, op, g) in ConvLayers.All.Where(l => l.Name.Contains(filter)))
        {
            using var run = new ConvLayerRun(g, device);
            foreach (var (kernel, act) in new (string, Action)[] { ("Forward", run.Forward), ("InputGrad", run.InputGrad), ("WeightGrad", run.WeightGrad) })
            {
                act(); act();
                var samples = new List<double>();
                var total = Stopwatch.StartNew();
                while (samples.Count < 5 || (total.Elapsed.TotalSeconds < seconds && samples.Count < 200))
                {
                    var sw = Stopwatch.StartNew();
                    act();
                    samples.Add(sw.Elapsed.TotalSeconds);
                }
                samples.Sort();
                double med = samples[samples.Count / 2], best = samples[0];
                string role = op == "Conv2d" ? (kernel == "Forward" ? "fwd" : kernel == "InputGrad" ? "bwd-x" : "bwd-w")
                                             : (kernel == "InputGrad" ? "fwd" : kernel == "Forward" ? "bwd-x" : "bwd-w");
                string gemmOnly = "";
                if (Environment.GetEnvironmentVariable("CONV_VERSUS_GEMM_LOWERING") == "1")
                {
                    // Paired: this kernel on the default device and on one with the GEMM lowering only, alternated.
                    using var refDevice = Device.CreateCpu(options with { Conv = lowering with { GemmOnly = true } });
                    using var refRun = new ConvLayerRun(g, refDevice);
                    Action refAct = kernel == "Forward" ? refRun.Forward : kernel == "InputGrad" ? refRun.InputGrad : refRun.WeightGrad;
                    refAct(); refAct();
                    var mine = new List<double>();
                    var theirs = new List<double>();
                    for (int r = 0; r < 9; r++)
                    {
                        var sw = Stopwatch.StartNew(); act(); mine.Add(sw.Elapsed.TotalSeconds);
                        sw.Restart(); refAct(); theirs.Add(sw.Elapsed.TotalSeconds);
                    }
                    mine.Sort();
                    theirs.Sort();
                    gemmOnly = $"   paired: {mine[4] * 1e3:F2} ms vs GEMM lowering {theirs[4] * 1e3:F2} ms ({mine[4] / theirs[4]:F2}x)";
                }
                if (Environment.GetEnvironmentVariable("CONV_GEMM_ONLY") == "1")
                {
                    run.GemmOnly(kernel);
                    var gsamples = new List<double>();
                    for (int r = 0; r < Math.Max(3, samples.Count / 2); r++) { var sw = Stopwatch.StartNew(); run.GemmOnly(kernel); gsamples.Add(sw.Elapsed.TotalSeconds); }
                    gsamples.Sort();
                    gemmOnly = $"   gemm-only median {gsamples[gsamples.Count / 2] * 1e3:F2} ms best {gsamples[0] * 1e3:F2} ms";
                }
                Console.WriteLine($"{name,-22} {op,-8} {kernel + "(" + role + ")",-16} {g.Flops / 1e9,7:F3} {med * 1e3,10:F2} {best * 1e3,9:F2} {g.Flops / med / 1e9,12:F1} {g.Flops / best / 1e9,7:F1}{gemmOnly}");
                string set = name[..3];
                var s = sums.GetValueOrDefault(set);
                sums[set] = (s.Flops + g.Flops, s.Med + med, s.Best + best);
            }
        }
        foreach (var (set, s) in sums)
            Console.WriteLine($"{set} total: {s.Flops / 1e9:F2} GFLOP in {s.Med * 1e3:F1} ms (median) → {s.Flops / s.Med / 1e9:F1} GFLOP/s; best-case sum {s.Best * 1e3:F1} ms → {s.Flops / s.Best / 1e9:F1} GFLOP/s");
    }
}

/// <summary>
/// The ILGPU convolution kernels on the CPU simulator (implicit-GEMM forward, weight gradient and the stride-2 input
/// gradient as one launch over its four sub-pixel classes, no col2im), on the 28x28 DCGAN's D2 layer at batch 2 (the simulator runs every GPU thread on the
/// CPU, so this is a smoke-scale entry that keeps the kernels compiled and runnable; GPU timings come from bench/GpuCheck).
/// `dotnet run -c Release -- --filter *ConvIlgpuCpuBenchmarks*`.
/// </summary>
public class ConvIlgpuCpuBenchmarks
{
    private ConvLayerRun? _run;
    private Device? _device;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.IlgpuCpu;
        var d2 = ConvLayers.Find("M28.D2 64>128 14>7");
        _run = new ConvLayerRun(d2 with { N = 2 }, _device);
        Forward(); InputGrad(); WeightGrad(); // compile the kernels outside the measurement
    }

    [GlobalCleanup]
    public void Cleanup() => _run?.Dispose();

    [Benchmark] public void Forward() { _run!.Forward(); _device!.Accelerator!.Synchronize(); }
    [Benchmark] public void InputGrad() { _run!.InputGrad(); _device!.Accelerator!.Synchronize(); }
    [Benchmark] public void WeightGrad() { _run!.WeightGrad(); _device!.Accelerator!.Synchronize(); }
}
