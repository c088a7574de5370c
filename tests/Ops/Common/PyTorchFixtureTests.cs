// Parity with PyTorch 1.13's float32 CPU kernels for the fixtures of tests/TorchFixtures/torch_fixtures.py
// (committed under tests/fixtures/pytorch; this test needs no PyTorch):
//   op_*              single ops whose second derivative w.r.t. x is not identically zero (tanh, sigmoid,
//                     the norms, instance norm, the losses) or is (leaky ReLU, L1, a dilated transposed conv),
//                     with PyTorch's y, first order d_* = ∂⟨y, u⟩/∂input and second order dd_* = ∂(Σ⟨d_*, v_*⟩)/∂
//                     (input, u): u requires grad, so the ∂/∂u rules are compared with PyTorch's too;
//   convt_random      randomized conv_transpose2d configurations (stride, padding, dilation, output padding,
//                     odd sizes, non-square kernels): forward and first order where PyTorch accepts the
//                     configuration, the same rejection where it does not (output padding ≥ stride and ≥ dilation,
//                     or an empty output).
//
// Tolerance (set before the first run; the rule of GradCheck.cs, S = the largest |PyTorch value| of the
// compared tuple): float32 on both sides with different summation orders and, for the second order of
// the norms, different formulas: y and first order |ours − ref| ≤ 2e-5·S + 2e-4·|ref|; second order
// ≤ 2e-4·S + 2e-3·|ref|.
using System.Text.Json;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Ops;

public abstract class PyTorchFixtureTests : DeviceFixture
{
    public static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "fixtures", "pytorch");

    private const double FirstAtol = 2e-5, FirstRtol = 2e-4, SecondAtol = 2e-4, SecondRtol = 2e-3;

    public static IEnumerable<TestCaseData> OpFixtures()
    {
        string[] files = Directory.Exists(FixtureDir) ? Directory.GetFiles(FixtureDir, "op_*.safetensors") : [];
        if (files.Length == 0)
        {
            yield return new TestCaseData("(missing)").SetArgDisplayNames("no op fixtures in " + FixtureDir);
            yield break;
        }
        foreach (string f in files.OrderBy(f => f, StringComparer.Ordinal))
            yield return new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetArgDisplayNames(Path.GetFileNameWithoutExtension(f));
    }

    [Test]
    public void AllFixturesArePresent()
    {
        string[] expected =
        [
            "convt_random", "gp_wgan_gp_28", "gp_wgan_gp_28_layernorm", "gp_wgan_gp_64", "gp_wgan_gp_64_layernorm",
            "op_batch_norm_nc_train", "op_bce", "op_bce_with_logits", "op_conv_transpose2d_dilated", "op_instance_norm2d_affine",
            "op_instance_norm2d_plain", "op_l1", "op_layer_norm_nd", "op_leaky_relu", "op_mse", "op_sigmoid", "op_tanh",
        ];
        string[] present = Directory.Exists(FixtureDir)
            ? Directory.GetFiles(FixtureDir, "*.safetensors").Select(f => Path.GetFileNameWithoutExtension(f)!).OrderBy(n => n, StringComparer.Ordinal).ToArray()
            : [];
        Assert.That(present, Is.EqualTo(expected), $"fixtures in {FixtureDir}");
    }

    private Tensor Load(SafeTensorFile file, string key, bool grad = false)
    {
        var e = file.Tensors[key];
        var t = Tensor.FromArray(e.ToFloat32Array(), new Shape(e.ShapeToArray()), Device);
        t.RequiresGrad = grad;
        return t;
    }

    private static float F(IReadOnlyDictionary<string, string> meta, string key, float fallback)
        => meta.TryGetValue(key, out var v) ? float.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    private static int I(IReadOnlyDictionary<string, string> meta, string key)
        => int.Parse(meta[key], System.Globalization.CultureInfo.InvariantCulture);

    private static Tensor Apply(string op, IReadOnlyDictionary<string, string> meta, Dictionary<string, Tensor> t)
    {
        Tensor? Opt(string k) => t.GetValueOrDefault(k);
        float eps = F(meta, "eps", 1e-5f);
        return op switch
        {
            "tanh" => t["x"].Tanh(),
            "sigmoid" => t["x"].Sigmoid(),
            "leaky_relu" => t["x"].LeakyRelu(F(meta, "slope", 0.01f)),
            "instance_norm2d" => t["x"].InstanceNorm2d(Opt("w"), Opt("b"), eps),
            "layer_norm" => t["x"].LayerNorm(Opt("w"), Opt("b"), eps),
            "batch_norm_train" => t["x"].BatchNorm2d(Opt("w"), Opt("b"), null, null, training: true, eps: eps),
            "bce_with_logits" => Losses.BceWithLogits(t["x"], t["t"]),
            "bce" => Losses.Bce(t["x"], t["t"]),
            "mse" => Losses.Mse(t["x"], t["t"]),
            "l1" => Losses.L1(t["x"], t["t"]),
            "conv_transpose2d" => t["x"].ConvTranspose2d(t["w"], Opt("b"), I(meta, "stride"), I(meta, "padding"), I(meta, "output_padding"), I(meta, "dilation")),
            _ => throw new AssertionException($"unknown op '{op}' in a fixture"),
        };
    }

    [TestCaseSource(nameof(OpFixtures))]
    public void OpMatchesPyTorch(string name)
    {
        string path = Path.Combine(FixtureDir, name + ".safetensors");
        Assert.That(File.Exists(path), Is.True, $"fixture {path} is missing");
        var file = SafeTensors.Read(path);
        var meta = file.Metadata;
        string[] inputs = meta["inputs"].Split(','), grad = meta["grad"].Split(',');
        string where = $"{name} on {Device.Kind}";

        using var scope = TensorScope.Begin();
        var t = inputs.ToDictionary(k => k, k => Load(file, k, grad.Contains(k)));
        var y = Apply(meta["op"], meta, t);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(file.Tensors["y"].ShapeToArray()), $"{where}: output shape");
        Fail(GradCheck.CompareScaled([y.ToArray()], [Ref(file, "y")], FirstAtol, FirstRtol, ["y"], where));

        var u = Load(file, "u", grad: true);
        var wrt = grad.Select(k => t[k]).ToArray();
        var first = Autograd.Grad([y], wrt, [u], createGraph: true, allowUnused: true);
        Fail(GradCheck.CompareScaled(first.Select(g => g.ToArray()).ToArray(), grad.Select(k => Ref(file, "d_" + k)).ToArray(),
            FirstAtol, FirstRtol, grad.Select(k => "d_" + k).ToArray(), where));

        Tensor? inner = null;
        for (int i = 0; i < grad.Length; i++)
        {
            var term = first[i].Mul(Load(file, "v_" + grad[i])).Sum();
            inner = inner is null ? term : inner.Add(term);
        }
        string[] secondNames = [.. grad, "u"];
        float[][] second = inner!.RequiresGrad
            ? Autograd.Grad([inner], [.. wrt, u], allowUnused: true).Select(g => g.ToArray()).ToArray()
            : secondNames.Select(k => new float[file.Tensors["dd_" + k].ToFloat32Array().Length]).ToArray();
        Fail(GradCheck.CompareScaled(second, secondNames.Select(k => Ref(file, "dd_" + k)).ToArray(),
            SecondAtol, SecondRtol, secondNames.Select(k => "dd_" + k).ToArray(), where));
    }

    private static double[] Ref(SafeTensorFile file, string key) => GradCheck.ToDouble(file.Tensors[key].ToFloat32Array());

    private static void Fail(string? failure)
    {
        if (failure is not null) Assert.Fail(failure);
    }

    private sealed record ConvTCase(string Key, int N, int Cin, int Cout, int H, int W, int Kh, int Kw, int S, int P, int D, int Op, bool Bias, bool Valid, string? Error);

    /// <summary>Randomized conv_transpose2d configurations against PyTorch: the same outputs and gradients, the same rejections.</summary>
    [Test]
    public void ConvTransposeMatchesPyTorchOnRandomConfigurations()
    {
        string path = Path.Combine(FixtureDir, "convt_random.safetensors");
        Assert.That(File.Exists(path), Is.True, $"fixture {path} is missing");
        var file = SafeTensors.Read(path);
        var cases = JsonSerializer.Deserialize<ConvTCase[]>(file.Metadata["cases"], new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        Assert.That(cases.Count(c => c.Valid), Is.GreaterThanOrEqualTo(30), "enough accepted configurations");
        Assert.That(cases.Count(c => c.Valid && c.Op >= c.S), Is.GreaterThanOrEqualTo(3), "configurations with output padding ≥ stride (< dilation)");
        var failures = new List<string>();
        foreach (var c in cases)
        {
            string what = $"{c.Key} (x {c.N}x{c.Cin}x{c.H}x{c.W}, w {c.Cin}x{c.Cout}x{c.Kh}x{c.Kw}, s{c.S} p{c.P} d{c.D} op{c.Op}{(c.Bias ? ", bias" : "")}) on {Device.Kind}";
            using var scope = TensorScope.Begin();
            if (!c.Valid)
            {
                var x0 = Tensor.Zeros(new Shape(c.N, c.Cin, c.H, c.W), Device);
                var w0 = Tensor.Zeros(new Shape(c.Cin, c.Cout, c.Kh, c.Kw), Device);
                try
                {
                    x0.ConvTranspose2d(w0, null, c.S, c.P, c.Op, c.D);
                    failures.Add($"{what}: accepted, PyTorch rejects it ({c.Error})");
                }
                catch (Exception e) when (e is ArgumentOutOfRangeException or ShapeMismatchException)
                {
                    bool paddingRule = c.Error!.Contains("output padding", StringComparison.Ordinal);
                    if (paddingRule != e is ArgumentOutOfRangeException)
                        failures.Add($"{what}: rejected with {e.GetType().Name} ({e.Message}), PyTorch for another reason ({c.Error})");
                }
                continue;
            }
            var x = Load(file, c.Key + ".x", grad: true);
            var w = Load(file, c.Key + ".w", grad: true);
            var b = c.Bias ? Load(file, c.Key + ".b", grad: true) : null;
            Tensor y;
            try { y = x.ConvTranspose2d(w, b, c.S, c.P, c.Op, c.D); }
            catch (Exception e) { failures.Add($"{what}: threw {e.GetType().Name}: {e.Message}"); continue; }
            if (!y.Shape.ToArray().SequenceEqual(file.Tensors[c.Key + ".y"].ShapeToArray()))
            {
                failures.Add($"{what}: output {y.Shape}, PyTorch ({string.Join(", ", file.Tensors[c.Key + ".y"].ShapeToArray())})");
                continue;
            }
            if (GradCheck.CompareScaled([y.ToArray()], [Ref(file, c.Key + ".y")], FirstAtol, FirstRtol, ["y"], what) is { } f) failures.Add(f);
            Tensor[] wrt = b is null ? [x, w] : [x, w, b];
            var g = Autograd.Grad([y], wrt, [Load(file, c.Key + ".u")]);
            string[] names = b is null ? ["dx", "dw"] : ["dx", "dw", "db"];
            if (GradCheck.CompareScaled(g.Select(t => t.ToArray()).ToArray(), names.Select(n => Ref(file, c.Key + "." + n)).ToArray(),
                    FirstAtol, FirstRtol, names, what) is { } f2)
                failures.Add(f2);
        }
        Assert.That(failures, Is.Empty, $"{failures.Count} of {cases.Length} configurations disagree with PyTorch");
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuPyTorchFixtureTests : PyTorchFixtureTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuPyTorchFixtureTests : PyTorchFixtureTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
}
