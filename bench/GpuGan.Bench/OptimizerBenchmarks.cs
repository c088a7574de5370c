// One fused Adam step over the parameters of the canonical DCGAN-64 generator (ConvT 100→512,
// 512→256, 256→128, 128→64, 64→3, all k4 without bias; BN γ/β for 512, 256, 128, 64):
// 3,576,704 parameters. Bytes moved per step: p, g, m, v read and p, m, v written = 28 B/param;
// the GB/s column divides that by the mean time. The odd size (1,000,003 in one tensor) checks the
// tail paths and a size that is not a multiple of the parallel chunk.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(GbPerSecondConfig))]
public class OptimizerBenchmarks
{
    public const int BytesPerParameter = 28;

    /// <summary>Parameter tensor shapes of each case.</summary>
    public static int[][] Shapes(string name) => name switch
    {
        "dcgan64-G" =>
        [
            [100, 512, 4, 4], [512, 256, 4, 4], [256, 128, 4, 4], [128, 64, 4, 4], [64, 3, 4, 4],
            [512], [512], [256], [256], [128], [128], [64], [64],
        ],
        "odd-1000003" => [[1_000_003]],
        _ => throw new ArgumentException(name),
    };

    public static long ParameterCount(string name) => Shapes(name).Sum(s => s.Aggregate(1L, (a, b) => a * b));

    [Params("dcgan64-G", "odd-1000003")]
    public string Model { get; set; } = "dcgan64-G";

    private Adam _adam = null!;
    private Tensor[] _params = [];

    [GlobalSetup]
    public void Setup()
    {
        var gen = new RandomStream(42);
        _params = Shapes(Model).Select(s => Parameter.From(Tensor.RandN(new Shape(s), gen, std: 0.02f))).ToArray();
        foreach (var p in _params) p.Grad = Tensor.RandN(p.Shape, gen, std: 1e-3f).KeepAlive();
        _adam = new Adam(_params, lr: 2e-4f, beta1: 0.5);
        _adam.Step(); // allocates the state
    }

    [Benchmark]
    public void AdamStepCpu() => _adam.Step(); // host kernels finish before returning: no sync needed
}

/// <summary>Adds a GB/s column: 28 bytes × parameters / mean time.</summary>
public sealed class GbPerSecondConfig : ManualConfig
{
    public GbPerSecondConfig() => AddColumn(new GBPerSecondColumn(c =>
        OptimizerBenchmarks.BytesPerParameter * (double)OptimizerBenchmarks.ParameterCount((string)c.Parameters["Model"])));
}
