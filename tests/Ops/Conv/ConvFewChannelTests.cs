using System.Runtime.Intrinsics.X86;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops.Conv;

/// <summary>
/// The cpu set's direct kernels for few input channels (ConvFewChannels.cs: Ckk ≤ 64) against the float64 reference
/// and the GEMM lowering they replace (<see cref="ConvLoweringOptions.GemmOnly"/>): forward, input gradient
/// (ConvTranspose2d's forward) and weight gradient, with biases, bit-identical for 1 and 2 threads. Shapes: odd
/// sizes, stride 1, 2 and 3, padding 0/1/2, dilation 2, batch 1, Cout and kH·kW not multiples of 4 (the remainder
/// tiles), pixel counts below and above 64 and not multiples of 16 (masked tails), a forward and weight gradient cut
/// into several bands of output rows, weight gradients over several samples at once (with a partial last pass), and the
/// 28-pixel models' first layer (Cin = 1, k4 s2 p1) and last layer.
/// </summary>
[TestFixture, Category("cpu")]
public sealed class ConvFewChannelTests
{
    // (N, Cin, H, W, Cout, k, stride, pad, dilation)
    private static readonly (int N, int Cin, int H, int W, int Cout, int K, int S, int P, int D)[] Geometries =
    [
        (3, 1, 28, 28, 16, 4, 2, 1, 1),   // M28.D1 / G2 in conv orientation, fewer channels: P = 196
        (2, 3, 20, 18, 12, 4, 2, 1, 1),   // RGB k4 s2 p1, Ckk = 48, P = 90
        (3, 3, 9, 7, 10, 3, 1, 1, 1),     // odd sizes, Cout = 10, kH·kW = 9
        (1, 2, 11, 10, 5, 3, 2, 0, 1),    // batch 1, stride 2 without padding, Cout = 5
        (2, 1, 13, 11, 6, 3, 1, 2, 2),    // dilation 2, padding 2
        (2, 2, 13, 10, 7, 4, 3, 2, 1),    // stride 3: input pixels no tap reaches
        (1, 4, 8, 200, 6, 4, 1, 0, 1),    // Ckk = 64, Wo = 197: five one-row bands; input gradient via the row walk
        (42, 1, 10, 10, 8, 4, 2, 1, 1),   // weight gradient: chunks of 4 samples (columns of 4 samples at once), the last of 2
        (18, 2, 16, 16, 8, 3, 1, 1, 1),   // weight gradient: columns of 3 samples at once in chunks of 4 (passes of 3, 1), P = 256, Ckk = 18 (rows 16, 17 alone)
        (2, 1, 5, 5, 3, 5, 1, 0, 1),      // dense (kernel = the whole input): stays a plain GEMM
    ];

    private static ConvGeometry Geometry(int index)
    {
        var (n, cin, h, w, cout, k, s, p, d) = Geometries[index];
        return new ConvGeometry(n, cin, h, w, cout, k, k, ConvGeometry.OutputSize(h, k, s, p, d), ConvGeometry.OutputSize(w, k, s, p, d), s, p, d);
    }

    private static IEnumerable<int> Indices() => Enumerable.Range(0, Geometries.Length - 1);

    private static float[] Random(Random rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    [TestCaseSource(nameof(Indices))]
    public void MatchesReferenceAndGemmLoweringAndIsThreadIndependent(int index)
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the direct few-channel kernels are not used on this CPU");
        var g = Geometry(index);
        using (var probe = Device.CreateCpu(new CpuKernelOptions { Threads = 1 }))
        {
            foreach (var kind in new[] { ConvKernelKind.Forward, ConvKernelKind.InputGrad })
                Assert.That(ConvKernels.TakesFewChannel(g, probe, kind), Is.True, $"{g}: {kind} must take the direct path");
            // The weight gradient's dispatch also wants P ≥ 64 (below, its kernel is called directly).
            Assert.That(ConvKernels.TakesFewChannel(g, probe, ConvKernelKind.WeightGrad), Is.EqualTo(g.P >= 64), $"{g}: weight gradient dispatch");
        }
        var rng = new Random(40 + index);
        float[] x = Random(rng, g.N * g.Cin * g.HW), w = Random(rng, g.Cout * g.Ckk), gy = Random(rng, g.N * g.Cout * g.P);
        float[] b = Random(rng, g.Cout), bt = Random(rng, g.Cin);
        var one = Run(new CpuKernelOptions { Threads = 1 }, g, x, w, gy, b, bt);
        var two = Run(new CpuKernelOptions { Threads = 2 }, g, x, w, gy, b, bt);
        var gemm = Run(new CpuKernelOptions { Threads = 2, Conv = new ConvLoweringOptions { GemmOnly = true } }, g, x, w, gy, b, bt);
        string[] names = ["forward", "input gradient", "weight gradient"];
        for (int k = 0; k < 3; k++)
        {
            Assert.That(Bits(two[k]), Is.EqualTo(Bits(one[k])), $"{g}: {names[k]}, 1 and 2 threads");
            GradCheck.AssertClose(one[k], gemm[k], k == 0 ? 2e-5 : 1e-4, 1e-5, $"{g}: {names[k]} against the GEMM lowering");
        }
        double[] x64 = GradCheck.ToDouble(x), w64 = GradCheck.ToDouble(w), gy64 = GradCheck.ToDouble(gy);
        GradCheck.AssertClose(one[0], ConvKernels.Conv2dReference(x64, w64, GradCheck.ToDouble(b), g), 2e-5, 1e-5, $"{g}: forward");
        GradCheck.AssertClose(one[1], ConvKernels.ConvTranspose2dReference(gy64, w64, GradCheck.ToDouble(bt), g), 1e-4, 1e-5, $"{g}: input gradient");
        GradCheck.AssertClose(one[2], ConvKernels.Conv2dWeightGradReference(x64, gy64, g), 1e-4, 1e-5, $"{g}: weight gradient");
    }

    /// <summary>The dispatch: a dense conv, Ckk above 64, GemmOnly, a forced GEMM family and ILGPU stay on the GEMM lowering.</summary>
    [Test]
    public void DispatchDependsOnGeometryAndOptionsOnly()
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the direct few-channel kernels are not used on this CPU");
        using var cpu = Device.CreateCpu(new CpuKernelOptions { Threads = 2 });
        using var gemmOnly = Device.CreateCpu(new CpuKernelOptions { Conv = new ConvLoweringOptions { GemmOnly = true } });
        using var avx2 = Device.CreateCpu(new CpuKernelOptions { Gemm = CpuGemmKernel.Avx2 });
        var d1 = Geometry(0);
        Assert.That(ConvKernels.TakesFewChannel(Geometry(Geometries.Length - 1), cpu, ConvKernelKind.Forward), Is.False, "dense");
        Assert.That(ConvKernels.TakesFewChannel(d1 with { Cin = 5 }, cpu, ConvKernelKind.Forward), Is.False, "Ckk = 80");
        Assert.That(ConvKernels.TakesFewChannel(d1, gemmOnly, ConvKernelKind.WeightGrad), Is.False, "GemmOnly");
        Assert.That(ConvKernels.TakesFewChannel(d1, avx2, ConvKernelKind.InputGrad), Is.False, "forced AVX2 GEMM");
        Assert.That(ConvKernels.TakesFewChannel(d1, Device.IlgpuCpu, ConvKernelKind.Forward), Is.False, "ILGPU");
        Assert.That(ConvKernels.TakesFewChannel(d1 with { Cout = 512, Cin = 1 }, cpu, ConvKernelKind.WeightGrad), Is.False, "weight gradient, Cout·Ckk = 8192");
        Assert.That(ConvKernels.TakesFewChannel(d1 with { Cout = 512, Cin = 1 }, cpu, ConvKernelKind.Forward), Is.True, "forward, Cout·Ckk = 8192");
    }

    /// <summary>
    /// x and gy followed by NaNs, every output followed by a sentinel: the kernels read nothing past their inputs
    /// (a NaN would reach the results) and write nothing past their outputs. Shapes whose last rows end the planes
    /// (stride 2 reads near the plane end, pixel counts not multiples of 16, the gather and the row-walk col2im).
    /// </summary>
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(3)]
    [TestCase(6)]
    public unsafe void ReadsAndWritesNothingPastTheTensors(int index)
    {
        if (!Avx512F.IsSupported) Assert.Ignore("no AVX-512: the direct few-channel kernels are not used on this CPU");
        var g = Geometry(index);
        var t = new GuardedConvBuffers(g, seed: 9);
        var acc = new float[ConvKernels.FewChannelWeightGradWorkspace(g)];
        using var device = Device.CreateCpu(new CpuKernelOptions { Threads = 2 });
        fixed (float* xp = t.X, gp = t.Gy, wp = t.W, bp = t.B, btp = t.Bt, yp = t.Y, dxp = t.Dx, dwp = t.Dw, ap = acc)
        {
            ConvKernels.ForwardFewChannelCpu(device.Parallel, xp, wp, bp, yp, g);
            ConvKernels.InputGradFewChannelCpu(device.Parallel, gp, wp, btp, dxp, g);
            ConvKernels.WeightGradFewChannelCpu(device.Parallel, xp, gp, dwp, ap, g);
        }
        t.AssertNothingReadOrWrittenPastTheEnds();
    }

    private static int[] Bits(float[] a) => a.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>Forward with bias, input gradient with bias (ConvTranspose2d's kernel), weight gradient, through the launchers.</summary>
    private static unsafe float[][] Run(CpuKernelOptions options, ConvGeometry g, float[] x, float[] w, float[] gy, float[] b, float[] bt)
    {
        using var device = Device.CreateCpu(options);
        using var scope = TensorScope.Begin();
        var tx = Tensor.FromArray(x, g.InputShape, device);
        var tw = Tensor.FromArray(w, g.WeightShape, device);
        var tg = Tensor.FromArray(gy, g.OutputShape, device);
        var tb = Tensor.FromArray(b, new Shape(g.Cout), device);
        var tbt = Tensor.FromArray(bt, new Shape(g.Cin), device);
        var y = Tensor.Zeros(g.OutputShape, device);
        var dx = Tensor.Zeros(g.InputShape, device);
        var dw = Tensor.Zeros(g.WeightShape, device);
        ConvKernels.Forward(tx, tw, tb, y, g);
        ConvKernels.BackwardInput(tg, tw, tbt, dx, g);
        if (options.Conv.GemmOnly) ConvKernels.WeightGrad(tx, tg, dw, g);
        else
        {
            // The direct kernel itself, also for the shapes whose dispatch keeps the GEMM lowering (P < 64).
            var acc = new float[ConvKernels.FewChannelWeightGradWorkspace(g)];
            var dwa = new float[g.Cout * g.Ckk];
            fixed (float* xp = x, gp = gy, dp = dwa, ap = acc) ConvKernels.WeightGradFewChannelCpu(device.Parallel, xp, gp, dp, ap, g);
            if (ConvKernels.TakesFewChannel(g, device, ConvKernelKind.WeightGrad))
            {
                ConvKernels.WeightGrad(tx, tg, dw, g);
                Assert.That(Bits(dw.ToArray()), Is.EqualTo(Bits(dwa)), $"{g}: the launcher runs the direct weight gradient");
            }
            return [y.ToArray(), dx.ToArray(), dwa];
        }
        return [y.ToArray(), dx.ToArray(), dw.ToArray()];
    }
}
