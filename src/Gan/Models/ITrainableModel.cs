// What the Trainer needs from a model, whatever its family: one training step from a source of
// batches (writing its metrics into a device-side table row, never reading back), the state a checkpoint holds, the weights the divergence guard checks, the module that
// generator.safetensors exports, and the sample grid written every few steps. The latent-noise GANs
// (GanModel), the translation families (Pix2PixModel, CycleGanModel) and the adversarial autoencoder
// (AaeModel) implement it; TrainableModels.Create builds the one a GanSpec names.
using GpuGan.Gan.Data;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>Where a step sits in its run: <paramref name="Step"/> steps are done before it, of <paramref name="TotalSteps"/>.</summary>
/// <param name="Step">Completed steps before this one (0 for the first).</param>
/// <param name="TotalSteps">The step the run goes to (learning-rate schedules end there).</param>
public readonly record struct StepPosition(long Step, long TotalSteps);

/// <summary>A model the <see cref="Trainer"/> can run.</summary>
public interface ITrainableModel
{
    /// <summary>The architecture record.</summary>
    GanSpec Spec { get; }

    /// <summary>Where the weights live.</summary>
    Device Device { get; }

    /// <summary>Data batches one step consumes (the critic steps of the Wasserstein families; 1 otherwise).</summary>
    int BatchesPerStep { get; }

    /// <summary>True when <see cref="StepMetrics.DReal"/> and <see cref="StepMetrics.DFake"/> are probabilities (the "D wins" watch applies).</summary>
    bool ReportsProbabilities { get; }

    /// <summary>
    /// One training step that never waits for the device: its metrics go into row <paramref name="row"/> of
    /// <paramref name="metrics"/> (<see cref="StepMetricsTable.Create"/>) on the device, with the divergence flag
    /// (<see cref="StepMetricsTable.Write"/>); the caller reads the table back when it wants them. Runs inside the caller's TensorScope.
    /// </summary>
    void TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position, Tensor metrics, int row);

    /// <summary>Adds the modules, optimisers and random streams a checkpoint must hold to resume exactly.</summary>
    void AddTo(TrainingState state);

    /// <summary>Every trained weight with its checkpoint name (the divergence guard checks them before each save).</summary>
    IEnumerable<(string Name, Tensor Value)> NamedWeights();

    /// <summary>The module written to generator.safetensors (with the architecture record): what sampling or translating needs.</summary>
    Module Exported { get; }

    /// <summary>The grid written every few steps, from fixed inputs (fixed noise, or the first samples of <paramref name="data"/>).</summary>
    SampleGrid CreateSampleGrid(IDataset data, long seed, int batch);
}

/// <summary>A sample grid from fixed inputs, written as training goes on.</summary>
public abstract class SampleGrid
{
    /// <summary>Writes the grid to <paramref name="path"/>; returns the spread of the generated samples (mode-collapse watch), NaN when it does not apply.</summary>
    public abstract double Save(string path);

    /// <summary>The same measure on the data, to compare against; NaN when it does not apply.</summary>
    public abstract double DataSpread { get; }

    /// <summary>Mean over pixels of the standard deviation across samples: ~0 when all samples are alike.</summary>
    public static double PixelSpread(float[] images, int n)
    {
        int len = images.Length / n;
        double std = 0;
        for (int j = 0; j < len; j++)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; i++) { double v = images[i * len + j]; s += v; s2 += v * v; }
            double mean = s / n;
            std += Math.Sqrt(Math.Max(0, s2 / n - mean * mean));
        }
        return std / len;
    }

    /// <summary>(N, 1, H, W) grey images repeated into 3 channels (to sit in one grid beside colour images).</summary>
    public static float[] ToChannels(float[] images, int n, int channels, int targetChannels, int plane)
    {
        if (channels == targetChannels) return images;
        var r = new float[n * targetChannels * plane];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < targetChannels; c++)
                Array.Copy(images, i * channels * plane, r, (i * targetChannels + c) * plane, plane);
        return r;
    }
}

/// <summary>Builds the model a <see cref="GanSpec"/> names.</summary>
public static class TrainableModels
{
    /// <summary>
    /// The model of <paramref name="spec"/>, initialised from <paramref name="seed"/> on <paramref name="device"/>, with its family's
    /// optimisers (<paramref name="learningRate"/> null: the family's canonical rate).
    /// </summary>
    public static ITrainableModel Create(GanSpec spec, long seed, Device device, float? learningRate = null, double? emaDecay = null,
        AugmentKinds augment = AugmentKinds.None, double? augmentProbability = null, AdaOptions? ada = null, EmaWarmup emaWarmup = EmaWarmup.None)
    {
        if (augment != AugmentKinds.None && spec.Family.Kind() != ModelKind.Generative)
            throw new InvalidOptionException(nameof(Training.TrainOptions.DiffAugment), augment, $"applies to the latent-noise GANs, not {spec.Family.FileName()}");
        if (emaDecay is not null && spec.Family.Kind() != ModelKind.Generative)
            throw new InvalidOptionException(nameof(Training.TrainOptions.Ema), emaDecay, $"applies to the latent-noise GANs, not {spec.Family.FileName()}");
        return spec.Family switch
        {
            ModelFamily.Pix2pix => Pix2PixModel.Create(spec, seed, device, learningRate),
            ModelFamily.Cyclegan => CycleGanModel.Create(spec, seed, device, learningRate),
            ModelFamily.Aae => AaeModel.Create(spec, seed, device, learningRate),
            _ => GanModel.Create(spec, seed, device, learningRate, emaDecay: emaDecay, augment: augment, augmentProbability: augmentProbability, ada: ada, emaWarmup: emaWarmup),
        };
    }

    /// <summary>
    /// The learning rate of the translation families' schedule (the reference's "linear" policy): <paramref name="initial"/>
    /// for the first half of the run, then falling linearly to 0 at its end.
    /// </summary>
    public static float ConstantThenLinearDecay(float initial, StepPosition position)
    {
        long total = Math.Max(1, position.TotalSteps), constant = total / 2, decay = total - constant;
        if (position.Step < constant) return initial;
        return initial * (float)((double)(total - position.Step) / (decay + 1));
    }
}
