// Probe kernels for the PTX compile test (tests/Ptx/PtxCompileTests.cs).
//
// They compute nothing the library uses. They exist so that the PTX test always has kernels of
// each launch style (implicitly grouped, explicitly grouped with shared memory and barriers) and
// of each math call the kernel writers rely on, so an ILGPU upgrade that breaks one shows up
// here. Delete this file once real kernels cover the same ground.
//
// What ptxas 11.8 (-arch=sm_75, PTX ISA 7.8) accepts from ILGPU 1.5.3 without libdevice,
// float32, MathMode.Default (the ILGPU default):
//   passes: MathF/XMath Exp, Log, Sqrt, Tanh, Pow, Max, Abs; XMath.Rsqrt.
//     Exp and Log become ex2.approx.f32 / lg2.approx.f32 with a scale, Tanh becomes
//     tanh.approx.f32 (sm_75+), Sqrt is sqrt.rn.f32, Pow is a software sequence over ex2/lg2.
//     So Exp/Log/Tanh are approximate on the GPU: state parity tolerances accordingly.
//   fails: MathF.FusedMultiplyAdd: ILGPU emits a call to an undefined extern `FusedMultiplyAdd`
//     ("Unresolved extern function"). Write a * b + c instead; ptxas contracts it to fma.
//   fails under MathMode.Fast only: Tanh (MathF and XMath): ILGPU emits tanh with .ftz,
//     ptxas: "Illegal modifier '.ftz' for instruction 'tanh'".
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace GpuGan.Tensors.Kernels;

internal static class PtxProbeKernels
{
    private const int Tile = 16;

    /// <summary>y[i] = alpha * x[i] + y[i]: the implicitly grouped elementwise shape.</summary>
    [GpuKernel]
    public static void ScaleAddKernel(
        Index1D i,
        ArrayView1D<float, Stride1D.Dense> x, // (n)
        ArrayView1D<float, Stride1D.Dense> y, // (n)
        float alpha)
    {
        y[i] = alpha * x[i] + y[i];
    }

    /// <summary>
    /// c = a · b with Tile×Tile shared-memory tiles and group barriers: the explicitly grouped
    /// shape. Launched with groups of (Tile, Tile) threads.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void MatMulTiledKernel(
        ArrayView2D<float, Stride2D.DenseX> a, // (m, k)
        ArrayView2D<float, Stride2D.DenseX> b, // (k, n)
        ArrayView2D<float, Stride2D.DenseX> c) // (m, n)
    {
        var tileA = SharedMemory.Allocate2D<float, Stride2D.DenseX>(new Index2D(Tile, Tile), new Stride2D.DenseX(Tile));
        var tileB = SharedMemory.Allocate2D<float, Stride2D.DenseX>(new Index2D(Tile, Tile), new Stride2D.DenseX(Tile));
        int tx = Group.IdxX;
        int ty = Group.IdxY;
        int row = Grid.IdxY * Tile + ty;
        int col = Grid.IdxX * Tile + tx;
        int k = (int)a.Extent.Y;
        float sum = 0f;
        for (int t = 0; t < k; t += Tile)
        {
            tileA[ty, tx] = row < a.Extent.X && t + tx < k ? a[row, t + tx] : 0f;
            tileB[ty, tx] = t + ty < k && col < b.Extent.Y ? b[t + ty, col] : 0f;
            Group.Barrier();
            for (int j = 0; j < Tile; j++) sum += tileA[ty, j] * tileB[j, tx];
            Group.Barrier();
        }
        if (row < c.Extent.X && col < c.Extent.Y) c[row, col] = sum;
    }

    // One kernel per math call, MathF and XMath spellings (see the file header for results).
    [GpuKernel] public static void MathFExpKernel(Index1D i, ArrayView<float> x) => x[i] = MathF.Exp(x[i]);
    [GpuKernel] public static void XMathExpKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Exp(x[i]);
    [GpuKernel] public static void MathFLogKernel(Index1D i, ArrayView<float> x) => x[i] = MathF.Log(x[i]);
    [GpuKernel] public static void XMathLogKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Log(x[i]);
    [GpuKernel] public static void MathFSqrtKernel(Index1D i, ArrayView<float> x) => x[i] = MathF.Sqrt(x[i]);
    [GpuKernel] public static void XMathSqrtKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Sqrt(x[i]);
    [GpuKernel] public static void XMathRsqrtKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Rsqrt(x[i]);
    [GpuKernel] public static void MathFTanhKernel(Index1D i, ArrayView<float> x) => x[i] = MathF.Tanh(x[i]);
    [GpuKernel] public static void XMathTanhKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Tanh(x[i]);
    [GpuKernel] public static void MathFPowKernel(Index1D i, ArrayView<float> x) => x[i] = MathF.Pow(x[i], 1.5f);
    [GpuKernel] public static void XMathPowKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Pow(x[i], 1.5f);
    [GpuKernel] public static void MathFMaxKernel(Index1D i, ArrayView<float> x) => x[i] = MathF.Max(x[i], 0f);
    [GpuKernel] public static void XMathMaxKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Max(x[i], 0f);
    [GpuKernel] public static void MathFAbsKernel(Index1D i, ArrayView<float> x) => x[i] = MathF.Abs(x[i]);
    [GpuKernel] public static void XMathAbsKernel(Index1D i, ArrayView<float> x) => x[i] = XMath.Abs(x[i]);
    [GpuKernel] public static void MathFSigmoidKernel(Index1D i, ArrayView<float> x) => x[i] = 1f / (1f + MathF.Exp(-x[i]));
}
