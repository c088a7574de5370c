namespace GpuGan.Tests.OpTable;

/// <summary>Small float64 helpers for writing op references.</summary>
public static class Ref
{
    public static int Size(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    /// <summary>NumPy-broadcast binary op in float64.</summary>
    public static double[] Broadcast(double[] a, int[] sa, double[] b, int[] sb, Func<double, double, double> f)
    {
        int rank = Math.Max(sa.Length, sb.Length);
        var pa = Pad(sa, rank);
        var pb = Pad(sb, rank);
        var so = pa.Zip(pb, Math.Max).ToArray();
        var y = new double[Size(so)];
        var idx = new int[rank];
        for (int o = 0; o < y.Length; o++)
        {
            int r = o;
            for (int d = rank - 1; d >= 0; d--) { idx[d] = r % so[d]; r /= so[d]; }
            int ia = 0, ib = 0;
            for (int d = 0; d < rank; d++)
            {
                ia = ia * pa[d] + (pa[d] == 1 ? 0 : idx[d]);
                ib = ib * pb[d] + (pb[d] == 1 ? 0 : idx[d]);
            }
            y[o] = f(a[ia], b[ib]);
        }
        return y;
    }

    public static int[] Pad(int[] s, int rank) => Enumerable.Repeat(1, rank - s.Length).Concat(s).ToArray();

    public static double[] Map(double[] x, Func<double, double> f) => x.Select(f).ToArray();

    /// <summary>Values with |v| in [lo, hi] and random sign: keeps inputs off kinks (relu, abs, clamp).</summary>
    public static float[] AwayFromZero(Tensors.RandomStream gen, int n, float lo = 0.2f, float hi = 2f)
    {
        var v = new float[n];
        gen.FillUniform(v, lo, hi);
        var s = new float[n];
        gen.FillUniform(s);
        for (int i = 0; i < n; i++) if (s[i] < 0.5f) v[i] = -v[i];
        return v;
    }

    public static float[] Uniform(Tensors.RandomStream gen, int n, float lo, float hi)
    {
        var v = new float[n];
        gen.FillUniform(v, lo, hi);
        return v;
    }
}
