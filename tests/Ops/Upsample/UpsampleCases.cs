using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Upsampling rows: nearest upsampling by integer factors and its adjoint (the block sum, an op of
// its own), against the float64 loops in UpsampleKernels (the backward as a scatter). Widths 9
// and 17 reach the CPU set's AVX2 and AVX-512 paths for factor 2 plus their scalar tails. Forward
// values are copies (exact); the backward sums sh·sw values (atol 1e-5). The "squared" row makes
// the second-order check run the backward's own rule (see SliceCases).
public static partial class OpCases
{
    private static OpCase UpRow(string name, int[] s, int sh, int sw) => new()
    {
        Name = $"UpsampleNearest2d[{name}: {Shape.Format(s)} x{sh}x{sw}]",
        InputShapes = [s],
        Forward = x => x[0].UpsampleNearest2d(sh, sw),
        Reference = r => UpsampleKernels.UpsampleNearest2dReference(r[0], s[0], s[1], s[2], s[3], sh, sw),
        Atol = 1e-6, Rtol = 0,
    };

    private static OpCase UpBackwardRow(string name, int[] s, int sh, int sw) => new()
    {
        Name = $"UpsampleNearest2dBackward[{name}: {Shape.Format([s[0], s[1], s[2] * sh, s[3] * sw])} /{sh}x{sw}]",
        InputShapes = [[s[0], s[1], s[2] * sh, s[3] * sw]],
        Forward = x => Tensor.UpsampleNearest2dBackward(x[0], sh, sw),
        Reference = r => UpsampleKernels.UpsampleNearest2dBackwardReference(r[0], s[0], s[1], s[2], s[3], sh, sw),
        Atol = 1e-5, Rtol = 1e-5,
    };

    public static IEnumerable<OpCase> UpsampleCases()
    {
        yield return UpRow("x2", [1, 2, 3, 5], 2, 2);
        yield return UpRow("x3 by x2", [2, 1, 2, 3], 3, 2);
        yield return UpRow("x2, AVX2 row", [1, 1, 2, 9], 2, 2);
        yield return UpRow("x2, AVX-512 row", [1, 1, 1, 17], 2, 2);
        yield return UpRow("x1 by x3", [1, 1, 2, 2], 1, 3);
        yield return UpBackwardRow("x2", [1, 2, 2, 3], 2, 2);
        yield return UpBackwardRow("x2, AVX2 row", [1, 1, 1, 9], 2, 2);
        yield return UpBackwardRow("x3 by x2", [2, 1, 1, 2], 3, 2);
        yield return new OpCase
        {
            Name = "UpsampleNearest2d·squared[1x1x2x3 x2]",
            InputShapes = [[1, 1, 2, 3]],
            Forward = x => x[0].UpsampleNearest2d(2).Square(),
            Reference = r => Squared(UpsampleKernels.UpsampleNearest2dReference(r[0], 1, 1, 2, 3, 2, 2)),
        };
    }
}
