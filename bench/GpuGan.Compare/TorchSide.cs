// The TorchSharp side of the comparison: the same networks, initialisation, losses and iteration as
// GpuGan.Gan.Models (Networks.cs, GanModel.cs), written the way pytorch/examples' dcgan/main.py and
// the WGAN-GP paper's reference code are. Each iteration runs inside a DisposeScope so tensors are
// freed deterministically (TorchSharp's idiom; otherwise the .NET GC decides when libtorch memory goes).
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace GpuGan.Compare;

internal sealed class TorchEngine : IEngine
{
    private readonly ModelSpec _spec;
    private readonly Sequential _g, _d;
    private readonly optim.Optimizer _optG, _optD;
    private readonly Tensor[] _real;   // pool of "real" batches (N, C, H, W) in [-1, 1]
    private readonly Tensor _ones, _zeros;
    private int _next;

    public TorchEngine(ModelSpec spec, int seed)
    {
        _spec = spec;
        manual_seed(seed);
        _g = BuildGenerator(spec);
        _d = BuildDiscriminator(spec);
        DcganInit(_g);
        DcganInit(_d);
        _g.train();
        _d.train();
        if (spec.Kind == "wgan-gp")
        {
            _optG = optim.Adam(_g.parameters(), lr: 1e-4, beta1: 0.5, beta2: 0.9);
            _optD = optim.Adam(_d.parameters(), lr: 1e-4, beta1: 0.5, beta2: 0.9);
        }
        else
        {
            _optG = optim.Adam(_g.parameters(), lr: 2e-4, beta1: 0.5, beta2: 0.999);
            _optD = optim.Adam(_d.parameters(), lr: 2e-4, beta1: 0.5, beta2: 0.999);
        }
        _real = new Tensor[4];
        for (int i = 0; i < _real.Length; i++)
            _real[i] = (rand(spec.Batch, spec.Channels, spec.Size, spec.Size) * 2 - 1).DetachFromDisposeScope();
        _ones = ones(spec.Batch);
        _zeros = zeros(spec.Batch);
    }

    public string Name => "TorchSharp";

    public static void SetThreads(int threads)
    {
        set_num_threads(threads);
    }

    public static string Version => $"TorchSharp {typeof(torch).Assembly.GetName().Version} (libtorch {__version__})";

    private Tensor NextReal() => _real[_next++ % _real.Length];

    public void Step()
    {
        if (_spec.Kind == "wgan-gp") WganGpStep();
        else DcganStep();
    }

    // pytorch/examples dcgan: D on real, D on G(z).detach(), D step; then D on the same fake for G's loss.
    private void DcganStep()
    {
        using var scope = NewDisposeScope();
        var real = NextReal();
        _optD.zero_grad();
        var errReal = F.binary_cross_entropy_with_logits(_d.forward(real).view(-1), _ones);
        errReal.backward();
        var z = randn(_spec.Batch, _spec.LatentDim, 1, 1);
        var fake = _g.forward(z);
        var errFake = F.binary_cross_entropy_with_logits(_d.forward(fake.detach()).view(-1), _zeros);
        errFake.backward();
        _optD.step();

        _optG.zero_grad();
        var errG = F.binary_cross_entropy_with_logits(_d.forward(fake).view(-1), _ones);
        errG.backward();
        _optG.step();
    }

    // WGAN-GP (Gulrajani et al. 2017, Algorithm 1): 5 critic steps with the gradient penalty at
    // x̂ = αx + (1 − α)G(z), α per sample, λ = 10; then one generator step.
    private void WganGpStep()
    {
        const double lambda = 10;
        int n = _spec.Batch;
        for (int k = 0; k < 5; k++)
        {
            using var scope = NewDisposeScope();
            var real = NextReal();
            Tensor fake;
            using (no_grad())
                fake = _g.forward(randn(n, _spec.LatentDim, 1, 1));
            _optD.zero_grad();
            var dReal = _d.forward(real).mean();
            var dFake = _d.forward(fake).mean();
            var alpha = rand(n, 1, 1, 1);
            var xHat = (alpha * real + (1 - alpha) * fake).requires_grad_(true);
            var dHat = _d.forward(xHat);
            var grad = autograd.grad([dHat], [xHat], [ones_like(dHat)], retain_graph: true, create_graph: true)[0];
            var gp = (grad.view(n, -1).norm(1, false, 2) - 1).pow(2).mean();
            var loss = dFake - dReal + lambda * gp;
            loss.backward();
            _optD.step();
        }
        {
            using var scope = NewDisposeScope();
            _optG.zero_grad();
            var fake = _g.forward(randn(n, _spec.LatentDim, 1, 1));
            var lossG = -_d.forward(fake).mean();
            lossG.backward();
            _optG.step();
        }
    }

    private static Sequential BuildGenerator(ModelSpec s)
    {
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        int i = 0;
        void Add(Module<Tensor, Tensor> m) => layers.Add(($"{i++}", m));
        foreach (var l in s.Generator)
        {
            Add(ConvTranspose2d(l.In, l.Out, l.Kernel, l.Stride, l.Padding, bias: false));
            if (l.Norm) Add(BatchNorm2d(l.Out));
            Add(l.Act switch
            {
                Act.Relu => ReLU(inplace: true),
                Act.Tanh => Tanh(),
                _ => throw new InvalidOperationException($"generator activation {l.Act}"),
            });
        }
        return Sequential(layers);
    }

    private static Sequential BuildDiscriminator(ModelSpec s)
    {
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        int i = 0;
        void Add(Module<Tensor, Tensor> m) => layers.Add(($"{i++}", m));
        foreach (var l in s.Discriminator)
        {
            Add(Conv2d(l.In, l.Out, l.Kernel, l.Stride, l.Padding, bias: false));
            if (l.Norm) Add(BatchNorm2d(l.Out));
            if (l.Act == Act.Leaky) Add(LeakyReLU(0.2, inplace: true));
            else if (l.Act != Act.None) throw new InvalidOperationException($"discriminator activation {l.Act}");
        }
        return Sequential(layers);
    }

    // DCGAN init (Radford et al.): conv weights N(0, 0.02); BN weight N(1, 0.02), bias 0.
    private static void DcganInit(Module module)
    {
        using var _ = no_grad();
        foreach (var m in module.modules())
        {
            switch (m)
            {
                case Conv2d c: init.normal_(c.weight!, 0, 0.02); break;
                case ConvTranspose2d c: init.normal_(c.weight!, 0, 0.02); break;
                case BatchNorm2d b: init.normal_(b.weight!, 1, 0.02); init.zeros_(b.bias!); break;
            }
        }
    }

    public void Dispose()
    {
        _g.Dispose();
        _d.Dispose();
        foreach (var t in _real) t.Dispose();
        _ones.Dispose();
        _zeros.Dispose();
    }
}
