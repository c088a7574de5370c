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

    /// <summary>Gradcheck tolerance (float32 analytic gradient vs float64 central differences of the reference).</summary>
    public double GradAtol { get; init; } = 1e-4;
    public double GradRtol { get; init; } = 1e-3;

    /// <summary>False for ops whose second derivative is not defined by a rule (marks only).</summary>
    public bool SupportsGradGrad { get; init; } = true;

    /// <summary>Gradgradcheck tolerance (float32 central differences of the first gradient).</summary>
    public double GradGradAtol { get; init; } = 3e-3;
    public double GradGradRtol { get; init; } = 3e-2;

    /// <summary>Step of the float32 finite differences in gradgradcheck.</summary>
    public double GradGradEps { get; init; } = 1e-2;

    /// <summary>Kernel-set parity tolerance (ILGPU vs SIMD, both float32).</summary>
    public double ParityAtol { get; init; } = 1e-5;
    public double ParityRtol { get; init; } = 1e-4;

    /// <summary>Skip the full checks on ilgpu-cpu (kernel parity still runs) when the simulator is too slow.</summary>
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
