using GpuGan.Tensors;

namespace GpuGan.Tests.OpTable;

// Reductions sum in float32 lanes and double across runs: relative error ~k·6e-8 for k terms.
// Oracles: ReductionKernels.SumReference; the VJP of a sum is the upstream broadcast back (the
// binary CopyOp reference), and the VJP of a broadcast is a sum (SumReference).
// The tensor plumbing ops the tape records (Reshape, Clone, To) have rows here too.
public static partial class OpCases
{
    /// <summary>u (shape <paramref name="from"/>) broadcast to <paramref name="to"/>, in double.</summary>
    private static double[] Broadcast64(double[] u, int[] from, int[] to)
        => ElementwiseKernels.BinaryReference<CopyOp>(u, from, new double[to.Aggregate(1, (a, b) => a * b)], to);

    public static IEnumerable<OpCase> ReductionCases()
    {
        int[] s = [2, 3, 4, 5];
        yield return new OpCase
        {
            Name = "Sum[all]", InputShapes = [s], Forward = x => x[0].Sum(), Reference = r => [r[0].Sum()], Atol = 1e-4,
            Vjp = (r, u) => [r[0].Select(_ => u[0]).ToArray()],
        };
        yield return new OpCase
        {
            Name = "Mean[all]", InputShapes = [s], Forward = x => x[0].Mean(), Reference = r => [r[0].Average()], Atol = 1e-6,
            Vjp = (r, u) => [r[0].Select(_ => u[0] / r[0].Length).ToArray()],
        };
        foreach (var axes in new[] { new[] { 0 }, [1], [3], [0, 2, 3], [1, 2], [0, 3], [2] })
        {
            var outDims = s.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
            yield return new OpCase
            {
                Name = $"Sum[axes {string.Join(",", axes)}]", InputShapes = [s], Forward = x => x[0].Sum(axes, keepDim: true),
                Reference = r => ReductionKernels.SumReference(r[0], s, outDims), Atol = 1e-5,
                Vjp = (r, u) => [Broadcast64(u, outDims, s)],
            };
        }
        yield return new OpCase
        {
            Name = "Mean[axes 0,2,3 squeezed]", InputShapes = [[2, 3, 4, 5]], Forward = x => x[0].Mean([0, 2, 3]),
            Reference = r => ReductionKernels.SumReference(r[0], [2, 3, 4, 5], [1, 3, 1, 1]).Select(v => v / 40).ToArray(),
            Vjp = (r, u) => [Broadcast64(u.Select(v => v / 40).ToArray(), [1, 3, 1, 1], [2, 3, 4, 5])],
        };
        yield return new OpCase
        {
            Name = "SumTo[(3,1)]", InputShapes = [[2, 3, 5]], Forward = x => x[0].SumTo(new Shape(3, 1)),
            Reference = r => ReductionKernels.SumReference(r[0], [2, 3, 5], [1, 3, 1]),
            Vjp = (r, u) => [Broadcast64(u, [1, 3, 1], [2, 3, 5])],
        };
        yield return new OpCase
        {
            Name = "BroadcastTo[per-channel]", InputShapes = [[1, 3, 1, 1]], Forward = x => x[0].BroadcastTo(new Shape(2, 3, 4, 5)),
            Reference = r => Broadcast64(r[0], [1, 3, 1, 1], [2, 3, 4, 5]),
            Vjp = (r, u) => [ReductionKernels.SumReference(u, [2, 3, 4, 5], [1, 3, 1, 1])],
        };
        yield return new OpCase
        {
            Name = "Reshape+Sum", InputShapes = [[4, 6]], Forward = x => x[0].Reshape(2, 3, 4).Sum([1]).Square(),
            Reference = r => ReductionKernels.SumReference(r[0], [2, 3, 4], [2, 1, 4]).Select(v => v * v).ToArray(),
            Vjp = (r, u) =>
            {
                var sums = ReductionKernels.SumReference(r[0], [2, 3, 4], [2, 1, 4]);
                return [Broadcast64(sums.Select((v, i) => 2 * v * u[i]).ToArray(), [2, 1, 4], [2, 3, 4])];
            },
        };
    }

    public static IEnumerable<OpCase> TensorPlumbingCases()
    {
        yield return new OpCase
        {
            Name = "Reshape[(2,3,4)→(4,6)]", InputShapes = [[2, 3, 4]], Forward = x => x[0].Reshape(4, 6),
            Reference = r => r[0], Vjp = (r, u) => [u],
        };
        yield return new OpCase
        {
            Name = "Clone", InputShapes = [[3, 5]], Forward = x => x[0].Clone(),
            Reference = r => r[0], Vjp = (r, u) => [u],
        };
        // To the other kernel set and back, squared there (the rule of To is To back; its own rule makes it twice differentiable).
        yield return new OpCase
        {
            Name = "To[round trip through the other kernel set]", InputShapes = [[2, 3, 4]],
            Forward = x =>
            {
                var other = x[0].Device.IsHost ? Device.IlgpuCpu : Device.Cpu;
                return x[0].To(other).Square().To(x[0].Device);
            },
            Reference = r => r[0].Select(v => v * v).ToArray(),
            Vjp = (r, u) => [r[0].Select((v, i) => 2 * v * u[i]).ToArray()],
        };
    }
}
