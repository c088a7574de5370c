// BatchNorm2d forward + backward at the DCGAN-64 generator's shapes (batch 64), SIMD kernel set.
// Bytes moved per iteration (the minimum the fused kernels can touch): forward reads x twice
// (statistics, then normalise) and writes y; backward reads g and x twice and writes dx:
// 3 + 5 = 8 tensor-sized float32 passes. GB/s = 8·4·size / time (forward alone: 3·4·size).
// One row is odd-sized (C = 96, 7×7) to catch tail handling costs.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using GpuGan.Tensors;

namespace GpuGan.Bench;

[Config(typeof(Config))]
public class NormalizationBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c =>
            (c.Descriptor.WorkloadMethod.Name == nameof(Forward) ? 3.0 : 8.0) * 4 * GBPerSecondColumn.Size(c, nameof(Shape))));
    }

    private Tensor _x = null!, _g = null!, _gamma = null!, _beta = null!, _rm = null!, _rv = null!;

    [Params("64x512x4x4", "64x256x8x8", "64x128x16x16", "64x64x32x32", "64x96x7x7")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var dims = Shape.Split('x').Select(int.Parse).ToArray();
        var gen = new RandomStream(1);
        var d = Device.Cpu;
        _x = Tensor.RandN(new Shape(dims), gen, d).KeepAlive();
        _g = Tensor.RandN(new Shape(dims), gen, d).KeepAlive();
        _gamma = Tensor.Ones(new Shape(dims[1]), d).KeepAlive();
        _beta = Tensor.Zeros(new Shape(dims[1]), d).KeepAlive();
        _rm = Tensor.Zeros(new Shape(dims[1]), d).KeepAlive();
        _rv = Tensor.Ones(new Shape(dims[1]), d).KeepAlive();
        _gamma.RequiresGrad = true;
        _beta.RequiresGrad = true;
        _x.RequiresGrad = true;
    }

    /// <summary>Forward (training statistics, running-stat update) then the fused backward for x, γ, β.</summary>
    [Benchmark]
    public float ForwardBackward()
    {
        using var scope = TensorScope.Begin();
        var y = _x.BatchNorm2d(_gamma, _beta, _rm, _rv, training: true);
        var grads = Autograd.Grad([y], [_x, _gamma, _beta], [_g]);
        return grads[1].HostSpanFirst();
    }

    /// <summary>Forward only.</summary>
    [Benchmark]
    public float Forward()
    {
        using var scope = TensorScope.Begin();
        using var _ = Autograd.NoGrad();
        var y = _x.BatchNorm2d(_gamma, _beta, _rm, _rv, training: true);
        return y.Size;
    }
}

/// <summary>
/// The ILGPU normalisation kernels on the CPU simulator (small shapes: it is slow), forward + backward:
/// 8×16×32×32 has 8,192 elements per channel, so its statistics are spread over chunks (partial, merge,
/// apply launches); 8×64×8×8 has 512 and runs the fused one-group-per-channel kernels. Same GB/s as above.
/// </summary>
[Config(typeof(Config))]
public class NormalizationIlgpuBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GBPerSecondColumn(c => 8.0 * 4 * GBPerSecondColumn.Size(c, nameof(Shape))));
    }

    private Tensor _x = null!, _g = null!, _gamma = null!, _beta = null!;
    private Device _device = null!;

    [Params("8x16x32x32", "8x64x8x8")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var dims = Shape.Split('x').Select(int.Parse).ToArray();
        var gen = new RandomStream(1);
        _device = Device.IlgpuCpu;
        _x = Tensor.RandN(new Shape(dims), gen, _device).KeepAlive();
        _g = Tensor.RandN(new Shape(dims), gen, _device).KeepAlive();
        _gamma = Tensor.Ones(new Shape(dims[1]), _device).KeepAlive();
        _beta = Tensor.Zeros(new Shape(dims[1]), _device).KeepAlive();
        _gamma.RequiresGrad = _beta.RequiresGrad = _x.RequiresGrad = true;
    }

    /// <summary>Training forward then the backward for x, γ, β; synchronised.</summary>
    [Benchmark]
    public int ForwardBackward()
    {
        using var scope = TensorScope.Begin();
        var y = _x.BatchNorm2d(_gamma, _beta, null, null, training: true);
        var grads = Autograd.Grad([y], [_x, _gamma, _beta], [_g]);
        _device.Synchronize();
        return grads[1].Size;
    }
}

internal static class TensorBenchExtensions
{
    /// <summary>Touches the result so the work cannot be skipped (host tensors only).</summary>
    public static float HostSpanFirst(this Tensor t) => t.ToArray()[0];
}
