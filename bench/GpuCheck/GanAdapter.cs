// The one file of the kit that knows the GAN API: it builds a model of a spec on a device and runs
// one training iteration (GanModel.TrainStep: for DCGAN a D step and a G step; for WGAN-GP five
// critic steps with the gradient penalty and one G step). When the GAN API changes, only this file
// changes with it.
//
// Real batches come from a pool of four random (N, C, H, W) host arrays in [−1, 1] (the work does
// not depend on the values) and are uploaded when the step asks for them, from pageable memory, as
// the Trainer does with Tensor.FromArray; torch_check.py does the same with .to(device), as
// pytorch/examples does.
using System.Globalization;
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Tensors;

namespace GpuGan.GpuCheck;

internal sealed class GanAdapter : IDisposable
{
    private readonly GanModel _model;
    private readonly float[][] _real;   // host pool, each (N, C, H, W) row-major
    private readonly Shape _realShape;
    private readonly Device _device;
    private readonly RandomStream _noise;
    private readonly Tensor _metrics;   // (1, 8) on the device: each iteration's metrics row, never read back
    private int _next;

    private GanAdapter(GanModel model, float[][] real, Shape realShape, Device device, RandomStream noise)
    {
        _model = model;
        _real = real;
        _realShape = realShape;
        _device = device;
        _noise = noise;
        _metrics = model.CreateMetricsTable(1);
    }

    /// <summary>Builds the model of <paramref name="spec"/> at <paramref name="scale"/> with the canonical settings of its family.</summary>
    public static GanAdapter Create(ModelSpec spec, Scale scale, Device device, int seed)
    {
        var family = spec.Kind switch
        {
            "dcgan" => ModelFamily.Dcgan,
            "wgan-gp" => ModelFamily.WganGp,
            _ => throw new ArgumentException($"models.json: no GpuGan model family for kind '{spec.Kind}' (dcgan, wgan-gp)"),
        };
        var architecture = GanSpec.Canonical(family, new ImageShape(spec.Channels, spec.Size, spec.Size), scale.Nz, scale.Width, classCount: 0);
        var model = GanModel.Create(architecture, seed, device);
        var data = new RandomStream(unchecked((ulong)seed + 1));
        var shape = new Shape(scale.Batch, spec.Channels, spec.Size, spec.Size);
        var real = new float[4][];
        for (int i = 0; i < real.Length; i++)
        {
            real[i] = new float[shape.Size];
            data.FillUniform(real[i], -1f, 1f);
        }
        return new GanAdapter(model, real, shape, device, new RandomStream(unchecked((ulong)seed + 2)));
    }

    /// <summary>
    /// One training iteration (uploads included), its temporaries released at the end, as gpugan train runs it
    /// between two metric read-backs: the metrics stay in a device table and nothing is read back, so the
    /// iteration is asynchronous where the model is (time it with a synchronisation after it).
    /// </summary>
    public void Step()
    {
        using var scope = TensorScope.Begin();
        _model.TrainStep(() => (Tensor.FromArray(_real[_next++ % _real.Length], _realShape, _device), []), _noise, _metrics, 0);
    }

    /// <summary>The generator's layers in the notation of <see cref="LayerPlan.ExpectedSequence"/>.</summary>
    public List<string> GeneratorLayers() => Describe(_model.G);

    /// <summary>The discriminator's layers in the notation of <see cref="LayerPlan.ExpectedSequence"/>.</summary>
    public List<string> DiscriminatorLayers() => Describe(_model.D);

    /// <summary>The two optimisers as "adam lr β1 β2 eps" (or the type name when not Adam).</summary>
    public (string G, string D) Optimizers() => (DescribeOptimizer(_model.OptG), DescribeOptimizer(_model.OptD));

    public static string DescribeOptimizer(OptimizerSpec s) => string.Create(CultureInfo.InvariantCulture,
        $"{s.Name} lr {s.Lr:G6} beta1 {s.Beta1:G6} beta2 {s.Beta2:G6} eps {s.Eps:G6}");

    private static string DescribeOptimizer(Optimizer o) => o is Adam a
        ? DescribeOptimizer(new OptimizerSpec("adam", (double)(decimal)a.LearningRate, a.Beta1, a.Beta2, a.Eps))
        : o.GetType().Name;

    private static List<string> Describe(Module network)
    {
        var seq = new List<string>();
        foreach (var m in network.Modules())
        {
            switch (m)
            {
                case ConvTranspose2d c:
                    seq.Add(string.Create(CultureInfo.InvariantCulture,
                        $"ConvT({c.InChannels},{c.OutChannels},k{c.KernelSize},s{c.Stride},p{c.Padding}){(c.Bias is null ? "" : "+bias")}"));
                    break;
                case Conv2d c:
                    seq.Add(string.Create(CultureInfo.InvariantCulture,
                        $"Conv({c.InChannels},{c.OutChannels},k{c.KernelSize},s{c.Stride},p{c.Padding}){(c.Bias is null ? "" : "+bias")}"));
                    break;
                case BatchNorm2d b: seq.Add(string.Create(CultureInfo.InvariantCulture, $"BN({b.NumFeatures})")); break;
                case ReLU: seq.Add("ReLU"); break;
                case LeakyReLU l: seq.Add(string.Create(CultureInfo.InvariantCulture, $"LeakyReLU({l.NegativeSlope:G6})")); break;
                case Tanh: seq.Add("Tanh"); break;
                case Sequential or Generator or Discriminator: break;
                default: seq.Add(m.GetType().Name); break;
            }
        }
        return seq;
    }

    /// <summary>Releases the metrics table.</summary>
    public void Dispose() => _metrics.Dispose();
}
