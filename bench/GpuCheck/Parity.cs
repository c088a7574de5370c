// Section 1 of the kit: correctness of the ILGPU kernels on the device under test.
//
// Op-table shapes (every row of tests/OpTable, compiled into the kit): the op table's own checks on
// the device — forward against the float64 reference, gradcheck, gradgradcheck (GradCheck, with the
// row's tolerances) — and kernel-set parity against `cpu`: forward, first-order gradient through a
// random upstream gradient u, and second-order gradient ∇x⟨∇x⟨f, u⟩, v⟩, with the row's parity
// tolerance atol + rtol·|cpu|.
//
// DCGAN-64 layer shapes (from models.json): every op the model runs — Conv2d for each D layer,
// ConvTranspose2d for each G layer, training-mode BatchNorm2d, ReLU / LeakyReLU(0.2) / Tanh at the
// shapes they see, the gradient penalty's Σ over (C, H, W), BCE with logits over the batch — on the
// device and on `cpu`, the same three comparisons, with the tolerances of the op-table row of the same
// op (the first row whose name starts with the op's name). Values are drawn at the model's scale so
// that the op table's absolute tolerances mean what they mean there (outputs and gradients of O(1)):
// weights N(0, 0.02) (DCGAN init), BatchNorm γ N(1, 0.02), activations N(0, 1); the upstream gradient
// u of a (N, C, H, W) output has standard deviation 1/√(N·H·W), so a weight gradient, a sum over
// N·H·W products, is O(1) whatever the layer's size; second-order directions v are drawn at the
// scale of the input they pair with. These shapes are too large for finite differences: the float64
// checks are the op-table rows'; here the `cpu` set is the reference.
using System.Diagnostics;
using System.Globalization;
using GpuGan.Tensors;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.GpuCheck;

internal sealed class CheckResult
{
    public string Group { get; set; } = "";
    public string Case { get; set; } = "";
    public string Check { get; set; } = "";
    /// <summary>pass, fail or skip.</summary>
    public string Status { get; set; } = "";
    public string? Detail { get; set; }
    /// <summary>Parity checks: the largest |device − cpu| and the largest |cpu| of the compared tensor.</summary>
    public double? MaxDiff { get; set; }
    public double? MaxRef { get; set; }
    public double Seconds { get; set; }
}

internal static class Parity
{
    /// <summary>A parity case: inputs drawn by <see cref="Sample"/>, compared between two devices.</summary>
    private sealed record ParityCase(string Name, int[][] InputShapes, bool[] Differentiable, Func<Tensor[], Tensor> Forward,
        Func<RandomStream, int, int, float[]> Sample, double[] InputScale, double Atol, double Rtol, bool SecondOrder);

    public static IEnumerable<OpCase> OpTableRows() => typeof(OpCases)
        .GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(m => m.ReturnType == typeof(IEnumerable<OpCase>) && m.GetParameters().Length == 0)
        .OrderBy(m => m.Name, StringComparer.Ordinal)
        .SelectMany(m => (IEnumerable<OpCase>)m.Invoke(null, null)!);

    /// <summary>
    /// Runs the op-table rows on <paramref name="device"/>. On the ILGPU CPU simulator (dry run) the
    /// rows the test suite marks heavy skip gradcheck and gradgradcheck, as IlgpuCpuOpTableTests does.
    /// </summary>
    public static IEnumerable<CheckResult> OpTable(Device device, bool simulator, Stopwatch budget, TimeSpan limit)
    {
        foreach (var op in OpTableRows())
        {
            if (budget.Elapsed > limit)
            {
                yield return new CheckResult { Group = "op table", Case = op.Name, Check = "all", Status = "skip", Detail = $"parity time budget ({limit.TotalSeconds:F0} s) spent" };
                continue;
            }
            yield return Run("op table", op.Name, "forward vs float64", () =>
            {
                var gen = new RandomStream(7);
                var inputs = op.InputShapes.Select((_, i) => op.Sample(gen, i)).ToArray();
                using var scope = TensorScope.Begin();
                var xs = inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], device)).ToArray();
                var y = op.Forward(xs);
                GradCheck.AssertClose(y.ToArray(), op.Reference(inputs.Select(GradCheck.ToDouble).ToArray()), op.Atol, op.Rtol, $"{op.Name} forward");
                return null;
            });
            bool differentiable = op.InputShapes.Select((_, i) => op.IsDifferentiable(i)).Any(b => b);
            bool heavy = simulator && op.HeavyOnIlgpu;
            yield return !differentiable ? Skip(op.Name, "gradcheck", "a mask: no gradient")
                : heavy ? Skip(op.Name, "gradcheck", "heavy on the simulator (as the test suite)")
                : Run("op table", op.Name, "gradcheck", () => { GradCheck.Check(op, device); return null; });
            yield return !op.SupportsGradGrad ? Skip(op.Name, "gradgradcheck", "no second-order rule (marked in the op table)")
                : heavy ? Skip(op.Name, "gradgradcheck", "heavy on the simulator (as the test suite)")
                : Run("op table", op.Name, "gradgradcheck", () => { GradCheck.CheckSecondOrder(op, device); return null; });

            var pc = new ParityCase(op.Name, op.InputShapes, op.InputShapes.Select((_, i) => op.IsDifferentiable(i)).ToArray(), op.Forward,
                (g, i, n) => op.Sample(g, i), op.InputShapes.Select(_ => 1.0).ToArray(), op.ParityAtol, op.ParityRtol,
                SecondOrder: op.SupportsGradGrad && differentiable);
            foreach (var r in CompareDevices("op table", pc, device)) yield return r;
        }
    }

    /// <summary>Every op of the model at its real shapes (or the dry run's), device vs cpu.</summary>
    public static IEnumerable<CheckResult> ModelLayers(ModelSpec spec, Scale scale, Device device)
    {
        var rows = OpTableRows().ToList();
        OpCase Row(string prefix) => rows.FirstOrDefault(r => r.Name.StartsWith(prefix, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"the op table has no row named {prefix}…: the layer checks take their tolerances from it");
        var conv = Row("Conv2d[");
        var convT = Row("ConvTranspose2d[");
        var bn = Row("BatchNorm2d[train");
        var relu = Row("Relu");
        var leaky = Row("LeakyRelu[0.2]");
        var tanh = Row("Tanh");
        var sum = Row("Sum[axes");
        var bce = Row("BceWithLogits[label 1]");

        var group = $"{spec.Id} layers";
        var layers = LayerPlan.Resolve(spec, scale);
        var cases = new List<ParityCase>();
        static float[] Normal(RandomStream g, int n, double std, double mean = 0)
        {
            var v = new float[n];
            g.FillNormal(v, (float)mean, (float)std);
            return v;
        }
        foreach (var l in layers)
        {
            var tol = l.Transposed ? convT : conv;
            int s = l.Stride, p = l.Padding;
            cases.Add(new ParityCase($"{(l.Transposed ? "ConvTranspose2d" : "Conv2d")}[{l.Describe()}]", [l.InputShape, l.WeightShape], [true, true],
                l.Transposed ? x => x[0].ConvTranspose2d(x[1], null, s, p) : x => x[0].Conv2d(x[1], null, s, p),
                (g, i, n) => Normal(g, n, i == 0 ? 1 : 0.02), [1, 0.02], tol.ParityAtol, tol.ParityRtol, SecondOrder: true));
            if (l.Norm)
            {
                cases.Add(new ParityCase($"BatchNorm2d[train, {l.Name} output {string.Join("x", l.OutputShape)}]", [l.OutputShape, [l.Out], [l.Out]], [true, true, true],
                    x => x[0].BatchNorm2d(x[1], x[2], null, null, training: true),
                    (g, i, n) => i == 0 ? Normal(g, n, 1) : i == 1 ? Normal(g, n, 0.02, 1) : new float[n], [1, 0.02, 0.02],
                    bn.ParityAtol, bn.ParityRtol, SecondOrder: true));
            }
            var (act, tolAct) = l.Act switch
            {
                "relu" => ((Func<Tensor[], Tensor>?)(x => x[0].Relu()), relu),
                "leaky" => (x => x[0].LeakyRelu(0.2f), leaky),
                "tanh" => (x => x[0].Tanh(), tanh),
                _ => (null, relu),
            };
            if (act is not null)
            {
                cases.Add(new ParityCase($"{tolAct.Name}[{l.Name} output {string.Join("x", l.OutputShape)}]", [l.OutputShape], [true], act,
                    (g, i, n) => Normal(g, n, 1), [1], tolAct.ParityAtol, tolAct.ParityRtol, SecondOrder: tolAct.SupportsGradGrad));
            }
        }
        var image = layers.First(l => !l.Transposed).InputShape;
        cases.Add(new ParityCase($"Sum[axes 1,2,3 of {string.Join("x", image)} (gradient-penalty norm)]", [image], [true],
            x => x[0].Square().Sum([1, 2, 3]), (g, i, n) => Normal(g, n, 1), [1], sum.ParityAtol, sum.ParityRtol, SecondOrder: true));
        cases.Add(new ParityCase($"BceWithLogits[label 1, ({scale.Batch})]", [[scale.Batch]], [true],
            x => Losses.BceWithLogits(x[0], 1f), (g, i, n) => Normal(g, n, 1), [1], bce.ParityAtol, bce.ParityRtol, SecondOrder: bce.SupportsGradGrad));

        foreach (var c in cases)
            foreach (var r in CompareDevices(group, c, device))
                yield return r;
    }

    /// <summary>
    /// The kit's own check that a wrong result is reported as a failure: through the op table's
    /// assertion (NUnit's Assert outside a test runner) and through the device comparison (a case
    /// that computes 0.1% more on the device than on cpu).
    /// </summary>
    public static IEnumerable<CheckResult> SelfTest(Device device)
    {
        var viaAssert = Run("kit self-test", "probe", "probe", () => { GradCheck.AssertClose([1f], [1.001], 1e-5, 1e-5, "probe"); return null; });
        yield return new CheckResult
        {
            Group = "kit self-test", Case = "a wrong value fails the op-table assertion", Check = "AssertClose",
            Status = viaAssert.Status == "fail" && viaAssert.Detail!.Contains("probe", StringComparison.Ordinal) ? "pass" : "fail",
            Detail = $"probe reported {viaAssert.Status}: {viaAssert.Detail}",
        };
        var skewed = new ParityCase("probe", [[3, 5]], [true], x => x[0].Device.IsHost ? x[0].Square() : x[0].Square().MulScalar(1.001f),
            (g, i, n) => Ref.Uniform(g, n, 0.5f, 2f), [1], 1e-5, 1e-4, SecondOrder: true);
        var compared = CompareDevices("kit self-test", skewed, device).ToList();
        bool allFailed = compared.Count == 3 && compared.All(r => r.Status == "fail");
        yield return new CheckResult
        {
            Group = "kit self-test", Case = "a 0.1% device error fails forward, gradient and second-order parity", Check = $"{device.Kind} vs cpu",
            Status = allFailed ? "pass" : "fail",
            Detail = string.Join("; ", compared.Select(r => $"{r.Check}: {r.Status}")),
        };
    }

    private static CheckResult Skip(string name, string check, string why)
        => new() { Group = "op table", Case = name, Check = check, Status = "skip", Detail = why };

    private static CheckResult Run(string group, string name, string check, Func<(double MaxDiff, double MaxRef)?> body)
    {
        var sw = Stopwatch.StartNew();
        var result = new CheckResult { Group = group, Case = name, Check = check };
        try
        {
            var figures = body();
            result.Status = "pass";
            if (figures is { } f) (result.MaxDiff, result.MaxRef) = (f.MaxDiff, f.MaxRef);
        }
        catch (AssertionException e)
        {
            result.Status = "fail";
            result.Detail = e.Message.Trim();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            result.Status = "fail";
            result.Detail = $"{e.GetType().Name}: {e.Message}";
        }
        result.Seconds = sw.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>
    /// Forward, first- and second-order gradients of one case on the device and on cpu, compared
    /// elementwise with the case's tolerance (the cpu values are the reference).
    /// </summary>
    private static IEnumerable<CheckResult> CompareDevices(string group, ParityCase c, Device device)
    {
        List<(string What, float[] Values)>? reference = null, actual = null;
        var sw = Stopwatch.StartNew();
        string? error = null;
        try
        {
            reference = Evaluate(c, Device.Cpu);
            actual = Evaluate(c, device);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error = $"{e.GetType().Name}: {e.Message}";
        }
        double seconds = sw.Elapsed.TotalSeconds;
        if (error is not null)
        {
            yield return new CheckResult { Group = group, Case = c.Name, Check = $"{device.Kind} vs cpu", Status = "fail", Detail = error, Seconds = seconds };
            yield break;
        }
        for (int k = 0; k < reference!.Count; k++)
        {
            var (what, expected) = reference[k];
            var got = actual![k].Values;
            var result = new CheckResult { Group = group, Case = c.Name, Check = $"{device.Kind} vs cpu: {what}", Seconds = k == 0 ? seconds : 0 };
            double maxDiff = 0, maxRef = 0, worstExcess = 0;
            int worst = -1;
            for (int i = 0; i < expected.Length; i++)
            {
                double diff = Math.Abs((double)got[i] - expected[i]);
                double tol = c.Atol + c.Rtol * Math.Abs(expected[i]);
                if (!(diff <= tol) && (worst < 0 || diff - tol > worstExcess)) { worst = i; worstExcess = double.IsNaN(diff) ? double.PositiveInfinity : diff - tol; }
                maxDiff = Math.Max(maxDiff, double.IsNaN(diff) ? double.PositiveInfinity : diff);
                maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
            }
            result.MaxDiff = maxDiff;
            result.MaxRef = maxRef;
            result.Status = got.Length == expected.Length && worst < 0 ? "pass" : "fail";
            if (got.Length != expected.Length) result.Detail = $"length {got.Length}, expected {expected.Length}";
            else if (worst >= 0)
                result.Detail = string.Create(CultureInfo.InvariantCulture,
                    $"element {worst}: {device.Kind} {got[worst]:G9}, cpu {expected[worst]:G9} (|diff| {Math.Abs(got[worst] - expected[worst]):G3} > {c.Atol:G2} + {c.Rtol:G2}·|cpu|)");
            yield return result;
        }
    }

    /// <summary>y, ∇⟨y, u⟩ per differentiable input, and ∇⟨∇⟨y, u⟩, v⟩ per differentiable input, on one device.</summary>
    private static List<(string What, float[] Values)> Evaluate(ParityCase c, Device device)
    {
        var gen = new RandomStream(11);
        var inputs = c.InputShapes.Select((s, i) => c.Sample(gen, i, s.Aggregate(1, (a, b) => a * b))).ToArray();
        var wrtIndex = Enumerable.Range(0, inputs.Length).Where(i => c.Differentiable[i]).ToArray();
        var results = new List<(string, float[])>();
        using var scope = TensorScope.Begin();
        var xs = inputs.Select((v, i) => Tensor.FromArray(v, c.InputShapes[i], device)).ToArray();
        foreach (int i in wrtIndex) xs[i].RequiresGrad = true;
        var y = c.Forward(xs);
        results.Add(("forward", y.ToArray()));
        if (wrtIndex.Length == 0) return results;

        // u: O(1) weight gradients whatever the layer size (see the file header).
        double uStd = y.Rank == 4 ? 1 / Math.Sqrt(y.Size / (double)y.Shape[1]) : 1;
        var u = new float[y.Size];
        gen.FillNormal(u, 0f, (float)uStd);
        var wrt = wrtIndex.Select(i => xs[i]).ToArray();
        var grads = Autograd.Grad([y], wrt, [Tensor.FromArray(u, y.Shape, device)], createGraph: c.SecondOrder, allowUnused: true);
        for (int k = 0; k < grads.Length; k++) results.Add(($"gradient of input {wrtIndex[k]}", grads[k].ToArray()));
        if (!c.SecondOrder) return results;

        Tensor? total = null;
        for (int k = 0; k < grads.Length; k++)
        {
            var v = new float[grads[k].Size];
            gen.FillNormal(v, 0f, (float)c.InputScale[wrtIndex[k]]);
            var term = grads[k].Mul(Tensor.FromArray(v, grads[k].Shape, device)).Sum();
            total = total is null ? term : total.Add(term);
        }
        var second = total!.RequiresGrad
            ? Autograd.Grad([total], wrt, allowUnused: true).Select(t => t.ToArray()).ToArray()
            : wrt.Select(t => new float[t.Size]).ToArray();   // a linear op: the first gradient does not depend on x
        for (int k = 0; k < second.Length; k++) results.Add(($"second-order gradient of input {wrtIndex[k]}", second[k]));
        return results;
    }
}
