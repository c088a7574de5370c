// The adversarial autoencoder (Makhzani et al. 2016), with a deterministic encoder (the paper's first
// option): codes z = E(x) are pushed towards a prior p(z) by a discriminator on codes, and D(z) → x
// reconstructs. Module names follow eriklindernoren/PyTorch-GAN's aae.py where the designs agree
// ("encoder.model.0.weight", "encoder.mu.weight", "decoder.model.…", "discriminator.model.…"):
//   encoder        x (N, C·H·W) → Linear w → LeakyReLU 0.2 → Linear w → LeakyReLU 0.2 → mu: Linear → z (N, d)
//   decoder        z → Linear w → LeakyReLU 0.2 → Linear w → LeakyReLU 0.2 → Linear C·H·W → Tanh
//   discriminator  z → Linear w → LeakyReLU 0.2 → Linear w/2 → LeakyReLU 0.2 → Linear 1 (a logit)
// One step is the paper's two phases on one batch:
//   reconstruction:  minimise |dec(enc(x)) − x|² over encoder and decoder (one Adam)
//   regularisation:  D: minimise BCE(D(z_p), 1) + BCE(D(enc(x)), 0), z_p ~ p(z) (one Adam);
//                    then the encoder as a generator: minimise BCE(D(enc(x)), 1) (its own Adam)
// Adam 2e-4, β (0.5, 0.999) (the PyTorch-GAN settings). Priors: N(0, I), or 10 equally likely
// Gaussians with means on a circle of radius 2 in the first two code dimensions (std 0.5 there,
// N(0, 1) in the others). Sampling decodes prior draws.
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>The AAE's encoder: images (N, C, H, W) → codes (N, d).</summary>
public sealed class AaeEncoder : Module
{
    /// <summary>An MLP of two hidden layers of <paramref name="width"/> and a linear code layer of <paramref name="latentDim"/>.</summary>
    public AaeEncoder(int features, int width, int latentDim, RandomStream gen)
    {
        Model = RegisterModule("model", new Sequential(new Linear(features, width, gen: gen), new LeakyReLU(0.2f), new Linear(width, width, gen: gen), new LeakyReLU(0.2f)));
        Mu = RegisterModule("mu", new Linear(width, latentDim, gen: gen));
    }

    /// <summary>The hidden layers.</summary>
    public Sequential Model { get; }

    /// <summary>The code layer.</summary>
    public Linear Mu { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Mu.Forward(Model.Forward(input.Reshape(input.Shape[0], -1)));
}

/// <summary>The AAE's decoder as a generator of the prior's codes: (N, d) → (N, C, H, W).</summary>
public sealed class AaeDecoder : Generator
{
    /// <summary>An MLP of two hidden layers of the record's generator width, Tanh output.</summary>
    public AaeDecoder(GanSpec spec, RandomStream gen) : base(spec)
    {
        int w = spec.GeneratorWidth;
        Model = RegisterModule("model", new Sequential(new Linear(spec.LatentDim, w, gen: gen), new LeakyReLU(0.2f), new Linear(w, w, gen: gen), new LeakyReLU(0.2f),
            new Linear(w, spec.Image.Length, gen: gen), new Tanh()));
    }

    /// <summary>The layer stack, registered as "model" (PyTorch-GAN's name).</summary>
    public Sequential Model { get; }

    /// <inheritdoc/>
    public override Sequential Main => Model;

    /// <inheritdoc/>
    public override Shape LatentShape(int n) => new(n, Spec.LatentDim);

    /// <summary>Draws from the code prior of the architecture record.</summary>
    public override Tensor SampleLatent(int n, RandomStream stream, Device device) => AaeModel.SamplePrior(Spec, n, stream, device);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor z) => Model.Forward(z);

    /// <inheritdoc/>
    public override Tensor Generate(Tensor z, int[]? labels) => Forward(z).Reshape(z.Shape[0], Spec.Image.Channels, Spec.Image.Height, Spec.Image.Width);
}

/// <summary>The AAE's discriminator on codes: (N, d) → logits (N).</summary>
public sealed class CodeDiscriminator : Module
{
    /// <summary>An MLP with hidden layers of <paramref name="width"/> and <paramref name="width"/>/2.</summary>
    public CodeDiscriminator(int latentDim, int width, RandomStream gen)
    {
        int half = Math.Max(1, width / 2);
        Model = RegisterModule("model", new Sequential(new Linear(latentDim, width, gen: gen), new LeakyReLU(0.2f), new Linear(width, half, gen: gen), new LeakyReLU(0.2f),
            new Linear(half, 1, gen: gen)));
    }

    /// <summary>The layer stack.</summary>
    public Sequential Model { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Model.Forward(input).Reshape(input.Shape[0]);
}

/// <summary>The adversarial autoencoder: encoder, decoder, code discriminator, three Adams.</summary>
public sealed class AaeModel : ITrainableModel
{
    /// <summary>The learning rate of PyTorch-GAN's aae.py.</summary>
    public const float DefaultLearningRate = 2e-4f;

    /// <summary>The checkpoint prefix of the decoder (what sampling loads from a training checkpoint).</summary>
    public const string DecoderPrefix = "decoder";

    private AaeModel(GanSpec spec, AaeEncoder encoder, AaeDecoder decoder, CodeDiscriminator d, float lr, Device device)
    {
        Spec = spec;
        Encoder = encoder;
        Decoder = decoder;
        D = d;
        Device = device;
        OptAE = new Adam(encoder.NamedParameters().Select(p => ("encoder." + p.Name, p.Value)).Concat(decoder.NamedParameters().Select(p => ("decoder." + p.Name, p.Value))),
            lr, 0.5, 0.999);
        OptD = new Adam(d, lr, 0.5, 0.999);
        OptE = new Adam(encoder, lr, 0.5, 0.999);
    }

    /// <inheritdoc/>
    public GanSpec Spec { get; }

    /// <summary>x → z.</summary>
    public AaeEncoder Encoder { get; }

    /// <summary>z → x.</summary>
    public AaeDecoder Decoder { get; }

    /// <summary>Prior draws against codes.</summary>
    public CodeDiscriminator D { get; }

    /// <summary>Encoder and decoder, for the reconstruction phase.</summary>
    public Adam OptAE { get; }

    /// <summary>The code discriminator.</summary>
    public Adam OptD { get; }

    /// <summary>The encoder as a generator, for the regularisation phase.</summary>
    public Adam OptE { get; }

    /// <inheritdoc/>
    public Device Device { get; }

    /// <inheritdoc/>
    public int BatchesPerStep => 1;

    /// <inheritdoc/>
    public bool ReportsProbabilities => true;

    /// <summary>Builds the networks of <paramref name="spec"/> from <paramref name="seed"/> on <paramref name="device"/> (PyTorch's default initialisation).</summary>
    public static AaeModel Create(GanSpec spec, long seed, Device device, float? learningRate = null)
    {
        spec.Validate();
        if (spec.Family != ModelFamily.Aae) throw new ArgumentException($"a {spec.Family} record does not describe an adversarial autoencoder", nameof(spec));
        var gen = new RandomStream(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 17));
        var encoder = new AaeEncoder(spec.Image.Length, spec.GeneratorWidth, spec.LatentDim, gen);
        var decoder = new AaeDecoder(spec, gen);
        var d = new CodeDiscriminator(spec.LatentDim, spec.DiscriminatorWidth, gen);
        encoder.To(device);
        decoder.To(device);
        d.To(device);
        return new AaeModel(spec, encoder, decoder, d, learningRate ?? DefaultLearningRate, device);
    }

    /// <summary>The decoder of <paramref name="spec"/> alone (for sampling: its weights are loaded afterwards).</summary>
    public static AaeDecoder CreateGenerator(GanSpec spec, Device device)
    {
        spec.Validate();
        var g = new AaeDecoder(spec, new RandomStream(0));
        g.To(device);
        return g;
    }

    /// <summary><paramref name="n"/> draws from the prior of <paramref name="spec"/>, (N, d).</summary>
    public static Tensor SamplePrior(GanSpec spec, int n, RandomStream stream, Device device)
    {
        int d = spec.LatentDim;
        var z = Tensor.RandN(new Shape(n, d), stream, device);
        if (spec.Prior == LatentPrior.Gaussian) return z;
        // Mixture: a component per row (host draws from the same stream), then z·scale + means.
        var scale = new float[d];
        Array.Fill(scale, 1f);
        scale[0] = scale[1] = 0.5f;
        var means = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            double angle = 2 * Math.PI * stream.NextInt(10) / 10;
            means[i * d] = (float)(2 * Math.Cos(angle));
            means[i * d + 1] = (float)(2 * Math.Sin(angle));
        }
        using (Autograd.NoGrad())
            return z.Mul(Tensor.FromArray(scale, new Shape(1, d), device)).Add(Tensor.FromArray(means, new Shape(n, d), device));
    }

    /// <summary>Codes of images (N, C, H, W) with the encoder in evaluation mode, (N, d).</summary>
    public Tensor Encode(Tensor images)
    {
        using var noGrad = Autograd.NoGrad();
        Encoder.Eval();
        var z = Encoder.Forward(images);
        Encoder.Train();
        return z;
    }

    /// <summary>One step: the reconstruction phase, then the regularisation phase, on one batch; its metrics read back at the end (one copy).</summary>
    public StepMetrics TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position) =>
        StepMetricsTable.RunOnce(Device, (table, row) => TrainStep(nextBatch, noise, position, table, row));

    /// <summary>One step: the reconstruction phase, then the regularisation phase, on one batch; its metrics go into row <paramref name="row"/> of <paramref name="metrics"/> on the device.</summary>
    public void TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position, Tensor metrics, int row)
    {
        Encoder.Train();
        Decoder.Train();
        D.Train();
        var (x, _) = nextBatch();
        int n = x.Shape[0];

        // Reconstruction phase: encoder and decoder.
        OptAE.ZeroGrad();
        var recon = Losses.Mse(Decoder.Generate(Encoder.Forward(x), null), x);
        recon.Backward();
        var normG = ParameterOps.GradNormTensor(OptAE.Parameters.Select(p => p.Parameter));
        OptAE.Step();

        // Regularisation phase: the discriminator on prior draws against (detached) codes …
        var prior = SamplePrior(Spec, n, noise, Device);
        var codes = Encoder.Forward(x);
        OptD.ZeroGrad();
        var realScores = D.Forward(prior);
        var fakeScores = D.Forward(codes.Detach());
        var lossD = Losses.BceWithLogits(realScores, 1f).Add(Losses.BceWithLogits(fakeScores, 0f)).MulScalar(0.5f);
        lossD.Backward();
        var normD = ParameterOps.GradNormTensor(D.Parameters());
        OptD.Step();

        // … then the encoder as a generator of codes (gradients for the encoder only).
        OptE.ZeroGrad();
        var lossE = Losses.BceWithLogits(D.Forward(codes), 1f);
        var eParams = Encoder.Parameters().ToArray();
        var grads = Autograd.Grad([lossE], eParams, allowUnused: true);
        for (int i = 0; i < eParams.Length; i++) GanModel.SetGrad(eParams[i], grads[i]);
        OptE.Step();

        Tensor dReal, dFake;
        using (Autograd.NoGrad())
        {
            dReal = realScores.Sigmoid().Mean();
            dFake = fakeScores.Sigmoid().Mean();
        }
        StepMetricsTable.Write(metrics, row, lossD, lossE, gradientPenalty: null, dReal, dFake, normD, normG, recon);
    }

    /// <summary>"encoder", "decoder", "discriminator" and the optimisers "optAE", "optD", "optE".</summary>
    public void AddTo(TrainingState state)
    {
        state.Modules["encoder"] = Encoder;
        state.Modules[DecoderPrefix] = Decoder;
        state.Modules["discriminator"] = D;
        state.Optimizers["optAE"] = OptAE;
        state.Optimizers["optD"] = OptD;
        state.Optimizers["optE"] = OptE;
    }

    /// <inheritdoc/>
    public IEnumerable<(string Name, Tensor Value)> NamedWeights() =>
        OptAE.Parameters.Select(p => (p.Name, p.Parameter)).Concat(D.NamedParameters().Select(p => ("discriminator." + p.Name, p.Value)));

    /// <summary>The decoder (sampling decodes prior draws).</summary>
    public Module Exported => Decoder;

    /// <summary>Decoded prior draws from a fixed stream (the mode-collapse watch compares their spread with the data's).</summary>
    public SampleGrid CreateSampleGrid(IDataset data, long seed, int batch) => new PriorGrid(this, data, seed);

    private sealed class PriorGrid : SampleGrid
    {
        private readonly AaeModel _model;
        private readonly Tensor _z;

        public PriorGrid(AaeModel model, IDataset data, long seed)
        {
            _model = model;
            _z = SamplePrior(model.Spec, 64, new RandomStream(unchecked((ulong)seed + 0xABCDEF)), model.Device).KeepAlive();
            int n = Math.Min(data.Count, 256);
            DataSpread = PixelSpread(data.CopySamples(0, n), n);
        }

        public override double DataSpread { get; }

        public override double Save(string path)
        {
            using var scope = TensorScope.Begin();
            using var noGrad = Autograd.NoGrad();
            _model.Decoder.Eval();
            var images = _model.Decoder.Generate(_z, null).ToArray();
            _model.Decoder.Train();
            var shape = _model.Spec.Image;
            ImageGrid.Save(path, images, _z.Shape[0], shape.Channels, shape.Height, shape.Width);
            return PixelSpread(images, _z.Shape[0]);
        }
    }
}
