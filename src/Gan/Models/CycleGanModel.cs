// CycleGAN (Zhu et al. 2017), as junyanz/pytorch-CycleGAN-and-pix2pix trains it (models/cycle_gan_model.py):
// G_A: A → B and G_B: B → A (ResNet generators, instance norm), D_A judging domain B and D_B judging
// domain A (PatchGANs). One step:
//   fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A)
//   G (both, one Adam):  real(D_A(fake_B)) + real(D_B(fake_A)) + λ_c·(|rec_A − A|₁ + |rec_B − B|₁)
//                        + λ_c·λ_i·(|G_A(B) − B|₁ + |G_B(A) − A|₁)     (identity only when A and B have the same channels)
//   D (both, one Adam):  ½·[real(D_A(B)) + fake(D_A(pool_B(fake_B)))] + ½·[real(D_B(A)) + fake(D_B(pool_A(fake_A)))]
// least squares, λ_c = 10, λ_i = 0.5, Adam 2e-4 β (0.5, 0.999), the rate held for the first half of
// the run and decayed linearly to 0 over the second. The pools (50 images each) are modules with
// buffers and draw from their own stream, so checkpoints hold them and a resumed run is exact.
using GpuGan.Gan.Data;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>The two CycleGAN generators in one module (children "G_A" and "G_B"): what generator.safetensors holds.</summary>
public sealed class CycleGanGenerators : Module
{
    /// <summary>Wraps the A → B and B → A generators.</summary>
    public CycleGanGenerators(ResnetGenerator ga, ResnetGenerator gb)
    {
        GA = RegisterModule("G_A", ga);
        GB = RegisterModule("G_B", gb);
    }

    /// <summary>A → B.</summary>
    public ResnetGenerator GA { get; }

    /// <summary>B → A.</summary>
    public ResnetGenerator GB { get; }

    /// <summary>Not a single mapping: use <see cref="GA"/> or <see cref="GB"/>.</summary>
    public override Tensor Forward(Tensor input) => throw new InvalidOperationException("CycleGAN has two generators: call GA (A → B) or GB (B → A)");
}

/// <summary>
/// The reference's ImagePool: up to <see cref="Capacity"/> earlier fakes. While it fills, each new image is stored and used;
/// once full, each new image is used as it is with probability ½, else it replaces a random stored image and that one is used.
/// The stored images and their count are buffers ("images", "count"), so checkpoints hold them.
/// </summary>
public sealed class ImagePool : Module
{
    private readonly RandomStream _stream;
    private int _count;

    /// <summary>A pool of <paramref name="capacity"/> images of <paramref name="image"/>, drawing from <paramref name="stream"/>.</summary>
    public ImagePool(int capacity, ImageShape image, RandomStream stream, Device device)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a pool holds at least one image");
        Capacity = capacity;
        _stream = stream;
        RegisterBuffer("images", Tensor.Zeros(new Shape(capacity, image.Channels, image.Height, image.Width), device));
        RegisterBuffer("count", Tensor.Zeros(new Shape(), device));
    }

    /// <summary>Images the pool holds when full (50 in the reference).</summary>
    public int Capacity { get; }

    /// <summary>Images stored so far.</summary>
    public int Count => _count;

    /// <summary>The images to show the discriminator for a batch of new fakes (N, C, H, W) (detached; unrecorded).</summary>
    public Tensor Query(Tensor images)
    {
        var stored = GetBuffer("images")!;
        var picked = new Tensor[images.Shape[0]];
        using (Autograd.NoGrad())
        {
            for (int i = 0; i < picked.Length; i++)
            {
                var image = images.Narrow(0, i, 1);
                if (_count < Capacity)
                {
                    image.CopyIntoSlice(stored, 0, _count);
                    _count++;
                    picked[i] = image;
                }
                else if (_stream.NextInt(2) == 1)
                {
                    int slot = _stream.NextInt(Capacity);
                    picked[i] = stored.Narrow(0, slot, 1);
                    image.CopyIntoSlice(stored, 0, slot);
                }
                else picked[i] = image;
            }
            GetBuffer("count")!.Fill(_count);
            return Tensor.Concat(picked, 0);
        }
    }

    /// <summary>Not a layer: use <see cref="Query"/>.</summary>
    public override Tensor Forward(Tensor input) => Query(input);

    /// <inheritdoc/>
    protected override void OnStateChanged()
    {
        if (GetBuffer("count") is { } c) _count = (int)c.Item();
    }
}

/// <summary>CycleGAN: two ResNet generators, two PatchGANs, two image pools, least squares + cycle + identity, Adam.</summary>
public sealed class CycleGanModel : ITrainableModel
{
    /// <summary>The paper's learning rate.</summary>
    public const float PaperLearningRate = 2e-4f;

    /// <summary>The reference's pool size.</summary>
    public const int PaperPoolSize = 50;

    private readonly float _learningRate;

    private CycleGanModel(GanSpec spec, CycleGanGenerators g, PatchDiscriminator da, PatchDiscriminator db, CycleGanObjective objective,
        ImagePool poolA, ImagePool poolB, RandomStream poolStream, Device device, float learningRate)
    {
        Spec = spec;
        Generators = g;
        DA = da;
        DB = db;
        Objective = objective;
        PoolA = poolA;
        PoolB = poolB;
        PoolStream = poolStream;
        Device = device;
        _learningRate = learningRate;
        OptG = new Adam(g.GA.NamedParameters().Select(p => ("G_A." + p.Name, p.Value)).Concat(g.GB.NamedParameters().Select(p => ("G_B." + p.Name, p.Value))),
            learningRate, 0.5, 0.999);
        OptD = new Adam(da.NamedParameters().Select(p => ("D_A." + p.Name, p.Value)).Concat(db.NamedParameters().Select(p => ("D_B." + p.Name, p.Value))),
            learningRate, 0.5, 0.999);
    }

    /// <inheritdoc/>
    public GanSpec Spec { get; }

    /// <summary>G_A (A → B) and G_B (B → A).</summary>
    public CycleGanGenerators Generators { get; }

    /// <summary>D_A: judges domain B (real B against G_A's fakes).</summary>
    public PatchDiscriminator DA { get; }

    /// <summary>D_B: judges domain A (real A against G_B's fakes).</summary>
    public PatchDiscriminator DB { get; }

    /// <summary>The objective.</summary>
    public CycleGanObjective Objective { get; }

    /// <summary>Earlier fakes of domain A (G_B's), shown to D_B.</summary>
    public ImagePool PoolA { get; }

    /// <summary>Earlier fakes of domain B (G_A's), shown to D_A.</summary>
    public ImagePool PoolB { get; }

    /// <summary>The stream the pools draw from.</summary>
    public RandomStream PoolStream { get; }

    /// <summary>One Adam over both generators (the reference chains their parameters).</summary>
    public Adam OptG { get; }

    /// <summary>One Adam over both discriminators.</summary>
    public Adam OptD { get; }

    /// <inheritdoc/>
    public Device Device { get; }

    /// <inheritdoc/>
    public int BatchesPerStep => 1;

    /// <inheritdoc/>
    public bool ReportsProbabilities => Objective.Adversarial.ScoresAreLogits;

    /// <summary>Builds the networks of <paramref name="spec"/> from <paramref name="seed"/> on <paramref name="device"/>.</summary>
    public static CycleGanModel Create(GanSpec spec, long seed, Device device, float? learningRate = null, CycleGanObjective? objective = null,
        int poolSize = PaperPoolSize)
    {
        spec.Validate();
        if (spec.Family != ModelFamily.Cyclegan) throw new ArgumentException($"a {spec.Family} record does not describe a CycleGAN model", nameof(spec));
        var gen = new RandomStream(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 17));
        var pools = new RandomStream(unchecked((ulong)seed * 0xA24BAED4963EE407UL + 43));
        var g = BuildGenerators(spec, gen);
        int layers = TranslationNetworks.PatchLayers(spec.Image.Height);
        var da = new PatchDiscriminator(spec.Image.Channels, spec.DiscriminatorWidth, layers, spec.DiscriminatorNorm, gen);
        var db = new PatchDiscriminator(spec.InputChannels, spec.DiscriminatorWidth, layers, spec.DiscriminatorNorm, gen);
        TranslationNetworks.InitNormal(g.GA, gen);
        TranslationNetworks.InitNormal(g.GB, gen);
        TranslationNetworks.InitNormal(da, gen);
        TranslationNetworks.InitNormal(db, gen);
        g.To(device);
        da.To(device);
        db.To(device);
        var poolA = new ImagePool(poolSize, spec.InputImage, pools, device);
        var poolB = new ImagePool(poolSize, spec.Image, pools, device);
        return new CycleGanModel(spec, g, da, db, objective ?? CycleGanObjective.Paper(), poolA, poolB, pools, device, learningRate ?? PaperLearningRate);
    }

    /// <summary>The two generators of <paramref name="spec"/> alone (for translating: their weights are loaded afterwards).</summary>
    public static CycleGanGenerators CreateGenerators(GanSpec spec, Device device)
    {
        spec.Validate();
        var g = BuildGenerators(spec, new RandomStream(0));
        g.To(device);
        return g;
    }

    private static CycleGanGenerators BuildGenerators(GanSpec spec, RandomStream gen)
    {
        int blocks = TranslationNetworks.ResnetBlocks(spec.Image.Height);
        var ga = new ResnetGenerator(spec.InputChannels, spec.Image.Channels, spec.GeneratorWidth, spec.DiscriminatorNorm, blocks, gen);
        var gb = new ResnetGenerator(spec.Image.Channels, spec.InputChannels, spec.GeneratorWidth, spec.DiscriminatorNorm, blocks, gen);
        return new CycleGanGenerators(ga, gb);
    }

    /// <summary>One step on a batch (N, C_A + C_B, S, S) of A and B images, its metrics read back at the end (one copy).</summary>
    public StepMetrics TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position) =>
        StepMetricsTable.RunOnce(Device, (table, row) => TrainStep(nextBatch, noise, position, table, row));

    /// <summary>One step on a batch (N, C_A + C_B, S, S) of A and B images; its metrics go into row <paramref name="row"/> of <paramref name="metrics"/> on the device.</summary>
    public void TrainStep(BatchSource nextBatch, RandomStream noise, StepPosition position, Tensor metrics, int row)
    {
        float lr = TrainableModels.ConstantThenLinearDecay(_learningRate, position);
        OptG.LearningRate = OptD.LearningRate = lr;
        Generators.Train();
        DA.Train();
        DB.Train();
        var (batch, _) = nextBatch();
        var (realA, realB) = TranslationBatches.Split(batch, Spec);
        var (ga, gb) = (Generators.GA, Generators.GB);
        var adv = Objective.Adversarial;

        // Generators: gradients for G_A and G_B only (the discriminators' are never computed here).
        var fakeB = ga.Forward(realA);
        var recA = gb.Forward(fakeB);
        var fakeA = gb.Forward(realB);
        var recB = ga.Forward(fakeA);
        var cycleA = Losses.L1(recA, realA);
        var cycleB = Losses.L1(recB, realB);
        var lossG = adv.Real(DA.Forward(fakeB)).Add(adv.Real(DB.Forward(fakeA))).Add(cycleA.Add(cycleB).MulScalar(Objective.CycleWeight));
        if (Objective.IdentityWeight > 0 && Spec.InputChannels == Spec.Image.Channels)
        {
            var identity = Losses.L1(ga.Forward(realB), realB).Add(Losses.L1(gb.Forward(realA), realA));
            lossG = lossG.Add(identity.MulScalar(Objective.CycleWeight * Objective.IdentityWeight));
        }
        OptG.ZeroGrad();
        var gParams = OptG.Parameters.Select(p => p.Parameter).ToArray();
        var grads = Autograd.Grad([lossG], gParams, allowUnused: true);
        for (int i = 0; i < gParams.Length; i++) GanModel.SetGrad(gParams[i], grads[i]);
        var normG = ParameterOps.GradNormTensor(gParams);
        OptG.Step();

        // Discriminators, on the real images and on fakes from the pools.
        OptD.ZeroGrad();
        var realScoresA = DA.Forward(realB);
        var fakeScoresA = DA.Forward(PoolB.Query(fakeB.Detach()));
        var realScoresB = DB.Forward(realA);
        var fakeScoresB = DB.Forward(PoolA.Query(fakeA.Detach()));
        var lossD = Objective.DiscriminatorLoss(realScoresA, fakeScoresA).Add(Objective.DiscriminatorLoss(realScoresB, fakeScoresB));
        lossD.Backward();
        var normD = ParameterOps.GradNormTensor(OptD.Parameters.Select(p => p.Parameter));
        OptD.Step();

        Tensor dReal, dFake, cycle;
        using (Autograd.NoGrad())
        {
            dReal = TranslationBatches.MeanScoreTensor(realScoresA, adv).Add(TranslationBatches.MeanScoreTensor(realScoresB, adv)).MulScalar(0.5f);
            dFake = TranslationBatches.MeanScoreTensor(fakeScoresA, adv).Add(TranslationBatches.MeanScoreTensor(fakeScoresB, adv)).MulScalar(0.5f);
            cycle = cycleA.Add(cycleB).MulScalar(0.5f);
        }
        StepMetricsTable.Write(metrics, row, lossD, lossG, gradientPenalty: null, dReal, dFake, normD, normG, cycle);
    }

    /// <summary>"G_A", "G_B", "D_A", "D_B", the pools "pool_A", "pool_B", optimisers "optG", "optD", and the pools' stream "pool".</summary>
    public void AddTo(TrainingState state)
    {
        state.Modules["G_A"] = Generators.GA;
        state.Modules["G_B"] = Generators.GB;
        state.Modules["D_A"] = DA;
        state.Modules["D_B"] = DB;
        state.Modules["pool_A"] = PoolA;
        state.Modules["pool_B"] = PoolB;
        state.Optimizers["optG"] = OptG;
        state.Optimizers["optD"] = OptD;
        state.RandomStreams["pool"] = PoolStream;
    }

    /// <inheritdoc/>
    public IEnumerable<(string Name, Tensor Value)> NamedWeights() =>
        OptG.Parameters.Concat(OptD.Parameters).Select(p => (p.Name, p.Parameter));

    /// <summary>Both generators ("G_A.…", "G_B.…").</summary>
    public Module Exported => Generators;

    /// <summary>Rows A | G_A(A) | G_B(G_A(A)), then B | G_B(B) | G_A(G_B(B)), for the first samples (never augmented).</summary>
    public SampleGrid CreateSampleGrid(IDataset data, long seed, int batch) => new CycleGrid(this, data);

    private sealed class CycleGrid(CycleGanModel model, IDataset data) : PairRowsGrid(model.Spec, model.Device, data, 4)
    {
        protected override IReadOnlyList<Tensor> Columns(Tensor a, Tensor b)
        {
            var (ga, gb) = (model.Generators.GA, model.Generators.GB);
            model.Generators.Eval();
            var ab = ga.Forward(a);
            var ba = gb.Forward(b);
            var aba = gb.Forward(ab);
            var bab = ga.Forward(ba);
            model.Generators.Train();
            // The A rows above the B rows, each column in the larger channel count (grey shown as colour).
            int c = Math.Max(a.Shape[1], b.Shape[1]);
            var rowsA = new[] { a, ab, aba };
            var rowsB = new[] { b, ba, bab };
            return rowsA.Select((t, k) =>
                Tensor.Concat([TranslationBatches.WithChannels(t, c), TranslationBatches.WithChannels(rowsB[k], c)], 0)).ToArray();
        }
    }
}
