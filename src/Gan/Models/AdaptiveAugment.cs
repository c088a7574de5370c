// Adaptive augmentation probability (StyleGAN2-ADA, Karras et al. 2020, "Training Generative Adversarial Networks with
// Limited Data"): the discriminator's overfitting is measured by
//
//   r_t = E[sign(D(x_real))]            over the real images of the last Interval = 4 discriminator steps
//
// (D's raw output: the logit of the BCE families, the critic's score of the Wasserstein ones), and DiffAugment's
// probability p follows it:
//
//   p ← clamp(p + sign(r_t − target) · (images in those steps) / speed, 0, 1)
//
// so p can go from 0 to 1 in `speed` real images. The paper's target is 0.6 and its speed 500k images, for runs of
// millions of images; our runs see 10k–200k images, so the default the CLI gives is 20k (p can reach 1 in about 300
// steps of batch 64, and move by 0.013 per adjustment).
//
// The signs are summed on the device (sign, sum, add in place: no read-back) and read back once per adjustment, one
// float every 4 D steps. The state between adjustments — the device sum, the steps and images it covers — and p are
// saved with the checkpoint (WriteState/ReadState), so a resumed run adjusts exactly as an uninterrupted one.
using System.Globalization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>ADA's settings: the target of E[sign(D(real))] and the speed of p (real images for p to go from 0 to 1).</summary>
/// <param name="Target">The target of r_t = E[sign(D(real))], in (−1, 1); StyleGAN2-ADA uses 0.6.</param>
/// <param name="SpeedImages">Real images over which p can go from 0 to 1 (StyleGAN2-ADA: 500,000).</param>
public sealed record AdaOptions(double Target, double SpeedImages)
{
    /// <summary>Checks the values.</summary>
    /// <exception cref="InvalidOptionException">A value out of range.</exception>
    public void Validate()
    {
        if (!(Target > -1 && Target < 1)) throw new InvalidOptionException("AdaTarget", Target, "must be between -1 and 1 (exclusive): it is the mean sign of D on real images");
        if (!(SpeedImages >= 1 && double.IsFinite(SpeedImages))) throw new InvalidOptionException("AdaSpeed", SpeedImages, "must be at least 1 image");
    }
}

/// <summary>Adjusts a <see cref="DiffAugment"/>'s probability from D's signs on real images (see the file header).</summary>
public sealed class AdaptiveAugment
{
    /// <summary>D steps between adjustments (StyleGAN2-ADA's ada_interval).</summary>
    public const int Interval = 4;

    private readonly Tensor _signSum;   // (1): Σ sign(D(real)) since the last adjustment, on the device
    private int _steps;                 // D steps since the last adjustment
    private long _images;                // real images since the last adjustment

    /// <summary>Adjusts <paramref name="augment"/> (which must draw per-sample masks) by <paramref name="options"/>, summing on <paramref name="device"/>.</summary>
    public AdaptiveAugment(DiffAugment augment, AdaOptions options, Device device)
    {
        Augment = augment ?? throw new ArgumentNullException(nameof(augment));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        if (!augment.PerSampleMasks) throw new ArgumentException("ADA needs an augmentation with per-sample masks (a probability)", nameof(augment));
        _signSum = Tensor.Zeros(new Shape(1), device).KeepAlive();
    }

    /// <summary>The augmentation whose probability is adjusted.</summary>
    public DiffAugment Augment { get; }

    /// <summary>The target and speed.</summary>
    public AdaOptions Options { get; }

    /// <summary>The last r_t (NaN before the first adjustment of this process).</summary>
    public double LastSignMean { get; private set; } = double.NaN;

    /// <summary>
    /// Adds one D step's raw outputs on real images (any shape, one per image) to the device sum; every <see cref="Interval"/>
    /// steps reads the sum back (one float) and adjusts p.
    /// </summary>
    public void Observe(Tensor realOutputs)
    {
        ArgumentNullException.ThrowIfNull(realOutputs);
        using (Autograd.NoGrad())
        using (TensorScope.Begin())
            _signSum.AddInPlace(realOutputs.Detach().Sign().Sum().Reshape(1));
        _steps++;
        _images += realOutputs.Size;
        if (_steps < Interval) return;
        double signMean = _signSum.ToArray()[0] / (double)_images;
        LastSignMean = signMean;
        double step = Math.Sign(signMean - Options.Target) * _images / Options.SpeedImages;
        Augment.Probability = Math.Clamp(Augment.Probability + step, 0, 1);
        _signSum.CopyFrom([0f]);
        (_steps, _images) = (0, 0);
    }

    private const string PKey = "ada.p", SumKey = "ada.sign-sum", StepsKey = "ada.steps", ImagesKey = "ada.images";

    /// <summary>Writes p and the state between adjustments into checkpoint metadata (reads the device sum back).</summary>
    public void WriteState(IDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        metadata[PKey] = Augment.Probability.ToString("R", CultureInfo.InvariantCulture);
        metadata[SumKey] = _signSum.ToArray()[0].ToString("R", CultureInfo.InvariantCulture);
        metadata[StepsKey] = _steps.ToString(CultureInfo.InvariantCulture);
        metadata[ImagesKey] = _images.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Restores what <see cref="WriteState"/> wrote; <paramref name="source"/> names the file in errors.</summary>
    /// <exception cref="RunFileException">The metadata lacks the state, or holds values out of range.</exception>
    public void ReadState(IReadOnlyDictionary<string, string> metadata, string source)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        string Get(string key) => metadata.TryGetValue(key, out var v) ? v : throw new RunFileException(source, null, $"the checkpoint has no '{key}' (ADA's state)");
        if (!double.TryParse(Get(PKey), NumberStyles.Float, CultureInfo.InvariantCulture, out double p) || !(p >= 0 && p <= 1)
            || !float.TryParse(Get(SumKey), NumberStyles.Float, CultureInfo.InvariantCulture, out float sum) || !float.IsFinite(sum)
            || !int.TryParse(Get(StepsKey), NumberStyles.None, CultureInfo.InvariantCulture, out int steps) || steps >= Interval
            || !long.TryParse(Get(ImagesKey), NumberStyles.None, CultureInfo.InvariantCulture, out long images))
            throw new RunFileException(source, null, "the checkpoint's ADA state is out of range");
        Augment.Probability = p;
        _signSum.CopyFrom([sum]);
        (_steps, _images) = (steps, images);
    }
}
