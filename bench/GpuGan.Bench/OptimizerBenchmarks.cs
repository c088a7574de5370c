// The optimiser family (src/Tensors/Ops/Optim): one fused update of every parameter of the canonical
// DCGAN-64 generator (ConvT 100→512, 512→256, 256→128, 128→64, 64→3, all k4 without bias; BN γ/β for
// 512, 256, 128, 64: 3,576,704 parameters), one launch per parameter tensor, as the optimisers run
// it. Bytes per parameter (the minimal passes): Adam reads p, g, m, v and writes p, m, v = 28 B;
// SGD with momentum reads p, g, b and writes p, b = 20 B; RMSprop (plain) reads p, g, s and
// writes p, s = 20 B. The GB/s column divides that by the mean time. The odd size (1,000,003 in one
// tensor) checks the tail paths and a size that is not a multiple of the parallel chunk; ILGPU runs
// on its CPU simulator only at a small size (a check of overheads, not a speed).
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class OptimizerBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            BytesPerParameter(c.Descriptor.WorkloadMethod.Name) * (double)((Case)c.Parameters[nameof(Setting)]).ParameterCount));
    }

    public static int BytesPerParameter(string update) => update == nameof(Adam) ? 28 : 20;

    public sealed record Case(string Device, string Model)
    {
        /// <summary>Parameter tensor shapes of the model.</summary>
        public int[][] Shapes => Model switch
        {
            "dcgan64-G" =>
            [
                [100, 512, 4, 4], [512, 256, 4, 4], [256, 128, 4, 4], [128, 64, 4, 4], [64, 3, 4, 4],
                [512], [512], [256], [256], [128], [128], [64], [64],
            ],
            "odd-1000003" => [[1_000_003]],
            "odd-100003" => [[100_003]],
            _ => throw new ArgumentException(Model),
        };

        public long ParameterCount => Shapes.Sum(s => s.Aggregate(1L, (a, b) => a * b));

        public override string ToString() => $"{Device} {Model}";
    }

    public static IEnumerable<Case> Settings() =>
    [
        new("cpu", "dcgan64-G"),
        new("cpu", "odd-1000003"),
        new("ilgpu-cpu", "odd-100003"),
    ];

    [ParamsSource(nameof(Settings))]
    public Case Setting { get; set; } = null!;

    private Device _device = null!;
    private (Tensor P, Tensor G, Tensor S1, Tensor S2)[] _params = [];
    private long _step;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(42);
        _params = Setting.Shapes.Select(s => (
            Tensor.RandN(new Shape(s), gen, _device, std: 0.02f).KeepAlive(),
            Tensor.RandN(new Shape(s), gen, _device, std: 1e-3f).KeepAlive(),
            Tensor.Zeros(new Shape(s), _device).KeepAlive(),
            Tensor.Zeros(new Shape(s), _device).KeepAlive())).ToArray();
    }

    private static readonly AdamHyperparameters AdamSettings = new(2e-4, 0.5, 0.999);
    private static readonly SgdHyperparameters SgdSettings = new(1e-2, 0.9);
    private static readonly RmsPropHyperparameters RmsPropSettings = new(5e-5);

    [Benchmark]
    public void Adam()
    {
        _step++;
        foreach (var (p, g, m, v) in _params) OptimizerUpdates.AdamStep(p, g, m, v, AdamSettings, _step);
        _device.Synchronize();
    }

    [Benchmark]
    public void SgdMomentum()
    {
        foreach (var (p, g, b, _) in _params) OptimizerUpdates.SgdStep(p, g, b, SgdSettings, firstStep: false);
        _device.Synchronize();
    }

    [Benchmark]
    public void RmsProp()
    {
        foreach (var (p, g, s, _) in _params) OptimizerUpdates.RmsPropStep(p, g, s, null, null, RmsPropSettings);
        _device.Synchronize();
    }
}
