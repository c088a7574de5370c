// The global L2 norm of a list of tensors, ‖(x₁, …, x_k)‖ = √(Σ_t Σ_i x_t,i²): the gradient norm
// that training logs (and that norm clipping would use). The result stays on the tensors' device,
// so nothing is read back until the caller asks for the value. Its rule is d‖x‖/dx_t = x_t/‖x‖
// (composed ops, so it is differentiable again).
//
// CPU: Square and Sum per tensor (the reduction sums in a fixed order), a chain of scalar adds and
// one Sqrt.
// ILGPU: every tensor is cut into chunks of 256 threads × ReductionElementsPerThread elements, one
// group per chunk; a group sums the squares of its chunk (each thread every 256th element in order,
// then an xor butterfly per warp and the 8 warp sums in order) into its own slot of a partial buffer.
// One launch serves up to 8 tensors (the kernel takes 8 views; the plan says which groups read which),
// so a network's gradient norm is ⌈k/8⌉ launches plus one that adds all partials in slot order and
// takes the square root. No float atomics: the same inputs give the same bits on a device.
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>Which groups of one <see cref="GlobalNormKernels.SumSquaresKernel"/> launch read which of its 8 tensors.</summary>
internal struct SquaresPlan
{
    /// <summary>Elements of tensors 0..7 (0 for unused slots).</summary>
    public int L0, L1, L2, L3, L4, L5, L6, L7;
    /// <summary>First group of tensors 1..7 (tensor 0 starts at group 0; unused slots: int.MaxValue).</summary>
    public int G1, G2, G3, G4, G5, G6, G7;
    /// <summary>Elements per group (a chunk of one tensor).</summary>
    public int Chunk;
    /// <summary>Where this launch's partial sums start in the partial buffer (one per group).</summary>
    public int Offset;
}

internal static class GlobalNormKernels
{
    /// <summary>Tensors one launch reads.</summary>
    public const int TensorsPerLaunch = 8;

    private const int GroupThreads = ReductionKernels.GroupThreads;

    /// <summary>
    /// partial[Offset + group] = Σ x² over the group's chunk of its tensor (which tensor: the plan's group ranges).
    /// Unused view slots may alias anything: no group reads them.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void SumSquaresKernel(ArrayView<float> a0, ArrayView<float> a1, ArrayView<float> a2, ArrayView<float> a3,
        ArrayView<float> a4, ArrayView<float> a5, ArrayView<float> a6, ArrayView<float> a7, ArrayView<float> partial, SquaresPlan s)
    {
        var warpSums = SharedMemory.Allocate1D<float>(GroupThreads / 32);
        int g = Grid.IdxX, t = Group.IdxX;
        // Which tensor: the last whose first group is ≤ g.
        int j = g >= s.G7 ? 7 : g >= s.G6 ? 6 : g >= s.G5 ? 5 : g >= s.G4 ? 4 : g >= s.G3 ? 3 : g >= s.G2 ? 2 : g >= s.G1 ? 1 : 0;
        var x = j == 0 ? a0 : j == 1 ? a1 : j == 2 ? a2 : j == 3 ? a3 : j == 4 ? a4 : j == 5 ? a5 : j == 6 ? a6 : a7;
        int length = j == 0 ? s.L0 : j == 1 ? s.L1 : j == 2 ? s.L2 : j == 3 ? s.L3 : j == 4 ? s.L4 : j == 5 ? s.L5 : j == 6 ? s.L6 : s.L7;
        int first = j == 0 ? 0 : j == 1 ? s.G1 : j == 2 ? s.G2 : j == 3 ? s.G3 : j == 4 ? s.G4 : j == 5 ? s.G5 : j == 6 ? s.G6 : s.G7;
        int start = (g - first) * s.Chunk, end = Math.Min(length, start + s.Chunk);
        float acc = 0f;
        for (int e = start + t; e < end; e += GroupThreads)
        {
            float v = x[e];
            acc += v * v;
        }
        float sum = ReductionKernels.GroupTotal(acc, warpSums);
        if (t == 0) partial[s.Offset + g] = sum;
    }
}

public sealed partial class Tensor
{
    // ============================================================ float64 reference

    /// <summary>√(Σ_t Σ_i x_t,i²) in double (the test oracle).</summary>
    internal static double GlobalNormReference(IEnumerable<double[]> tensors)
    {
        double s = 0;
        foreach (var t in tensors)
            foreach (double v in t) s += v * v;
        return Math.Sqrt(s);
    }

    // ============================================================ launchers

    /// <summary>The norm of non-empty tensors on one ILGPU device: ⌈k/8⌉ partial launches and the final one. Unrecorded.</summary>
    private static Tensor GlobalNormIlgpu(IReadOnlyList<Tensor> list)
    {
        var device = list[0].Device;
        int chunk = ReductionKernels.GroupThreads * device.GpuOptions.ReductionElementsPerThread;
        var groups = list.Select(t => (t.Size + chunk - 1) / chunk).ToArray();
        int total = groups.Sum();
        var y = Empty(new Shape(), device);
        if (total == 0) { y.Fill(0f); return y; }
        using var partial = Empty(new Shape(total), device);
        int offset = 0;
        Span<int> lengths = stackalloc int[GlobalNormKernels.TensorsPerLaunch];
        Span<int> starts = stackalloc int[GlobalNormKernels.TensorsPerLaunch];
        for (int first = 0; first < list.Count; first += GlobalNormKernels.TensorsPerLaunch)
        {
            var batch = list.Skip(first).Take(GlobalNormKernels.TensorsPerLaunch).ToArray();
            int launchGroups = 0;
            long elements = 0;
            for (int j = 0; j < GlobalNormKernels.TensorsPerLaunch; j++)
            {
                lengths[j] = j < batch.Length ? batch[j].Size : 0;
                starts[j] = j < batch.Length ? launchGroups : int.MaxValue;
                if (j < batch.Length) launchGroups += groups[first + j];
                elements += lengths[j];
            }
            if (launchGroups == 0) continue;
            var plan = new SquaresPlan
            {
                L0 = lengths[0], L1 = lengths[1], L2 = lengths[2], L3 = lengths[3], L4 = lengths[4], L5 = lengths[5], L6 = lengths[6], L7 = lengths[7],
                G1 = starts[1], G2 = starts[2], G3 = starts[3], G4 = starts[4], G5 = starts[5], G6 = starts[6], G7 = starts[7],
                Chunk = chunk, Offset = offset,
            };
            ArrayView<float> V(int j) => j < batch.Length && batch[j].Size > 0 ? batch[j].View : partial.View;
            // A square and an add per element; each thread walks ≤ chunk/256 elements, then 5 shuffles and 8 warp sums.
            var cost = new LaunchCost(Flops: 2 * elements, BytesRead: elements * sizeof(float), BytesWritten: (long)launchGroups * sizeof(float),
                SerialLoop: chunk / ReductionKernels.GroupThreads + 5 + ReductionKernels.GroupThreads / 32);
            device.Launch(GlobalNormKernels.SumSquaresKernel, new KernelConfig(launchGroups, ReductionKernels.GroupThreads), cost,
                V(0), V(1), V(2), V(3), V(4), V(5), V(6), V(7), partial.View, plan);
            offset += launchGroups;
        }
        var finish = new LaunchCost(Flops: total + 1, BytesRead: (long)total * sizeof(float), BytesWritten: sizeof(float),
            SerialLoop: (total + ReductionKernels.GroupThreads - 1) / ReductionKernels.GroupThreads + 8);
        device.Launch(ReductionKernels.SqrtOfSumKernel, new KernelConfig(1, ReductionKernels.GroupThreads), finish, partial.View, y.View, total);
        return y;
    }

    // ============================================================ the op

    /// <summary>
    /// The L2 norm of all elements of <paramref name="tensors"/> together, as a scalar tensor on
    /// their device (no host synchronisation); 0 on <paramref name="device"/> (default: the CPU)
    /// when the list is empty. Differentiable: d‖x‖/dx_t = x_t/‖x‖.
    /// </summary>
    /// <exception cref="DeviceMismatchException">The tensors are on different devices.</exception>
    public static Tensor GlobalNorm(IEnumerable<Tensor> tensors, Device? device = null)
    {
        var list = tensors as IReadOnlyList<Tensor> ?? tensors.ToList();
        if (list.Count == 0) return Scalar(0f, device);
        var dev = list[0].Device;
        using var _ = dev.BeginOp("GlobalNorm");
        foreach (var t in list) list[0].CheckSameDevice(t, "GlobalNorm");
        Tensor norm;
        using (Autograd.NoGrad())
        {
            if (dev.IsHost)
            {
                Tensor? total = null;
                foreach (var t in list)
                {
                    var s = t.Square().Sum();
                    total = total is null ? s : total.Add(s);
                }
                norm = total!.Sqrt();
            }
            else norm = GlobalNormIlgpu(list);
        }
        var inputs = list.ToArray();
        return Autograd.Record(norm, "GlobalNorm", inputs, (g, need) =>
        {
            var scale = g[0].Div(norm);
            var r = new Tensor?[inputs.Length];
            for (int i = 0; i < inputs.Length; i++) r[i] = need[i] ? inputs[i].Mul(scale) : null;
            return r;
        });
    }
}
