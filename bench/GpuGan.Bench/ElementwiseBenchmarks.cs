// Elementwise ops (add, mul, leaky relu, tanh) in GB/s on both kernel sets: the SIMD set at the
// DCGAN activation size 64×64×32×32 (and an odd size for tails), the ILGPU kernels on ILGPU's CPU
// accelerator only at a small size (it is a simulator: the figure checks overheads, not speed).
// Bytes: unary = read + write, binary = two reads + write, all float32.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class ElementwiseBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            (c.Descriptor.WorkloadMethod.Name is nameof(Add) or nameof(Mul) ? 3.0 : 2.0) * 4
            * ((Case)c.Parameters[nameof(Setting)]).Dims.Aggregate(1, (a, b) => a * b)));
    }

    public sealed record Case(string Device, int[] Dims)
    {
        public override string ToString() => $"{Device} {string.Join('x', Dims)}";
    }

    public static IEnumerable<Case> Settings() =>
    [
        new("cpu", [64, 64, 32, 32]),
        new("cpu", [63, 64, 31, 31]),
        new("ilgpu-cpu", [4, 64, 16, 16]),
    ];

    [ParamsSource(nameof(Settings))]
    public Case Setting { get; set; } = null!;

    private Tensor _a = null!, _b = null!;
    private Device _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(2);
        _a = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
        _b = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
    }

    private int Run(Func<Tensor> op)
    {
        using var scope = TensorScope.Begin();
        var y = op();
        _device.Synchronize();
        return y.Size;
    }

    [Benchmark] public int Add() => Run(() => _a.Add(_b));
    [Benchmark] public int Mul() => Run(() => _a.Mul(_b));
    [Benchmark] public int LeakyRelu() => Run(() => _a.LeakyRelu(0.2f));
    [Benchmark] public int Tanh() => Run(() => _a.Tanh());
}
