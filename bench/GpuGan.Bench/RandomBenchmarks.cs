// The random family (src/Tensors/Ops/Random): in-place uniform and normal fills in GB/s (4 bytes
// written per element; nothing is read). The uniform fill hashes 8 counters per Vector512<ulong>;
// the normal fill is scalar Box–Muller in double (see RandomFill.cs for why), so it is bound by
// log and cos, not by memory. Sizes: the 64 × 100 noise batch of a DCGAN step (launch overhead
// dominates), a 4 Mi-element buffer, an odd size for the tails; ILGPU on its CPU simulator only at
// a small size (a check of overheads, not a speed).
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class RandomBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            4.0 * ((ElementwiseBenchmarks.Case)c.Parameters[nameof(Setting)]).Dims.Aggregate(1, (a, b) => a * b)));
    }

    public static IEnumerable<ElementwiseBenchmarks.Case> Settings() =>
    [
        new("cpu", [64, 100]),
        new("cpu", [4, 1024, 1024]),
        new("cpu", [1_000_003]),
        new("ilgpu-cpu", [64, 100]),
        new("ilgpu-cpu", [100_003]),
    ];

    [ParamsSource(nameof(Settings))]
    public ElementwiseBenchmarks.Case Setting { get; set; } = null!;

    private Tensor _t = null!;
    private Device _device = null!;
    private readonly RandomStream _stream = new(7);

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        _t = Tensor.Zeros(new Shape(Setting.Dims), _device).KeepAlive();
    }

    [Benchmark]
    public void FillUniform()
    {
        _t.FillUniform(_stream, -1f, 1f);
        _device.Synchronize();
    }

    [Benchmark]
    public void FillNormal()
    {
        _t.FillNormal(_stream);
        _device.Synchronize();
    }
}
