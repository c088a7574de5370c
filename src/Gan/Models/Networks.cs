// The generator and discriminator networks. Layer stacks and state-dict names follow
// pytorch/examples' DCGAN (a `main` Sequential), so weights map one to one onto PyTorch.
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>A network whose layers live in a Sequential named "main" (PyTorch's DCGAN layout).</summary>
public sealed class MainNet : Module
{
    public MainNet(Sequential main) => Main = RegisterModule("main", main);
    public Sequential Main { get; }
    public override Tensor Forward(Tensor input) => Main.Forward(input);
}

/// <summary>
/// A class-conditional wrapper. Generator: z ⊙ E(y) → G (multiplicative label embedding).
/// Discriminator: projection (Miyato &amp; Koyama 2018): D(x, y) = head(φ(x)) + ⟨E(y), Σ_hw φ(x)⟩.
/// Neither needs concatenation, and both give a label a real say in every sample.
/// </summary>
public sealed class ConditionalNet : Module
{
    private readonly bool _isGenerator;

    public ConditionalNet(Sequential body, Module? head, Embedding embedding, bool isGenerator)
    {
        _isGenerator = isGenerator;
        Main = RegisterModule("main", body);
        Head = head is null ? null : RegisterModule("head", head);
        Embed = RegisterModule("embed", embedding);
    }

    public Sequential Main { get; }
    public Module? Head { get; }
    public Embedding Embed { get; }

    public override Tensor Forward(Tensor input) => throw new InvalidOperationException("a conditional network needs labels: call Forward(input, labels)");

    public Tensor Forward(Tensor input, int[] labels)
    {
        var e = Embed.Forward(labels);                                   // (N, dim)
        if (_isGenerator)
            return Main.Forward(input.Mul(e.Reshape(input.Shape.ToArray())));  // z: (N, nz, 1, 1)
        var features = Main.Forward(input);                              // (N, F, h, w)
        var logit = Head!.Forward(features).Reshape(input.Shape[0]);     // (N)
        var pooled = features.Sum([2, 3]);                               // (N, F)
        return logit.Add(pooled.Mul(e).Sum([1]));                        // (N)
    }
}

/// <summary>Builds the networks for each model and image size.</summary>
public static class Networks
{
    /// <summary>
    /// DCGAN generator: (N, nz, 1, 1) → (N, nc, S, S) with ConvT k4 s2 p1 stages, BN, ReLU and Tanh,
    /// no biases. 64: nz→8w→4w→2w→w→nc (pytorch/examples); 32: nz→4w→2w→w→nc; 28: nz→4w (7×7) →2w→nc.
    /// </summary>
    public static Sequential DcganGenerator(int nz, int w, int nc, int size, RandomStream gen)
    {
        var s = new Sequential();
        void Stage(int cin, int cout, int k, int stride, int pad, bool last)
        {
            s.Add(new ConvTranspose2d(cin, cout, k, stride, pad, bias: false, gen: gen));
            if (last) { s.Add(new Tanh()); return; }
            s.Add(new BatchNorm2d(cout));
            s.Add(new ReLU());
        }
        switch (size)
        {
            case 64:
                Stage(nz, w * 8, 4, 1, 0, false);
                Stage(w * 8, w * 4, 4, 2, 1, false);
                Stage(w * 4, w * 2, 4, 2, 1, false);
                Stage(w * 2, w, 4, 2, 1, false);
                Stage(w, nc, 4, 2, 1, true);
                break;
            case 32:
                Stage(nz, w * 4, 4, 1, 0, false);
                Stage(w * 4, w * 2, 4, 2, 1, false);
                Stage(w * 2, w, 4, 2, 1, false);
                Stage(w, nc, 4, 2, 1, true);
                break;
            case 28:
                Stage(nz, w * 4, 7, 1, 0, false);
                Stage(w * 4, w * 2, 4, 2, 1, false);
                Stage(w * 2, nc, 4, 2, 1, true);
                break;
            default: throw new ArgumentException($"--image-size: DCGAN supports 28, 32 and 64, got {size}");
        }
        return s;
    }

    /// <summary>
    /// DCGAN discriminator body (all but the final conv): Conv k4 s2 p1 stages with LeakyReLU 0.2,
    /// batch norm after the first (norm: "batch"), layer norm (WGAN-GP option) or none.
    /// Returns the body and the final conv separately so the conditional model can project features.
    /// </summary>
    public static (Sequential Body, Conv2d Final) DcganDiscriminator(int nc, int w, int size, string norm, RandomStream gen)
    {
        var s = new Sequential();
        int spatial = size;
        void Stage(int cin, int cout, bool first)
        {
            s.Add(new Conv2d(cin, cout, 4, 2, 1, bias: false, gen: gen));
            spatial /= 2;
            if (!first)
            {
                if (norm == "batch") s.Add(new BatchNorm2d(cout));
                else if (norm == "layer") s.Add(new LayerNorm([cout, spatial, spatial]));
            }
            s.Add(new LeakyReLU(0.2f));
        }
        int top;
        switch (size)
        {
            case 64:
                Stage(nc, w, true); Stage(w, w * 2, false); Stage(w * 2, w * 4, false); Stage(w * 4, w * 8, false);
                top = w * 8;
                break;
            case 32:
                Stage(nc, w, true); Stage(w, w * 2, false); Stage(w * 2, w * 4, false);
                top = w * 4;
                break;
            case 28:
                Stage(nc, w, true); Stage(w, w * 2, false);
                top = w * 2;
                break;
            default: throw new ArgumentException($"--image-size: DCGAN supports 28, 32 and 64, got {size}");
        }
        // spatial is now 4 (64, 32) or 7 (28): one valid conv to a single logit.
        return (s, new Conv2d(top, 1, spatial, 1, 0, bias: false, gen: gen));
    }

    /// <summary>MLP generator for vectors (sines) and flattened small images: nz → 128 → 256 → D, Tanh.</summary>
    public static Sequential MlpGenerator(int nz, int features, RandomStream gen) => new(
        new Linear(nz, 128, gen: gen), new LeakyReLU(0.2f),
        new Linear(128, 256, gen: gen), new LeakyReLU(0.2f),
        new Linear(256, features, gen: gen), new Tanh());

    /// <summary>MLP discriminator: D → 256 → 128 → 1 logit.</summary>
    public static Sequential MlpDiscriminator(int features, RandomStream gen) => new(
        new Flatten(),
        new Linear(features, 256, gen: gen), new LeakyReLU(0.2f),
        new Linear(256, 128, gen: gen), new LeakyReLU(0.2f),
        new Linear(128, 1, gen: gen));
}
