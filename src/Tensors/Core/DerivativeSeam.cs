// Test-only seam of the derivative rules. A test plants one deliberately wrong rule for the length of
// a scope and shows that the gradient checks catch it (tests/OpTable/PlantedFaultTests.cs):
//   ZeroInputGradient        the rule of op Op returns zero for input Input (e.g. a zeroed ∂/∂u of a backward op);
//   TransposeWeightGradient  the rule of op Op returns the weight gradient (input 1) with its kernel axes swapped;
//   FlipNormSecondOrderTerm  the composed normalisation backward (the source of the norm's double backward)
//                            subtracts x̂·mean(g·x̂) with the wrong sign.
// Nothing in the library plants a fault. The planted fault is held in an AsyncLocal, so it belongs to the
// logical flow that planted it: tests on other threads (NUnit may run fixtures in parallel) never see
// it, and disposing the scope restores what was there before. It is not a setting: with nothing planted
// every rule is the real one, at the cost of one AsyncLocal read per recorded op.
namespace GpuGan.Tensors;

/// <summary>Which wrong rule <see cref="DerivativeSeam"/> plants.</summary>
internal enum PlantedFaultKind
{
    ZeroInputGradient,
    TransposeWeightGradient,
    FlipNormSecondOrderTerm,
}

/// <summary>A planted wrong rule: the kind, and for the rule-level kinds the op name on the tape and the input.</summary>
internal sealed record PlantedFault(PlantedFaultKind Kind, string Op = "", int Input = 0)
{
    public override string ToString() => Kind switch
    {
        PlantedFaultKind.ZeroInputGradient => $"zero ∂/∂(input {Input}) in the rule of {Op}",
        PlantedFaultKind.TransposeWeightGradient => $"transposed weight gradient in the rule of {Op}",
        _ => "sign-flipped x̂·mean(g·x̂) term in the composed norm backward",
    };
}

/// <summary>The test-only seam (file header).</summary>
internal static class DerivativeSeam
{
    private static readonly AsyncLocal<PlantedFault?> s_planted = new();

    /// <summary>The fault planted in this logical flow, if any.</summary>
    internal static PlantedFault? Planted => s_planted.Value;

    /// <summary>Plants <paramref name="fault"/> until the returned scope is disposed.</summary>
    internal static IDisposable Plant(PlantedFault fault)
    {
        var previous = s_planted.Value;
        s_planted.Value = fault;
        return new Scope(previous);
    }

    private sealed class Scope(PlantedFault? previous) : IDisposable
    {
        public void Dispose() => s_planted.Value = previous;
    }

    /// <summary>True when the norm backward's second-order term is to be sign-flipped.</summary>
    internal static bool FlipNormSecondOrderTerm => s_planted.Value?.Kind == PlantedFaultKind.FlipNormSecondOrderTerm;

    /// <summary>The rule recorded for <paramref name="op"/>: <paramref name="rule"/> itself unless a rule-level fault names the op.</summary>
    internal static BackwardRule Apply(string op, BackwardRule rule)
    {
        if (s_planted.Value is not { } f || f.Op != op) return rule;
        return f.Kind switch
        {
            PlantedFaultKind.ZeroInputGradient => (g, need) =>
            {
                var r = rule(g, need);
                if (f.Input < r.Length) r[f.Input] = null;   // null is a zero gradient
                return r;
            },
            PlantedFaultKind.TransposeWeightGradient => (g, need) =>
            {
                var r = rule(g, need);
                if (r.Length > 1 && r[1] is { } dw) r[1] = SwapKernelAxes(dw);
                return r;
            },
            _ => rule,
        };
    }

    /// <summary>(A, B, kH, kW) → (A, B, kW, kH), recorded (the swap is its own adjoint) so higher orders stay connected.</summary>
    private static Tensor SwapKernelAxes(Tensor w)
    {
        int a = w.Shape[0], b = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3];
        var src = w.ToArray();
        var dst = new float[src.Length];
        for (int p = 0; p < a * b; p++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    dst[(p * kw + j) * kh + i] = src[(p * kh + i) * kw + j];
        var t = Tensor.FromArray(dst, new Shape(a, b, kw, kh), w.Device);
        return Autograd.Record(t, "PlantedSwapKernelAxes", [w], g => [SwapKernelAxes(g[0])]);
    }
}
