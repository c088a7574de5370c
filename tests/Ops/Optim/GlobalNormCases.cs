using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// GlobalNorm ‖(x_1, …, x_k)‖ = √(Σ_t Σ_i x_t,i²), the op the trainers record for gradient norms.
// Oracle: Tensor.GlobalNormReference; its VJP is u·x_t/‖x‖ for each input.
// Three inputs of different ranks so the per-tensor bookkeeping of the ILGPU launch is exercised;
// nine inputs cross the kernel's 8-tensors-per-launch batching (two partial launches + the final one).
// Tolerance: a sum of ≤ 80 float32 squares, relative error ~80·6e-8 ≈ 5e-6 of a norm of O(5).
public static partial class OpCases
{
    private static OpCase GlobalNormRow(string name, int[][] shapes) => new()
    {
        Name = name, InputShapes = shapes, Forward = x => Tensor.GlobalNorm(x),
        Reference = r => [Tensor.GlobalNormReference(r)], Atol = 1e-5,
        Vjp = (r, u) =>
        {
            double norm = Tensor.GlobalNormReference(r);
            return r.Select(x => x.Select(v => u[0] * v / norm).ToArray()).ToArray();
        },
    };

    public static IEnumerable<OpCase> GlobalNormCases()
    {
        yield return GlobalNormRow("GlobalNorm[3 tensors]", [[3, 5], [2, 3, 4], [7]]);
        yield return GlobalNormRow("GlobalNorm[9 tensors]", Enumerable.Range(1, 9).Select(i => new[] { i % 3 + 1, 2 }).ToArray());
    }
}
