// The global L2 norm of a list of tensors, ‖(x₁, …, x_k)‖ = √(Σ_t Σ_i x_t,i²): the gradient norm
// that training logs (and that norm clipping would use).
//
// No kernel of its own: it is Square and Sum per tensor (the reduction sums in a fixed order on
// the CPU set), a chain of scalar adds and one Sqrt, all on the tensors' device, so nothing is
// read back until the caller asks for the value. Being made of differentiable ops, it is
// differentiable too (d‖x‖/dx = x/‖x‖).
namespace GpuGan.Tensors;

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

    // ============================================================ the op

    /// <summary>
    /// The L2 norm of all elements of <paramref name="tensors"/> together, as a scalar tensor on
    /// their device (no host synchronisation); 0 on <paramref name="device"/> (default: the CPU)
    /// when the list is empty.
    /// </summary>
    /// <exception cref="DeviceMismatchException">The tensors are on different devices.</exception>
    public static Tensor GlobalNorm(IEnumerable<Tensor> tensors, Device? device = null)
    {
        var list = tensors as IReadOnlyList<Tensor> ?? tensors.ToList();
        if (list.Count == 0) return Scalar(0f, device);
        using var _ = list[0].Device.BeginOp("GlobalNorm");
        Tensor? total = null;
        foreach (var t in list)
        {
            if (total is not null) total.CheckSameDevice(t, "GlobalNorm");
            var s = t.Square().Sum();
            total = total is null ? s : total.Add(s);
        }
        return total!.Sqrt();
    }
}
