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

    public Sequential G => _g;
    public Sequential D => _d;
    public optim.Optimizer OptG => _optG;
    public optim.Optimizer OptD => _optD;

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

    // GanModel.TrainStep for dcgan (pytorch/examples' iteration): one G forward serves both steps.
    // D step: BCE(D(x), 1) + BCE(D(G(z).detach()), 0), one backward; the D(x) and D(G(z)) means and
    // D's gradient norm are read back as GanModel does for its metrics. G step: BCE(D(G(z)), 1),
    // gradients for G's parameters only (D's are switched off, as GanModel asks autograd for G's only).
    private void DcganStep()
    {
        using var scope = NewDisposeScope();
        var real = NextReal();
        var z = randn(_spec.Batch, _spec.LatentDim, 1, 1);
        var fakeForG = _g.forward(z);
        var fake = fakeForG.detach();
        _optD.zero_grad();
        var outReal = _d.forward(real).view(-1);
        var outFake = _d.forward(fake).view(-1);
        var loss = F.binary_cross_entropy_with_logits(outReal, _ones) + F.binary_cross_entropy_with_logits(outFake, _zeros);
        using (no_grad())
        {
            _ = outReal.sigmoid().mean().item<float>();
            _ = outFake.sigmoid().mean().item<float>();
        }
        loss.backward();
        _ = loss.item<float>();
        _ = GradNorm(_d);
        _optD.step();

        GeneratorStep(fakeForG, isWasserstein: false);
    }

    // GanModel.TrainStep for wgan-gp (Gulrajani et al. 2017, Algorithm 1): 5 critic steps, each with a
    // fresh real batch and G(z) under no_grad, loss D(G(z)) − D(x) + λ·mean((‖∇x̂ D(x̂)‖ − 1)²) at
    // x̂ = αx + (1 − α)G(z), α ~ U[0, 1] per sample, λ = 10; then one G step on fresh noise.
    private void WganGpStep()
    {
        const double lambda = 10, normEpsilon = 1e-12;
        int n = _spec.Batch;
        for (int k = 0; k < 5; k++)
        {
            using var scope = NewDisposeScope();
            var real = NextReal();
            var z = randn(n, _spec.LatentDim, 1, 1);
            Tensor fake;
            using (no_grad())
                fake = _g.forward(z);
            _optD.zero_grad();
            var meanReal = _d.forward(real).view(-1).mean();
            var meanFake = _d.forward(fake).view(-1).mean();
            var loss = meanFake - meanReal;
            _ = meanReal.item<float>();
            _ = meanFake.item<float>();

            var alpha = rand(n, 1, 1, 1);
            Tensor mixed;
            using (no_grad())
                mixed = real * alpha + fake * (1 - alpha);
            mixed.requires_grad_(true);
            var score = _d.forward(mixed).view(-1);
            var grad = autograd.grad([score], [mixed], [ones_like(score)], retain_graph: true, create_graph: true)[0];
            var norm = (grad.square().sum([1, 2, 3]) + normEpsilon).sqrt();
            var penalty = (norm - 1).square().mean() * lambda;
            _ = penalty.item<float>();
            loss = loss + penalty;
            loss.backward();
            _ = loss.item<float>();
            _ = GradNorm(_d);
            _optD.step();
        }
        {
            using var scope = NewDisposeScope();
            var fakeForG = _g.forward(randn(n, _spec.LatentDim, 1, 1));
            GeneratorStep(fakeForG, isWasserstein: true);
        }
    }

    private void GeneratorStep(Tensor fakeForG, bool isWasserstein)
    {
        _optG.zero_grad();
        foreach (var p in _d.parameters()) p.requires_grad = false;
        var outG = _d.forward(fakeForG).view(-1);
        var lossG = isWasserstein ? -outG.mean() : F.binary_cross_entropy_with_logits(outG, _ones);
        lossG.backward();
        foreach (var p in _d.parameters()) p.requires_grad = true;
        _ = GradNorm(_g);
        _optG.step();
        _ = lossG.item<float>();
    }

    private static double GradNorm(Module m)
    {
        using var _ = no_grad();
        double sum = 0;
        foreach (var p in m.parameters())
            if (p.grad is { } g) sum += g.square().sum().item<float>();
        return Math.Sqrt(sum);
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
