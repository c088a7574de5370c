// Gathering scalars into a row of a device table, with a finiteness flag: how a training step keeps
// its metrics (losses, D outputs, penalty, gradient norms) on the device. Each step writes one row,
// in one launch; the trainer reads the whole table back every few steps in one copy, and the flag
// column is its divergence guard, computed where the values are:
//   table[row, j] = scalars[j]   (NaN for an absent scalar)
//   table[row, k] = 1 if any guarded scalar is NaN or ±∞, else 0        (k = the scalar count)
// Nothing is differentiated through it (the table is not recorded by autograd).
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>Where <see cref="ScalarRowKernels.WriteRowKernel"/> writes and what it checks.</summary>
internal struct ScalarRowArgs
{
    /// <summary>Offset of the row's first element in the table.</summary>
    public int Offset;
    /// <summary>Scalars in the row (the flag goes after them).</summary>
    public int Count;
    /// <summary>Bit j: scalar j is given (else NaN is written).</summary>
    public int Present;
    /// <summary>Bit j: scalar j is checked for finiteness.</summary>
    public int Guarded;
}

internal static class ScalarRowKernels
{
    /// <summary>Scalars one row holds at most.</summary>
    public const int MaxScalars = 8;

    private static float Pick(ArrayView<float> v, int j, int present) => ((present >> j) & 1) != 0 ? v[0] : float.NaN;

    /// <summary>One thread: copies up to 8 one-element views into the row and writes the flag after them.</summary>
    [GpuKernel]
    public static void WriteRowKernel(Index1D i, ArrayView<float> s0, ArrayView<float> s1, ArrayView<float> s2, ArrayView<float> s3,
        ArrayView<float> s4, ArrayView<float> s5, ArrayView<float> s6, ArrayView<float> s7, ArrayView<float> table, ScalarRowArgs a)
    {
        bool bad = false;
        for (int j = 0; j < a.Count; j++)
        {
            var view = j == 0 ? s0 : j == 1 ? s1 : j == 2 ? s2 : j == 3 ? s3 : j == 4 ? s4 : j == 5 ? s5 : j == 6 ? s6 : s7;
            float v = Pick(view, j, a.Present);
            table[a.Offset + j] = v;
            if (((a.Guarded >> j) & 1) != 0 && ((a.Present >> j) & 1) != 0 && (float.IsNaN(v) || float.IsInfinity(v))) bad = true;
        }
        table[a.Offset + a.Count] = bad ? 1f : 0f;
    }
}

public sealed partial class Tensor
{
    /// <summary>
    /// Writes <paramref name="scalars"/> (one-element tensors, or null for "absent": NaN is written) into
    /// row <paramref name="row"/> of <paramref name="table"/> (rows, columns ≥ scalars + 1), and after them
    /// a flag: 1 when a scalar whose index is in <paramref name="guarded"/> is NaN or ±∞, else 0.
    /// One launch on an ILGPU device; nothing is read back. Not recorded by autograd.
    /// </summary>
    /// <exception cref="ArgumentException">More than 8 scalars, a scalar that is not one element, or a row that does not fit.</exception>
    /// <exception cref="DeviceMismatchException">A scalar is not on the table's device.</exception>
    public static void WriteScalarRow(Tensor table, int row, IReadOnlyList<Tensor?> scalars, IEnumerable<int> guarded)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(scalars);
        int count = scalars.Count;
        if (count > ScalarRowKernels.MaxScalars) throw new ArgumentException($"WriteScalarRow: {count} scalars, at most {ScalarRowKernels.MaxScalars}", nameof(scalars));
        if (table.Rank != 2 || table.Shape[1] < count + 1 || row < 0 || row >= table.Shape[0])
            throw new ArgumentException($"WriteScalarRow: row {row} of {count} scalars and a flag does not fit table {table.Describe()}", nameof(row));
        int present = 0, guard = 0;
        for (int j = 0; j < count; j++)
        {
            if (scalars[j] is not { } s) continue;
            if (s.Size != 1) throw new ArgumentException($"WriteScalarRow: scalar {j} {s.Describe()} has {s.Size} elements", nameof(scalars));
            table.CheckSameDevice(s, "WriteScalarRow");
            present |= 1 << j;
        }
        foreach (int j in guarded)
            if (j >= 0 && j < count) guard |= 1 << j;
        int offset = row * table.Shape[1];
        if (table.Device.IsHost)
        {
            var t = table.HostSpan;
            bool bad = false;
            for (int j = 0; j < count; j++)
            {
                float v = scalars[j] is { } s ? s.HostSpan[0] : float.NaN;
                t[offset + j] = v;
                if ((guard >> j & 1) != 0 && scalars[j] is not null && !float.IsFinite(v)) bad = true;
            }
            t[offset + count] = bad ? 1f : 0f;
            return;
        }
        using var _ = table.Device.BeginOp("WriteScalarRow");
        ArrayView<float> V(int j) => j < count && scalars[j] is { } s ? s.View : table.View;
        var args = new ScalarRowArgs { Offset = offset, Count = count, Present = present, Guarded = guard };
        // One thread reads the scalars and writes them and the flag: a few bytes, a walk of ≤ 8.
        var cost = new LaunchCost(Flops: count, BytesRead: (long)count * sizeof(float), BytesWritten: (count + 1L) * sizeof(float), SerialLoop: count);
        table.Device.Launch(ScalarRowKernels.WriteRowKernel, 1, cost, V(0), V(1), V(2), V(3), V(4), V(5), V(6), V(7), table.View, args);
    }
}
