// Matrix product C = op(A)·op(B), op = identity or transpose, on rank-2 tensors.
// The kernels (float64 reference, tiled ILGPU GEMM, packed SIMD GEMM) are in MatMulKernels.cs;
// this file holds the launcher and the derivative rule. The rule is itself two matmuls with
// flipped transpose flags, so second derivatives come for free.
using GpuGan.Tensors.Ops;

namespace GpuGan.Tensors;

public sealed partial class Tensor
{
    // ============================================================ launcher

    /// <summary>C = alpha·op(A)·op(B) + beta·C into an existing tensor; unrecorded.</summary>
    internal static unsafe void Gemm(Tensor a, Tensor b, Tensor c, bool transA, bool transB, float alpha = 1f, float beta = 0f)
    {
        int m = transA ? a.Shape[1] : a.Shape[0], k = transA ? a.Shape[0] : a.Shape[1];
        int kb = transB ? b.Shape[1] : b.Shape[0], n = transB ? b.Shape[0] : b.Shape[1];
        if (k != kb || c.Shape[0] != m || c.Shape[1] != n)
            throw new ShapeMismatchException($"MatMul: op(A) {m}x{k} · op(B) {kb}x{n} into C {c.Shape} (A {a.Shape}{(transA ? "ᵀ" : "")}, B {b.Shape}{(transB ? "ᵀ" : "")})");
        if (m == 0 || n == 0) return;
        if (k == 0) { if (beta == 0) c.Fill(0f); return; }
        if (a.Device.IsHost)
        {
            fixed (float* ap = a.HostSpan, bp = b.HostSpan, cp = c.HostSpan)
                MatMulKernels.GemmCpu(a.Device.Parallel, transA, transB, m, n, k, alpha, ap, bp, beta, cp);
        }
        else
        {
            MatMulKernels.GemmIlgpu(a.Device, transA, transB, m, n, k, alpha, a.View, b.View, beta, c.View);
        }
    }

    // ============================================================ public op and derivative rule

    /// <summary>op(this)·op(b) for rank-2 tensors; transposes are read in place, never copied.</summary>
    public Tensor MatMul(Tensor b, bool transA = false, bool transB = false)
    {
        CheckSameDevice(b, "MatMul");
        using var _ = Device.BeginOp("MatMul");
        if (Rank != 2 || b.Rank != 2)
            throw new ShapeMismatchException($"MatMul: expects rank-2 tensors, got {Describe()} and {b.Describe()}");
        int m = transA ? Shape[1] : Shape[0], n = transB ? b.Shape[0] : b.Shape[1];
        var c = Empty(new Shape(m, n), Device);
        Gemm(this, b, c, transA, transB);
        var a = this;
        return Autograd.Record(c, "MatMul", [this, b], (g, need) =>
        {
            var gc = g[0];
            // C = op(A)·op(B): dop(A) = G·op(B)ᵀ, dop(B) = op(A)ᵀ·G, then undo op on each side.
            Tensor? ga = !need[0] ? null : transA ? b.MatMul(gc, transB, true) : gc.MatMul(b, false, !transB);
            Tensor? gb = !need[1] ? null : transB ? gc.MatMul(a, true, transA) : a.MatMul(gc, !transA, false);
            return [ga, gb];
        });
    }
}
