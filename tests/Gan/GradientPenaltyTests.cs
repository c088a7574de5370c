// The WGAN-GP gradient penalty on the critic that ships: GanModel.Create for wgan-gp (the DCGAN critic of
// Networks.DcganDiscriminatorLayers, canonical without a norm, and with the LayerNorm option) at 28×28 and
// 64×64, through the shipped WassersteinGradientPenalty.GradientPenalty. Widths are small (8 at 28, 4 at 64;
// the CLI default is 64) so the fixtures stay small: the layers, kernels and code path are the shipped ones.
//
// 1. Against PyTorch (tests/fixtures/pytorch/gp_*, tests/TorchFixtures/torch_fixtures.py): the same weights
//    (loaded by state-dict name, strictly: the architectures must match name for name and shape for shape), the
//    same real and fake batches and the same α (drawn by our RandomStream; the generator's port is checked
//    value for value), the penalty λ·mean((‖∇D(x̂)‖ − 1)²), its gradient w.r.t. every critic parameter and
//    w.r.t. the interpolate x̂ (through a zero offset added to the critic's input). Tolerance, set before the
//    run (float32 both sides, second-order quantities through up to five layers): the penalty to 1e-4
//    relative; each gradient tensor |ours − ref| ≤ 1e-4·S_t + 1e-3·|ref|, S_t its largest |ref|.
// 2. Against finite differences of a float64 critic built from the op families' float64 references (conv,
//    its adjoint, LeakyReLU, layer norm and their VJPs), with the same weights: central differences (step
//    1e-6) of the float64 penalty for 8 random elements of every parameter tensor and of x̂, and along two
//    random unit directions over all of them at once. LeakyReLU is not differentiable at 0, so every
//    evaluation point is checked: no LeakyReLU input may move by more than half its distance from the kink
//    (max |Δz| < min |z| / 2, asserted for every difference taken); the fixture's weights were chosen so that
//    min |z| ≥ 1e-4 at x̂. Tolerance (float32 analytic vs float64 differences with error ~1e-9): as in 1.
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using GpuGan.Tests.Ops;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

public abstract class GradientPenaltyTests : DeviceFixture
{
    private const double Atol = 1e-4, Rtol = 1e-3, PenaltyRtol = 1e-4, Step = 1e-6;

    public static IEnumerable<TestCaseData> Critics() =>
        new[] { "gp_wgan_gp_28", "gp_wgan_gp_28_layernorm", "gp_wgan_gp_64", "gp_wgan_gp_64_layernorm" }
            .Select(n => new TestCaseData(n).SetArgDisplayNames(n));

    /// <summary>The critic sizes this device runs without GPUGAN_FULL_CHECKS.</summary>
    protected virtual bool Quick(int size) => true;

    /// <summary>One fixture's shipped model with the fixture's weights, and the penalty's inputs.</summary>
    private sealed class Setup
    {
        public required SafeTensorFile File { get; init; }
        public required GanModel Model { get; init; }
        public required Tensor Real { get; init; }
        public required Tensor Fake { get; init; }
        public required ulong AlphaSeed { get; init; }
        public required float Weight { get; init; }
        public required int Size { get; init; }
    }

    private Setup Load(string name)
    {
        string path = Path.Combine(PyTorchFixtureTests.FixtureDir, name + ".safetensors");
        Assert.That(System.IO.File.Exists(path), Is.True, $"fixture {path} is missing");
        var file = SafeTensors.Read(path);
        var meta = file.Metadata;
        int Int(string k) => int.Parse(meta[k], System.Globalization.CultureInfo.InvariantCulture);
        int size = Int("size"), channels = Int("channels"), width = Int("width"), batch = Int("batch");
        if (!Quick(size)) FullChecks.Require($"{name} on {Device.Kind}");
        // The 64-pixel critics on the simulator (~20 s) add nothing the rest does not check: the 28-pixel critics run the
        // same ops through the same penalty on ilgpu-cpu, and the 64-pixel ones run against PyTorch on cpu.
        if (Device.Kind == DeviceKind.IlgpuCpu && size > 32)
            FullChecks.RequireImplied($"{name} on {Device.Kind}", "the 28-pixel critics on ilgpu-cpu and the 64-pixel critics on cpu");

        var spec = GanSpec.Canonical(ModelFamily.WganGp, new ImageShape(channels, size, size), latentDim: 8, width, classCount: 0)
            with { DiscriminatorNorm = meta["norm"] == "layer" ? NormKind.Layer : NormKind.None };
        var model = GanModel.Create(spec, seed: 1, Device);
        var state = file.Tensors.Where(t => t.Key.StartsWith("param.", StringComparison.Ordinal))
            .ToDictionary(t => t.Key["param.".Length..], t => Tensor.FromArray(t.Value.ToFloat32Array(), new Shape(t.Value.ShapeToArray()), Device));
        model.D.LoadStateDict(state, strict: true);   // the shipped critic and PyTorch's: the same names and shapes

        var shape = new Shape(batch, channels, size, size);
        var real = Tensor.RandU(shape, new RandomStream(ulong.Parse(meta["seed_real"])), Device, -1f, 1f);
        var fake = Tensor.RandU(shape, new RandomStream(ulong.Parse(meta["seed_fake"])), Device, -1f, 1f);
        ulong alphaSeed = ulong.Parse(meta["seed_alpha"]);
        // The Python port of RandomStream drew the same values (exact: they are 24-bit uniforms).
        Assert.That(real.ToArray()[..16], Is.EqualTo(file.Tensors["real_head"].ToFloat32Array()), "real batch (RandomStream port)");
        Assert.That(fake.ToArray()[..16], Is.EqualTo(file.Tensors["fake_head"].ToFloat32Array()), "fake batch (RandomStream port)");
        Assert.That(Tensor.RandU(new Shape(batch, 1, 1, 1), new RandomStream(alphaSeed), Device).ToArray(),
            Is.EqualTo(file.Tensors["alpha"].ToFloat32Array()), "α as GradientPenalty draws it");
        float weight = float.Parse(meta["penalty_weight"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(weight, Is.EqualTo(WassersteinGradientPenalty.PaperPenaltyWeight), "the fixture uses the shipped λ");
        return new Setup { File = file, Model = model, Real = real, Fake = fake, AlphaSeed = alphaSeed, Weight = weight, Size = size };
    }

    /// <summary>Our penalty and its gradients: (value, name → gradient, with "input" for x̂), and x̂ itself.</summary>
    private static (double Penalty, Dictionary<string, float[]> Grads, float[] Mixed) Ours(Setup s)
    {
        var d = s.Model.D;
        var device = s.Real.Device;
        var offset = Tensor.Zeros(s.Real.Shape, device);
        offset.RequiresGrad = true;
        float[]? mixed = null;
        var penalty = WassersteinGradientPenalty.GradientPenalty(x =>
        {
            mixed = x.ToArray();
            return d.Score(x.Add(offset), null);
        }, s.Real, s.Fake, new RandomStream(s.AlphaSeed), device, s.Weight);
        var named = d.NamedParameters().ToArray();
        // allowUnused: some derivatives are structurally zero and our tape does not connect them (PyTorch's does, with
        // zero rules): a piecewise-linear critic's ∇D does not depend on x̂, and no critic's ∇D depends on a LayerNorm bias
        // (LeakyReLU's mask is piecewise constant). PyTorch's zeros are compared with ours.
        var grads = Autograd.Grad([penalty], [.. named.Select(p => p.Value), offset], allowUnused: true);
        var result = named.Select((p, i) => (p.Name, grads[i].ToArray())).ToDictionary(p => p.Name, p => p.Item2);
        result["input"] = grads[^1].ToArray();
        return (penalty.Item(), result, mixed!);
    }

    private static string? Compare(float[] ours, double[] reference, string what)
    {
        double s = reference.Max(Math.Abs);
        return GradCheck.Compare(ours, reference, Atol * s, Rtol, $"{what} (S = {s:G3})");
    }

    [TestCaseSource(nameof(Critics))]
    public void PenaltyAndGradientsMatchPyTorch(string name)
    {
        using var scope = TensorScope.Begin();
        var s = Load(name);
        var (penalty, grads, _) = Ours(s);
        double reference = s.File.Tensors["penalty"].ToFloat32Array()[0];
        TestContext.Out.WriteLine($"{name}: penalty {penalty:G7} (PyTorch {reference:G7})");
        Assert.That(penalty, Is.EqualTo(reference).Within(PenaltyRtol * Math.Abs(reference)), $"{name} on {Device.Kind}: penalty");
        var failures = new List<string>();
        foreach (var (key, ours) in grads)
        {
            var r = GradCheck.ToDouble(s.File.Tensors["grad." + key].ToFloat32Array());
            if (Compare(ours, r, $"{name} on {Device.Kind}: ∂penalty/∂{key}") is { } f) failures.Add(f);
        }
        Assert.That(grads.Keys.Count(k => k != "input"), Is.EqualTo(s.File.Tensors.Keys.Count(k => k.StartsWith("param.", StringComparison.Ordinal))), "every critic parameter");
        Assert.That(failures, Is.Empty);
    }

    // ============================================================ the float64 critic

    /// <summary>The shipped critic's layers in float64, from its modules (so the double critic follows the shipped stack).</summary>
    private sealed class Critic64(Sequential main, int batch, int channels, int size)
    {
        /// <summary>(penalty, every LeakyReLU input) at parameters θ (by state-dict name) and interpolate x̂.</summary>
        public (double Penalty, List<double[]> Preactivations) Evaluate(Dictionary<string, double[]> theta, double[] xhat, double weight)
        {
            var inputs = new List<(double[] X, int[] Shape)>();
            var pre = new List<double[]>();
            double[] x = xhat;
            int[] shape = [batch, channels, size, size];
            for (int i = 0; i < main.Count; i++)
            {
                inputs.Add((x, shape));
                switch (main[i])
                {
                    case GpuGan.Layers.Conv2d c:
                        var g = Geometry(c, shape);
                        x = ConvKernels.Conv2dReference(x, theta[$"main.{i}.weight"], null, g);
                        shape = [g.N, g.Cout, g.Ho, g.Wo];
                        break;
                    case GpuGan.Layers.LayerNorm ln:
                        Assert.That(ln.Eps, Is.EqualTo(1e-5f), "NormView's ε");
                        x = NormView.LayerNorm(x, shape, theta[$"main.{i}.weight"], theta[$"main.{i}.bias"]);
                        break;
                    case LeakyReLU a:
                        pre.Add(x);
                        x = ElementwiseKernels.UnaryReference<LeakyReluOp>(x, a.NegativeSlope);
                        break;
                    default:
                        Assert.Fail($"the critic has a {main[i].GetType().Name}, which the float64 critic does not model");
                        break;
                }
            }
            // ∇x̂ Σ_n D(x̂_n): the upstream gradient of every score is 1, carried back through each layer's VJP.
            double[] u = x.Select(_ => 1.0).ToArray();
            for (int i = main.Count - 1; i >= 0; i--)
            {
                var (xin, sin) = inputs[i];
                u = main[i] switch
                {
                    GpuGan.Layers.Conv2d c => ConvKernels.ConvTranspose2dReference(u, theta[$"main.{i}.weight"], null, Geometry(c, sin)),
                    GpuGan.Layers.LayerNorm => NormView.LayerNormVjp(xin, sin, theta[$"main.{i}.weight"], true, u)[0]!,
                    LeakyReLU a => ElementwiseKernels.UnaryVjpReference<LeakyReluOp>(xin, u, a.NegativeSlope),
                    _ => throw new InvalidOperationException(),
                };
            }
            int per = u.Length / batch;
            double total = 0;
            for (int n = 0; n < batch; n++)
            {
                double sq = 0;
                for (int k = 0; k < per; k++) sq += u[n * per + k] * u[n * per + k];
                double norm = Math.Sqrt(sq + (double)WassersteinGradientPenalty.NormEpsilon);
                total += (norm - 1) * (norm - 1);
            }
            return (weight * total / batch, pre);
        }

        private static ConvGeometry Geometry(GpuGan.Layers.Conv2d c, int[] s)
        {
            int k = c.KernelSize;
            return new ConvGeometry(s[0], s[1], s[2], s[3], c.OutChannels, k, k,
                ConvGeometry.OutputSize(s[2], k, c.Stride, c.Padding, c.Dilation), ConvGeometry.OutputSize(s[3], k, c.Stride, c.Padding, c.Dilation),
                c.Stride, c.Padding, c.Dilation);
        }
    }

    /// <summary>Part 2 (the numeric side is device-independent, so it runs with the cpu kernels only).</summary>
    protected void CheckFiniteDifferences(string name)
    {
        using var scope = TensorScope.Begin();
        var s = Load(name);
        var (penalty, grads, mixed) = Ours(s);
        var d = (DcganDiscriminator)s.Model.D;
        var meta = s.File.Metadata;
        int batch = int.Parse(meta["batch"]), channels = int.Parse(meta["channels"]);
        var critic = new Critic64(d.Main, batch, channels, s.Size);

        // θ and x̂ in double (x̂ exactly as GradientPenalty mixed it).
        var theta = d.NamedParameters().ToDictionary(p => p.Name, p => GradCheck.ToDouble(p.Value.ToArray()));
        var xhat = GradCheck.ToDouble(mixed);
        var (p0, z0) = critic.Evaluate(theta, xhat, s.Weight);
        double margin = z0.Min(z => z.Min(Math.Abs));
        TestContext.Out.WriteLine($"{name}: penalty ours {penalty:G7}, float64 {p0:G9}; min |LeakyReLU input| {margin:G3}");
        Assert.That(penalty, Is.EqualTo(p0).Within(PenaltyRtol * Math.Abs(p0)), "penalty vs the float64 critic");
        Assert.That(margin, Is.GreaterThan(1e-5), "the point is away from every kink (the fixture chose its weights for ≥ 1e-4)");

        double worstRatio = 0;
        int evaluations = 0;
        double Difference(Action<double> set)
        {
            double Side(double h)
            {
                set(h);
                var (p, z) = critic.Evaluate(theta, xhat, s.Weight);
                set(0);
                evaluations++;
                double moved = 0;
                for (int l = 0; l < z.Count; l++) for (int k = 0; k < z[l].Length; k++) moved = Math.Max(moved, Math.Abs(z[l][k] - z0[l][k]));
                worstRatio = Math.Max(worstRatio, moved / margin);
                Assert.That(moved, Is.LessThan(margin / 2), $"a LeakyReLU input moved {moved:G3} within the step, at {margin:G3} from its kink");
                return p;
            }
            return (Side(Step) - Side(-Step)) / (2 * Step);
        }

        var gen = new RandomStream(5);
        var tensors = theta.Keys.Select(k => (Name: k, Values: theta[k])).Append((Name: "input", Values: xhat)).ToArray();
        var failures = new List<string>();
        foreach (var (key, values) in tensors)
        {
            var ours = grads[key];
            double scale = s.File.Tensors["grad." + key].ToFloat32Array().Max(v => Math.Abs((double)v));
            var picks = Enumerable.Range(0, 8).Select(_ => gen.NextInt(values.Length)).Distinct().ToArray();
            foreach (int e in picks)
            {
                double saved = values[e];
                double numeric = Difference(h => values[e] = saved + h);
                double err = Math.Abs(ours[e] - numeric), tol = Atol * scale + Rtol * Math.Abs(numeric);
                if (!(err <= tol)) failures.Add($"∂penalty/∂{key}[{e}]: ours {ours[e]:G7}, differences {numeric:G9} (|diff| {err:G3} > {tol:G3})");
            }
        }
        // Random unit directions over every parameter and x̂ at once.
        for (int dir = 0; dir < 2; dir++)
        {
            var r = tensors.Select(t => { var v = new float[t.Values.Length]; gen.FillNormal(v); return GradCheck.ToDouble(v); }).ToArray();
            double norm = Math.Sqrt(r.Sum(v => v.Sum(x => x * x)));
            var saved = tensors.Select(t => (double[])t.Values.Clone()).ToArray();
            double analytic = 0, magnitude = 0;
            for (int t = 0; t < tensors.Length; t++)
                for (int e = 0; e < r[t].Length; e++)
                {
                    r[t][e] /= norm;
                    analytic += grads[tensors[t].Name][e] * r[t][e];
                    magnitude += Math.Abs(grads[tensors[t].Name][e] * r[t][e]);
                }
            double numeric = Difference(h =>
            {
                for (int t = 0; t < tensors.Length; t++)
                    for (int e = 0; e < r[t].Length; e++) tensors[t].Values[e] = saved[t][e] + h * r[t][e];
            });
            double err = Math.Abs(analytic - numeric), tol = Atol * magnitude + Rtol * Math.Abs(numeric);
            if (!(err <= tol)) failures.Add($"direction {dir}: ours {analytic:G7}, differences {numeric:G9} (|diff| {err:G3} > {tol:G3})");
        }
        TestContext.Out.WriteLine($"{evaluations} float64 evaluations; the largest LeakyReLU move was {worstRatio:P3} of the distance to the nearest kink");
        Assert.That(failures, Is.Empty, $"{name} on {Device.Kind}");
    }
}

[TestFixture, Category("cpu")]
public sealed class CpuGradientPenaltyTests : GradientPenaltyTests
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    [TestCaseSource(typeof(GradientPenaltyTests), nameof(Critics))]
    public void PenaltyGradientMatchesFiniteDifferencesAwayFromKinks(string name) => CheckFiniteDifferences(name);
}

/// <summary>
/// The critics' double backward takes ~10 s each on the simulator: with GPUGAN_FULL_CHECKS=1 only (.ci/run sets it);
/// the ILGPU kernels' second order is covered in every run by the op table's second-order parity.
/// </summary>
[TestFixture, Category("ilgpu-cpu")]
public sealed class IlgpuCpuGradientPenaltyTests : GradientPenaltyTests
{
    protected override DeviceKind Kind => DeviceKind.IlgpuCpu;
    protected override bool Quick(int size) => false;
}
