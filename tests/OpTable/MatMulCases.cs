namespace GpuGan.Tests.OpTable;

// GEMM rows: fp32 products summed over k terms; error ≲ k·6e-8·Σ|a||b|, so atol 1e-4 at k ≤ 40.
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
                Reference = r =>
                {
                    var c = new double[m * n];
                    for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    for (int p = 0; p < k; p++)
                        c[i * n + j] += (ta ? r[0][p * m + i] : r[0][i * k + p]) * (tb ? r[1][j * k + p] : r[1][p * n + j]);
                    return c;
                },
                Atol = 1e-4, Rtol = 1e-5,
                HeavyOnIlgpu = m * k * n > 500,
            };
        }
    }
}
