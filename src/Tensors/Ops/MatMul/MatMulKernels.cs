// TEMPORARY naive GEMM so the engine builds; replaced by the packed SIMD + tiled ILGPU kernels (branch gemm).
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors.Ops;

internal static class MatMulKernels
{
    public static void GemmReference(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = (float)(alpha * s + (beta == 0 ? 0 : beta * (double)c[i * n + j]));
            }
    }

    public static unsafe void GemmCpu(bool transA, bool transB, int m, int n, int k, float alpha, float* a, float* b, float beta, float* c)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < k; p++)
                    s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * n + j]);
            }
    }

    public static void GemmIlgpu(Accelerator acc, bool transA, bool transB, int m, int n, int k, float alpha, ArrayView<float> a, ArrayView<float> b, float beta, ArrayView<float> c)
        => throw new NotImplementedException("ILGPU GEMM arrives with the gemm branch");
}
