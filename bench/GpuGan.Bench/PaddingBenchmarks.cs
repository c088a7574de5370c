// The padding family (src/Tensors/Ops/Padding) in GB/s: reflection padding by 3 (the CycleGAN
// generator's stem) and by 1 (its residual blocks), forward and backward, and zero padding. Bytes:
// the input read once and the padded output written once (forward); the padded gradient read once
// and the input-sized result written once (backward). The SIMD set at CycleGAN-128 sizes (and an
// odd one); ILGPU on its CPU simulator only at a small size.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class PaddingBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
        {
            var d = ((ElementwiseBenchmarks.Case)c.Parameters[nameof(Setting)]).Dims;
            int pad = c.Descriptor.WorkloadMethod.Name.Contains("3") ? 3 : 1;
            double input = (double)d[0] * d[1] * d[2] * d[3], output = (double)d[0] * d[1] * (d[2] + 2 * pad) * (d[3] + 2 * pad);
            return 4 * (input + output);
        }));
    }

    public static IEnumerable<ElementwiseBenchmarks.Case> Settings() =>
    [
        new("cpu", [1, 64, 128, 128]),
        new("cpu", [3, 63, 31, 31]),
        new("ilgpu-cpu", [1, 8, 32, 32]),
    ];

    [ParamsSource(nameof(Settings))]
    public ElementwiseBenchmarks.Case Setting { get; set; } = null!;

    private Tensor _x = null!, _g1 = null!, _g3 = null!;
    private Device _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(5);
        var d = Setting.Dims;
        _x = Tensor.RandN(new Shape(d), gen, _device).KeepAlive();
        _g1 = Tensor.RandN(new Shape(d[0], d[1], d[2] + 2, d[3] + 2), gen, _device).KeepAlive();
        _g3 = Tensor.RandN(new Shape(d[0], d[1], d[2] + 6, d[3] + 6), gen, _device).KeepAlive();
    }

    private int Run(Func<Tensor> op)
    {
        using var scope = TensorScope.Begin();
        var y = op();
        _device.Synchronize();
        return y.Size;
    }

    [Benchmark] public int Reflect3() => Run(() => _x.Pad2d(3, PadMode.Reflect));
    [Benchmark] public int Reflect1() => Run(() => _x.Pad2d(1, PadMode.Reflect));
    [Benchmark] public int Zero1() => Run(() => _x.Pad2d(1, PadMode.Zero));
    [Benchmark] public int Reflect3Backward() => Run(() => Tensor.Pad2dBackward(_g3, Setting.Dims[2], Setting.Dims[3], 3, 3, 3, 3, PadMode.Reflect));
    [Benchmark] public int Reflect1Backward() => Run(() => Tensor.Pad2dBackward(_g1, Setting.Dims[2], Setting.Dims[3], 1, 1, 1, 1, PadMode.Reflect));
}
