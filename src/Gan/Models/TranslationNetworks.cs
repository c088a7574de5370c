// The networks of the image-to-image families, as junyanz/pytorch-CycleGAN-and-pix2pix builds them
// (models/networks.py), with its module names so state dictionaries map by name:
//   U-Net generator (pix2pix): UnetGenerator.model = the outermost UnetSkipConnectionBlock; each block
//     holds `model` (a Sequential: down, the inner block, up). Keys: "model.model.0.weight" (outermost
//     down conv), "model.model.1.model.1.weight" (the next block's down conv), …
//       outermost:  [Conv k4 s2 p1 (A → ngf), inner, ReLU, ConvT k4 s2 p1 (2·ngf → B), Tanh]
//       middle:     [LeakyReLU 0.2, Conv k4 s2 p1, norm, inner, ReLU, ConvT k4 s2 p1 (2·inner → outer), norm (, Dropout 0.5)]
//       innermost:  [LeakyReLU 0.2, Conv k4 s2 p1, ReLU, ConvT k4 s2 p1 (inner → outer), norm]
//     every block but the outermost returns cat(x, model(x)) along channels (the skip connection).
//     Depth: log2(size) downsamplings, so the bottleneck is 1×1 (unet_256 has 8, unet_128 7); channels
//     ngf, 2ngf, 4ngf, then 8ngf; the log2(size) − 5 blocks of 8ngf between the innermost and the 4ngf
//     block carry dropout 0.5 (3 at 256, 1 at 64, none at 32).
//   PatchGAN discriminator (NLayerDiscriminator): `model` = [Conv k4 s2 p1 (in → ndf), LeakyReLU 0.2,
//     n − 1 × (Conv k4 s2 p1, norm, LeakyReLU), Conv k4 s1 p1, norm, LeakyReLU, Conv k4 s1 p1 (→ 1)],
//     channels ndf·min(2^k, 8). Receptive field 70 for n = 3; scaled with the image: n = max(1, log2(size) − 5)
//     (70×70 at 256, 34×34 at 128, 16×16 at 64 and 32).
//   ResNet generator (CycleGAN): `model` = [ReflectionPad 3, Conv k7 (in → ngf), norm, ReLU,
//     2 × (Conv k3 s2 p1 ×2 channels, norm, ReLU), blocks × ResnetBlock(4ngf),
//     2 × (ConvT k3 s2 p1 op1 ÷2 channels, norm, ReLU), ReflectionPad 3, Conv k7 (ngf → out), Tanh];
//     ResnetBlock.conv_block = [ReflectionPad 1, Conv k3, norm, ReLU, ReflectionPad 1, Conv k3, norm],
//     output x + conv_block(x). 6 blocks up to 128 pixels, 9 at 256.
// Biases: convolutions followed by batch norm have none (its shift makes a bias redundant); with
// instance norm (no affine parameters) they do, as in the reference. Initialisation: the
// reference's init_weights("normal", 0.02): conv weights N(0, 0.02²), biases 0, batch-norm γ N(1, 0.02²), β 0.
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>An image-to-image generator: (N, InChannels, S, S) → (N, OutChannels, S, S) in [-1, 1].</summary>
public abstract class ImageTranslator : Module
{
    /// <summary>A translator between images of the given channels.</summary>
    protected ImageTranslator(int inChannels, int outChannels)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
    }

    /// <summary>Channels of the input domain.</summary>
    public int InChannels { get; }

    /// <summary>Channels of the output domain.</summary>
    public int OutChannels { get; }
}

/// <summary>One level of the U-Net: down, the inner levels, up, and the skip connection around them.</summary>
public sealed class UnetSkipConnectionBlock : Module
{
    /// <summary>
    /// A level mapping <paramref name="outerChannels"/> (or <paramref name="inputChannels"/> at the outermost level) to
    /// <paramref name="innerChannels"/> and back, around <paramref name="submodule"/> (null at the innermost level).
    /// </summary>
    public UnetSkipConnectionBlock(int outerChannels, int innerChannels, int? inputChannels, UnetSkipConnectionBlock? submodule,
        bool outermost, bool innermost, NormKind norm, bool dropout, RandomStream dropoutStream, RandomStream gen)
    {
        Outermost = outermost;
        int input = inputChannels ?? outerChannels;
        bool bias = TranslationNetworks.ConvBias(norm);
        var downConv = new Conv2d(input, innerChannels, 4, 2, 1, bias: bias, gen: gen);
        var model = new Sequential();
        if (outermost)
        {
            model.Add(downConv);
            model.Add(submodule!);
            model.Add(new ReLU());
            model.Add(new ConvTranspose2d(innerChannels * 2, outerChannels, 4, 2, 1, gen: gen));
            model.Add(new Tanh());
        }
        else if (innermost)
        {
            model.Add(new LeakyReLU(0.2f));
            model.Add(downConv);
            model.Add(new ReLU());
            model.Add(new ConvTranspose2d(innerChannels, outerChannels, 4, 2, 1, bias: bias, gen: gen));
            TranslationNetworks.AddNorm(model, norm, outerChannels);
        }
        else
        {
            model.Add(new LeakyReLU(0.2f));
            model.Add(downConv);
            TranslationNetworks.AddNorm(model, norm, innerChannels);
            model.Add(submodule!);
            model.Add(new ReLU());
            model.Add(new ConvTranspose2d(innerChannels * 2, outerChannels, 4, 2, 1, bias: bias, gen: gen));
            TranslationNetworks.AddNorm(model, norm, outerChannels);
            if (dropout) model.Add(new Dropout(0.5f, dropoutStream));
        }
        Model = RegisterModule("model", model);
    }

    /// <summary>True for the level that takes the input image (no skip connection around it).</summary>
    public bool Outermost { get; }

    /// <summary>down, inner levels, up.</summary>
    public Sequential Model { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Outermost ? Model.Forward(input) : Tensor.Concat([input, Model.Forward(input)], 1);
}

/// <summary>The pix2pix U-Net (the reference's UnetGenerator): log2(size) levels with skip connections.</summary>
public sealed class UnetGenerator : ImageTranslator
{
    /// <summary>A U-Net with <paramref name="downs"/> levels (log2 of the image side for a 1×1 bottleneck).</summary>
    public UnetGenerator(int inChannels, int outChannels, int downs, int ngf, NormKind norm, bool dropout, RandomStream dropoutStream, RandomStream gen)
        : base(inChannels, outChannels)
    {
        if (downs < 5) throw new ArgumentOutOfRangeException(nameof(downs), downs, "the U-Net has at least 5 levels");
        Downs = downs;
        var block = new UnetSkipConnectionBlock(ngf * 8, ngf * 8, null, null, false, true, norm, false, dropoutStream, gen);
        for (int i = 0; i < downs - 5; i++)
            block = new UnetSkipConnectionBlock(ngf * 8, ngf * 8, null, block, false, false, norm, dropout, dropoutStream, gen);
        block = new UnetSkipConnectionBlock(ngf * 4, ngf * 8, null, block, false, false, norm, false, dropoutStream, gen);
        block = new UnetSkipConnectionBlock(ngf * 2, ngf * 4, null, block, false, false, norm, false, dropoutStream, gen);
        block = new UnetSkipConnectionBlock(ngf, ngf * 2, null, block, false, false, norm, false, dropoutStream, gen);
        block = new UnetSkipConnectionBlock(outChannels, ngf, inChannels, block, true, false, norm, false, dropoutStream, gen);
        Model = RegisterModule("model", block);
    }

    /// <summary>Downsampling levels.</summary>
    public int Downs { get; }

    /// <summary>The outermost level.</summary>
    public UnetSkipConnectionBlock Model { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Model.Forward(input);
}

/// <summary>A residual block of the ResNet generator: x + conv_block(x).</summary>
public sealed class ResnetBlock : Module
{
    /// <summary>Two reflection-padded 3×3 convolutions of <paramref name="channels"/> with norm, ReLU between.</summary>
    public ResnetBlock(int channels, NormKind norm, RandomStream gen)
    {
        bool bias = TranslationNetworks.ConvBias(norm);
        var block = new Sequential(new ReflectionPad2d(1), new Conv2d(channels, channels, 3, bias: bias, gen: gen));
        TranslationNetworks.AddNorm(block, norm, channels);
        block.Add(new ReLU());
        block.Add(new ReflectionPad2d(1));
        block.Add(new Conv2d(channels, channels, 3, bias: bias, gen: gen));
        TranslationNetworks.AddNorm(block, norm, channels);
        ConvBlock = RegisterModule("conv_block", block);
    }

    /// <summary>pad, conv, norm, ReLU, pad, conv, norm.</summary>
    public Sequential ConvBlock { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Add(ConvBlock.Forward(input));
}

/// <summary>The CycleGAN generator (the reference's ResnetGenerator): two downsamplings, residual blocks, two transposed-conv upsamplings.</summary>
public sealed class ResnetGenerator : ImageTranslator
{
    /// <summary>A ResNet generator with <paramref name="blocks"/> residual blocks.</summary>
    public ResnetGenerator(int inChannels, int outChannels, int ngf, NormKind norm, int blocks, RandomStream gen) : base(inChannels, outChannels)
    {
        bool bias = TranslationNetworks.ConvBias(norm);
        Blocks = blocks;
        var m = new Sequential(new ReflectionPad2d(3), new Conv2d(inChannels, ngf, 7, bias: bias, gen: gen));
        TranslationNetworks.AddNorm(m, norm, ngf);
        m.Add(new ReLU());
        for (int i = 0; i < 2; i++)
        {
            int mult = 1 << i;
            m.Add(new Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias: bias, gen: gen));
            TranslationNetworks.AddNorm(m, norm, ngf * mult * 2);
            m.Add(new ReLU());
        }
        for (int i = 0; i < blocks; i++) m.Add(new ResnetBlock(ngf * 4, norm, gen));
        for (int i = 0; i < 2; i++)
        {
            int mult = 4 >> i;
            m.Add(new ConvTranspose2d(ngf * mult, ngf * mult / 2, 3, 2, 1, 1, bias: bias, gen: gen));
            TranslationNetworks.AddNorm(m, norm, ngf * mult / 2);
            m.Add(new ReLU());
        }
        m.Add(new ReflectionPad2d(3));
        m.Add(new Conv2d(ngf, outChannels, 7, gen: gen));
        m.Add(new Tanh());
        Model = RegisterModule("model", m);
    }

    /// <summary>Residual blocks.</summary>
    public int Blocks { get; }

    /// <summary>The layer stack.</summary>
    public Sequential Model { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Model.Forward(input);
}

/// <summary>The PatchGAN discriminator (the reference's NLayerDiscriminator): one logit per overlapping patch.</summary>
public sealed class PatchDiscriminator : Module
{
    /// <summary>A PatchGAN over <paramref name="inChannels"/> with <paramref name="layers"/> stride-2 layers.</summary>
    public PatchDiscriminator(int inChannels, int ndf, int layers, NormKind norm, RandomStream gen)
    {
        bool bias = TranslationNetworks.ConvBias(norm);
        Layers = layers;
        var m = new Sequential(new Conv2d(inChannels, ndf, 4, 2, 1, gen: gen), new LeakyReLU(0.2f));
        int mult = 1, prev;
        for (int n = 1; n < layers; n++)
        {
            prev = mult;
            mult = Math.Min(1 << n, 8);
            m.Add(new Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias: bias, gen: gen));
            TranslationNetworks.AddNorm(m, norm, ndf * mult);
            m.Add(new LeakyReLU(0.2f));
        }
        prev = mult;
        mult = Math.Min(1 << layers, 8);
        m.Add(new Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias: bias, gen: gen));
        TranslationNetworks.AddNorm(m, norm, ndf * mult);
        m.Add(new LeakyReLU(0.2f));
        m.Add(new Conv2d(ndf * mult, 1, 4, 1, 1, gen: gen));
        Model = RegisterModule("model", m);
    }

    /// <summary>Stride-2 layers (3 in the 70×70 PatchGAN).</summary>
    public int Layers { get; }

    /// <summary>The layer stack.</summary>
    public Sequential Model { get; }

    /// <summary>Logits per patch, (N, 1, h, w).</summary>
    public override Tensor Forward(Tensor input) => Model.Forward(input);
}

/// <summary>Sizes and initialisation of the translation networks.</summary>
public static class TranslationNetworks
{
    /// <summary>U-Net levels for <paramref name="size"/>² images: log2(size), a 1×1 bottleneck.</summary>
    public static int UnetDowns(int size) => System.Numerics.BitOperations.Log2((uint)size);

    /// <summary>PatchGAN stride-2 layers for <paramref name="size"/>² images: max(1, log2(size) − 5) (3 at 256: the 70×70 patch).</summary>
    public static int PatchLayers(int size) => Math.Max(1, System.Numerics.BitOperations.Log2((uint)size) - 5);

    /// <summary>Residual blocks of the ResNet generator: 6 up to 128 pixels, 9 above.</summary>
    public static int ResnetBlocks(int size) => size <= 128 ? 6 : 9;

    /// <summary>The PatchGAN's receptive field in pixels: 70 for 3 layers, 34 for 2, 16 for 1.</summary>
    public static int PatchReceptiveField(int layers)
    {
        // Backwards through the stack: two k4 s1 layers, then `layers` k4 s2 layers.
        int field = 1;
        field = field - 1 + 4;              // final conv, stride 1
        field = field - 1 + 4;              // penultimate conv, stride 1
        for (int i = 0; i < layers; i++) field = (field - 1) * 2 + 4;
        return field;
    }

    /// <summary>Convolutions carry a bias unless batch norm follows them (instance norm here has no affine shift).</summary>
    internal static bool ConvBias(NormKind norm) => norm != NormKind.Batch;

    internal static void AddNorm(Sequential s, NormKind norm, int channels)
    {
        switch (norm)
        {
            case NormKind.Batch: s.Add(new BatchNorm2d(channels)); break;
            case NormKind.Instance: s.Add(new InstanceNorm2d(channels)); break;
            case NormKind.None: break;
            default: throw new ArgumentOutOfRangeException(nameof(norm), norm, "the translation networks use batch, instance or no norm");
        }
    }

    /// <summary>The reference's init_weights("normal", 0.02): conv weights N(0, 0.02²), biases 0, batch-norm γ N(1, 0.02²), β 0.</summary>
    public static void InitNormal(Module module, RandomStream gen)
    {
        foreach (var m in module.Modules())
        {
            switch (m)
            {
                case Conv2d c:
                    Init.Normal(c.Weight, gen, 0f, 0.02f);
                    if (c.Bias is not null) Init.Zeros(c.Bias);
                    break;
                case ConvTranspose2d c:
                    Init.Normal(c.Weight, gen, 0f, 0.02f);
                    if (c.Bias is not null) Init.Zeros(c.Bias);
                    break;
                case BatchNorm2d bn:
                    if (bn.Weight is not null) Init.Normal(bn.Weight, gen, 1f, 0.02f);
                    if (bn.Bias is not null) Init.Zeros(bn.Bias);
                    break;
            }
        }
    }
}
