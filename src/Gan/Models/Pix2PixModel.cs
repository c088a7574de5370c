// pix2pix (Isola et al. 2017), as junyanz/pytorch-CycleGAN-and-pix2pix trains it (models/pix2pix_model.py):
// a U-Net G: A → B and a PatchGAN D on the pair (A, B) stacked along channels. One step:
//   fake = G(A)
//   D:  ½·[fake(D(A, fake detached)) + real(D(A, B))], one Adam step
//   G:  real(D(A, fake)) + λ·|fake − B|₁ (λ = 100), gradients for G's weights only, one Adam step
// Adam 2e-4, β (0.5, 0.999) for both, the learning rate held for the first half of the run and then
// decayed linearly to 0 (the reference's "linear" policy). Dropout (the U-Net's inner blocks) draws
// from the model's own stream, which checkpoints save, so resumed runs are exact.
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>pix2pix: U-Net generator, PatchGAN discriminator, conditional GAN + L1 objective, Adam.</summary>
public sealed class Pix2PixModel : ITrainableModel
{
    private readonly float _learningRate;

    private Pix2PixModel(GanSpec spec, UnetGenerator g, PatchDiscriminator d, Pix2PixObjective objective, Adam optG, Adam optD,
        RandomStream dropout, Device device)
    {
        Spec = spec;
        G = g;
        D = d;
        Objective = objective;
        OptG = optG;
        OptD = optD;
        DropoutStream = dropout;
        Device = device;
        _learningRate = optG.LearningRate;
    }

    /// <inheritdoc/>
    public GanSpec Spec { get; }

    /// <summary>The U-Net, A → B.</summary>
    public UnetGenerator G { get; }

    /// <summary>The PatchGAN over (A, B) stacked along channels.</summary>
    public PatchDiscriminator D { get; }

    /// <summary>The conditional GAN + λ·L1 objective.</summary>
    public Pix2PixObjective Objective { get; }

    /// <summary>G's optimiser.</summary>
    public Adam OptG { get; }

    /// <summary>D's optimiser.</summary>
    public Adam OptD { get; }

    /// <summary>The stream the U-Net's dropout masks come from.</summary>
    public RandomStream DropoutStream { get; }

    /// <inheritdoc/>
    public Device Device { get; }

    /// <inheritdoc/>
    public int BatchesPerStep => 1;

    /// <inheritdoc/>
    public bool ReportsProbabilities => Objective.Adversarial?.ScoresAreLogits ?? false;

    /// <summary>The paper's learning rate.</summary>
    public const float PaperLearningRate = 2e-4f;

    /// <summary>Builds the networks of <paramref name="spec"/> from <paramref name="seed"/> on <paramref name="device"/>.</summary>
    public static Pix2PixModel Create(GanSpec spec, long seed, Device device, float? learningRate = null, Pix2PixObjective? objective = null)
    {
        spec.Validate();
        if (spec.Family != ModelFamily.Pix2pix) throw new ArgumentException($"a {spec.Family} record does not describe a pix2pix model", nameof(spec));
        var gen = new RandomStream(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 17));
        var dropout = new RandomStream(unchecked((ulong)seed * 0xA24BAED4963EE407UL + 41));
        var (g, d) = BuildNetworks(spec, gen, dropout);
        g.To(device);
        d.To(device);
        float lr = learningRate ?? PaperLearningRate;
        return new Pix2PixModel(spec, g, d, objective ?? Pix2PixObjective.Paper(), new Adam(g, lr, 0.5, 0.999), new Adam(d, lr, 0.5, 0.999), dropout, device);
    }

    /// <summary>The generator of <paramref name="spec"/> alone (for translating: its weights are loaded afterwards).</summary>
    public static UnetGenerator CreateGenerator(GanSpec spec, Device device)
    {
        spec.Validate();
        var g = BuildNetworks(spec, new RandomStream(0), new RandomStream(1)).G;
        g.To(device);
        return g;
    }

    private static (UnetGenerator G, PatchDiscriminator D) BuildNetworks(GanSpec spec, RandomStream gen, RandomStream dropout)
    {
        int size = spec.Image.Height;
        var g = new UnetGenerator(spec.InputChannels, spec.Image.Channels, TranslationNetworks.UnetDowns(size), spec.GeneratorWidth,
            spec.DiscriminatorNorm, dropout: true, dropout, gen);
        var d = new PatchDiscriminator(spec.InputChannels + spec.Image.Channels, spec.DiscriminatorWidth, TranslationNetworks.PatchLayers(size),
            spec.DiscriminatorNorm, gen);
        TranslationNetworks.InitNormal(g, gen);
        TranslationNetworks.InitNormal(d, gen);
        return (g, d);
    }

    /// <summary>One step on a batch of pairs (N, C_A + C_B, S, S), its metrics read back at the end (one copy).</summary>
    public StepMetrics TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position) =>
        StepMetricsTable.RunOnce(Device, (table, row) => TrainStep(nextBatch, noise, position, table, row));

    /// <summary>One step on a batch of pairs (N, C_A + C_B, S, S); its metrics go into row <paramref name="row"/> of <paramref name="metrics"/> on the device.</summary>
    public void TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position, Tensor metrics, int row)
    {
        float lr = TrainableModels.ConstantThenLinearDecay(_learningRate, position);
        OptG.LearningRate = OptD.LearningRate = lr;
        G.Train();
        D.Train();
        var (pairs, _) = nextBatch();
        var (realA, realB) = TranslationBatches.Split(pairs, Spec);
        var fake = G.Forward(realA);

        // D: the pair with the fake detached (no graph back into G), then the real pair.
        var adversarial = Objective.Adversarial;
        Tensor? lossD = null, realScores = null, fakeScores = null;
        Tensor? normD = null;
        if (adversarial is not null)
        {
            OptD.ZeroGrad();
            fakeScores = D.Forward(Tensor.Concat([realA, fake.Detach()], 1));
            realScores = D.Forward(pairs);
            lossD = Objective.DiscriminatorLoss(realScores, fakeScores);
            lossD.Backward();
            normD = ParameterOps.GradNormTensor(D.Parameters());
            OptD.Step();
        }

        // G: gradients for G's weights only (D's are never computed here).
        OptG.ZeroGrad();
        var (lossG, l1) = Objective.GeneratorLoss(adversarial is null ? null : D.Forward(Tensor.Concat([realA, fake], 1)), fake, realB);
        var gParams = G.Parameters().ToArray();
        var grads = Autograd.Grad([lossG], gParams, allowUnused: true);
        for (int i = 0; i < gParams.Length; i++) GanModel.SetGrad(gParams[i], grads[i]);
        var normG = ParameterOps.GradNormTensor(gParams);
        OptG.Step();

        // Without a discriminator (the L1-only baseline) its columns are 0.
        Tensor dReal, dFake;
        using (Autograd.NoGrad())
        {
            if (adversarial is not null)
            {
                dReal = TranslationBatches.MeanScoreTensor(realScores!, adversarial);
                dFake = TranslationBatches.MeanScoreTensor(fakeScores!, adversarial);
            }
            else
            {
                dReal = dFake = Tensor.Zeros(new Shape(1), Device);
            }
        }
        StepMetricsTable.Write(metrics, row, lossD ?? dReal, lossG, gradientPenalty: null, dReal, dFake, normD ?? dReal, normG, l1);
    }

    /// <summary>G, D, their optimisers and the dropout stream as "G", "D", "optG", "optD", "dropout".</summary>
    public void AddTo(TrainingState state)
    {
        state.Modules["G"] = G;
        state.Modules["D"] = D;
        state.Optimizers["optG"] = OptG;
        state.Optimizers["optD"] = OptD;
        state.RandomStreams["dropout"] = DropoutStream;
    }

    /// <inheritdoc/>
    public IEnumerable<(string Name, Tensor Value)> NamedWeights() =>
        G.NamedParameters().Select(p => ("G." + p.Name, p.Value)).Concat(D.NamedParameters().Select(p => ("D." + p.Name, p.Value)));

    /// <summary>The U-Net.</summary>
    public Module Exported => G;

    /// <summary>Rows input | output | target for the first samples of the data (never augmented).</summary>
    public SampleGrid CreateSampleGrid(IDataset data, long seed, int batch) => new TranslationGrid(this, data);

    private sealed class TranslationGrid(Pix2PixModel model, IDataset data) : PairRowsGrid(model.Spec, model.Device, data, 8)
    {
        protected override IReadOnlyList<Tensor> Columns(Tensor a, Tensor b)
        {
            model.G.Eval();
            var fake = model.G.Forward(a);
            model.G.Train();
            return [a, fake, b];
        }
    }
}

/// <summary>
/// A grid of the first <c>count</c> pairs of the data (never augmented) with one row per pair and the columns a model makes of
/// its (A, B) halves, computed without gradients on every save: the translation models' sample grids.
/// </summary>
internal abstract class PairRowsGrid : SampleGrid
{
    private readonly GanSpec _spec;
    private readonly Tensor _pairs;

    protected PairRowsGrid(GanSpec spec, Device device, IDataset data, int count)
    {
        _spec = spec;
        int n = Math.Min(count, data.Count);
        _pairs = Tensor.FromArray(data.CopySamples(0, n), new Shape(n, data.Channels, data.Height, data.Width), device).KeepAlive();
    }

    /// <summary>The grid's columns for the pairs' halves, each (N, C, S, S).</summary>
    protected abstract IReadOnlyList<Tensor> Columns(Tensor a, Tensor b);

    public override double DataSpread => double.NaN;

    public override double Save(string path)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Autograd.NoGrad();
        var (a, b) = TranslationBatches.Split(_pairs, _spec);
        TranslationBatches.SaveRows(path, Columns(a, b));
        return double.NaN;
    }
}

/// <summary>Helpers shared by the translation models: splitting stacked pairs, logging scores, writing grids.</summary>
internal static class TranslationBatches
{
    /// <summary>(A, B) of a batch of stacked pairs (N, C_A + C_B, S, S).</summary>
    public static (Tensor A, Tensor B) Split(Tensor pairs, GanSpec spec) =>
        (pairs.Narrow(1, 0, spec.InputChannels), pairs.Narrow(1, spec.InputChannels, spec.Image.Channels));

    /// <summary>Grey (N, 1, H, W) repeated to <paramref name="channels"/>; other tensors unchanged.</summary>
    public static Tensor WithChannels(Tensor t, int channels) =>
        t.Shape[1] == channels ? t : Tensor.Concat(Enumerable.Repeat(t, channels).ToArray(), 1);

    /// <summary>Mean σ(scores) for logits (D's probability of "real"), the mean score otherwise.</summary>
    public static double MeanScore(Tensor scores, IAdversarialLoss loss) => MeanScoreTensor(scores, loss).Item();

    /// <summary>The mean of <paramref name="scores"/> as probabilities, as a one-element tensor on their device (nothing read back).</summary>
    public static Tensor MeanScoreTensor(Tensor scores, IAdversarialLoss loss) => (loss.ScoresAreLogits ? scores.Sigmoid() : scores).Mean();

    /// <summary>
    /// A grid with one row per sample and one column per tensor of <paramref name="columns"/> (each (N, C, S, S), grey
    /// ones shown in colour when any column is in colour).
    /// </summary>
    public static void SaveRows(string path, IReadOnlyList<Tensor> columns)
    {
        int n = columns[0].Shape[0], s = columns[0].Shape[2], plane = s * s;
        int channels = columns.Max(c => c.Shape[1]);
        var parts = columns.Select(c => SampleGrid.ToChannels(c.ToArray(), n, c.Shape[1], channels, plane)).ToArray();
        int length = channels * plane;
        var images = new float[n * columns.Count * length];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < columns.Count; k++)
                Array.Copy(parts[k], i * length, images, (i * columns.Count + k) * length, length);
        ImageGrid.Save(path, images, n * columns.Count, channels, s, s, columns.Count);
    }
}
