// The TorchSharp side of the image-to-image comparison (pix2pix64, cyclegan64): the networks of
// src/Gan/Models/TranslationNetworks.cs rebuilt from TorchSharp modules the way
// junyanz/pytorch-CycleGAN-and-pix2pix's models/networks.py writes them, with the same module names
// ("model.model.1.model.1.weight", "model.10.conv_block.1.bias", …) so weights map by name, and the
// training steps of Pix2PixModel.TrainStep / CycleGanModel.TrainStep step by step:
//   pix2pix:  fake = G(A); D step on ½·[BCE(D(A, fake detached), 0) + BCE(D(A, B), 1)];
//             G step on BCE(D(A, fake), 1) + 100·|fake − B|₁ with D's parameters switched off.
//   CycleGAN: fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A);
//             G step (one Adam over G_A and G_B) on LSGAN real terms + 10·cycle + 5·identity, D's off;
//             D step (one Adam over D_A and D_B) on ½·[(D_A(B) − 1)² + D_A(pool_B(fake_B))²] + the same for D_B.
// As in the reference (and pytorch/examples), ReLU and LeakyReLU run in place. In the U-Net the
// in-place LeakyReLU at the top of each inner block also rewrites the skip tensor x before
// cat([x, model(x)]) reads it; the parent block applies ReLU to that concatenation next, and
// ReLU(LeakyReLU(x)) = ReLU(x) with the same gradient, so the arithmetic is the same as ours.
// The metrics our TrainStep writes (losses, mean D outputs, gradient norms, the L1 / cycle term) are
// computed as tensors and read back in one copy per step, as StepMetricsTable.RunOnce does.
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace GpuGan.Compare;

/// <summary>Dropout 0.5 (nn.Dropout); with a mask source (the verify mode) it multiplies by the supplied mask instead of drawing one.</summary>
internal sealed class TorchDropout : Module<Tensor, Tensor>
{
    private readonly Func<long[], Tensor>? _masks;

    public TorchDropout(Func<long[], Tensor>? masks) : base("Dropout")
    {
        _masks = masks;
    }

    public override Tensor forward(Tensor input)
    {
        if (!training) return input;
        return _masks is null ? F.dropout(input, 0.5, true) : input * _masks(input.shape);
    }
}

/// <summary>A module whose only child is the Sequential "model" (PatchGAN, ResNet generator).</summary>
internal sealed class TorchModelWrapper : Module<Tensor, Tensor>
{
    private readonly Sequential _model;

    public TorchModelWrapper(string name, Sequential model) : base(name)
    {
        _model = model;
        register_module("model", _model);
    }

    public override Tensor forward(Tensor input) => _model.forward(input);
}

/// <summary>The reference's UnetSkipConnectionBlock: child "model" = down, inner block, up; cat(x, model(x)) but at the outermost level.</summary>
internal sealed class TorchUnetBlock : Module<Tensor, Tensor>
{
    private readonly Sequential _model;
    private readonly bool _outermost;

    public TorchUnetBlock(int outer, int inner, int? input, TorchUnetBlock? submodule, bool outermost, bool innermost, bool dropout,
        Func<long[], Tensor>? masks) : base("UnetSkipConnectionBlock")
    {
        _outermost = outermost;
        // Batch norm: no conv biases, except the outermost up-convolution (no norm after it).
        var downConv = Conv2d(input ?? outer, inner, 4, stride: 2, padding: 1, bias: false);
        var layers = new List<Module<Tensor, Tensor>>();
        if (outermost)
        {
            layers.AddRange([downConv, submodule!, ReLU(inplace: true), ConvTranspose2d(inner * 2, outer, 4, stride: 2, padding: 1, bias: true), Tanh()]);
        }
        else if (innermost)
        {
            layers.AddRange([LeakyReLU(0.2, inplace: true), downConv, ReLU(inplace: true),
                ConvTranspose2d(inner, outer, 4, stride: 2, padding: 1, bias: false), BatchNorm2d(outer)]);
        }
        else
        {
            layers.AddRange([LeakyReLU(0.2, inplace: true), downConv, BatchNorm2d(inner), submodule!, ReLU(inplace: true),
                ConvTranspose2d(inner * 2, outer, 4, stride: 2, padding: 1, bias: false), BatchNorm2d(outer)]);
            if (dropout) layers.Add(new TorchDropout(masks));
        }
        _model = TorchTranslationNets.Seq(layers);
        register_module("model", _model);
    }

    public override Tensor forward(Tensor input) => _outermost ? _model.forward(input) : cat([input, _model.forward(input)], 1);
}

/// <summary>The reference's UnetGenerator: child "model" = the outermost block.</summary>
internal sealed class TorchUnetGenerator : Module<Tensor, Tensor>
{
    private readonly TorchUnetBlock _model;

    public TorchUnetGenerator(int inChannels, int outChannels, int downs, int ngf, Func<long[], Tensor>? masks) : base("UnetGenerator")
    {
        var block = new TorchUnetBlock(ngf * 8, ngf * 8, null, null, false, true, false, masks);
        for (int i = 0; i < downs - 5; i++) block = new TorchUnetBlock(ngf * 8, ngf * 8, null, block, false, false, true, masks);
        block = new TorchUnetBlock(ngf * 4, ngf * 8, null, block, false, false, false, masks);
        block = new TorchUnetBlock(ngf * 2, ngf * 4, null, block, false, false, false, masks);
        block = new TorchUnetBlock(ngf, ngf * 2, null, block, false, false, false, masks);
        _model = new TorchUnetBlock(outChannels, ngf, inChannels, block, true, false, false, masks);
        register_module("model", _model);
    }

    public override Tensor forward(Tensor input) => _model.forward(input);
}

/// <summary>The reference's ResnetBlock (instance norm, conv biases): x + conv_block(x).</summary>
internal sealed class TorchResnetBlock : Module<Tensor, Tensor>
{
    private readonly Sequential _convBlock;

    public TorchResnetBlock(int channels) : base("ResnetBlock")
    {
        _convBlock = TorchTranslationNets.Seq([
            ReflectionPad2d(1), Conv2d(channels, channels, 3, bias: true), TorchTranslationNets.Instance(channels), ReLU(inplace: true),
            ReflectionPad2d(1), Conv2d(channels, channels, 3, bias: true), TorchTranslationNets.Instance(channels),
        ]);
        register_module("conv_block", _convBlock);
    }

    public override Tensor forward(Tensor input) => input + _convBlock.forward(input);
}

internal static class TorchTranslationNets
{
    /// <summary>Four random batches (N, 2C, S, S) in [−1, 1], stacked A and B (the values do not change the work).</summary>
    public static Tensor[] RealPool(ModelSpec spec) =>
        Enumerable.Range(0, 4).Select(_ => (rand(spec.Batch, 2 * spec.Channels, spec.Size, spec.Size) * 2 - 1).DetachFromDisposeScope()).ToArray();

    public static Sequential Seq(IEnumerable<Module<Tensor, Tensor>> layers) =>
        Sequential(layers.Select((m, i) => ($"{i}", m)).ToList());

    /// <summary>InstanceNorm2d as the reference's norm_layer "instance": affine = False, track_running_stats = False.</summary>
    public static Module<Tensor, Tensor> Instance(int channels) => InstanceNorm2d(channels, affine: false, track_running_stats: false);

    /// <summary>The reference's ResnetGenerator with instance norm (convolutions with biases).</summary>
    public static Module<Tensor, Tensor> ResnetGenerator(int inChannels, int outChannels, int ngf, int blocks)
    {
        var m = new List<Module<Tensor, Tensor>> { ReflectionPad2d(3), Conv2d(inChannels, ngf, 7, bias: true), Instance(ngf), ReLU(inplace: true) };
        for (int i = 0; i < 2; i++)
        {
            int mult = 1 << i;
            m.AddRange([Conv2d(ngf * mult, ngf * mult * 2, 3, stride: 2, padding: 1, bias: true), Instance(ngf * mult * 2), ReLU(inplace: true)]);
        }
        for (int i = 0; i < blocks; i++) m.Add(new TorchResnetBlock(ngf * 4));
        for (int i = 0; i < 2; i++)
        {
            int mult = 4 >> i;
            m.AddRange([ConvTranspose2d(ngf * mult, ngf * mult / 2, 3, stride: 2, padding: 1, output_padding: 1, bias: true),
                Instance(ngf * mult / 2), ReLU(inplace: true)]);
        }
        m.AddRange([ReflectionPad2d(3), Conv2d(ngf, outChannels, 7, bias: true), Tanh()]);
        return new TorchModelWrapper("ResnetGenerator", Seq(m));
    }

    /// <summary>The reference's NLayerDiscriminator with <paramref name="layers"/> stride-2 layers; batch norm (no conv biases after it) or instance norm (biases).</summary>
    public static Module<Tensor, Tensor> PatchDiscriminator(int inChannels, int ndf, int layers, bool instanceNorm)
    {
        bool bias = instanceNorm;
        Module<Tensor, Tensor> Norm(int c) => instanceNorm ? Instance(c) : BatchNorm2d(c);
        var m = new List<Module<Tensor, Tensor>> { Conv2d(inChannels, ndf, 4, stride: 2, padding: 1, bias: true), LeakyReLU(0.2, inplace: true) };
        int mult = 1, prev;
        for (int n = 1; n < layers; n++)
        {
            prev = mult;
            mult = Math.Min(1 << n, 8);
            m.AddRange([Conv2d(ndf * prev, ndf * mult, 4, stride: 2, padding: 1, bias: bias), Norm(ndf * mult), LeakyReLU(0.2, inplace: true)]);
        }
        prev = mult;
        mult = Math.Min(1 << layers, 8);
        m.AddRange([Conv2d(ndf * prev, ndf * mult, 4, stride: 1, padding: 1, bias: bias), Norm(ndf * mult), LeakyReLU(0.2, inplace: true),
            Conv2d(ndf * mult, 1, 4, stride: 1, padding: 1, bias: true)]);
        return new TorchModelWrapper("NLayerDiscriminator", Seq(m));
    }

    /// <summary>The reference's init_weights("normal", 0.02): conv weights N(0, 0.02²), biases 0; batch-norm γ N(1, 0.02²), β 0.</summary>
    public static void InitNormal(Module module)
    {
        using var _ = no_grad();
        foreach (var m in module.modules())
        {
            switch (m)
            {
                case Conv2d c:
                    init.normal_(c.weight!, 0, 0.02);
                    if (c.bias is { } cb) init.zeros_(cb);
                    break;
                case ConvTranspose2d c:
                    init.normal_(c.weight!, 0, 0.02);
                    if (c.bias is { } tb) init.zeros_(tb);
                    break;
                case BatchNorm2d b:
                    init.normal_(b.weight!, 1, 0.02);
                    init.zeros_(b.bias!);
                    break;
            }
        }
    }

    /// <summary>√(Σ g²) over the parameters' gradients, as a tensor (ParameterOps.GradNormTensor).</summary>
    public static Tensor GradNorm(IEnumerable<Parameter> parameters)
    {
        using var _ = no_grad();
        var squares = parameters.Where(p => p.grad is not null).Select(p => p.grad!.square().sum()).ToArray();
        return stack(squares).sum().sqrt();
    }

    public static void SetRequiresGrad(bool on, params Module[] modules)
    {
        foreach (var m in modules)
            foreach (var p in m.parameters()) p.requires_grad = on;
    }

    /// <summary>Stacks one-element tensors and reads them back in one copy.</summary>
    public static float[] ReadBack(params Tensor[] scalars)
    {
        using var _ = no_grad();
        return stack(scalars.Select(s => s.detach().reshape(1)).ToArray()).reshape(-1).cpu().to(ScalarType.Float32).data<float>().ToArray();
    }
}

/// <summary>The reference's ImagePool (pool_size 50): fills first, then each new image is used with probability ½, else swapped for a stored one.</summary>
internal sealed class TorchImagePool : IDisposable
{
    private readonly int _capacity;
    private readonly List<Tensor> _images = [];
    private readonly Random _random;

    public TorchImagePool(int capacity, int seed)
    {
        _capacity = capacity;
        _random = new Random(seed);
    }

    public Tensor Query(Tensor images)
    {
        using var _ = no_grad();
        var picked = new List<Tensor>();
        for (int i = 0; i < images.shape[0]; i++)
        {
            var image = images.narrow(0, i, 1);
            if (_images.Count < _capacity)
            {
                _images.Add(image.clone().DetachFromDisposeScope());
                picked.Add(image);
            }
            else if (_random.NextDouble() > 0.5)
            {
                int slot = _random.Next(_capacity);
                picked.Add(_images[slot].clone());
                _images[slot].Dispose();
                _images[slot] = image.clone().DetachFromDisposeScope();
            }
            else picked.Add(image);
        }
        return cat(picked, 0);
    }

    public void Dispose()
    {
        foreach (var t in _images) t.Dispose();
    }
}

/// <summary>pix2pix in TorchSharp: U-Net G, PatchGAN D over (A, B), BCE with logits + 100·L1, Adam 2e-4 β (0.5, 0.999).</summary>
internal sealed class TorchPix2PixEngine : IEngine
{
    private readonly ModelSpec _spec;
    private readonly optim.Optimizer _optG, _optD;
    private readonly Tensor[] _real;
    private int _next;

    /// <param name="masks">Null: dropout draws its masks (training as the reference); else the verify mode's mask source.</param>
    /// <param name="dtype">Float64 for the verify mode's exact reference; the networks are converted before the optimisers take their parameters.</param>
    public TorchPix2PixEngine(ModelSpec spec, int seed, Func<long[], Tensor>? masks = null, ScalarType dtype = ScalarType.Float32)
    {
        _spec = spec;
        manual_seed(seed);
        int c = spec.Channels;
        G = new TorchUnetGenerator(c, c, GpuGan.Gan.Models.TranslationNetworks.UnetDowns(spec.Size), ModelSpec.Width, masks);
        D = TorchTranslationNets.PatchDiscriminator(2 * c, ModelSpec.Width, GpuGan.Gan.Models.TranslationNetworks.PatchLayers(spec.Size), instanceNorm: false);
        TorchTranslationNets.InitNormal(G);
        TorchTranslationNets.InitNormal(D);
        G.train();
        D.train();
        G.to(dtype);
        D.to(dtype);
        _optG = optim.Adam(G.parameters(), lr: 2e-4, beta1: 0.5, beta2: 0.999);
        _optD = optim.Adam(D.parameters(), lr: 2e-4, beta1: 0.5, beta2: 0.999);
        _real = TorchTranslationNets.RealPool(spec);
    }

    public string Name => "TorchSharp";

    public Module<Tensor, Tensor> G { get; }
    public Module<Tensor, Tensor> D { get; }

    public void Step() => StepOn(_real[_next++ % _real.Length]);

    /// <summary>One step on a batch of pairs (N, 2C, S, S); returns d_loss, g_loss, D(real), D(fake), |∇D|, |∇G|, L1.</summary>
    public float[] StepOn(Tensor pairs)
    {
        using var scope = NewDisposeScope();
        int c = _spec.Channels;
        var realA = pairs.narrow(1, 0, c);
        var realB = pairs.narrow(1, c, c);
        var fake = G.forward(realA);

        _optD.zero_grad();
        var fakeScores = D.forward(cat([realA, fake.detach()], 1));
        var realScores = D.forward(pairs);
        var lossD = (F.binary_cross_entropy_with_logits(fakeScores, zeros_like(fakeScores))
                     + F.binary_cross_entropy_with_logits(realScores, ones_like(realScores))) * 0.5;
        lossD.backward();
        var normD = TorchTranslationNets.GradNorm(D.parameters());
        _optD.step();

        TorchTranslationNets.SetRequiresGrad(false, D);
        _optG.zero_grad();
        var scoresG = D.forward(cat([realA, fake], 1));
        var l1 = F.l1_loss(fake, realB);
        var lossG = F.binary_cross_entropy_with_logits(scoresG, ones_like(scoresG)) + l1 * 100;
        lossG.backward();
        TorchTranslationNets.SetRequiresGrad(true, D);
        var normG = TorchTranslationNets.GradNorm(G.parameters());
        _optG.step();

        using (no_grad())
            return TorchTranslationNets.ReadBack(lossD, lossG, realScores.sigmoid().mean(), fakeScores.sigmoid().mean(), normD, normG, l1);
    }

    public void Dispose()
    {
        G.Dispose();
        D.Dispose();
        foreach (var t in _real) t.Dispose();
    }
}

/// <summary>CycleGAN in TorchSharp: ResNet G_A, G_B, PatchGAN D_A, D_B (instance norm), LSGAN + 10·cycle + 5·identity, pools of 50.</summary>
internal sealed class TorchCycleGanEngine : IEngine
{
    private readonly ModelSpec _spec;
    private readonly optim.Optimizer _optG, _optD;
    private readonly TorchImagePool _poolA, _poolB;
    private readonly Tensor[] _real;
    private int _next;

    /// <param name="dtype">Float64 for the verify mode's exact reference; the networks are converted before the optimisers take their parameters.</param>
    public TorchCycleGanEngine(ModelSpec spec, int seed, ScalarType dtype = ScalarType.Float32)
    {
        _spec = spec;
        manual_seed(seed);
        int c = spec.Channels, blocks = GpuGan.Gan.Models.TranslationNetworks.ResnetBlocks(spec.Size), layers = GpuGan.Gan.Models.TranslationNetworks.PatchLayers(spec.Size);
        GA = TorchTranslationNets.ResnetGenerator(c, c, ModelSpec.Width, blocks);
        GB = TorchTranslationNets.ResnetGenerator(c, c, ModelSpec.Width, blocks);
        DA = TorchTranslationNets.PatchDiscriminator(c, ModelSpec.Width, layers, instanceNorm: true);
        DB = TorchTranslationNets.PatchDiscriminator(c, ModelSpec.Width, layers, instanceNorm: true);
        foreach (var m in new[] { GA, GB, DA, DB })
        {
            TorchTranslationNets.InitNormal(m);
            m.train();
            m.to(dtype);
        }
        _optG = optim.Adam(GA.parameters().Concat(GB.parameters()), lr: 2e-4, beta1: 0.5, beta2: 0.999);
        _optD = optim.Adam(DA.parameters().Concat(DB.parameters()), lr: 2e-4, beta1: 0.5, beta2: 0.999);
        _poolA = new TorchImagePool(50, seed + 1);
        _poolB = new TorchImagePool(50, seed + 2);
        _real = TorchTranslationNets.RealPool(spec);
    }

    public string Name => "TorchSharp";

    public Module<Tensor, Tensor> GA { get; }
    public Module<Tensor, Tensor> GB { get; }
    public Module<Tensor, Tensor> DA { get; }
    public Module<Tensor, Tensor> DB { get; }

    public void Step() => StepOn(_real[_next++ % _real.Length]);

    /// <summary>One step on a batch (N, 2C, S, S) of A and B; returns d_loss, g_loss, D(real), D(fake), |∇D|, |∇G|, cycle L1.</summary>
    public float[] StepOn(Tensor batch)
    {
        using var scope = NewDisposeScope();
        int c = _spec.Channels;
        var realA = batch.narrow(1, 0, c);
        var realB = batch.narrow(1, c, c);

        var fakeB = GA.forward(realA);
        var recA = GB.forward(fakeB);
        var fakeA = GB.forward(realB);
        var recB = GA.forward(fakeA);
        TorchTranslationNets.SetRequiresGrad(false, DA, DB);
        _optG.zero_grad();
        var cycleA = F.l1_loss(recA, realA);
        var cycleB = F.l1_loss(recB, realB);
        var scoresA = DA.forward(fakeB);
        var scoresB = DB.forward(fakeA);
        var lossG = F.mse_loss(scoresA, ones_like(scoresA)) + F.mse_loss(scoresB, ones_like(scoresB)) + (cycleA + cycleB) * 10;
        var identity = F.l1_loss(GA.forward(realB), realB) + F.l1_loss(GB.forward(realA), realA);
        lossG = lossG + identity * 5;
        lossG.backward();
        var normG = TorchTranslationNets.GradNorm(GA.parameters().Concat(GB.parameters()));
        _optG.step();
        TorchTranslationNets.SetRequiresGrad(true, DA, DB);

        _optD.zero_grad();
        var realScoresA = DA.forward(realB);
        var fakeScoresA = DA.forward(_poolB.Query(fakeB.detach()));
        var realScoresB = DB.forward(realA);
        var fakeScoresB = DB.forward(_poolA.Query(fakeA.detach()));
        var lossD = (F.mse_loss(realScoresA, ones_like(realScoresA)) + F.mse_loss(fakeScoresA, zeros_like(fakeScoresA))) * 0.5
                    + (F.mse_loss(realScoresB, ones_like(realScoresB)) + F.mse_loss(fakeScoresB, zeros_like(fakeScoresB))) * 0.5;
        lossD.backward();
        var normD = TorchTranslationNets.GradNorm(DA.parameters().Concat(DB.parameters()));
        _optD.step();

        using (no_grad())
            return TorchTranslationNets.ReadBack(lossD, lossG, (realScoresA.mean() + realScoresB.mean()) * 0.5,
                (fakeScoresA.mean() + fakeScoresB.mean()) * 0.5, normD, normG, (cycleA + cycleB) * 0.5);
    }

    public void Dispose()
    {
        foreach (var m in new[] { GA, GB, DA, DB }) m.Dispose();
        _poolA.Dispose();
        _poolB.Dispose();
        foreach (var t in _real) t.Dispose();
    }
}
