// Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
// Training"): the same random transformation family is applied to real and generated images before
// the discriminator sees them, in the D steps and the G step, and the generator's gradient flows
// through it. Every transformation is built from differentiable tensor ops that have their own
// derivative rules (Add, Sub, Mul, Mean, Narrow, Pad2d), so second-order gradients exist too: the
// WGAN-GP penalty differentiates through it (the penalty's critic is x ↦ D(T(x))).
//
//   color        brightness  x + b,                       b ~ U[−0.5, 0.5)   per sample
//                saturation  (x − m_c)·s + m_c,  m_c the mean over channels,  s ~ U[0, 2)
//                contrast    (x − m)·c + m,      m the mean over C, H, W,     c ~ U[0.5, 1.5)
//   translation  y[h, w] = x[h + ty, w + tx], zero outside, t ~ integers in [−r, r], r = round(S/8)
//   cutout       a square of half the image side (rounded), centred at a uniform position, set to 0
//
// Per-sample translations are a sum over the shifts present in the batch: y = Σ_t M_t ⊙ shift_t(x),
// M_t a (N, 1, 1, 1) 0/1 mask of the samples with shift t and shift_t a whole-batch Narrow + Pad2d.
// That costs up to 2·(2r + 1) shifted copies per call; a gather kernel with its own rule would be one
// launch (not written yet). The random parameters are drawn on the host from this object's stream,
// which the checkpoint saves ("diffaugment"), so resume is exact.
//
// With a probability p (StyleGAN2-ADA, Karras et al. 2020) each elementary transformation — brightness, saturation,
// contrast, translation, cutout — is applied to each sample independently with probability p: before a transformation's
// parameters, n uniforms u_i come from the same stream, and a sample with u_i ≥ p gets the identity parameters (b = 0,
// s = c = 1, t = 0, no hole). The op is the same, only its parameters change, so its derivative rules and the
// gradcheck rows stand; a transformation no sample gets is skipped (p = 0 costs nothing). The stream is consumed the same
// way whatever p is, so changing p (ADA) never shifts later draws. Without a probability nothing is drawn for masks and
// every transformation applies to every sample, as before.
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>Which DiffAugment transformations are applied (any combination).</summary>
[Flags]
public enum AugmentKinds
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>Brightness, saturation and contrast.</summary>
    Color = 1,
    /// <summary>Translation by up to 1/8 of the image side, zero padding.</summary>
    Translation = 2,
    /// <summary>Cutout of a half-side square.</summary>
    Cutout = 4,
}

/// <summary>DiffAugment: random differentiable transformations of (N, C, H, W) batches.</summary>
public sealed class DiffAugment
{
    /// <summary>
    /// Transformations <paramref name="kinds"/>, random parameters from <paramref name="stream"/>; with a
    /// <paramref name="probability"/>, each elementary transformation is applied to each sample with that probability
    /// (see the file header); without, to every sample.
    /// </summary>
    public DiffAugment(AugmentKinds kinds, RandomStream stream, double? probability = null)
    {
        if (kinds == AugmentKinds.None || (kinds & ~(AugmentKinds.Color | AugmentKinds.Translation | AugmentKinds.Cutout)) != 0)
            throw new ArgumentOutOfRangeException(nameof(kinds), kinds, "choose one or more of color, translation and cutout");
        Kinds = kinds;
        Stream = stream ?? throw new ArgumentNullException(nameof(stream));
        PerSampleMasks = probability is not null;
        Probability = probability ?? 1;
    }

    /// <summary>True when each transformation is applied per sample with <see cref="Probability"/> (masks drawn from <see cref="Stream"/>).</summary>
    public bool PerSampleMasks { get; }

    /// <summary>The probability p of each transformation per sample, in [0, 1] (1 without per-sample masks); ADA changes it as training goes.</summary>
    public double Probability
    {
        get;
        set => field = value is >= 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "a probability is between 0 and 1");
    }

    /// <summary>The transformations.</summary>
    public AugmentKinds Kinds { get; }

    /// <summary>The stream of the random parameters (saved in checkpoints).</summary>
    public RandomStream Stream { get; }

    /// <summary>T(x): the transformations in the order color, translation, cutout, with fresh random parameters.</summary>
    public Tensor Apply(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"DiffAugment needs (N, C, H, W) images, got {x.Shape}", nameof(x));
        if (Kinds.HasFlag(AugmentKinds.Color)) x = Color(x);
        if (Kinds.HasFlag(AugmentKinds.Translation)) x = Translate(x);
        if (Kinds.HasFlag(AugmentKinds.Cutout)) x = Cutout(x);
        return x;
    }

    /// <summary>
    /// Which of <paramref name="n"/> samples get the next transformation: all without per-sample masks; else u_i &lt; p for
    /// n uniforms u_i drawn from the stream (always drawn, whatever p, so later draws do not depend on p).
    /// </summary>
    private bool[] Mask(int n)
    {
        var on = new bool[n];
        if (!PerSampleMasks)
        {
            Array.Fill(on, true);
            return on;
        }
        var u = new float[n];
        Stream.FillUniform(u, 0f, 1f);
        for (int i = 0; i < n; i++) on[i] = u[i] < Probability;
        return on;
    }

    /// <summary>Per-sample parameters from U[low, high), the identity value where the mask is off; null when no sample is on.</summary>
    private Tensor? PerSample(bool[] on, float low, float high, float identity, Device device)
    {
        int n = on.Length;
        var v = new float[n];
        Stream.FillUniform(v, low, high);
        if (!on.Contains(true)) return null;
        for (int i = 0; i < n; i++) if (!on[i]) v[i] = identity;
        return Tensor.FromArray(v, new Shape(n, 1, 1, 1), device);
    }

    private Tensor Color(Tensor x)
    {
        int n = x.Shape[0];
        if (PerSample(Mask(n), -0.5f, 0.5f, 0f, x.Device) is { } b) x = x.Add(b);
        if (PerSample(Mask(n), 0f, 2f, 1f, x.Device) is { } s)
        {
            var mc = x.Mean([1], keepDim: true);                               // (N, 1, H, W)
            x = x.Sub(mc).Mul(s).Add(mc);
        }
        if (PerSample(Mask(n), 0.5f, 1.5f, 1f, x.Device) is { } c)
        {
            var m = x.Mean([1, 2, 3], keepDim: true);                          // (N, 1, 1, 1)
            x = x.Sub(m).Mul(c).Add(m);
        }
        return x;
    }

    /// <summary>Largest shift along an axis of <paramref name="size"/> pixels: round(size / 8).</summary>
    public static int MaxShift(int size) => (int)(size * 0.125 + 0.5);

    private Tensor Translate(Tensor x)
    {
        int n = x.Shape[0];
        int ry = MaxShift(x.Shape[2]), rx = MaxShift(x.Shape[3]);
        var on = Mask(n);
        var ty = new int[n];
        var tx = new int[n];
        for (int i = 0; i < n; i++) ty[i] = Stream.NextInt(2 * ry + 1) - ry;
        for (int i = 0; i < n; i++) tx[i] = Stream.NextInt(2 * rx + 1) - rx;
        for (int i = 0; i < n; i++) if (!on[i]) ty[i] = tx[i] = 0;
        x = ShiftEach(x, tx, axis: 3);
        return ShiftEach(x, ty, axis: 2);
    }

    /// <summary>Σ_t M_t ⊙ shift_t(x) over the distinct shifts of the batch.</summary>
    private static Tensor ShiftEach(Tensor x, int[] shifts, int axis)
    {
        int n = x.Shape[0];
        Tensor? sum = null;
        foreach (int t in shifts.Distinct().Order())
        {
            var shifted = Shift(x, t, axis);
            if (shifts.All(s => s == t)) return shifted;
            var mask = new float[n];
            for (int i = 0; i < n; i++) mask[i] = shifts[i] == t ? 1f : 0f;
            var term = shifted.Mul(Tensor.FromArray(mask, new Shape(n, 1, 1, 1), x.Device));
            sum = sum is null ? term : sum.Add(term);
        }
        return sum!;
    }

    /// <summary>y[..., i] = x[..., i + t] along <paramref name="axis"/> (2: H, 3: W), zero outside.</summary>
    public static Tensor Shift(Tensor x, int t, int axis)
    {
        int size = x.Shape[axis];
        if (t == 0) return x;
        if (Math.Abs(t) >= size) return x.Mul(Tensor.Scalar(0f, x.Device));
        var kept = t > 0 ? x.Narrow(axis, t, size - t) : x.Narrow(axis, 0, size + t);
        int before = t > 0 ? 0 : -t, after = t > 0 ? t : 0;
        return axis == 3 ? kept.Pad2d(before, after, 0, 0) : kept.Pad2d(0, 0, before, after);
    }

    private Tensor Cutout(Tensor x)
    {
        int n = x.Shape[0], h = x.Shape[2], w = x.Shape[3];
        int ch = (int)(h * 0.5 + 0.5), cw = (int)(w * 0.5 + 0.5);
        var on = Mask(n);
        var mask = new float[n * h * w];
        Array.Fill(mask, 1f);
        for (int i = 0; i < n; i++)
        {
            int oy = Stream.NextInt(h + (1 - ch % 2)), ox = Stream.NextInt(w + (1 - cw % 2));
            if (!on[i]) continue;
            for (int y = Math.Max(0, oy - ch / 2); y < Math.Min(h, oy - ch / 2 + ch); y++)
                for (int xx = Math.Max(0, ox - cw / 2); xx < Math.Min(w, ox - cw / 2 + cw); xx++)
                    mask[(i * h + y) * w + xx] = 0f;
        }
        if (!on.Contains(true)) return x;
        return x.Mul(Tensor.FromArray(mask, new Shape(n, 1, h, w), x.Device));
    }
}
