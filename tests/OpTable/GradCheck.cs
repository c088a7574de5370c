// Gradient checks in the manner of PyTorch's gradcheck / gradgradcheck, against float64 oracles.
//
// gradcheck      g = ∂⟨f(x), u⟩/∂x for every differentiable input, from our float32 autograd, against
//                central differences (step 1e-6) of the row's float64 reference f₆₄.
// VJP check      the row's float64 vector-Jacobian product VJP₆₄(x, u) = ∂⟨f₆₄(x), u⟩/∂x against the
//                same central differences: the VJP is the oracle of gradgradcheck, so it is checked too
//                (float64 on both sides: it must agree to 1e-6 of the scale, see below).
// gradgradcheck  F(x, u) = Σ_i ⟨g_i(x, u), v_i⟩ with random u, v (never all ones). u requires grad, as
//                in PyTorch's gradgradcheck (which differentiates the grad outputs too): the analytic
//                ∂F/∂x_i and ∂F/∂u come from differentiating our createGraph gradient, so a zero or wrong
//                ∂/∂u rule of any backward op fails. The numeric side never runs a kernel of ours: it is
//                F₆₄(x, u) = Σ_i ⟨VJP₆₄_i(x, u), v_i⟩ in double, differenced w.r.t. x (central, step
//                1e-5, truncation ~1e-11·f''', rounding ~1e-11·|F|), and ∂F₆₄/∂u_k = F₆₄(x, e_k) exactly
//                (F is linear in u). Every element of every input is checked.
//                A row without an explicit VJP (OpCase.Vjp null) uses the central-difference VJP of its
//                reference: differences nested in double, step 1e-4 each (error ~1e-8 of the scale).
// parity         the same analytic second-order gradients on two kernel sets (cpu vs ilgpu-cpu).
//
// Tolerance rule (all gradient comparisons here and in OpTableTests): the float32 result a passes
// against the float64 oracle r when, for every element i,
//        |a_i − r_i| ≤ rtol·|r_i| + atol·S,    S = max_j |r_j| over the whole tuple compared
// (every differentiable input's gradient, and u's in gradgradcheck). atol and rtol are both relative,
// so the check scales with what is compared, however small (a mean over n values has second
// derivatives O(1/n); an unscaled atol of that size would pass a zero). Defaults, set before the
// checks were run: float32 results built from sums of k ≤ 150 terms carry errors ≲ k·6e-8·S ≈ 1e-5·S
// (worst case; typically √k·6e-8·S ≈ 1e-6·S), so gradcheck: atol 1e-5, rtol 1e-4; the second order runs
// about three times as many float32 passes (the backward, its rule, the second backward), so
// gradgradcheck: atol 1e-4, rtol 1e-3. The float64 VJP against its own central differences: atol 1e-6,
// rtol 1e-6 (the differences' error is ~1e-10·S). A planted wrong rule is an error of order S
// (PlantedFaultTests). S = 0 demands exact zeros: only a disconnected graph produces them.
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.OpTable;

/// <summary>Gradient checks of op-table rows against float64 oracles (see the file header for the rule and tolerances).</summary>
public static class GradCheck
{
    /// <summary>Central-difference step of gradcheck and of the VJP check (on the float64 reference).</summary>
    public const double FirstOrderStep = 1e-6;

    /// <summary>Central-difference step of gradgradcheck on the float64 VJP.</summary>
    public const double SecondOrderStep = 1e-5;

    /// <summary>Step of each of the nested differences for a row without an explicit VJP.</summary>
    public const double NestedStep = 1e-4;

    /// <summary>Asserts |a − b| ≤ atol + rtol·|b| elementwise, naming the worst element.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what)
    {
        if (Compare(actual, expected, atol, rtol, what) is { } failure) Assert.Fail(failure);
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what)
    {
        var e = new double[expected.Length];
        for (int i = 0; i < e.Length; i++) e[i] = expected[i];
        AssertClose(actual, e, atol, rtol, what);
    }

    /// <summary>The failure message of |a − b| ≤ atol + rtol·|b| elementwise, or null when it holds.</summary>
    public static string? Compare(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what)
    {
        if (actual.Length != expected.Length) return $"{what}: length {actual.Length}, expected {expected.Length}";
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            double tol = atol + rtol * Math.Abs(expected[i]);
            if (!(err <= tol) && (worst < 0 || err - tol > worstExcess || double.IsNaN(err))) { worst = i; worstExcess = err - tol; }
        }
        if (worst < 0) return null;
        return $"{what}: element {worst}: got {actual[worst]:G9}, expected {expected[worst]:G9} (|diff| {Math.Abs(actual[worst] - expected[worst]):G3} > {atol:G3} + {rtol:G2}·|ref|)";
    }

    /// <summary>
    /// The scaled rule over a tuple: each actual[k] against expected[k], atol·S with S = the largest |expected| of the
    /// whole tuple (file header). Returns the first failure, or null.
    /// </summary>
    public static string? CompareScaled(float[][] actual, double[][] expected, double atol, double rtol, string[] names, string what)
    {
        double scale = Scale(expected);
        for (int k = 0; k < actual.Length; k++)
            if (Compare(actual[k], expected[k], atol * scale, rtol, $"{what}, {names[k]} (scale S = {scale:G3})") is { } failure)
                return failure;
        return null;
    }

    /// <summary>S of the tolerance rule: the largest |value| of the tuple.</summary>
    public static double Scale(double[][] values)
    {
        double s = 0;
        foreach (var v in values) foreach (double e in v) s = Math.Max(s, Math.Abs(e));
        return s;
    }

    public static double[] ToDouble(float[] v) => Array.ConvertAll(v, x => (double)x);

    // ============================================================ a sampled instance of a row

    /// <summary>Inputs x, upstream gradient u and second-order directions v of one row, from one seed.</summary>
    public sealed class Problem
    {
        public required float[][] Inputs { get; init; }
        public required float[] U { get; init; }
        /// <summary>One direction per differentiable input (indexed like <see cref="Wrt"/>).</summary>
        public required float[][] V { get; init; }
        /// <summary>Indices of the differentiable inputs.</summary>
        public required int[] Wrt { get; init; }
        public required int[] OutputShape { get; init; }

        public static Problem Sample(OpCase op, int seed)
        {
            var gen = new RandomStream(seed);
            var inputs = op.InputShapes.Select((_, i) => op.Sample(gen, i)).ToArray();
            var outShape = OutputShapeOf(op, inputs);
            var u = new float[outShape.Aggregate(1, (a, b) => a * b)];
            gen.FillNormal(u);
            var wrt = Enumerable.Range(0, inputs.Length).Where(op.IsDifferentiable).ToArray();
            var v = wrt.Select(i => { var r = new float[inputs[i].Length]; gen.FillNormal(r); return r; }).ToArray();
            return new Problem { Inputs = inputs, U = u, V = v, Wrt = wrt, OutputShape = outShape };
        }

        private static int[] OutputShapeOf(OpCase op, float[][] inputs)
        {
            using var scope = TensorScope.Begin();
            using var noGrad = Autograd.NoGrad();
            var xs = inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], Device.Cpu)).ToArray();
            return op.Forward(xs).Shape.ToArray();
        }

        public double[][] Inputs64() => Inputs.Select(ToDouble).ToArray();
    }

    // ============================================================ float64 oracles

    /// <summary>Central differences of ⟨f₆₄(x), u⟩ w.r.t. every element of every differentiable input (index like wrt).</summary>
    public static double[][] NumericVjp(Func<double[][], double[]> reference, double[][] x, double[] u, int[] wrt, double h)
    {
        var result = new double[wrt.Length][];
        for (int w = 0; w < wrt.Length; w++)
        {
            int i = wrt[w];
            var g = new double[x[i].Length];
            for (int e = 0; e < g.Length; e++)
            {
                double saved = x[i][e];
                x[i][e] = saved + h;
                double fp = Dot(reference(x), u);
                x[i][e] = saved - h;
                double fm = Dot(reference(x), u);
                x[i][e] = saved;
                g[e] = (fp - fm) / (2 * h);
            }
            result[w] = g;
        }
        return result;
    }

    /// <summary>The row's float64 VJP for the differentiable inputs (index like wrt): explicit, or nested differences.</summary>
    public static double[][] ReferenceVjp(OpCase op, double[][] x, double[] u, int[] wrt)
    {
        if (op.Vjp is null) return NumericVjp(op.Reference, x, u, wrt, NestedStep);
        var all = op.Vjp(x, u);
        return wrt.Select(i => all[i] ?? throw new InvalidOperationException($"{op.Name}: Vjp returned no gradient for differentiable input {i}")).ToArray();
    }

    /// <summary>F₆₄(x, u) = Σ_w ⟨VJP₆₄_w(x, u), v_w⟩.</summary>
    private static double F64(OpCase op, double[][] x, double[] u, int[] wrt, double[][] v)
    {
        var g = ReferenceVjp(op, x, u, wrt);
        double s = 0;
        for (int w = 0; w < wrt.Length; w++) s += Dot(g[w], v[w]);
        return s;
    }

    /// <summary>The numeric second-order gradients ∂F₆₄/∂x_w (per differentiable input) and ∂F₆₄/∂u, last.</summary>
    public static double[][] NumericSecondOrder(OpCase op, Problem p)
    {
        var x = p.Inputs64();
        var u = ToDouble(p.U);
        var v = p.V.Select(ToDouble).ToArray();
        double h = op.GradGradEps ?? (op.Vjp is null ? NestedStep : SecondOrderStep);
        var result = new double[p.Wrt.Length + 1][];
        for (int w = 0; w < p.Wrt.Length; w++)
        {
            int i = p.Wrt[w];
            var g = new double[x[i].Length];
            for (int e = 0; e < g.Length; e++)
            {
                double saved = x[i][e];
                x[i][e] = saved + h;
                double fp = F64(op, x, u, p.Wrt, v);
                x[i][e] = saved - h;
                double fm = F64(op, x, u, p.Wrt, v);
                x[i][e] = saved;
                g[e] = (fp - fm) / (2 * h);
            }
            result[w] = g;
        }
        // F is linear in u: ∂F/∂u_k = F(x, e_k), no differences needed.
        var gu = new double[u.Length];
        var ek = new double[u.Length];
        for (int k = 0; k < u.Length; k++)
        {
            ek[k] = 1;
            gu[k] = F64(op, x, ek, p.Wrt, v);
            ek[k] = 0;
        }
        result[^1] = gu;
        return result;
    }

    // ============================================================ analytic (our kernels)

    /// <summary>Our first-order gradients of ⟨f(x), u⟩ (per differentiable input) on <paramref name="device"/>.</summary>
    public static float[][] AnalyticFirstOrder(OpCase op, Problem p, Device device)
    {
        using var scope = TensorScope.Begin();
        var xs = p.Inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], device)).ToArray();
        foreach (int i in p.Wrt) xs[i].RequiresGrad = true;
        var y = op.Forward(xs);
        var grads = Autograd.Grad([y], p.Wrt.Select(i => xs[i]).ToArray(), [Tensor.FromArray(p.U, y.Shape, device)], allowUnused: true);
        return grads.Select(g => g.ToArray()).ToArray();
    }

    /// <summary>
    /// Our second-order gradients: F = Σ_w ⟨g_w, v_w⟩ with g the createGraph gradient for upstream u (u requires grad),
    /// differentiated w.r.t. every differentiable input and u (last).
    /// </summary>
    public static float[][] AnalyticSecondOrder(OpCase op, Problem p, Device device)
    {
        using var scope = TensorScope.Begin();
        var xs = p.Inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], device)).ToArray();
        foreach (int i in p.Wrt) xs[i].RequiresGrad = true;
        var y = op.Forward(xs);
        var u = Tensor.FromArray(p.U, y.Shape, device);
        u.RequiresGrad = true;
        var wrt = p.Wrt.Select(i => xs[i]).ToArray();
        var g = Autograd.Grad([y], wrt, [u], createGraph: true, allowUnused: true);
        Tensor? total = null;
        for (int w = 0; w < g.Length; w++)
        {
            var term = g[w].Mul(Tensor.FromArray(p.V[w], g[w].Shape, device)).Sum();
            total = total is null ? term : total.Add(term);
        }
        if (total is null || !total.RequiresGrad)
            return [.. p.Wrt.Select(i => new float[p.Inputs[i].Length]), new float[p.U.Length]];
        var gg = Autograd.Grad([total], [.. wrt, u], allowUnused: true);
        return gg.Select(t => t.ToArray()).ToArray();
    }

    private static string[] Names(Problem p, bool withU) => [.. p.Wrt.Select(i => $"input {i}"), .. withU ? new[] { "upstream u" } : []];

    // ============================================================ the checks

    /// <summary>gradcheck: the failure, or null.</summary>
    public static string? TryCheck(OpCase op, Device device, int seed = 1)
    {
        var p = Problem.Sample(op, seed);
        var analytic = AnalyticFirstOrder(op, p, device);
        var numeric = NumericVjp(op.Reference, p.Inputs64(), ToDouble(p.U), p.Wrt, FirstOrderStep);
        return CompareScaled(analytic, numeric, op.GradAtol, op.GradRtol, Names(p, false), $"{op.Name} on {device.Kind}: gradient");
    }

    /// <summary>First-order check (file header).</summary>
    public static void Check(OpCase op, Device device, int seed = 1)
    {
        if (TryCheck(op, device, seed) is { } failure) Assert.Fail(failure);
    }

    /// <summary>The row's explicit float64 VJP against central differences of its reference, both float64.</summary>
    public static string? TryCheckReferenceVjp(OpCase op, int seed = 3)
    {
        if (op.Vjp is null) return null;
        var p = Problem.Sample(op, seed);
        var x = p.Inputs64();
        var u = ToDouble(p.U);
        var numeric = NumericVjp(op.Reference, x, u, p.Wrt, FirstOrderStep);
        var vjp = ReferenceVjp(op, x, u, p.Wrt);
        double scale = Scale(numeric);
        for (int w = 0; w < p.Wrt.Length; w++)
        {
            int worst = -1;
            double worstErr = 0;
            for (int e = 0; e < vjp[w].Length; e++)
            {
                double err = Math.Abs(vjp[w][e] - numeric[w][e]);
                if (!(err <= 1e-6 * scale + 1e-6 * Math.Abs(numeric[w][e])) && err >= worstErr) { worst = e; worstErr = err; }
            }
            if (vjp[w].Length != numeric[w].Length) return $"{op.Name}: VJP of input {p.Wrt[w]} has {vjp[w].Length} elements, expected {numeric[w].Length}";
            if (worst >= 0)
                return $"{op.Name}: float64 VJP of input {p.Wrt[w]}, element {worst}: {vjp[w][worst]:G12} vs central differences {numeric[w][worst]:G12} (scale {scale:G3})";
        }
        return null;
    }

    /// <summary>gradgradcheck: the failure, or null.</summary>
    public static string? TryCheckSecondOrder(OpCase op, Device device, int seed = 2)
    {
        var p = Problem.Sample(op, seed);
        var analytic = AnalyticSecondOrder(op, p, device);
        var numeric = NumericSecondOrder(op, p);
        return CompareScaled(analytic, numeric, op.GradGradAtol, op.GradGradRtol, Names(p, true), $"{op.Name} on {device.Kind}: second-order gradient");
    }

    /// <summary>Second-order check (file header).</summary>
    public static void CheckSecondOrder(OpCase op, Device device, int seed = 2)
    {
        if (TryCheckSecondOrder(op, device, seed) is { } failure) Assert.Fail(failure);
    }

    /// <summary>
    /// Second-order parity: the analytic second-order gradients on <paramref name="device"/> against those on
    /// <paramref name="baseline"/> (same x, u, v), the scaled rule with S from the baseline.
    /// </summary>
    public static string? TryCheckSecondOrderParity(OpCase op, Device device, Device baseline, int seed = 4)
    {
        var p = Problem.Sample(op, seed);
        var a = AnalyticSecondOrder(op, p, device);
        var b = AnalyticSecondOrder(op, p, baseline).Select(ToDouble).ToArray();
        return CompareScaled(a, b, op.SecondOrderParityAtol, op.SecondOrderParityRtol, Names(p, true),
            $"{op.Name}: second-order gradient {device.Kind} vs {baseline.Kind}");
    }

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
