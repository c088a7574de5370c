using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Reductions sum in float32 lanes and double across runs: relative error ~k·6e-8 for k terms.
public static partial class OpCases
{
    public static IEnumerable<OpCase> ReductionCases()
    {
        int[] s = [2, 3, 4, 5];
        yield return new OpCase { Name = "Sum[all]", InputShapes = [s], Forward = x => x[0].Sum(), Reference = r => [r[0].Sum()], Atol = 1e-4 };
        yield return new OpCase { Name = "Mean[all]", InputShapes = [s], Forward = x => x[0].Mean(), Reference = r => [r[0].Average()], Atol = 1e-6 };
        foreach (var axes in new[] { new[] { 0 }, [1], [3], [0, 2, 3], [1, 2], [0, 3], [2] })
        {
            var outDims = s.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
            yield return new OpCase
            {
                Name = $"Sum[axes {string.Join(",", axes)}]", InputShapes = [s], Forward = x => x[0].Sum(axes, keepDim: true),
                Reference = r => ReductionKernels.SumReference(r[0], s, outDims), Atol = 1e-5,
            };
        }
        yield return new OpCase
        {
            Name = "Mean[axes 0,2,3 squeezed]", InputShapes = [[2, 3, 4, 5]], Forward = x => x[0].Mean([0, 2, 3]),
            Reference = r => ReductionKernels.SumReference(r[0], [2, 3, 4, 5], [1, 3, 1, 1]).Select(v => v / 40).ToArray(),
        };
        yield return new OpCase
        {
            Name = "SumTo[(3,1)]", InputShapes = [[2, 3, 5]], Forward = x => x[0].SumTo(new Shape(3, 1)),
            Reference = r => ReductionKernels.SumReference(r[0], [2, 3, 5], [1, 3, 1]),
        };
        yield return new OpCase
        {
            Name = "BroadcastTo[per-channel]", InputShapes = [[1, 3, 1, 1]], Forward = x => x[0].BroadcastTo(new Shape(2, 3, 4, 5)),
            Reference = r => ElementwiseKernels.BinaryReference<CopyOp>(r[0], [1, 3, 1, 1], new double[120], [2, 3, 4, 5]),
        };
        yield return new OpCase
        {
            Name = "Reshape+Sum", InputShapes = [[4, 6]], Forward = x => x[0].Reshape(2, 3, 4).Sum([1]).Square(),
            Reference = r => ReductionKernels.SumReference(r[0], [2, 3, 4], [2, 1, 4]).Select(v => v * v).ToArray(),
        };
    }
}
