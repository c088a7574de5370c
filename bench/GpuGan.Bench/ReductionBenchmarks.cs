// The reduction family (src/Tensors/Ops/Reduction.cs) in GB/s (bytes read; outputs are tiny): sum
// over everything, the per-channel sum over (N, H, W) that bias gradients and batch statistics
// need, and the per-sample sum over (C, H, W) of the gradient-penalty norm. SIMD set at the DCGAN
// activation size; ILGPU on its CPU simulator only at a small size. GradNorm is the global norm of
// the tensor and three slices of it taken as separate tensors (the multi-tensor sum-of-squares kernel).
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class ReductionBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            4.0 * ((ElementwiseBenchmarks.Case)c.Parameters[nameof(Setting)]).Dims.Aggregate(1, (a, b) => a * b)));   // GradNorm reads as many elements
    }

    public static IEnumerable<ElementwiseBenchmarks.Case> Settings() =>
    [
        new("cpu", [64, 64, 32, 32]),
        new("cpu", [63, 65, 31, 31]),
        new("ilgpu-cpu", [4, 64, 16, 16]),
    ];

    [ParamsSource(nameof(Settings))]
    public ElementwiseBenchmarks.Case Setting { get; set; } = null!;

    private Tensor _x = null!;
    private Tensor[] _parts = null!;
    private Device _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(3);
        _x = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
        int n = _x.Size;
        _parts = [Tensor.RandN(new Shape(n / 2), gen, _device).KeepAlive(), Tensor.RandN(new Shape(n / 4), gen, _device).KeepAlive(),
            Tensor.RandN(new Shape(n - n / 2 - n / 4), gen, _device).KeepAlive()];
    }

    private float Run(Func<Tensor> op)
    {
        using var scope = TensorScope.Begin();
        var y = op();
        _device.Synchronize();
        return y.Size;
    }

    [Benchmark] public float SumAll() => Run(() => _x.Sum());
    [Benchmark] public float SumPerChannel() => Run(() => _x.Sum([0, 2, 3], keepDim: true));
    [Benchmark] public float SumPerSample() => Run(() => _x.Sum([1, 2, 3]));
    [Benchmark] public float GradNorm() => Run(() => Tensor.GlobalNorm(_parts));
}
