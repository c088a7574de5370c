using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// GlobalNorm ‖(x₁, …, x_k)‖ as a recorded op: the oracle Tensor.GlobalNormReference, its VJP u·x_t/‖x‖.
// Sums of ≤ 60 squares in float32: forward within a few ulps (atol 1e-5, rtol 1e-5).
public static partial class OpCases
{
    public static IEnumerable<OpCase> GlobalNormCases()
    {
        int[][] shapes = [[3, 5], [7], [2, 2, 3]];
        static double Norm(double[][] r) => Tensor.GlobalNormReference(r);
        yield return new OpCase
        {
            Name = "GlobalNorm[three tensors]", InputShapes = shapes,
            Forward = x => Tensor.GlobalNorm(x),
            Reference = r => [Norm(r)],
            Vjp = (r, u) => r.Select(t => t.Select(v => u[0] * v / Norm(r)).ToArray()).ToArray(),
        };
        yield return new OpCase
        {
            Name = "GlobalNorm[one tensor]", InputShapes = [[4, 6]],
            Forward = x => Tensor.GlobalNorm(x),
            Reference = r => [Norm(r)],
            Vjp = (r, u) => [r[0].Select(v => u[0] * v / Norm(r)).ToArray()],
        };
    }
}
