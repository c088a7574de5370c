namespace GpuGan.Tests.OpTable;

/// <summary>
/// Input samplers for op-table rows. The oracles themselves live next to the kernels in src/
/// (each op family's float64 reference); tests do not write their own.
/// </summary>
public static class Ref
{
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
