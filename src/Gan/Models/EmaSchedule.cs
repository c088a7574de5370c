// Decay schedule of the moving average of the generator's weights (--ema β, --ema-warmup).
// After each generator step θ_ema ← β_t θ_ema + (1 − β_t) θ, where t is the number of updates before this one
// (0 at the first generator step):
//   none:        β_t = β                                   (constant from the first step)
//   num-updates: β_t = min(β, (1 + t) / (10 + t))           (TensorFlow's tf.train.ExponentialMovingAverage with
//                                                            num_updates: 0.1 at the first update, 0.997 at t = 3,000)
//   rampup:      β_t = min(β, 0.5^(1 / (r·t))), β_0 = 0    (StyleGAN2-ADA, training_loop.py: the half-life in images is
//                                                            min(ema_nimg, r·cur_nimg) with cur_nimg = t·batch, so the
//                                                            half-life in steps is at most r·t; r = ema_rampup = 0.05)
// Why a warm-up: with a constant β the average keeps β^t of the initial (random) weights and weighs the poor early
// generators as if they were recent; with β = 0.999 at t = 3,000 that is 5 % of the initial weights and another 8.6 % of
// steps < 1,000 (docs/quality/experiments/EMA-WARMUP.md).
// β_t is computed in float64 and the update applied in float32, one parameter tensor at a time.
namespace GpuGan.Gan.Models;

/// <summary>How the decay of the generator's moving average starts (see <see cref="EmaSchedule"/>).</summary>
public enum EmaWarmup
{
    /// <summary>The decay β from the first update on.</summary>
    None,

    /// <summary>TensorFlow's num_updates rule: β_t = min(β, (1 + t)/(10 + t)).</summary>
    NumUpdates,

    /// <summary>StyleGAN2-ADA's ramp-up: the half-life at most <see cref="EmaSchedule.RampupRatio"/> of the steps so far.</summary>
    Rampup,
}

/// <summary>The per-update decay of the generator's moving average.</summary>
public static class EmaSchedule
{
    /// <summary>StyleGAN2-ADA's ema_rampup: the half-life is at most this share of the images (steps) seen so far.</summary>
    public const double RampupRatio = 0.05;

    /// <summary>The warm-up's word in files and on the command line ("none", "num-updates", "rampup").</summary>
    public static string Word(EmaWarmup warmup) => warmup switch
    {
        EmaWarmup.None => "none",
        EmaWarmup.NumUpdates => "num-updates",
        EmaWarmup.Rampup => "rampup",
        _ => throw new ArgumentOutOfRangeException(nameof(warmup), warmup, "unknown warm-up"),
    };

    /// <summary>
    /// The decay of update <paramref name="updates"/> + 1 (after <paramref name="updates"/> earlier ones) under
    /// <paramref name="warmup"/>, at most <paramref name="decay"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A decay outside (0, 1), a negative count, an unknown warm-up.</exception>
    public static double Decay(double decay, EmaWarmup warmup, long updates)
    {
        if (!(decay > 0 && decay < 1)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "must be between 0 and 1 (exclusive)");
        ArgumentOutOfRangeException.ThrowIfNegative(updates);
        return warmup switch
        {
            EmaWarmup.None => decay,
            EmaWarmup.NumUpdates => Math.Min(decay, (1.0 + updates) / (10.0 + updates)),
            EmaWarmup.Rampup => updates == 0 ? 0 : Math.Min(decay, Math.Pow(0.5, 1 / (RampupRatio * updates))),
            _ => throw new ArgumentOutOfRangeException(nameof(warmup), warmup, "unknown warm-up"),
        };
    }
}
