// The translation networks against junyanz/pytorch-CycleGAN-and-pix2pix: state-dict names, parameter
// counts at the reference sizes (its training logs print 54.414 M for unet_256, 2.769 M for the
// 70×70 PatchGAN on 6 channels, 11.378 M for resnet_9blocks), shapes, receptive fields, dropout.
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Translation;

[TestFixture]
public sealed class TranslationNetworkTests
{
    // The counts by the reference's construction (models/networks.py), written out per layer:
    // convs k·k·Cin·Cout (+ Cout when a bias), batch norm 2·C; see the test for the sums.
    private static long Conv(int cin, int cout, int k, bool bias) => (long)cin * cout * k * k + (bias ? cout : 0);

    private static long UnetCount(int inC, int outC, int downs, int ngf)
    {
        long p = Conv(ngf * 8, ngf * 8, 4, false) * 2 + 2 * ngf * 8;                        // innermost: down, up, up-norm
        for (int i = 0; i < downs - 5; i++) p += Conv(ngf * 8, ngf * 8, 4, false) + Conv(ngf * 16, ngf * 8, 4, false) + 4 * ngf * 8;
        foreach (var (outer, inner) in new[] { (ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2) })
            p += Conv(outer, inner, 4, false) + 2 * inner + Conv(inner * 2, outer, 4, false) + 2 * outer;
        return p + Conv(inC, ngf, 4, false) + Conv(ngf * 2, outC, 4, true);                  // outermost: no norms, biased up-conv
    }

    [Test]
    public void Unet256AndPatchGanHaveTheReferenceNamesAndParameterCounts()
    {
        var gen = new RandomStream(1);
        var g = new UnetGenerator(3, 3, TranslationNetworks.UnetDowns(256), 64, NormKind.Batch, dropout: true, new RandomStream(2), gen);
        Assert.That(g.ParameterCount(), Is.EqualTo(UnetCount(3, 3, 8, 64)).And.EqualTo(54_413_955), "unet_256 (the reference logs 54.414 M)");
        var keys = g.StateDict().Keys.ToList();
        Assert.That(keys, Does.Contain("model.model.0.weight").And.Contain("model.model.1.model.1.weight").And.Contain("model.model.1.model.2.running_mean")
            .And.Contain("model.model.3.weight").And.Contain("model.model.3.bias"));
        Assert.That(keys, Does.Not.Contain("model.model.0.bias"), "convs followed by batch norm have no bias");
        // The innermost block, 7 levels down: [LeakyReLU, down, ReLU, up, norm].
        Assert.That(keys, Does.Contain("model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.model.1.weight")
            .And.Contain("model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.model.4.running_var"));
        Assert.That(g.Modules().OfType<Dropout>().Count(), Is.EqualTo(3), "the three 8·ngf blocks between the innermost and the 4·ngf block");

        var d = new PatchDiscriminator(6, 64, TranslationNetworks.PatchLayers(256), NormKind.Batch, gen);
        Assert.That(d.ParameterCount(), Is.EqualTo(2_768_705), "the 70×70 PatchGAN on (A, B) (the reference logs 2.769 M)");
        Assert.That(d.StateDict().Keys, Does.Contain("model.0.bias").And.Contain("model.2.weight").And.Contain("model.3.running_var").And.Contain("model.11.bias")
            .And.Not.Contain("model.2.bias"));
        Assert.That(TranslationNetworks.PatchLayers(256), Is.EqualTo(3));
        Assert.That(TranslationNetworks.PatchReceptiveField(3), Is.EqualTo(70));
    }

    [Test]
    public void Resnet9BlocksHasTheReferenceNamesAndParameterCount()
    {
        var g = new ResnetGenerator(3, 3, 64, NormKind.Instance, TranslationNetworks.ResnetBlocks(256), new RandomStream(3));
        long expected = Conv(3, 64, 7, true) + Conv(64, 128, 3, true) + Conv(128, 256, 3, true) + 9 * 2 * Conv(256, 256, 3, true)
            + Conv(256, 128, 3, true) + Conv(128, 64, 3, true) + Conv(64, 3, 7, true);
        Assert.That(g.ParameterCount(), Is.EqualTo(expected).And.EqualTo(11_378_179), "resnet_9blocks (the reference logs 11.378 M)");
        Assert.That(g.StateDict().Keys, Does.Contain("model.1.weight").And.Contain("model.1.bias").And.Contain("model.10.conv_block.1.weight")
            .And.Contain("model.18.conv_block.5.bias").And.Contain("model.19.weight").And.Contain("model.26.weight"));
        Assert.That(g.NamedBuffers(), Is.Empty, "instance norm without affine parameters or running statistics");
        Assert.That(TranslationNetworks.ResnetBlocks(128), Is.EqualTo(6));
    }

    [TestCase(32, 1, 3, 14, 16), TestCase(64, 3, 1, 30, 16), TestCase(128, 3, 3, 30, 34), TestCase(256, 1, 1, 30, 70)]
    public void TranslationNetworksGiveTheRightShapes(int size, int inC, int outC, int patches, int field)
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(4);
        var g = new UnetGenerator(inC, outC, TranslationNetworks.UnetDowns(size), 2, NormKind.Batch, true, new RandomStream(5), gen);
        var r = new ResnetGenerator(inC, outC, 2, NormKind.Instance, TranslationNetworks.ResnetBlocks(size), gen);
        var d = new PatchDiscriminator(inC + outC, 2, TranslationNetworks.PatchLayers(size), NormKind.Batch, gen);
        var x = Tensor.RandU(new Shape(2, inC, size, size), gen, low: -1, high: 1);
        var y = g.Forward(x);
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, outC, size, size)));
        Assert.That(y.ToArray().Max(Math.Abs), Is.LessThanOrEqualTo(1f), "Tanh output");
        Assert.That(r.Forward(x).Shape, Is.EqualTo(new Shape(2, outC, size, size)));
        Assert.That(d.Forward(Tensor.Concat([x, y], 1)).Shape, Is.EqualTo(new Shape(2, 1, patches, patches)));
        Assert.That(TranslationNetworks.PatchReceptiveField(TranslationNetworks.PatchLayers(size)), Is.EqualTo(field));
    }

    /// <summary>The receptive field, measured: a change of one input pixel reaches exactly the patches within the field.</summary>
    [Test]
    public void PatchGanReceptiveFieldIsMeasured()
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(6);
        var d = new PatchDiscriminator(1, 2, 1, NormKind.None, gen);
        d.Eval();
        var x = Tensor.RandN(new Shape(1, 1, 40, 40), gen).KeepAlive();
        x.RequiresGrad = true;
        var scores = d.Forward(x);
        // The gradient of one patch logit: nonzero exactly on its receptive field (16×16 for one stride-2 layer).
        int h = scores.Shape[2], w = scores.Shape[3];
        var pick = new float[h * w];
        pick[(h / 2) * w + w / 2] = 1f;
        var grad = Autograd.Grad([scores], [x], [Tensor.FromArray(pick, scores.Shape)])[0].ToArray();
        int rows = Enumerable.Range(0, 40).Count(i => Enumerable.Range(0, 40).Any(j => grad[i * 40 + j] != 0f));
        int cols = Enumerable.Range(0, 40).Count(j => Enumerable.Range(0, 40).Any(i => grad[i * 40 + j] != 0f));
        Assert.That((rows, cols), Is.EqualTo((16, 16)));
    }
}
