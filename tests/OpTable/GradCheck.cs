using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.OpTable;

/// <summary>
/// Gradient checks in the manner of PyTorch's gradcheck / gradgradcheck. Upstream gradients are
/// random (never all ones) so a rule that mixes up elements cannot pass by symmetry.
/// </summary>
public static class GradCheck
{
    /// <summary>Asserts |a − b| ≤ atol + rtol·|b| elementwise, naming the worst element.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            double tol = atol + rtol * Math.Abs(expected[i]);
            if (!(err <= tol) && (worst < 0 || err - tol > worstExcess)) { worst = i; worstExcess = err - tol; }
        }
        if (worst >= 0)
            Assert.Fail($"{what}: element {worst}: got {actual[worst]:G9}, expected {expected[worst]:G9} (|diff| {Math.Abs(actual[worst] - expected[worst]):G3} > {atol:G2} + {rtol:G2}·|ref|)");
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what)
    {
        var e = new double[expected.Length];
        for (int i = 0; i < e.Length; i++) e[i] = expected[i];
        AssertClose(actual, e, atol, rtol, what);
    }

    public static double[] ToDouble(float[] v) => Array.ConvertAll(v, x => (double)x);

    /// <summary>
    /// First-order check: analytic d⟨f(x), u⟩/dx from our float32 autograd against central
    /// differences of the float64 reference (step 1e-6, so truncation and rounding are both ~1e-10).
    /// </summary>
    public static void Check(OpCase op, Device device, int seed = 1)
    {
        var gen = new RandomStream(seed);
        var inputs = op.InputShapes.Select((_, i) => op.Sample(gen, i)).ToArray();
        using var scope = TensorScope.Begin();
        var xs = inputs.Select((v, i) => Tensor.FromArray(v, op.InputShapes[i], device)).ToArray();
        for (int i = 0; i < xs.Length; i++) xs[i].RequiresGrad = op.IsDifferentiable(i);
        var y = op.Forward(xs);
        var u = new float[y.Size];
        gen.FillNormal(u);
        var uT = Tensor.FromArray(u, y.Shape, device);
        var wrt = Enumerable.Range(0, xs.Length).Where(op.IsDifferentiable).ToArray();
        var grads = Autograd.Grad([y], wrt.Select(i => xs[i]).ToArray(), [uT], allowUnused: true);

        var x64 = inputs.Select(ToDouble).ToArray();
        const double h = 1e-6;
        for (int w = 0; w < wrt.Length; w++)
        {
            int i = wrt[w];
            var numeric = new double[x64[i].Length];
            for (int e = 0; e < numeric.Length; e++)
            {
                double saved = x64[i][e];
                x64[i][e] = saved + h;
                double fp = Dot(op.Reference(x64), u);
                x64[i][e] = saved - h;
                double fm = Dot(op.Reference(x64), u);
                x64[i][e] = saved;
                numeric[e] = (fp - fm) / (2 * h);
            }
            AssertClose(grads[w].ToArray(), numeric, op.GradAtol, op.GradRtol, $"{op.Name} on {device.Kind}: gradient of input {i}");
        }
    }

    /// <summary>
    /// Second-order check: F(x) = ⟨∂⟨f(x), u⟩/∂x, v⟩ with random u, v. Its analytic gradient comes
    /// from differentiating the createGraph gradient; the numeric one from float32 central
    /// differences of F (every evaluation runs our forward and backward kernels).
    /// </summary>
    public static void CheckSecondOrder(OpCase op, Device device, int seed = 2, int maxElementwise = 64, int directions = 3)
    {
        var gen = new RandomStream(seed);
        var inputs = op.InputShapes.Select((_, i) => op.Sample(gen, i)).ToArray();
        var wrt = Enumerable.Range(0, inputs.Length).Where(op.IsDifferentiable).ToArray();
        float[]? u = null;
        float[][]? v = null;

        double F(float[][] values, bool analytic, out float[][]? secondGrads)
        {
            using var scope = TensorScope.Begin();
            var xs = values.Select((x, i) => Tensor.FromArray(x, op.InputShapes[i], device)).ToArray();
            foreach (int i in wrt) xs[i].RequiresGrad = true;
            var y = op.Forward(xs);
            if (u is null) { u = new float[y.Size]; gen.FillNormal(u); }
            var g = Autograd.Grad([y], wrt.Select(i => xs[i]).ToArray(), [Tensor.FromArray(u, y.Shape, device)], createGraph: true, allowUnused: true);
            if (v is null)
            {
                v = g.Select(t => { var r = new float[t.Size]; gen.FillNormal(r); return r; }).ToArray();
            }
            Tensor? total = null;
            for (int k = 0; k < g.Length; k++)
            {
                var term = g[k].Mul(Tensor.FromArray(v[k], g[k].Shape, device)).Sum();
                total = total is null ? term : total.Add(term);
            }
            double value = total!.Item();
            secondGrads = null;
            if (analytic)
            {
                if (!total.RequiresGrad)
                {
                    // The first gradient does not depend on x (a linear op): F's gradient is zero.
                    secondGrads = wrt.Select(i => new float[values[i].Length]).ToArray();
                }
                else
                {
                    var gg = Autograd.Grad([total], wrt.Select(i => xs[i]).ToArray(), allowUnused: true);
                    secondGrads = gg.Select(t => t.ToArray()).ToArray();
                }
            }
            return value;
        }

        F(inputs, analytic: true, out var analyticGrads);
        double h = op.GradGradEps;
        for (int w = 0; w < wrt.Length; w++)
        {
            int i = wrt[w];
            int n = inputs[i].Length;
            if (n <= maxElementwise)
            {
                // Every element: catches a rule that is wrong in one place only.
                var numeric = new double[n];
                for (int e = 0; e < n; e++)
                {
                    float saved = inputs[i][e];
                    inputs[i][e] = (float)(saved + h);
                    double fp = F(inputs, false, out _);
                    inputs[i][e] = (float)(saved - h);
                    double fm = F(inputs, false, out _);
                    inputs[i][e] = saved;
                    numeric[e] = (fp - fm) / (2 * h);
                }
                AssertClose(analyticGrads![w], numeric, op.GradGradAtol, op.GradGradRtol, $"{op.Name} on {device.Kind}: second-order gradient of input {i}");
            }
            else
            {
                // Larger inputs: PyTorch's fast mode — the directional derivative along random
                // Gaussian directions r, ⟨∇F, r⟩ vs (F(x + hr) − F(x − hr))/2h. A wrong element
                // shows up unless its error cancels against r, which random directions make unlikely.
                var saved = (float[])inputs[i].Clone();
                for (int dir = 0; dir < directions; dir++)
                {
                    var r = new float[n];
                    gen.FillNormal(r);
                    double analytic = 0;
                    for (int e = 0; e < n; e++) analytic += analyticGrads![w][e] * (double)r[e];
                    for (int e = 0; e < n; e++) inputs[i][e] = (float)(saved[e] + h * r[e]);
                    double fp = F(inputs, false, out _);
                    for (int e = 0; e < n; e++) inputs[i][e] = (float)(saved[e] - h * r[e]);
                    double fm = F(inputs, false, out _);
                    Array.Copy(saved, inputs[i], n);
                    double numeric = (fp - fm) / (2 * h);
                    // Tolerance scaled by √n: the projection sums n terms, each within the per-element tolerance.
                    double scale = Math.Sqrt(n);
                    AssertClose([(float)analytic], [numeric], op.GradGradAtol * scale, op.GradGradRtol,
                        $"{op.Name} on {device.Kind}: second-order directional derivative of input {i} (direction {dir})");
                }
            }
        }
    }

    private static double Dot(double[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
