using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Slicing rows: Narrow, Concat and SliceBackward (Narrow's adjoint, an op of its own), against the
// float64 loops in SliceKernels. All three copy values, so forward results are exact (atol 1e-6
// covers nothing but the comparison). The ops are linear: their gradgradcheck is trivial, so the
// "squared" rows put a nonlinearity after them — the first gradient then contains the op's
// derivative rule (SliceBackward, Narrow), and differentiating it again runs that rule's own rule.
public static partial class OpCases
{
    private static double[] Squared(double[] v) => ElementwiseKernels.UnaryReference<SquareOp>(v);

    private static OpCase NarrowRow(string name, int[] shape, int axis, int start, int length) => new()
    {
        Name = $"Narrow[{name}: {Shape.Format(shape)} axis {axis} [{start}, +{length})]",
        InputShapes = [shape],
        Forward = x => x[0].Narrow(axis, start, length),
        Reference = r => SliceKernels.NarrowReference(r[0], shape, axis < 0 ? axis + shape.Length : axis, start, length),
        Atol = 1e-6, Rtol = 0,
    };

    private static OpCase ConcatRow(string name, int axis, params int[][] shapes) => new()
    {
        Name = $"Concat[{name}: {string.Join(" + ", shapes.Select(s => Shape.Format(s)))} axis {axis}]",
        InputShapes = shapes,
        Forward = x => Tensor.Concat(x, axis),
        Reference = r => SliceKernels.ConcatReference(r, shapes, axis < 0 ? axis + shapes[0].Length : axis),
        Atol = 1e-6, Rtol = 0,
    };

    public static IEnumerable<OpCase> SliceCases()
    {
        yield return NarrowRow("channels", [2, 5, 3, 2], 1, 1, 3);
        yield return NarrowRow("last axis, negative", [3, 7], -1, 2, 4);
        yield return NarrowRow("batch", [4, 3, 2, 3], 0, 3, 1);
        yield return NarrowRow("whole axis", [1, 2, 3, 3], 2, 0, 3);
        yield return ConcatRow("U-Net skip", 1, [1, 2, 3, 3], [1, 3, 3, 3]);
        yield return ConcatRow("batch, three parts", 0, [1, 2, 3], [2, 2, 3], [1, 2, 3]);
        yield return ConcatRow("last axis", -1, [3, 2], [3, 5]);
        yield return ConcatRow("one part", 2, [2, 1, 3, 2]);
        // More parts than one ILGPU launch takes (8): the block-copy path.
        yield return ConcatRow("nine parts", 1, Enumerable.Range(1, 9).Select(k => new[] { 2, k % 3 + 1, 2 }).ToArray());

        yield return new OpCase
        {
            Name = "SliceBackward[2x2x3 into axis 1 of length 5 at 1]",
            InputShapes = [[2, 2, 3]],
            Forward = x => Tensor.SliceBackward(x[0], 1, 5, 1),
            Reference = r => SliceKernels.SliceBackwardReference(r[0], [2, 2, 3], 1, 5, 1),
            Atol = 1e-6, Rtol = 0,
        };
        yield return new OpCase
        {
            Name = "Narrow·squared[2x5x3 axis 1 [2, +3)]",
            InputShapes = [[2, 5, 3]],
            Forward = x => x[0].Narrow(1, 2, 3).Square(),
            Reference = r => Squared(SliceKernels.NarrowReference(r[0], [2, 5, 3], 1, 2, 3)),
        };
        yield return new OpCase
        {
            Name = "Concat·squared[1x2x2x3 + 1x1x2x3 axis 1]",
            InputShapes = [[1, 2, 2, 3], [1, 1, 2, 3]],
            Forward = x => Tensor.Concat(x, 1).Square(),
            Reference = r => Squared(SliceKernels.ConcatReference(r, [[1, 2, 2, 3], [1, 1, 2, 3]], 1)),
        };
    }
}
