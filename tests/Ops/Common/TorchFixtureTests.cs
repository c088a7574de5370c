// Parity with PyTorch's own float32 kernels (issue 3 item 8). The fixtures under tests/fixtures/torch
// were computed by tests/TorchFixtures (TorchSharp, libtorch CPU) and are committed; this test has no
// TorchSharp reference. Each fixture holds inputs x, w (gamma), b (beta), upstream gradients u, v and
// PyTorch's y, first-order dx dw db = ∂⟨y,u⟩/∂(x,w,b) and second-order ddx ddw = ∂⟨dx,v⟩/∂(x,w)
// with dx taken with create_graph. Our ops recompute all of them from the same inputs.
//
// Tolerance atol + rtol·|ref| per op family (float32 on both sides, different summation orders):
//   conv2d / conv_transpose2d: 1e-4 + 1e-4·|ref| (sums of ≤ 48 products of O(1) terms);
//   batch norm / layer norm:   2e-4 + 2e-4·|ref| first order, 1e-3 + 1e-3·|ref| second order
//   (the double backward of normalisation divides by σ² and subtracts near-equal means).
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops;

/// <summary>Backend tests written once; one subclass per device (STYLE 8).</summary>
public abstract class TorchFixtureTests : DeviceFixture
{
    private static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "fixtures", "torch");

    /// <summary>Every committed fixture. A missing folder is a failure, never an empty, silently passing suite.</summary>
    public static IEnumerable<TestCaseData> Fixtures()
    {
        string dir = FixtureDir;
        string[] files = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.safetensors") : [];
        if (files.Length == 0)
        {
            yield return new TestCaseData("(missing)").SetArgDisplayNames("no fixtures in " + dir);
            yield break;
        }
        foreach (string f in files.OrderBy(f => f, StringComparer.Ordinal))
            yield return new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetArgDisplayNames(Path.GetFileNameWithoutExtension(f));
    }

    [Test]
    public void AllCasesArePresent()
    {
        string[] expected =
        [
            "batch_norm2d_eval", "batch_norm2d_train", "conv2d_k3s1p1_bias", "conv2d_k3s1p2_dilation2_bias",
            "conv2d_k4s2p1", "conv_transpose2d_k3s2p1_outpad1_bias", "conv_transpose2d_k4s2p1", "layer_norm_chw",
        ];
        string[] present = Directory.Exists(FixtureDir)
            ? Directory.GetFiles(FixtureDir, "*.safetensors").Select(f => Path.GetFileNameWithoutExtension(f)!).OrderBy(n => n, StringComparer.Ordinal).ToArray()
            : [];
        Assert.That(present, Is.EqualTo(expected), $"fixtures in {FixtureDir}");
    }

    [TestCaseSource(nameof(Fixtures))]
    public void MatchesPyTorch(string name)
    {
        string path = Path.Combine(FixtureDir, name + ".safetensors");
        Assert.That(File.Exists(path), Is.True, $"fixture {path} is missing (tests/fixtures/torch is copied to the test output)");
        SafeTensorFile file = SafeTensors.Read(path);
        var meta = file.Metadata;
        string op = meta["op"];

        using var scope = TensorScope.Begin();
        Tensor Load(string key, bool grad = false)
        {
            SafeTensorEntry e = file.Tensors[key];
            var t = Tensor.FromArray(e.ToFloat32Array(), new Shape(e.ShapeToArray()), Device);
            t.RequiresGrad = grad;
            return t;
        }
        float[] Ref(string key) => file.Tensors[key].ToFloat32Array();
        bool hasBias = file.Tensors.ContainsKey("b");

        var x = Load("x", grad: true);
        var w = Load("w", grad: true);
        var b = hasBias ? Load("b", grad: true) : null;
        var u = Load("u");
        var v = Load("v");
        Tensor? runningMean = null, runningVar = null;

        (double Atol, double Rtol) first, second;
        Tensor y;
        switch (op)
        {
            case "conv2d":
                first = second = (1e-4, 1e-4);
                y = x.Conv2d(w, b, Int(meta, "stride"), Int(meta, "padding"), Int(meta, "dilation"));
                break;
            case "conv_transpose2d":
                first = second = (1e-4, 1e-4);
                y = x.ConvTranspose2d(w, b, Int(meta, "stride"), Int(meta, "padding"), Int(meta, "output_padding"), Int(meta, "dilation"));
                break;
            case "batch_norm2d":
                first = (2e-4, 2e-4);
                second = (1e-3, 1e-3);
                runningMean = Load("running_mean");
                runningVar = Load("running_var");
                y = x.BatchNorm2d(w, b, runningMean, runningVar, training: meta["training"] == "true",
                    momentum: Float(meta, "momentum"), eps: Float(meta, "eps"));
                break;
            case "layer_norm":
                first = (2e-4, 2e-4);
                second = (1e-3, 1e-3);
                y = x.LayerNorm(w, b, Float(meta, "eps"));
                break;
            default:
                Assert.Fail($"{name}: unknown op '{op}'");
                return;
        }

        string where = $"{name} on {Device.Kind}";
        Assert.That(y.Shape.ToArray(), Is.EqualTo(file.Tensors["y"].ShapeToArray()), $"{where}: output shape");
        GradCheck.AssertClose(y.ToArray(), Ref("y"), first.Atol, first.Rtol, $"{where}: y");
        if (runningMean is not null)
        {
            GradCheck.AssertClose(runningMean.ToArray(), Ref("running_mean_out"), 1e-5, 1e-5, $"{where}: running_mean after");
            GradCheck.AssertClose(runningVar!.ToArray(), Ref("running_var_out"), 1e-5, 1e-5, $"{where}: running_var after");
        }

        Tensor[] wrt = b is null ? [x, w] : [x, w, b];
        Tensor[] g = Autograd.Grad([y], wrt, [u], createGraph: true);
        GradCheck.AssertClose(g[0].ToArray(), Ref("dx"), first.Atol, first.Rtol, $"{where}: dx");
        GradCheck.AssertClose(g[1].ToArray(), Ref("dw"), first.Atol, first.Rtol, $"{where}: dw");
        if (b is not null)
            GradCheck.AssertClose(g[2].ToArray(), Ref("db"), first.Atol, first.Rtol, $"{where}: db");

        // Second order: ∂⟨dx, v⟩/∂(x, w); PyTorch's zeros where dx does not depend on that input.
        Tensor inner = g[0].Mul(v).Sum();
        Tensor[] gg = Autograd.Grad([inner], [x, w], allowUnused: true);
        GradCheck.AssertClose(gg[0].ToArray(), Ref("ddx"), second.Atol, second.Rtol, $"{where}: ddx");
        GradCheck.AssertClose(gg[1].ToArray(), Ref("ddw"), second.Atol, second.Rtol, $"{where}: ddw");
    }

    private static int Int(IReadOnlyDictionary<string, string> meta, string key) =>
        int.Parse(meta[key], System.Globalization.CultureInfo.InvariantCulture);

    private static float Float(IReadOnlyDictionary<string, string> meta, string key) =>
        float.Parse(meta[key], System.Globalization.CultureInfo.InvariantCulture);
}

[TestFixture, Category("cpu")]
public sealed class CpuTorchFixtureTests : TorchFixtureTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuTorchFixtureTests : TorchFixtureTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
}
