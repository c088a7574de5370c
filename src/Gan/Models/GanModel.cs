// A GAN ready to train: the generator and discriminator of its family, the family's objective and
// optimisers. One training step runs the objective's critic steps, then a generator step that asks
// autograd only for G's gradients (D's weight gradients are never computed there).
//
// A critic step scores real and generated samples in ONE critic pass over [real; fake] when that gives
// the same scores as two passes: the objective reads joint scores (the Wasserstein ones), the critic
// has no batch statistics (no batch norm: each sample's score depends on that sample alone), and
// there is no augmentation or label to keep apart. Half the critic's launches; the weight gradients
// are then one sum over 2N samples instead of two sums and an add (a re-association, not new math).
//
// With an EMA decay β the model keeps a second generator, G_ema, whose weights follow the trained ones after every
// generator step: θ_ema ← θ_ema + (1 − β_t)(θ − θ_ema), starting from G's initial weights (Karras et al. 2018; Yazıcı et
// al. 2019); β_t is β, or β with a warm-up (EmaSchedule; the update count is in the checkpoint's metadata). Its batch-norm running statistics are neither averaged nor copied from G: G's describe G's activations, not
// G_ema's (copying them, as this code did first, scored FD 9.16 against the trained weights' 4.57 on DCGAN-28 —
// docs/quality/experiments). They are re-estimated from G_ema's own activations (StandingStatistics: 2,048 latent
// vectors of a fixed stream, cumulative average) whenever G_ema is used after its weights moved: a grid, a score, a
// saved generator file or checkpoint. The estimate depends on G_ema's weights alone, so resume stays exact. G_ema sits in
// the checkpoint as "G_ema" and is what the run's generator file exports.
//
// The random stream of the seed is consumed in a fixed order — G's layers, D's layers, (the
// conditional embeddings,) then the DCGAN initialisation of G and D — so a seed gives the same
// weights as it always has.
using GpuGan.Gan.Data;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>A source of real mini-batches: (N, C, H, W) on the model's device, and labels.</summary>
public delegate (Tensor Real, int[] Labels) BatchSource();

/// <summary>Generator, discriminator, objective and optimisers of one model.</summary>
public sealed class GanModel : ITrainableModel
{
    /// <summary>Generator-file metadata key holding the EMA decay when the file's weights are the moving average.</summary>
    public const string EmaMetadataKey = "ema";

    /// <summary>
    /// Metadata key of a conditional model's class names (a JSON array in label order) in its checkpoint and generator file, so
    /// <c>sample --class NAME</c> works without the data set.
    /// </summary>
    public const string ClassNamesMetadataKey = "classes";

    /// <summary>The checkpoint name of the averaged generator.</summary>
    public const string EmaModuleName = "G_ema";

    private GanModel(GanSpec spec, Generator g, Discriminator d, IGanObjective objective, Optimizer optG, Optimizer optD, Device device)
    {
        Spec = spec;
        G = g;
        D = d;
        Objective = objective;
        OptG = optG;
        OptD = optD;
        Device = device;
    }

    /// <summary>The architecture record.</summary>
    public GanSpec Spec { get; }

    /// <summary>The generator.</summary>
    public Generator G { get; }

    /// <summary>
    /// The moving average of G's weights; null without an EMA decay. Its batch-norm statistics are its own only after
    /// <see cref="RefreshEmaStatistics"/>.
    /// </summary>
    public Generator? GEma { get; private set; }

    /// <summary>The EMA decay β; null without an average.</summary>
    public double? EmaDecay { get; private set; }

    /// <summary>How the average's decay starts (<see cref="EmaSchedule"/>).</summary>
    public EmaWarmup EmaWarmup { get; private set; }

    /// <summary>Updates of the average so far (one per generator step); the warm-up's t.</summary>
    public long EmaUpdates { get; private set; }

    /// <summary>Generator-file metadata key of the average's warm-up, when it has one.</summary>
    public const string EmaWarmupMetadataKey = "ema-warmup";

    /// <summary>Checkpoint metadata key of <see cref="EmaUpdates"/>.</summary>
    public const string EmaUpdatesMetadataKey = "ema-updates";

    /// <summary>DiffAugment of real and generated images before D (D and G steps); null without.</summary>
    public DiffAugment? Augment { get; private set; }

    /// <summary>ADA: adjusts <see cref="Augment"/>'s probability from D's signs on real images; null without.</summary>
    public AdaptiveAugment? Ada { get; private set; }

    /// <summary>Checkpoint name of DiffAugment's random stream.</summary>
    public const string AugmentStreamName = "diffaugment";

    /// <summary>The discriminator (critic).</summary>
    public Discriminator D { get; }

    /// <summary>The family's objective.</summary>
    public IGanObjective Objective { get; }

    /// <summary>G's optimiser.</summary>
    public Optimizer OptG { get; }

    /// <summary>D's optimiser.</summary>
    public Optimizer OptD { get; }

    /// <summary>Where the weights live.</summary>
    public Device Device { get; }

    /// <summary>
    /// Data-parallel training: averages D's and G's gradients over the ranks after each backward pass, before the gradient
    /// norms and the optimiser steps; null (one process) leaves them as they are.
    /// </summary>
    public Distributed.GradientAverager? Averager { get; set; }

    /// <summary>
    /// Builds the model of <paramref name="spec"/>, initialised from <paramref name="seed"/>, on <paramref name="device"/>, with the
    /// family's optimisers (<paramref name="learningRate"/> null takes the family's canonical rate) and the family's objective,
    /// or <paramref name="objective"/> when given (a new loss is a new <see cref="IGanObjective"/>).
    /// </summary>
    /// <remarks>
    /// <paramref name="emaDecay"/> (0 &lt; β &lt; 1) keeps a moving average of G's weights, <see cref="GEma"/>, its decay started
    /// by <paramref name="emaWarmup"/>.
    /// </remarks>
    /// <remarks><paramref name="augment"/> applies DiffAugment before D, with its own stream derived from <paramref name="seed"/>.</remarks>
    /// <remarks>
    /// <paramref name="augmentProbability"/> applies each transformation per sample with that probability (null: to every sample);
    /// <paramref name="ada"/> adjusts it as D trains, starting from <paramref name="augmentProbability"/> or 0.
    /// </remarks>
    public static GanModel Create(GanSpec spec, long seed, Device device, float? learningRate = null, IGanObjective? objective = null, double? emaDecay = null,
        AugmentKinds augment = AugmentKinds.None, double? augmentProbability = null, AdaOptions? ada = null, EmaWarmup emaWarmup = EmaWarmup.None)
    {
        if (augment == AugmentKinds.None && (augmentProbability is not null || ada is not null))
            throw new InvalidOptionException(ada is not null ? nameof(Training.TrainOptions.Ada) : nameof(Training.TrainOptions.AugmentProbability),
                (object?)ada ?? augmentProbability, "needs DiffAugment transformations to apply");
        if (augmentProbability is { } ap && !(ap >= 0 && ap <= 1)) throw new InvalidOptionException(nameof(Training.TrainOptions.AugmentProbability), ap, "must be between 0 and 1");
        ada?.Validate();
        spec.Validate();
        if (emaDecay is { } beta && !(beta > 0 && beta < 1)) throw new InvalidOptionException(nameof(Training.TrainOptions.Ema), beta, "must be a decay between 0 and 1 (exclusive)");
        var (g, d) = BuildNetworks(spec, seed);
        g.To(device);
        d.To(device);
        var (optG, optD) = CreateOptimizers(spec.Family, g, d, learningRate);
        var model = new GanModel(spec, g, d, objective ?? CreateObjective(spec.Family), optG, optD, device);
        if (emaDecay is not null)
        {
            // Built without consuming the seed's stream (its weights are overwritten by G's at once).
            var ema = CreateGenerator(spec, device);
            ema.LoadStateDict(g.StateDict());
            ema.Eval();
            model.GEma = ema;
            model.EmaDecay = emaDecay;
            model.EmaWarmup = Enum.IsDefined(emaWarmup) ? emaWarmup : throw new InvalidOptionException(nameof(Training.TrainOptions.EmaWarmup), emaWarmup, "is not a warm-up");
        }
        if (augment != AugmentKinds.None)
        {
            model.Augment = new DiffAugment(augment, new RandomStream(unchecked((ulong)seed * 0xE7037ED1A0B428DBUL + 83)),
                ada is not null ? augmentProbability ?? 0 : augmentProbability);
            if (ada is not null) model.Ada = new AdaptiveAugment(model.Augment, ada, device);
        }
        return model;
    }

    /// <summary>T(x) with DiffAugment (fresh random parameters each call), or x.</summary>
    private Tensor Augmented(Tensor x) => Augment is null ? x : Augment.Apply(x);

    /// <summary>θ_ema ← θ_ema + (1 − β_t)(θ − θ_ema) for every parameter; the batch-norm statistics are re-estimated when next used.</summary>
    private void UpdateEma()
    {
        if (GEma is null) return;
        Blend(GEma, G, EmaSchedule.Decay(EmaDecay!.Value, EmaWarmup, EmaUpdates));
        EmaUpdates++;
        _emaStatisticsCurrent = false;
    }

    /// <summary>
    /// θ_avg ← θ_avg + (1 − β)(θ − θ_avg) for every parameter of <paramref name="average"/> (float32, as the average is kept);
    /// buffers untouched. The one update rule of the average (also used by the warm-up experiment's extra averages).
    /// </summary>
    internal static void Blend(Generator average, Generator g, double beta)
    {
        float rate = (float)(1 - beta);
        using var noGrad = Autograd.NoGrad();
        using var scope = TensorScope.Begin();
        foreach (var ((_, e), (_, p)) in average.NamedParameters().Zip(g.NamedParameters()))
            e.CopyFrom(e.Add(p.Sub(e).MulScalar(rate)));
    }

    /// <summary>Writes the average's update count into checkpoint metadata (nothing without an average).</summary>
    public void WriteEmaState(IDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (GEma is not null) metadata[EmaUpdatesMetadataKey] = EmaUpdates.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Restores the update count <see cref="WriteEmaState"/> wrote; a checkpoint without it (written before the count was kept,
    /// when every generator step updated the average once) takes <paramref name="step"/>. <paramref name="source"/> names the file in errors.
    /// </summary>
    /// <exception cref="RunFileException">The count is not a non-negative integer.</exception>
    public void ReadEmaState(IReadOnlyDictionary<string, string> metadata, long step, string source)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (GEma is null) return;
        if (!metadata.TryGetValue(EmaUpdatesMetadataKey, out var text)) { EmaUpdates = step; return; }
        EmaUpdates = long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n)
            ? n : throw new RunFileException(source, null, $"the checkpoint's '{EmaUpdatesMetadataKey}' is not a count");
    }

    private bool _emaStatisticsCurrent;

    /// <summary>
    /// Re-estimates <see cref="GEma"/>'s batch-norm statistics from its own activations (<see cref="StandingStatistics"/>) if its
    /// weights changed since the last estimate; nothing without an average. Call before using or saving G_ema.
    /// </summary>
    public void RefreshEmaStatistics()
    {
        if (GEma is null || _emaStatisticsCurrent) return;
        StandingStatistics.Estimate(GEma, Device);
        _emaStatisticsCurrent = true;
    }

    /// <summary>The generator of <paramref name="spec"/> alone (for sampling: its weights are loaded afterwards).</summary>
    public static Generator CreateGenerator(GanSpec spec, Device device)
    {
        spec.Validate();
        var g = BuildNetworks(spec, seed: 0).G;
        g.To(device);
        return g;
    }

    /// <summary>The family's objective with its paper's settings.</summary>
    public static IGanObjective CreateObjective(ModelFamily family) => family switch
    {
        ModelFamily.Wgan => new WassersteinClipped(),
        ModelFamily.WganGp => new WassersteinGradientPenalty(),
        _ => new NonSaturatingBce(),
    };

    /// <summary>
    /// The family's optimisers: RMSprop 5e-5 for WGAN (momentum and clipping do not mix), Adam 1e-4 β (0.5, 0.9)
    /// for WGAN-GP, Adam 2e-4 β (0.5, 0.999) otherwise (DCGAN).
    /// </summary>
    public static (Optimizer G, Optimizer D) CreateOptimizers(ModelFamily family, Module g, Module d, float? learningRate) => family switch
    {
        ModelFamily.Wgan => (new RmsProp(g, learningRate ?? 5e-5f), new RmsProp(d, learningRate ?? 5e-5f)),
        ModelFamily.WganGp => (new Adam(g, learningRate ?? 1e-4f, 0.5, 0.9), new Adam(d, learningRate ?? 1e-4f, 0.5, 0.9)),
        _ => (new Adam(g, learningRate ?? 2e-4f, 0.5, 0.999), new Adam(d, learningRate ?? 2e-4f, 0.5, 0.999)),
    };

    private static (Generator G, Discriminator D) BuildNetworks(GanSpec spec, long seed)
    {
        var gen = new RandomStream(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 17));
        var (c, size, nz) = (spec.Image.Channels, spec.Image.Height, spec.LatentDim);
        switch (spec.Family)
        {
            case ModelFamily.Gan:
            {
                int features = spec.Image.Length;
                var g = new MlpGenerator(spec, Networks.MlpGeneratorLayers(nz, features, gen));
                var d = new MlpDiscriminator(spec, Networks.MlpDiscriminatorLayers(features, gen));
                return (g, d);
            }
            case ModelFamily.Dcgan or ModelFamily.Wgan or ModelFamily.WganGp:
            {
                var g = new DcganGenerator(spec, Networks.DcganGeneratorLayers(nz, spec.GeneratorWidth, c, size, gen));
                var (body, final) = Networks.DcganDiscriminatorLayers(c, spec.DiscriminatorWidth, size, spec.DiscriminatorNorm, gen);
                body.Add(final);
                var d = new DcganDiscriminator(spec, body);
                Init.Dcgan(g, gen);
                Init.Dcgan(d, gen);
                return (g, d);
            }
            case ModelFamily.Cdcgan:
            {
                var gBody = Networks.DcganGeneratorLayers(2 * nz, spec.GeneratorWidth, c, size, gen);
                var (dBody, final) = Networks.DcganDiscriminatorLayers(c, spec.DiscriminatorWidth, size, spec.DiscriminatorNorm, gen);
                // The class embedding keeps its N(0, 1) start (Init.Dcgan leaves embeddings alone): as large as z's share of the input.
                var g = new ConditionalGenerator(spec, gBody, new Embedding(spec.ClassCount, nz, gen));
                var d = new ProjectionDiscriminator(spec, dBody, final, new Embedding(spec.ClassCount, final.InChannels, gen));
                Init.Dcgan(g, gen);
                Init.Dcgan(d, gen);
                // The projection term <E(y), Σ_hw φ(x)> sums F·h·w products: with the embedding's default N(0, 1) it starts at
                // logits of ±100 (d_loss 70 at step 1 on petri 32², D winning outright and G producing noise for good). DCGAN's
                // N(0, 0.02), as for every other weight of D, starts it near 0, so the class term grows as D learns it.
                // Drawn last, so every other weight of a seed is what it always was.
                Init.Normal(d.Embed.Weight, gen, 0f, 0.02f);
                return (g, d);
            }
            default: throw new ArgumentOutOfRangeException(nameof(spec), spec.Family, "unknown model family");
        }
    }

    /// <summary>
    /// Labels for fakes (conditional model): the real batch's own, a draw from the data's class frequencies; null otherwise.
    /// Uniform labels would differ from the real ones' mix wherever the classes are unbalanced (petri: 19 % rare against 50 %),
    /// and the projection term would learn the label itself as a sign of real or fake ("rare" meaning fake), which pushes G's
    /// rare-asked samples towards the common class. Matching the mix leaves D only the image to judge each label by.
    /// </summary>
    private int[]? FakeLabels(int[] realLabels) => Spec.IsConditional ? (int[])realLabels.Clone() : null;

    /// <summary>
    /// Columns of a metrics table row written by <see cref="TrainStep(BatchSource, RandomStream, Tensor, int)"/>:
    /// the step's scalars, then a flag that is 1 when d_loss, g_loss, the gradient penalty or the reconstruction loss is NaN or ±∞.
    /// </summary>
    public static class MetricsColumns
    {
        /// <summary>The critic's loss (its last critic step).</summary>
        public const int DLoss = 0;
        /// <summary>The generator's loss.</summary>
        public const int GLoss = 1;
        /// <summary>The gradient penalty (NaN when the objective has none).</summary>
        public const int GradientPenalty = 2;
        /// <summary>Mean D output on real data.</summary>
        public const int DReal = 3;
        /// <summary>Mean D output on generated data.</summary>
        public const int DFake = 4;
        /// <summary>L2 norm of D's gradients.</summary>
        public const int GradNormD = 5;
        /// <summary>L2 norm of G's gradients.</summary>
        public const int GradNormG = 6;
        /// <summary>The reconstruction loss (pix2pix L1, CycleGAN cycle, AAE pixel loss; NaN for the latent-noise GANs).</summary>
        public const int Reconstruction = 7;
        /// <summary>1 when a loss, the penalty or the reconstruction loss is not finite (the divergence guard), else 0.</summary>
        public const int Diverged = 8;
        /// <summary>Columns of a row.</summary>
        public const int Count = 9;
    }

    /// <summary>A table for <paramref name="rows"/> steps of metrics on the model's device (see <see cref="MetricsColumns"/>); the caller disposes it.</summary>
    public Tensor CreateMetricsTable(int rows) => StepMetricsTable.Create(Device, rows);

    /// <summary>The metrics of row <paramref name="row"/> of a metrics table read back to the host (Step, Epoch and rate left for the caller).</summary>
    public static StepMetrics ReadMetricsRow(ReadOnlySpan<float> table, int row) => StepMetricsTable.Read(table, row);

    /// <summary>Whether row <paramref name="row"/> of a metrics table read back to the host carries the divergence flag.</summary>
    public static bool RowDiverged(ReadOnlySpan<float> table, int row) => StepMetricsTable.Diverged(table, row);

    /// <summary>
    /// One generator step (with its critic steps), reading its metrics back at the end (one copy).
    /// Runs inside the caller's TensorScope. Training loops that should not wait for the device use
    /// <see cref="TrainStep(BatchSource, RandomStream, Tensor, int)"/>.
    /// </summary>
    public StepMetrics TrainStep(BatchSource nextBatch, RandomStream noise)
    {
        using var table = CreateMetricsTable(1);
        TrainStep(nextBatch, noise, table, 0);
        return ReadMetricsRow(table.ToArray(), 0);
    }

    /// <summary>
    /// One generator step (with its critic steps) that never waits for the device: its metrics are written
    /// into row <paramref name="row"/> of <paramref name="metrics"/> (<see cref="CreateMetricsTable"/>) on the
    /// device, with the divergence flag; read the table back when they are wanted. Runs inside the caller's TensorScope.
    /// </summary>
    public void TrainStep(BatchSource nextBatch, RandomStream noise, Tensor metrics, int row)
    {
        G.Train();
        D.Train();
        Tensor? dLoss = null, dReal = null, dFake = null, gp = null, normD = null;
        int n = 0;
        Tensor? fakeForG = null;
        int[]? labelsForG = null, lastRealLabels = null;
        for (int c = 0; c < Objective.CriticSteps; c++)
        {
            // A critic step whose fakes G does not reuse leaves nothing but its metrics behind (D's gradients and
            // optimiser state are kept alive by their owners), so it runs in its own scope: its batch, G's
            // forward and the penalty's double-backward graph go back to the pool before the next critic step,
            // instead of five critic steps' worth staying alive until the generator step ends.
            using var criticScope = Objective.GeneratorReusesCriticFakes ? null : TensorScope.Begin();
            var (real, labels) = nextBatch();
            n = real.Shape[0];
            lastRealLabels = labels;
            var z = Tensor.RandN(G.LatentShape(n), noise, Device);
            var fakeLabels = FakeLabels(labels);   // a copy: the source may reuse its label buffer for the next batch
            Tensor fake;
            if (Objective.GeneratorReusesCriticFakes)
            {
                fakeForG = G.Generate(z, fakeLabels);
                labelsForG = fakeLabels;
                fake = fakeForG.Detach();
            }
            else
            {
                using (Autograd.NoGrad()) fake = G.Generate(z, fakeLabels);
            }
            // When G reuses the fakes, G's forward graph must live on to the generator step, so the step above keeps
            // this critic step in the outer scope; D's passes over the batch are still done once D has stepped, so
            // they get a scope of their own: their activations go back to the pool before the generator step's critic
            // pass needs the same sizes again (DCGAN-64: about 150 MiB of activations of the real and fake passes).
            using var criticPassScope = Objective.GeneratorReusesCriticFakes ? TensorScope.Begin() : null;
            OptD.ZeroGrad();
            CriticBatch batch;
            if (ScoresJointly(real, fake))
            {
                // (Never with ADA: joint scoring requires no augmentation.)
                // One critic pass over [real; fake]: half the critic's launches, and its weight gradients
                // come out of one GEMM over 2N samples instead of two GEMMs and an add.
                var joint = D.Score(Tensor.Concat([real, fake], 0), null);
                batch = new CriticBatch(real, fake, joint, joint, x => D.Score(x, labels), noise, Device) { JointScores = joint };
            }
            else
            {
                var outReal = D.Score(Augmented(real), labels);
                Ada?.Observe(outReal);
                var outFake = D.Score(Augmented(fake), fakeLabels);
                batch = new CriticBatch(real, fake, outReal, outFake, x => D.Score(Augmented(x), labels), noise, Device);
            }
            var critic = Objective.CriticLoss(batch);
            (dReal, dFake, gp) = (critic.DReal, critic.DFake, critic.GradientPenalty);
            critic.Loss.Backward();
            Averager?.Average(D.Parameters().ToArray());
            dLoss = critic.Loss;
            normD = ParameterOps.GradNormTensor(D.Parameters());
            OptD.Step();
            Objective.AfterCriticUpdate(D);
            foreach (var scope in new[] { criticPassScope, criticScope })
                if (scope is not null)
                    foreach (var metric in new[] { dLoss, dReal, dFake, gp, normD })
                        if (metric is not null) scope.MoveToOuter(metric);
        }

        // Generator step: gradients for G's parameters only.
        OptG.ZeroGrad();
        if (fakeForG is null)
        {
            var zg = Tensor.RandN(G.LatentShape(n), noise, Device);
            labelsForG = FakeLabels(lastRealLabels!);
            fakeForG = G.Generate(zg, labelsForG);
        }
        var gLoss = Objective.GeneratorLoss(D.Score(Augmented(fakeForG), labelsForG));
        var gParams = G.Parameters().ToArray();
        var grads = Autograd.Grad([gLoss], gParams, allowUnused: true);
        for (int i = 0; i < gParams.Length; i++) SetGrad(gParams[i], grads[i]);
        Averager?.Average(gParams);
        var normG = ParameterOps.GradNormTensor(gParams);
        OptG.Step();
        UpdateEma();

        StepMetricsTable.Write(metrics, row, dLoss, gLoss, gp, dReal, dFake, normD, normG, reconstruction: null);
    }

    /// <summary>
    /// Whether one critic pass may score real and generated samples together: the objective reads joint scores, the
    /// critic has no batch statistics (each sample's score is its own), and there are no labels or augmentation to keep apart.
    /// </summary>
    /// <summary>
    /// One critic pass over [real; fake] on the ILGPU kernel sets only: it halves the critic's launches, which is what
    /// costs on a GPU. The cpu set keeps the two passes: a launch costs it nothing, and two passes sum each weight
    /// gradient over the real and the fake samples separately, as a data-parallel rank does with its shard. Neither is
    /// bit for bit against a 2-rank run, but with the joint pass 514 of 1.7 M weights of MpiRunTests' WGAN-GP run ended
    /// Adam's first (sign-like) step 2·lr apart, past that test's bound of 1 in 10⁴, at gradients within rounding of
    /// zero; with two passes none did (see also the penalty's note in Objectives.cs).
    /// </summary>
    private bool ScoresJointly(Tensor real, Tensor fake) =>
        Device.Kind != DeviceKind.Cpu && Objective.AcceptsJointScores && Augment is null && !Spec.IsConditional && Spec.DiscriminatorNorm != NormKind.Batch
        && real.Shape == fake.Shape;

    // ------------------------------------------------------------ ITrainableModel

    /// <inheritdoc/>
    public int BatchesPerStep => Objective.CriticSteps;

    /// <inheritdoc/>
    public bool ReportsProbabilities => Objective is NonSaturatingBce;

    /// <inheritdoc/>
    void ITrainableModel.TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position, Tensor metrics, int row) =>
        TrainStep(nextBatch, noise, metrics, row);

    /// <summary>G, D and their optimisers as "G", "D", "optG", "optD".</summary>
    public void AddTo(TrainingState state)
    {
        state.Modules["G"] = G;
        state.Modules["D"] = D;
        state.Optimizers["optG"] = OptG;
        state.Optimizers["optD"] = OptD;
        if (GEma is not null) state.Modules[EmaModuleName] = GEma;
        if (Augment is not null) state.RandomStreams[AugmentStreamName] = Augment.Stream;
    }

    /// <inheritdoc/>
    public IEnumerable<(string Name, Tensor Value)> NamedWeights() =>
        G.NamedParameters().Select(p => ("G." + p.Name, p.Value)).Concat(D.NamedParameters().Select(p => ("D." + p.Name, p.Value)));

    /// <summary>The generator to sample from: the moving average when there is one, else G.</summary>
    public Module Exported => GEma ?? G;

    /// <summary>G(z) for a fixed latent batch (its own stream from the seed, never advanced); conditional models cycle through the classes.</summary>
    public SampleGrid CreateSampleGrid(IDataset data, long seed, int batch) => new LatentGrid(this, data, seed, batch);

    private sealed class LatentGrid : SampleGrid
    {
        private readonly GanModel _model;
        private readonly Tensor _z;
        private readonly int[]? _labels;

        public LatentGrid(GanModel model, IDataset data, long seed, int batch)
        {
            _model = model;
            int count = Math.Min(64, Math.Max(16, batch));
            _z = Tensor.RandN(model.G.LatentShape(count), new RandomStream(unchecked((ulong)seed + 0xABCDEF)), model.Device).KeepAlive();
            _labels = model.Spec.IsConditional ? Enumerable.Range(0, count).Select(i => i % model.Spec.ClassCount).ToArray() : null;
            int n = Math.Min(data.Count, 256);
            DataSpread = PixelSpread(data.CopySamples(0, n), n);
        }

        public override double DataSpread { get; }

        public override double Save(string path)
        {
            using var scope = TensorScope.Begin();
            using var noGrad = Autograd.NoGrad();
            // The grid shows what sampling gives: the averaged generator when there is one.
            _model.RefreshEmaStatistics();
            var g = _model.GEma ?? _model.G;
            g.Eval();
            var images = g.Generate(_z, _labels).ToArray();
            if (_model.GEma is null) _model.G.Train();
            int n = _z.Shape[0];
            var shape = _model.Spec.Image;
            if (shape.Height == 1) CurvesPlot.SaveCurves(path, images, n, shape.Width);   // 1-D data: plot the curves
            else ImageGrid.Save(path, images, n, shape.Channels, shape.Height, shape.Width);
            return PixelSpread(images, n);
        }
    }

    /// <summary>Sets p's gradient to a copy of g (one device copy; the old gradient's memory goes back to the pool).</summary>
    internal static void SetGrad(Tensor p, Tensor? g)
    {
        p.Grad?.Dispose();
        using (Autograd.NoGrad()) p.Grad = (g is null ? Tensor.Zeros(p.Shape, p.Device) : g.Clone()).KeepAlive();
    }
}
