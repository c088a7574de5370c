// The layer stacks of the generators and discriminators. Layer order and state-dict names follow
// pytorch/examples' DCGAN (a `main` Sequential: "main.0.weight", "main.1.running_mean", …), so
// weights map one to one onto PyTorch. The sizes are checked by GanSpec.Validate before any of
// these run; an unsupported size reaching them is a bug.
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>Builds the layer stacks of each family for each image size.</summary>
public static class Networks
{
    /// <summary>
    /// DCGAN generator: (N, nz, 1, 1) → (N, nc, S, S) with ConvT k4 s2 p1 stages, BN, ReLU and Tanh,
    /// no biases. 64: nz→8w→4w→2w→w→nc (pytorch/examples); 32: nz→4w→2w→w→nc; 28: nz→4w (7×7) →2w→nc.
    /// </summary>
    public static Sequential DcganGeneratorLayers(int nz, int w, int nc, int size, RandomStream gen)
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
            default: throw new ArgumentOutOfRangeException(nameof(size), size, "the DCGAN generator is defined for 28, 32 and 64");
        }
        return s;
    }

    /// <summary>
    /// DCGAN discriminator body (all but the final conv): Conv k4 s2 p1 stages with LeakyReLU 0.2,
    /// <paramref name="norm"/> after every stage but the first. Returns the body and the final conv
    /// (to a single logit) separately, so the projection discriminator can pool the features.
    /// </summary>
    public static (Sequential Body, Conv2d Final) DcganDiscriminatorLayers(int nc, int w, int size, NormKind norm, RandomStream gen)
    {
        var s = new Sequential();
        int spatial = size;
        void Stage(int cin, int cout, bool first)
        {
            s.Add(new Conv2d(cin, cout, 4, 2, 1, bias: false, gen: gen));
            spatial /= 2;
            if (!first)
            {
                if (norm == NormKind.Batch) s.Add(new BatchNorm2d(cout));
                else if (norm == NormKind.Layer) s.Add(new LayerNorm([cout, spatial, spatial]));
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
            default: throw new ArgumentOutOfRangeException(nameof(size), size, "the DCGAN discriminator is defined for 28, 32 and 64");
        }
        // spatial is now 4 (64, 32) or 7 (28): one valid conv to a single logit.
        return (s, new Conv2d(top, 1, spatial, 1, 0, bias: false, gen: gen));
    }

    /// <summary>MLP generator for vectors (sines) and flattened small images: nz → 128 → 256 → D, Tanh.</summary>
    public static Sequential MlpGeneratorLayers(int nz, int features, RandomStream gen) => new(
        new Linear(nz, 128, gen: gen), new LeakyReLU(0.2f),
        new Linear(128, 256, gen: gen), new LeakyReLU(0.2f),
        new Linear(256, features, gen: gen), new Tanh());

    /// <summary>MLP discriminator: D → 256 → 128 → 1 logit.</summary>
    public static Sequential MlpDiscriminatorLayers(int features, RandomStream gen) => new(
        new Flatten(),
        new Linear(features, 256, gen: gen), new LeakyReLU(0.2f),
        new Linear(256, 128, gen: gen), new LeakyReLU(0.2f),
        new Linear(128, 1, gen: gen));
}
