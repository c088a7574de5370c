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

    public GpuGanEngine(ModelSpec spec, int seed, int threads, bool winograd = false)
    {
        _device = Device.CreateCpu(new CpuKernelOptions { Threads = threads, Conv = new ConvLoweringOptions { Winograd = winograd } });
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

/// <summary>
/// pix2pix64 / cyclegan64: TrainableModels.Create on GanSpec.Translation (ngf = ndf = 64, batch norm for pix2pix, instance
/// norm for CycleGAN) and one ITrainableModel.TrainStep per iteration as the Trainer calls it (inside a TensorScope, the
/// metrics written into a device-side table), here with the table read back every step (StepMetricsTable.RunOnce), as
/// the torch side reads its metrics every step. The learning rate is in the constant half of its schedule.
/// </summary>
internal sealed class GpuGanTranslationEngine : IEngine
{
    /// <summary>A run length far beyond any benchmark, so the schedule's linear decay never starts.</summary>
    public const long LongRun = 1L << 40;

    private readonly Tensor[] _real;   // pool of batches (N, 2C, S, S) in [-1, 1]
    private readonly RandomStream _noise;
    private readonly Device _device;
    private long _step;
    private int _next;

    public GpuGanTranslationEngine(ModelSpec spec, int seed, int threads, bool winograd = false)
    {
        _device = Device.CreateCpu(new CpuKernelOptions { Threads = threads, Conv = new ConvLoweringOptions { Winograd = winograd } });
        Model = TrainableModels.Create(GanSpecOf(spec), seed, _device);
        var data = new RandomStream(unchecked((ulong)seed + 1));
        _real = new Tensor[4];
        for (int i = 0; i < _real.Length; i++)
            _real[i] = Tensor.RandU(new Shape(spec.Batch, 2 * spec.Channels, spec.Size, spec.Size), data, _device, -1f, 1f).KeepAlive();
        _noise = new RandomStream(unchecked((ulong)seed + 2));
    }

    public static GanSpec GanSpecOf(ModelSpec spec) => GanSpec.Translation(
        spec.Kind switch
        {
            "pix2pix" => ModelFamily.Pix2pix,
            "cyclegan" => ModelFamily.Cyclegan,
            _ => throw new ArgumentException($"'{spec.Kind}' is not a translation family", nameof(spec)),
        },
        spec.Channels, new ImageShape(spec.Channels, spec.Size, spec.Size), ModelSpec.Width);

    public string Name => "GpuGan";

    public ITrainableModel Model { get; }

    public Device Device => _device;

    public void Step()
    {
        using var scope = TensorScope.Begin();
        var batch = _real[_next++ % _real.Length];
        long step = _step++;
        StepMetricsTable.RunOnce(_device, (table, row) => Model.TrainStep(() => (batch, []), _noise, new StepPosition(step, LongRun), table, row));
    }

    public void Dispose()
    {
        foreach (var t in _real) t.Dispose();
        _device.Dispose();
    }
}

internal static class GpuGanSide
{
    public static IEngine Create(ModelSpec spec, int seed, int threads, bool winograd = false)
    {
        return spec.IsTranslation ? new GpuGanTranslationEngine(spec, seed, threads, winograd) : new GpuGanEngine(spec, seed, threads, winograd);
    }
}
