using GpuGan.Tensors.Ops;

namespace GpuGan.Tests.OpTable;

// GEMM rows against MatMulKernels.GemmReference (double), VJP MatMulKernels.GemmVjpReference. fp32 products summed over k terms; error ≲ k·6e-8·Σ|a||b|, so atol 1e-4 at k ≤ 40.
public static partial class OpCases
{
    public static IEnumerable<OpCase> MatMulCases()
    {
        foreach (var (m, k, n) in new[] { (1, 1, 1), (3, 5, 7), (17, 9, 13), (1, 33, 2) })
        foreach (bool ta in new[] { false, true })
        foreach (bool tb in new[] { false, true })
        {
            int[] sa = ta ? [k, m] : [m, k];
            int[] sb = tb ? [n, k] : [k, n];
            yield return new OpCase
            {
                Name = $"MatMul[{m}x{k}x{n}{(ta ? ",Aᵀ" : "")}{(tb ? ",Bᵀ" : "")}]",
                InputShapes = [sa, sb],
                Forward = x => x[0].MatMul(x[1], ta, tb),
                Reference = r => MatMulKernels.GemmReference(ta, tb, m, n, k, r[0], r[1]),
                Vjp = (r, u) => { var (da, db) = MatMulKernels.GemmVjpReference(ta, tb, m, n, k, r[0], r[1], u); return [da, db]; },
                Atol = 1e-4, Rtol = 1e-5,
                HeavyOnIlgpu = m * k * n > 500,
            };
        }
    }
}
