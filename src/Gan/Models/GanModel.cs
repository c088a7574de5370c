// The five GAN models and their training steps. One generator step of each model:
//   gan, dcgan, cdcgan — BCE with logits (stable form of pytorch/examples' Sigmoid + BCELoss):
//       D: maximise log D(x) + log(1 − D(G(z))); G: maximise log D(G(z)) (non-saturating).
//   wgan    — critic loss D(G(z)) − D(x), 5 critic steps per G step, weights clipped to ±0.01, RMSprop.
//   wgan-gp — the same critic loss + λ·(‖∇x̂ D(x̂)‖ − 1)² on random interpolates, no clipping, Adam.
// The G step asks autograd only for G's gradients, so D's weight gradients are never computed there.
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>A source of real mini-batches: (N, C, H, W) on the model's device, and labels.</summary>
public delegate (Tensor Real, int[] Labels) BatchSource();

public sealed class GanModel
{
    private GanModel(string kind, Module g, Module d, Optimizer optG, Optimizer optD, int latentDim, int[] sampleShape, int classCount, Device device)
    {
        Kind = kind;
        G = g;
        D = d;
        OptG = optG;
        OptD = optD;
        LatentDim = latentDim;
        SampleShape = sampleShape;
        ClassCount = classCount;
        Device = device;
    }

    public string Kind { get; }
    public Module G { get; }
    public Module D { get; }
    public Optimizer OptG { get; }
    public Optimizer OptD { get; }
    public int LatentDim { get; }
    /// <summary>(C, H, W) of one sample; (1, 1, N) for curves.</summary>
    public int[] SampleShape { get; }
    public int ClassCount { get; }
    public Device Device { get; }
    public bool IsConditional => Kind == "cdcgan";
    public bool IsWasserstein => Kind is "wgan" or "wgan-gp";
    public bool IsMlp => Kind == "gan";

    /// <summary>Critic updates per generator update.</summary>
    public int CriticSteps => IsWasserstein ? 5 : 1;

    public const float ClipValue = 0.01f;
    public const float PenaltyWeight = 10f;
    /// <summary>Inside the square root of the gradient norm, so its derivative stays finite at 0.</summary>
    public const float NormEpsilon = 1e-12f;

    /// <summary>Builds a model with the canonical settings of its kind, initialised from the seed, on the device.</summary>
    public static GanModel Create(string kind, int channels, int height, int width, int classCount, int latentDim, int featureWidth,
        float? lr, long seed, Device device)
    {
        var gen = new RandomStream(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 17));
        Module g, d;
        int size = height;
        switch (kind)
        {
            case "gan":
            {
                int features = channels * height * width;
                g = new MainNet(Networks.MlpGenerator(latentDim, features, gen));
                d = new MainNet(Networks.MlpDiscriminator(features, gen));
                break;
            }
            case "dcgan" or "wgan" or "wgan-gp":
            {
                CheckSquare(height, width);
                g = new MainNet(Networks.DcganGenerator(latentDim, featureWidth, channels, size, gen));
                var (body, final) = Networks.DcganDiscriminator(channels, featureWidth, size, kind == "wgan-gp" ? "none" : "batch", gen);
                body.Add(final);
                d = new MainNet(body);
                Init.Dcgan(g, gen);
                Init.Dcgan(d, gen);
                break;
            }
            case "cdcgan":
            {
                CheckSquare(height, width);
                if (classCount < 2) throw new ArgumentException("--model cdcgan needs labelled data (a data set with classes)");
                var gBody = Networks.DcganGenerator(latentDim, featureWidth, channels, size, gen);
                var (dBody, final) = Networks.DcganDiscriminator(channels, featureWidth, size, "batch", gen);
                int top = final.InChannels;
                g = new ConditionalNet(gBody, null, new Embedding(classCount, latentDim, gen), isGenerator: true);
                d = new ConditionalNet(dBody, final, new Embedding(classCount, top, gen), isGenerator: false);
                Init.Dcgan(g, gen);
                Init.Dcgan(d, gen);
                // The generator's embedding multiplies z: start it near 1 so early samples use all of z.
                Init.Normal(((ConditionalNet)g).Embed.Weight, gen, 1f, 0.02f);
                break;
            }
            default: throw new ArgumentException($"--model: unknown model '{kind}'");
        }
        g.To(device);
        d.To(device);
        Optimizer optG, optD;
        switch (kind)
        {
            case "wgan":
                optG = new RmsProp(g, lr ?? 5e-5f);
                optD = new RmsProp(d, lr ?? 5e-5f);
                break;
            case "wgan-gp":
                optG = new Adam(g, lr ?? 1e-4f, 0.5, 0.9);
                optD = new Adam(d, lr ?? 1e-4f, 0.5, 0.9);
                break;
            default:
                optG = new Adam(g, lr ?? 2e-4f, 0.5, 0.999);
                optD = new Adam(d, lr ?? 2e-4f, 0.5, 0.999);
                break;
        }
        int[] sampleShape = [channels, height, width];
        return new GanModel(kind, g, d, optG, optD, latentDim, sampleShape, classCount, device);
    }

    private static void CheckSquare(int h, int w)
    {
        if (h != w) throw new ArgumentException($"convolutional models need square images, got {h}x{w}");
    }

    /// <summary>Latent batch shape: (N, nz, 1, 1) for convolutional generators, (N, nz) for the MLP.</summary>
    public Shape LatentShape(int n) => IsMlp ? new Shape(n, LatentDim) : new Shape(n, LatentDim, 1, 1);

    /// <summary>G(z) (with labels for the conditional model), shaped (N, C, H, W).</summary>
    public Tensor Generate(Tensor z, int[]? labels)
    {
        var x = IsConditional
            ? ((ConditionalNet)G).Forward(z, labels ?? throw new ArgumentException("cdcgan needs class labels to generate"))
            : G.Forward(z);
        return x.Reshape([z.Shape[0], .. SampleShape]);
    }

    /// <summary>D's raw output per sample, shape (N): a logit, or a critic score for Wasserstein models.</summary>
    public Tensor Discriminate(Tensor x, int[]? labels)
    {
        var input = IsMlp ? x.Reshape(x.Shape[0], -1) : x;
        var y = IsConditional ? ((ConditionalNet)D).Forward(input, labels!) : D.Forward(input);
        return y.Reshape(x.Shape[0]);
    }

    /// <summary>Uniformly random labels for fakes (conditional model); null otherwise.</summary>
    private int[]? FakeLabels(int n, RandomStream noise)
    {
        if (!IsConditional) return null;
        var labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = noise.NextInt(ClassCount);
        return labels;
    }

    /// <summary>One generator step (with its critic steps). Runs inside the caller's TensorScope.</summary>
    public StepMetrics TrainStep(BatchSource nextBatch, RandomStream noise)
    {
        G.Train();
        D.Train();
        double dLoss = 0, dReal = 0, dFake = 0, gp = double.NaN, normD = 0;
        int n = 0;
        Tensor? fakeForG = null;
        int[]? labelsForG = null;
        for (int c = 0; c < CriticSteps; c++)
        {
            var (real, labels) = nextBatch();
            n = real.Shape[0];
            var z = Tensor.RandN(LatentShape(n), noise, Device);
            var fakeLabels = FakeLabels(n, noise);
            Tensor fake;
            if (IsWasserstein)
            {
                using (Autograd.NoGrad()) fake = Generate(z, fakeLabels);
            }
            else
            {
                // As pytorch/examples: one G forward serves both steps; D sees it detached.
                fakeForG = Generate(z, fakeLabels);
                labelsForG = fakeLabels;
                fake = fakeForG.Detach();
            }
            OptD.ZeroGrad();
            var outReal = Discriminate(real, labels);
            var outFake = Discriminate(fake, fakeLabels);
            Tensor loss;
            if (IsWasserstein)
            {
                var meanReal = outReal.Mean();
                var meanFake = outFake.Mean();
                loss = meanFake.Sub(meanReal);
                dReal = meanReal.Item();
                dFake = meanFake.Item();
                if (Kind == "wgan-gp")
                {
                    var penalty = GradientPenalty(x => Discriminate(x, labels), real, fake, noise, Device);
                    gp = penalty.Item();
                    loss = loss.Add(penalty);
                }
            }
            else
            {
                loss = Losses.BceWithLogits(outReal, 1f).Add(Losses.BceWithLogits(outFake, 0f));
                using (Autograd.NoGrad())
                {
                    dReal = outReal.Sigmoid().Mean().Item();
                    dFake = outFake.Sigmoid().Mean().Item();
                }
            }
            loss.Backward();
            dLoss = loss.Item();
            normD = ParameterOps.GradNorm(D.Parameters());
            OptD.Step();
            if (Kind == "wgan") ParameterOps.ClipWeights(D.Parameters(), ClipValue);
        }

        // Generator step: gradients for G's parameters only.
        OptG.ZeroGrad();
        if (fakeForG is null)
        {
            // Wasserstein models draw fresh noise for the generator step (as the WGAN-GP reference code).
            var zg = Tensor.RandN(LatentShape(n), noise, Device);
            labelsForG = FakeLabels(n, noise);
            fakeForG = Generate(zg, labelsForG);
        }
        var outG = Discriminate(fakeForG, labelsForG);
        var gLoss = IsWasserstein ? outG.Mean().Neg() : Losses.BceWithLogits(outG, 1f);
        var gParams = G.Parameters().ToArray();
        var grads = Autograd.Grad([gLoss], gParams, allowUnused: true);
        for (int i = 0; i < gParams.Length; i++) SetGrad(gParams[i], grads[i]);
        double normG = ParameterOps.GradNorm(gParams);
        OptG.Step();

        return new StepMetrics
        {
            DLoss = dLoss, GLoss = gLoss.Item(), DReal = dReal, DFake = dFake, GradientPenalty = gp,
            GradNormD = normD, GradNormG = normG,
        };
    }

    /// <summary>
    /// λ·mean((‖∇x̂ D(x̂)‖ − 1)²), x̂ = α·x + (1 − α)·G(z), one α ~ U[0, 1] per sample. The gradient is
    /// taken with createGraph, so the penalty's own gradient is the true second-order one.
    /// </summary>
    public static Tensor GradientPenalty(Func<Tensor, Tensor> critic, Tensor real, Tensor fake, RandomStream noise, Device device)
    {
        int n = real.Shape[0];
        var alphaShape = new int[real.Rank];
        Array.Fill(alphaShape, 1);
        alphaShape[0] = n;
        var alpha = Tensor.RandU(new Shape(alphaShape), noise, device);
        Tensor mixed;
        using (Autograd.NoGrad()) mixed = real.Mul(alpha).Add(fake.Mul(alpha.Affine(-1f, 1f)));
        mixed.RequiresGrad = true;
        var score = critic(mixed);
        var grad = Autograd.Grad([score], [mixed], [Tensor.Ones(score.Shape, device)], createGraph: true)[0];
        var axes = Enumerable.Range(1, grad.Rank - 1).ToArray();
        var norm = grad.Square().Sum(axes).AddScalar(NormEpsilon).Sqrt();
        return norm.AddScalar(-1f).Square().Mean().MulScalar(PenaltyWeight);
    }

    private static void SetGrad(Tensor p, Tensor g)
    {
        if (p.Grad is null || p.Grad.IsDisposed)
        {
            var copy = Tensor.Zeros(p.Shape, p.Device).KeepAlive();
            copy.AddInPlace(g);
            p.Grad = copy;
        }
        else
        {
            p.Grad.Fill(0f);
            p.Grad.AddInPlace(g);
        }
    }
}
