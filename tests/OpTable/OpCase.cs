using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

/// <summary>
/// One row of the op table: an op applied to sample inputs of given shapes, its float64
/// reference, and the tolerances it is held to. Every row is run through forward parity,
/// gradcheck, gradgradcheck and ILGPU-vs-SIMD kernel parity (see OpTableTests).
/// </summary>
public sealed record OpCase
{
    /// <summary>Unique test name, e.g. "Add[per-channel]".</summary>
    public required string Name { get; init; }

    public required int[][] InputShapes { get; init; }

    /// <summary>The op under test, on our tensors.</summary>
    public required Func<Tensor[], Tensor> Forward { get; init; }

    /// <summary>The float64 oracle: flat inputs (row-major) → flat output.</summary>
    public required Func<double[][], double[]> Reference { get; init; }

    /// <summary>Input sampler: (generator, input index, element count) → values. Default N(0, 1).</summary>
    public Func<RandomStream, int, int, float[]>? Inputs { get; init; }

    /// <summary>Which inputs are differentiated (default: all).</summary>
    public bool[]? Differentiable { get; init; }

    /// <summary>Forward tolerance |ours − ref| ≤ Atol + Rtol·|ref|, justified per op where declared.</summary>
    public double Atol { get; init; } = 1e-5;
    public double Rtol { get; init; } = 1e-5;

    /// <summary>
    /// The float64 vector-Jacobian product of <see cref="Reference"/>: (inputs, upstream u) → ∂⟨f(x), u⟩/∂x per input
    /// (null for inputs that are not differentiable). The oracle of gradgradcheck, which differences it in double;
    /// built from the op family's float64 derivative references. Null: central differences of the reference
    /// stand in (nested differences in gradgradcheck; see GradCheck.cs).
    /// </summary>
    public Func<double[][], double[], double[]?[]>? Vjp { get; init; }

    /// <summary>
    /// Gradcheck tolerance, relative (GradCheck.cs header): |ours − ref| ≤ GradAtol·S + GradRtol·|ref|, S the largest
    /// |ref| of the row's gradients.
    /// </summary>
    public double GradAtol { get; init; } = 1e-5;
    public double GradRtol { get; init; } = 1e-4;

    /// <summary>False for ops whose second derivative is not defined by a rule (marks only).</summary>
    public bool SupportsGradGrad { get; init; } = true;

    /// <summary>Gradgradcheck tolerance, relative like <see cref="GradAtol"/> (S over the second-order gradients w.r.t. x and u).</summary>
    public double GradGradAtol { get; init; } = 1e-4;
    public double GradGradRtol { get; init; } = 1e-3;

    /// <summary>
    /// Step of gradgradcheck's float64 central differences of the VJP; null: GradCheck.SecondOrderStep (1e-5), or
    /// GradCheck.NestedStep (1e-4) for a row without <see cref="Vjp"/>.
    /// </summary>
    public double? GradGradEps { get; init; }

    /// <summary>Kernel-set parity tolerance (ILGPU vs SIMD, both float32): forward and first order, absolute.</summary>
    public double ParityAtol { get; init; } = 1e-5;
    public double ParityRtol { get; init; } = 1e-4;

    /// <summary>
    /// Kernel-set parity of the second-order gradients (w.r.t. x and u), relative like <see cref="GradAtol"/>: both sides
    /// are float32 with different summation orders, through about three times as many passes as the first order.
    /// </summary>
    public double SecondOrderParityAtol { get; init; } = 1e-4;
    public double SecondOrderParityRtol { get; init; } = 1e-3;

    /// <summary>
    /// The ILGPU simulator is slow for this row: on ilgpu-cpu its gradcheck and gradgradcheck run only with
    /// GPUGAN_FULL_CHECKS=1; kernel parity (forward, first and second order, against the SIMD set) always runs.
    /// </summary>
    public bool HeavyOnIlgpu { get; init; }

    public override string ToString() => Name;

    public bool IsDifferentiable(int i) => Differentiable is null || Differentiable[i];

    public float[] Sample(RandomStream gen, int input)
    {
        int n = InputShapes[input].Aggregate(1, (a, b) => a * b);
        if (Inputs is not null) return Inputs(gen, input, n);
        var v = new float[n];
        gen.FillNormal(v);
        return v;
    }
}
