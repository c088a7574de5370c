// The loss family (src/Tensors/Ops/Losses.cs) in GB/s: BCE-with-logits over a logit batch against
// soft targets (reads logits and targets: 8 bytes per element; the mean's output is one float),
// and against a scalar label as the GAN objectives use it (4 bytes per element). SIMD set at the
// DCGAN activation size; ILGPU on its CPU simulator only at a small size. The fused WGAN-GP penalty reads
// the gradients once forward (4 bytes per element, rows = the first dimension), and with its gradient once
// more and writes the result (16 bytes per element in all). Its interpolates read two tensors and write one (12 bytes
// per element); the joint Wasserstein critic loss reads the batch flattened as one score per element (4 bytes).
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
            (c.Descriptor.WorkloadMethod.Name switch { nameof(BceWithLogits) => 8.0, nameof(GradientPenaltyWithGradient) => 16.0, nameof(Interpolate) => 12.0, _ => 4.0 })
            * ((ElementwiseBenchmarks.Case)c.Parameters[nameof(Setting)]).Dims.Aggregate(1, (a, b) => a * b)));
    }

    public static IEnumerable<ElementwiseBenchmarks.Case> Settings() => ReductionBenchmarks.Settings();

    [ParamsSource(nameof(Settings))]
    public ElementwiseBenchmarks.Case Setting { get; set; } = null!;

    private Tensor _x = null!, _targets = null!, _g = null!, _alpha = null!, _flat = null!;
    private Device _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Setting.Device == "cpu" ? DeviceKind.Cpu : DeviceKind.IlgpuCpu);
        var gen = new RandomStream(3);
        _x = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
        _targets = Tensor.RandU(new Shape(Setting.Dims), gen, _device).KeepAlive();
        _g = Tensor.RandN(new Shape(Setting.Dims), gen, _device).KeepAlive();
        _g.RequiresGrad = true;
        _alpha = Tensor.RandU(new Shape(Setting.Dims[0]), gen, _device).KeepAlive();
        _flat = _x.Reshape(_x.Size).KeepAlive();
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
    [Benchmark] public float GradientPenalty() => Run(() => { using var _ = Autograd.NoGrad(); return Losses.GradientPenalty(_g, 10f, 1e-12f); });
    [Benchmark] public float Interpolate() => Run(() => Losses.Interpolate(_x, _targets, _alpha));
    [Benchmark] public float WassersteinCritic() => Run(() => Losses.WassersteinCritic(_flat, _flat.Size / 2, out _, out _));
    [Benchmark] public float GradientPenaltyWithGradient() => Run(() => Autograd.Grad([Losses.GradientPenalty(_g, 10f, 1e-12f)], [_g])[0]);
}
