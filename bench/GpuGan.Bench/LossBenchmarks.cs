// The loss family (src/Tensors/Ops/Losses.cs) in GB/s: BCE-with-logits over a logit batch against
// soft targets (reads logits and targets: 8 bytes per element; the mean's output is one float),
// and against a scalar label as the GAN objectives use it (4 bytes per element). SIMD set at the
// DCGAN activation size; ILGPU on its CPU simulator only at a small size.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class LossBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            (c.Descriptor.WorkloadMethod.Name == nameof(BceWithLogits) ? 8.0 : 4.0)
            * ((ElementwiseBenchmarks.Case)c.Parameters[nameof(Setting)]).Dims.Aggregate(1, (a, b) => a * b)));
    }

    public static IEnumerable<ElementwiseBenchmarks.Case> Settings() => ReductionBenchmarks.Settings();

    [ParamsSource(nameof(Settings))]
    public ElementwiseBenchmarks.Case Setting { get; set; } = null!;

    private Tensor _x = null!, _targets = null!;
    private Device _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(3);
        _x = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
        _targets = Tensor.RandU(new Shape(Setting.Dims), gen, _device).KeepAlive();
    }

    private float Run(Func<Tensor> op)
    {
        using var scope = TensorScope.Begin();
        var y = op();
        _device.Synchronize();
        return y.Size;
    }

    [Benchmark] public float BceWithLogits() => Run(() => Losses.BceWithLogits(_x, _targets));
    [Benchmark] public float BceWithLogitsLabel() => Run(() => Losses.BceWithLogits(_x, 1f));
}
