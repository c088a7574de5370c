// The one file of the kit that knows the GAN API: it builds a model of a spec on a device and runs
// one training iteration (GanModel.TrainStep: for DCGAN a D step and a G step; for WGAN-GP five
// critic steps with the gradient penalty and one G step). When the GAN API changes, only this file
// changes with it.
//
// Real batches are a pool of four random (N, C, H, W) tensors in [−1, 1] made on the device once,
// as bench/GpuGan.Compare does: the iteration's work does not depend on the values, and the upload
// of a batch is the data loader's cost, not the step's.
using System.Globalization;
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Tensors;

namespace GpuGan.GpuCheck;

internal sealed class GanAdapter : IDisposable
{
    private readonly GanModel _model;
    private readonly Tensor[] _real;
    private readonly RandomStream _noise;
    private int _next;

    private GanAdapter(GanModel model, Tensor[] real, RandomStream noise)
    {
        _model = model;
        _real = real;
        _noise = noise;
    }

    /// <summary>Builds the model of <paramref name="spec"/> at <paramref name="scale"/> with the canonical settings of its kind.</summary>
    public static GanAdapter Create(ModelSpec spec, Scale scale, Device device, int seed)
    {
        var model = GanModel.Create(spec.Kind, spec.Channels, spec.Size, spec.Size, classCount: 0,
            latentDim: scale.Nz, featureWidth: scale.Width, lr: null, seed: seed, device);
        var data = new RandomStream(unchecked((ulong)seed + 1));
        var real = new Tensor[4];
        for (int i = 0; i < real.Length; i++)
            real[i] = Tensor.RandU(new Shape(scale.Batch, spec.Channels, spec.Size, spec.Size), data, device, -1f, 1f).KeepAlive();
        return new GanAdapter(model, real, new RandomStream(unchecked((ulong)seed + 2)));
    }

    /// <summary>One training iteration, its temporaries released at the end. Asynchronous where the model is.</summary>
    public void Step()
    {
        using var scope = TensorScope.Begin();
        _model.TrainStep(() => (_real[_next++ % _real.Length], []), _noise);
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
                case Sequential or MainNet: break;
                default: seq.Add(m.GetType().Name); break;
            }
        }
        return seq;
    }

    public void Dispose()
    {
        foreach (var t in _real) t.Dispose();
    }
}
