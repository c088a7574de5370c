// The GpuGan side: GanModel.Create with the canonical settings of the kind on a host device (the
// SIMD kernel set) with the requested thread count, and GanModel.TrainStep as the iteration, each
// inside its own TensorScope.
using GpuGan.Gan.Models;
using GpuGan.Tensors;

namespace GpuGan.Compare;

internal sealed class GpuGanEngine : IEngine
{
    private readonly GanModel _model;
    private readonly Tensor[] _real;   // pool of "real" batches (N, C, H, W) in [-1, 1]
    private readonly RandomStream _noise;
    private int _next;

    private readonly Device _device;

    public GpuGanEngine(ModelSpec spec, int seed, int threads)
    {
        _device = Device.CreateCpu(new CpuKernelOptions { Threads = threads });
        var family = spec.Kind switch
        {
            "dcgan" => ModelFamily.Dcgan,
            "wgan-gp" => ModelFamily.WganGp,
            _ => throw new ArgumentException($"no GpuGan model family for '{spec.Kind}'", nameof(spec)),
        };
        var architecture = GanSpec.Canonical(family, new ImageShape(spec.Channels, spec.Size, spec.Size), spec.LatentDim, ModelSpec.Width, classCount: 0);
        _model = GanModel.Create(architecture, seed, _device);
        var data = new RandomStream(unchecked((ulong)seed + 1));
        _real = new Tensor[4];
        for (int i = 0; i < _real.Length; i++)
            _real[i] = Tensor.RandU(new Shape(spec.Batch, spec.Channels, spec.Size, spec.Size), data, _device, -1f, 1f).KeepAlive();
        _noise = new RandomStream(unchecked((ulong)seed + 2));
    }

    public string Name => "GpuGan";

    public GanModel Model => _model;

    public void Step()
    {
        using var scope = TensorScope.Begin();
        _model.TrainStep(() => (_real[_next++ % _real.Length], []), _noise);
    }

    public void Dispose()
    {
        foreach (var t in _real) t.Dispose();
        _device.Dispose();
    }
}

internal static class GpuGanSide
{
    public static IEngine Create(ModelSpec spec, int seed, int threads)
    {
        return new GpuGanEngine(spec, seed, threads);
    }
}
