// The slicing family (src/Tensors/Ops/Slice) in GB/s: Concat of a U-Net skip (two (N, C, H, W)
// halves joined along channels), Narrow of half the channels, and SliceBackward (Narrow's
// gradient: half copied, half zeroed). Bytes: what the minimal pass moves — concat and narrow read
// and write the output size once; SliceBackward reads the half and writes the whole. The SIMD set
// at a pix2pix-64 decoder size (and an odd one); ILGPU on its CPU simulator only at a small size.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class SliceBenchmarks
{
    private sealed class Config : ManualConfig
    {
        // Per benchmark: floats moved, in units of one half (N, C, H, W).
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            (c.Descriptor.WorkloadMethod.Name switch { nameof(Concat) => 4.0, nameof(Narrow) => 2.0, _ => 3.0 }) * 4
            * ((ElementwiseBenchmarks.Case)c.Parameters[nameof(Setting)]).Dims.Aggregate(1, (a, b) => a * b)));
    }

    public static IEnumerable<ElementwiseBenchmarks.Case> Settings() =>
    [
        new("cpu", [16, 64, 32, 32]),
        new("cpu", [15, 63, 31, 31]),
        new("ilgpu-cpu", [2, 16, 16, 16]),
    ];

    [ParamsSource(nameof(Settings))]
    public ElementwiseBenchmarks.Case Setting { get; set; } = null!;

    private Tensor _a = null!, _b = null!, _both = null!;
    private Device _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(4);
        _a = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
        _b = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
        _both = Tensor.Concat([_a, _b], 1).KeepAlive();
    }

    private int Run(Func<Tensor> op)
    {
        using var scope = TensorScope.Begin();
        var y = op();
        _device.Synchronize();
        return y.Size;
    }

    [Benchmark] public int Concat() => Run(() => Tensor.Concat([_a, _b], 1));
    [Benchmark] public int Narrow() => Run(() => _both.Narrow(1, Setting.Dims[1], Setting.Dims[1]));
    [Benchmark] public int SliceBackward() => Run(() => Tensor.SliceBackward(_a, 1, 2 * Setting.Dims[1], Setting.Dims[1]));
}
