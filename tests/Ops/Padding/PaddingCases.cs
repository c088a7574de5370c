using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Padding rows: Pad2d in its three modes and Pad2dBackward (its adjoint, an op of its own), against
// the float64 loops in PaddingKernels (the forward by its index map, the backward as a scatter —
// not the kernels' gather, so a wrong source list cannot agree with itself). Asymmetric pads, odd
// sides, reflection pads one short of the side they mirror. Forward values are copies (exact);
// the backward sums at most a few values per element (atol 1e-5). The "squared" row makes the
// second-order check run Pad2dBackward's own rule (see SliceCases).
public static partial class OpCases
{
    private static OpCase PadRow(string name, int[] s, int left, int right, int top, int bottom, PadMode mode) => new()
    {
        Name = $"Pad2d[{name}: {Shape.Format(s)} ({left}, {right}, {top}, {bottom}) {mode}]",
        InputShapes = [s],
        Forward = x => x[0].Pad2d(left, right, top, bottom, mode),
        Reference = r => PaddingKernels.Pad2dReference(r[0], s[0], s[1], s[2], s[3], left, right, top, bottom, mode),
        Atol = 1e-6, Rtol = 0,
    };

    private static OpCase PadBackwardRow(string name, int[] s, int left, int right, int top, int bottom, PadMode mode)
    {
        int[] g = [s[0], s[1], s[2] + top + bottom, s[3] + left + right];
        return new OpCase
        {
            Name = $"Pad2dBackward[{name}: {Shape.Format(g)} → {s[2]}x{s[3]} ({left}, {right}, {top}, {bottom}) {mode}]",
            InputShapes = [g],
            Forward = x => Tensor.Pad2dBackward(x[0], s[2], s[3], left, right, top, bottom, mode),
            Reference = r => PaddingKernels.Pad2dBackwardReference(r[0], s[0], s[1], s[2], s[3], left, right, top, bottom, mode),
            Atol = 1e-5, Rtol = 1e-5,
        };
    }

    public static IEnumerable<OpCase> PaddingCases()
    {
        yield return PadRow("zero, asymmetric", [1, 2, 3, 4], 1, 2, 0, 1, PadMode.Zero);
        yield return PadRow("reflect, one short of the side", [2, 1, 4, 5], 2, 1, 3, 1, PadMode.Reflect);
        yield return PadRow("reflect 3, CycleGAN stem", [1, 1, 5, 4], 3, 3, 3, 3, PadMode.Reflect);
        yield return PadRow("replicate, wide", [1, 2, 3, 3], 2, 0, 1, 4, PadMode.Replicate);
        yield return PadRow("replicate, 1-pixel side", [2, 1, 1, 3], 1, 1, 2, 1, PadMode.Replicate);
        yield return PadBackwardRow("zero", [2, 1, 3, 2], 1, 0, 2, 1, PadMode.Zero);
        yield return PadBackwardRow("reflect", [1, 2, 4, 3], 2, 1, 1, 3, PadMode.Reflect);
        yield return PadBackwardRow("replicate", [1, 1, 3, 4], 3, 1, 2, 2, PadMode.Replicate);
        // Wide enough rows for the SIMD interior add of the CPU backward (W = 19: 16 + tail).
        yield return PadBackwardRow("reflect, wide rows", [1, 1, 2, 19], 1, 1, 1, 1, PadMode.Reflect);
        yield return new OpCase
        {
            Name = "Pad2d·squared[1x1x4x3 (1, 2, 2, 1) reflect]",
            InputShapes = [[1, 1, 4, 3]],
            Forward = x => x[0].Pad2d(1, 2, 2, 1, PadMode.Reflect).Square(),
            Reference = r => Squared(PaddingKernels.Pad2dReference(r[0], 1, 1, 4, 3, 1, 2, 2, 1, PadMode.Reflect)),
        };
        yield return new OpCase
        {
            Name = "Pad2d·squared[1x1x3x3 (2, 1, 1, 2) replicate]",
            InputShapes = [[1, 1, 3, 3]],
            Forward = x => x[0].Pad2d(2, 1, 1, 2, PadMode.Replicate).Square(),
            Reference = r => Squared(PaddingKernels.Pad2dReference(r[0], 1, 1, 3, 3, 2, 1, 1, 2, PadMode.Replicate)),
        };
    }
}
