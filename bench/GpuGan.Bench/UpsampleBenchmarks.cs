// The upsampling family (src/Tensors/Ops/Upsample) in GB/s: nearest upsampling by 2 and its
// backward (the 2×2 block sum). Bytes: the small side read or written once and the large side
// (4× the elements) written or read once — 5 floats per input element either way. The SIMD set
// at a decoder size (and an odd one); ILGPU on its CPU simulator only at a small size.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class UpsampleBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            5.0 * 4 * ((ElementwiseBenchmarks.Case)c.Parameters[nameof(Setting)]).Dims.Aggregate(1, (a, b) => a * b)));
    }

    public static IEnumerable<ElementwiseBenchmarks.Case> Settings() =>
    [
        new("cpu", [16, 64, 32, 32]),
        new("cpu", [15, 63, 31, 31]),
        new("ilgpu-cpu", [2, 16, 16, 16]),
    ];

    [ParamsSource(nameof(Settings))]
    public ElementwiseBenchmarks.Case Setting { get; set; } = null!;

    private Tensor _x = null!, _g = null!;
    private Device _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(6);
        var d = Setting.Dims;
        _x = Tensor.RandN(new Shape(d), gen, _device).KeepAlive();
        _g = Tensor.RandN(new Shape(d[0], d[1], 2 * d[2], 2 * d[3]), gen, _device).KeepAlive();
    }

    private int Run(Func<Tensor> op)
    {
        using var scope = TensorScope.Begin();
        var y = op();
        _device.Synchronize();
        return y.Size;
    }

    [Benchmark] public int Upsample2() => Run(() => _x.UpsampleNearest2d(2));
    [Benchmark] public int Upsample2Backward() => Run(() => Tensor.UpsampleNearest2dBackward(_g, 2, 2));
}
