// Training into a run folder:
//   config.json, metrics.csv, samples/step-NNNNNN.png, curves.png,
//   checkpoints/last.safetensors (G, D, optimisers, counters, random streams, architecture record),
//   generator.safetensors (G's weights and the architecture record).
// Start/Resume validate everything and load the checkpoint before anything on disk changes; Run
// writes. Resume continues exactly: the data order, the noise stream, batch-norm statistics and
// optimiser state are restored, so on the cpu set with the same thread count the steps are
// bit-identical to an uninterrupted run.
//
// Data-parallel (an ICommunicator of K > 1 ranks, e.g. MPI): every rank builds the same model from
// the seed and walks the same global batches; rank k reads part k of each (DataLoader shard) and
// draws part k of every noise draw (sharded RandomStream), so the K ranks together compute what one
// process computes for the global batch. Gradients are averaged over the ranks after every backward
// pass (GradientAverager), so the replicas take identical optimiser steps; metrics rows are
// averaged over the ranks before they are logged. Batch norm uses each rank's shard (PyTorch DDP's
// default) or, with SyncBatchNorm, the global batch (Tensor.SyncBatchNorm2d). Rank 0 alone writes
// the run folder; its checkpoint is complete for every rank: weights, optimiser state, the data
// position and the noise offset are the same on all ranks, and the one per-rank state, batch norm's
// running statistics without SyncBatchNorm, only matters in eval mode, which only rank 0 uses (the
// sample grids and the exported generator), so the others resume from rank 0's (PyTorch DDP's
// broadcast_buffers does the same at every step). Stopping is agreed on with a collective before
// every step, so all ranks stop at the same step.
using System.Diagnostics;
using System.Globalization;
using GpuGan.Gan.Data;
using GpuGan.Gan.Distributed;
using GpuGan.Gan.Imaging;
using GpuGan.Gan.Models;
using GpuGan.Gan.Sampling;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Gan.Training;

/// <summary>A training run, prepared: options checked, data opened, model built (and, on resume, restored).</summary>
public sealed class Trainer : IDisposable
{
    /// <summary>D must win outright this many steps in a row before <see cref="DiscriminatorWinsNotice"/>.</summary>
    public const int DiscriminatorWinsStreak = 50;

    /// <summary>
    /// Samples are judged for diversity (<see cref="LowDiversityNotice"/>) only from this step on, and from a quarter of the run
    /// (at most step 500). A freshly initialised generator is nearly constant — DCGAN's N(0, 0.02) weights make G(z) vary
    /// by about 1e-3 across z whatever the data — so a low spread before the generator has trained is where every run starts,
    /// not a collapse. The spread is taken over the fixed grid of at least 16 latent vectors, so it is not one sample's noise.
    /// </summary>
    public const int MinStepsForDiversityCheck = 200;

    private readonly ITrainingObserver _observer;
    private readonly TrainOptions _options;
    private readonly bool _resumed;
    private readonly Device _device;
    private readonly IDataset _dataset;
    private readonly ITrainableModel _model;
    private readonly RandomStream _noise;
    private readonly RandomStream? _augmentStream;
    private readonly PairAugmentation? _augmentation;
    private readonly DataLoader _loader;
    private readonly TrainingState _state;
    private readonly int _stepsPerEpoch;
    private readonly ICommunicator _communicator;
    private long _step;

    /// <summary>The checkpoint metadata key of the job's rank count.</summary>
    public const string RanksMetadataKey = "ranks";

    private Trainer(TrainOptions options, string? checkpointToLoad, ITrainingObserver observer, ICommunicator communicator)
    {
        _observer = observer;
        _communicator = communicator;
        _options = options;
        _resumed = checkpointToLoad is not null;
        _device = DeviceSelection.Open(options.Device, options.Threads, options.Winograd == true);
        _dataset = DatasetFactory.Create(options.Data, options.ImageSize, options.Channels, options.Limit, options.Seed, options.ImageLimits,
            options.Resize, options.StrictData == true);
        IReadOnlyList<SkippedFile> skippedFiles = _dataset switch
        {
            ImageFolderDataset folderSet => folderSet.Skipped,
            TranslationFolderDataset pairFolder => pairFolder.Skipped,
            _ => [],
        };
        if (skippedFiles.Count > 0) observer.Notice(new SkippedFilesNotice(_dataset.Name, skippedFiles));
        DataSummary = new DataSummaryNotice(_dataset.Name, _dataset.Count,
            skippedFiles.GroupBy(f => f.Kind).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            (_dataset as ImageFolderDataset)?.AlphaDropped ?? 0);
        observer.Notice(DataSummary);
        if (_dataset.Count < options.Batch)
            throw new BatchLargerThanDataException(options.Batch, _dataset.Count, _dataset.Name);
        int ranks = communicator.Size, rank = communicator.Rank;
        if (ranks > 1)
        {
            if (options.Model.Kind() != ModelKind.Generative) throw new DistributedNotSupportedException(options.Model);
            if (options.Batch % ranks != 0) throw new BatchNotDivisibleException(options.Batch, ranks);
        }
        if (options.Model == ModelFamily.Cdcgan && _dataset.ClassCount < 2)
            throw new ModelNeedsLabelsException(options.Model, _dataset.Name, _dataset.ClassCount);

        // Data that cannot be scored (curves, tiny sets) is refused now, not at the first evaluation.
        if (options.Eval is not null) Scoring.FeatureNetwork.TaskOf(_dataset);
        Spec = SpecFor(options, _dataset);
        _model = TrainableModels.Create(Spec, options.Seed, _device, options.Lr, options.Ema, options.DiffAugment ?? AugmentKinds.None,
            options.AugmentProbability, options.Ada, options.EmaWarmup ?? EmaWarmup.None);
        // ADA's p follows one process's D outputs; ranks would each follow their own shard and drift apart.
        if (ranks > 1 && options.Ada is not null) throw new InvalidOptionException(nameof(TrainOptions.Ada), options.Ada, "is not available in data-parallel runs yet");
        _noise = NoiseStream(options.Seed, rank, ranks);
        if (ranks > 1 && _model is GanModel gan)
        {
            gan.Averager = new GradientAverager(communicator);
            if (options.SyncBatchNorm == true)
                foreach (var bn in gan.G.Modules().Concat(gan.D.Modules()).OfType<Layers.BatchNorm2d>()) bn.Communicator = communicator;
        }
        if (_dataset is IPairedDataset pairs && options.Augment != false)
        {
            _augmentation = new PairAugmentation(pairs);
            _augmentStream = AugmentStream(options.Seed);
        }
        _loader = DataLoader.Sharded(_dataset, options.Batch, options.Seed, rank, ranks);
        try
        {
            _stepsPerEpoch = Math.Max(1, _loader.BatchesPerEpoch / _model.BatchesPerStep);
            TotalSteps = options.Steps ?? (long)options.Epochs!.Value * _stepsPerEpoch;
            _state = BuildState(_model, _noise, _augmentStream);
            if (ranks > 1) CheckRanksAgree(options);
            if (checkpointToLoad is not null)
            {
                // Validates every key, shape, optimiser and seed before changing anything: a file that does not
                // fit this run is refused with nothing changed, in memory or on disk. A cdcgan checkpoint of the earlier
                // design is refused by its architecture record first, which says so (its tensors alone would only mismatch).
                if (Spec.IsConditional) ModelFiles.ReadSpec(checkpointToLoad);
                Checkpoint.Load(checkpointToLoad, _state);
                (_model as GanModel)?.Ada?.ReadState(_state.Metadata, checkpointToLoad);
                (_model as GanModel)?.ReadEmaState(_state.Metadata, _state.Step, checkpointToLoad);
                _step = _state.Step;
                int batchIndex = int.Parse(_state.Metadata.GetValueOrDefault("batch-index", "0"), CultureInfo.InvariantCulture);
                _loader.Seek((int)_state.Epoch, batchIndex);
                // A run saved by another number of ranks continues from the same state, but its later steps are those of this
                // job (per-rank batch norm sees other shards); the saved count is reported by the resume notice's caller.
                SavedRanks = int.Parse(_state.Metadata.GetValueOrDefault(RanksMetadataKey, "1"), CultureInfo.InvariantCulture);
                observer.Notice(new ResumedNotice(RunFolder, _step, _state.Epoch, batchIndex));
                if (_step >= TotalSteps) observer.Notice(new AlreadyCompleteNotice(_step, TotalSteps));
            }
        }
        catch
        {
            _loader.Dispose();
            throw;
        }
    }

    /// <summary>The architecture a run of <paramref name="options"/> builds for <paramref name="data"/>.</summary>
    /// <exception cref="ModelDataMismatchException">The data is not the kind the family trains on.</exception>
    internal static GanSpec SpecFor(TrainOptions options, IDataset data)
    {
        var family = options.Model;
        var pairs = data as IPairedDataset;
        switch (family.Kind())
        {
            case ModelKind.Translation:
                if (pairs is null) throw new ModelDataMismatchException(family, data.Name, family == ModelFamily.Pix2pix ? DataRequirement.AlignedPairs : DataRequirement.TwoDomains);
                if (family == ModelFamily.Pix2pix && !pairs.Aligned) throw new ModelDataMismatchException(family, data.Name, DataRequirement.AlignedPairs);
                return GanSpec.Translation(family, pairs.ChannelsA, new ImageShape(pairs.ChannelsB, data.Height, data.Width), options.Width);
            case ModelKind.Autoencoder:
                if (pairs is not null) throw new ModelDataMismatchException(family, data.Name, DataRequirement.SingleDomain);
                return GanSpec.Autoencoder(new ImageShape(data.Channels, data.Height, data.Width), options.LatentDim, options.Width, options.Prior ?? LatentPrior.Gaussian);
            default:
                if (pairs is not null) throw new ModelDataMismatchException(family, data.Name, DataRequirement.SingleDomain);
                return GanSpec.Canonical(family, new ImageShape(data.Channels, data.Height, data.Width), options.LatentDim, options.Width, data.ClassCount);
        }
    }

    /// <summary>The data set's size and the files skipped, as config.json records them under "images" and "skipped".</summary>
    public DataSummaryNotice DataSummary { get; }

    /// <summary>
    /// config.json: the options, then "images" (the samples used) and "skipped" (image files left out, by kind). Resume reads
    /// the options back; the two counts are facts about this run's data, which it ignores.
    /// </summary>
    internal string ConfigJson()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(_options.ToJson())!.AsObject();
        json["images"] = DataSummary.Images;
        var skipped = new System.Text.Json.Nodes.JsonObject();
        foreach (var (kind, count) in DataSummary.Skipped) skipped[TrainOptions.JsonKey(kind.ToString())] = count;
        json["skipped"] = skipped;
        return json.ToJsonString(TrainOptions.Json);
    }

    /// <summary>Prepares a new run into <see cref="TrainOptions.Out"/>, which must be absent or empty. Writes nothing yet.</summary>
    /// <exception cref="GanException">The options, the folder or the data do not allow the run (see the derived types).</exception>
    public static Trainer Start(TrainOptions options, ITrainingObserver? observer = null) => StartRank(options, SingleProcessCommunicator.Instance, observer);

    /// <summary>
    /// As <see cref="Start(TrainOptions, ITrainingObserver?)"/>, as one rank of a data-parallel job over <paramref name="communicator"/>
    /// (every rank calls it with the same options; rank 0 owns the run folder). See the file header.
    /// </summary>
    public static Trainer StartRank(TrainOptions options, ICommunicator communicator, ITrainingObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(communicator);
        options.Validate();
        // A folder holding nothing but temporary files of an interrupted write (a run killed while writing its first
        // file) is empty for this purpose: Run removes them.
        if (communicator.Rank == 0 && Directory.Exists(options.Out) && Directory.EnumerateFileSystemEntries(options.Out, "*", new EnumerationOptions { AttributesToSkip = 0 })
                .Any(e => !(File.Exists(e) && AtomicFile.IsTemporaryFile(Path.GetFileName(e), out _))))
            throw new RunFolderExistsException(options.Out);
        return new Trainer(options, checkpointToLoad: null, observer ?? NullObserver.Instance, communicator);
    }

    /// <summary>
    /// Prepares to continue the run in <see cref="ResumeOptions.Folder"/> from its checkpoint. The saved configuration
    /// wins, except for what <paramref name="options"/> may change; it is validated as strictly as new options.
    /// Writes nothing yet.
    /// </summary>
    /// <exception cref="GanException">Not a run folder, a checkpoint that was removed, an invalid saved configuration.</exception>
    /// <exception cref="GpuGan.Layers.StateDictException">The checkpoint does not fit the saved configuration (nothing is changed).</exception>
    /// <exception cref="SafeTensorsFormatException">The checkpoint is truncated or corrupt.</exception>
    public static Trainer Resume(ResumeOptions options, ITrainingObserver? observer = null) => ResumeRank(options, SingleProcessCommunicator.Instance, observer);

    /// <summary>
    /// As <see cref="Resume(ResumeOptions, ITrainingObserver?)"/>, as one rank of a data-parallel job over <paramref name="communicator"/>.
    /// Every rank reads the run folder (on several machines it must be on a shared file system); rank 0 writes it.
    /// </summary>
    public static Trainer ResumeRank(ResumeOptions options, ICommunicator communicator, ITrainingObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(communicator);
        options.Validate();
        string configPath = Path.Combine(options.Folder, RunLayout.ConfigFile);
        string checkpointPath = Path.Combine(options.Folder, RunLayout.CheckpointFile);
        if (!File.Exists(configPath)) throw new NotARunFolderException(options.Folder, configPath);
        // Every checkpoint is followed by a generator file: with neither, the run was stopped (killed) before its first
        // checkpoint was complete. There is nothing to continue and nothing to lose, so it starts over from its saved
        // configuration (bit-identical steps, so the result is the uninterrupted run's). A checkpoint that is gone while
        // a generator file exists was removed, not never written: that is refused.
        bool startOver = !File.Exists(checkpointPath) && !File.Exists(Path.Combine(options.Folder, RunLayout.GeneratorFile));
        if (!File.Exists(checkpointPath) && !startOver) throw new NoCheckpointException(options.Folder, checkpointPath);
        var saved = TrainOptions.FromJson(File.ReadAllText(configPath), configPath);
        saved.Validate(configPath);
        var merged = options.ApplyTo(saved);
        merged.Validate();
        observer ??= NullObserver.Instance;
        if (startOver) observer.Notice(new StartingOverNotice(options.Folder));
        return new Trainer(merged, startOver ? null : checkpointPath, observer, communicator);
    }

    /// <summary>The model being trained (for harnesses in the tests that read its weights after each step).</summary>
    internal ITrainableModel Model => _model;

    /// <summary>Called after every training step, before anything is saved (test harnesses: the EMA warm-up experiment).</summary>
    internal Action<ITrainableModel>? AfterStep { get; set; }

    /// <summary>The options in force (on resume: the saved ones with the resume's changes).</summary>
    public TrainOptions Options => _options;

    /// <summary>The run folder.</summary>
    public string RunFolder => _options.Out;

    /// <summary>The model's architecture.</summary>
    public GanSpec Spec { get; }

    /// <summary>The last completed step (the checkpoint's, before <see cref="Run"/> on resume).</summary>
    public long Step => _step;

    /// <summary>The step the run goes to.</summary>
    public long TotalSteps { get; }

    /// <summary>The device's description.</summary>
    public string DeviceName => _device.Name;

    /// <summary>This process's rank in the job (0 in one process).</summary>
    public int Rank => _communicator.Rank;

    /// <summary>Ranks in the job (1 in one process).</summary>
    public int Ranks => _communicator.Size;

    /// <summary>On resume: the rank count of the job that saved the checkpoint (1 for runs saved before data-parallel training); null for a new run.</summary>
    public int? SavedRanks { get; private set; }

    /// <summary>The gradient averager of a data-parallel job (its call and byte counts); null in one process.</summary>
    public GradientAverager? Averager => (_model as GanModel)?.Averager;

    private string CheckpointPath => Path.Combine(RunFolder, RunLayout.CheckpointFile);

    /// <summary>
    /// Trains until <see cref="TotalSteps"/>, or until <paramref name="cancel"/> is signalled: then the current step
    /// finishes, a checkpoint is saved, and the result says <see cref="TrainResult.Interrupted"/>.
    /// </summary>
    /// <exception cref="TrainingDivergedException">A loss or weight became NaN/Inf; the last good checkpoint is kept.</exception>
    /// <exception cref="RunFileException">metrics.csv is damaged beyond a torn last row.</exception>
    public TrainResult Run(CancellationToken cancel = default)
    {
        string folder = RunFolder;
        long startStep = _step;
        // Rank 0 owns the run folder; the other ranks of a data-parallel job write nothing.
        bool root = _communicator.Rank == 0, distributed = _communicator.Size > 1;
        if (root)
        {
            Directory.CreateDirectory(Path.Combine(folder, RunLayout.SamplesFolder));
            Directory.CreateDirectory(Path.GetDirectoryName(CheckpointPath)!);
            // Temporary files of writes that a kill cut short (the renames never happened): ours by name, writer gone.
            var removed = RunLayout.Folders.SelectMany(f => AtomicFile.RemoveStaleTemporaryFiles(Path.Combine(folder, f))).ToList();
            if (removed.Count > 0) _observer.Notice(new TemporaryFilesRemovedNotice(folder, removed));
            if (!_resumed) AtomicFile.WriteAllBytes(Path.Combine(folder, RunLayout.ConfigFile), System.Text.Encoding.UTF8.GetBytes(ConfigJson()));
        }

        using var metrics = root ? new MetricsLog(Path.Combine(folder, RunLayout.MetricsFile), _resumed ? _step : 0) : null;
        if (metrics is not null && (metrics.DroppedTornRow || metrics.DroppedRows > 0))
            _observer.Notice(new MetricsRepairedNotice(metrics.Path, metrics.DroppedTornRow, metrics.DroppedRows, _step));
        _observer.Started(new TrainingStarted(folder, _device.Name, _step, TotalSteps, _stepsPerEpoch, Spec) { Rank = _communicator.Rank, Ranks = _communicator.Size });

        // Fixed inputs (a latent batch from its own stream, or the first samples) so sample grids are comparable across steps.
        var grid = root ? _model.CreateSampleGrid(_dataset, _options.Seed, _options.Batch) : null;

        int sampleLength = _dataset.SampleLength();
        int batch = _options.Batch, shard = batch / _communicator.Size;   // the global batch, this rank's part of it
        var realShape = new Shape(shard, _dataset.Channels, _dataset.Height, _dataset.Width);
        var labels = new int[shard];
        int currentEpoch = _loader.Epoch;
        (Tensor, int[]) NextBatch()
        {
            var b = _loader.Next();
            currentEpoch = b.Epoch;
            Array.Copy(b.Labels, labels, shard);
            // Host-side jitter and mirroring of pairs, in the loader's buffer (it is ours until the next batch).
            _augmentation?.Apply(b.Data.AsSpan(0, shard * sampleLength), shard, _augmentStream!);
            return (Tensor.FromArray(b.Data.AsSpan(0, shard * sampleLength), realShape, _device), labels);
        }

        string title = $"{_options.Model.FileName()} on {_dataset.Name}";
        string curves = Path.Combine(folder, RunLayout.CurvesFile);
        double dataDiversity = grid?.DataSpread ?? double.NaN;
        var clock = Stopwatch.StartNew();
        int collapseStreak = 0;
        bool interrupted = false;
        bool probabilities = _model.ReportsProbabilities;
        // Steps write their metrics (and the divergence flag) into rows of a device table; the table is read
        // back in one copy every LogEvery steps, and before anything that needs the rows (samples' curves,
        // checkpoints, the end), so a step never waits for the device. Rows are appended in step order.
        int logEvery = _options.LogEvery ?? 1;
        using var metricsTable = StepMetricsTable.Create(_model.Device, logEvery);
        var pending = new List<(long Step, int Epoch, double AugmentP)>(logEvery);
        // DiffAugment's p after each step (NaN without per-sample masks): it changes on the host, at ADA's adjustments.
        var augment = (_model as GanModel)?.Augment;
        double AugmentP() => augment is { PerSampleMasks: true } a ? a.Probability : double.NaN;
        double windowStart = clock.Elapsed.TotalSeconds;
        Scoring.ScoreReport? scores = null;
        void Flush()
        {
            if (pending.Count == 0) return;
            var values = metricsTable.ToArray();
            // Each rank's row holds the means over its shard: their mean over the ranks is the global batch's (equal shards).
            // The gradient norms are already the same on every rank, and a divergence flag stays non-zero.
            if (distributed) AverageOverRanks(values);
            // The device finished every pending step when the copy returned: the window's rate is exact.
            double now = clock.Elapsed.TotalSeconds;
            double rate = batch * _model.BatchesPerStep * pending.Count / Math.Max(now - windowStart, 1e-9);
            windowStart = now;
            for (int i = 0; i < pending.Count; i++)
            {
                var m = StepMetricsTable.Read(values, i) with { Step = pending[i].Step, Epoch = pending[i].Epoch, ImagesPerSecond = rate, AugmentP = pending[i].AugmentP };
                if (scores is { } s && m.Step == _step)
                {
                    m = m with
                    {
                        Fd = s.FrechetDistance, Kid = s.Kid, KidStd = s.KidStd, Precision = s.Precision, Recall = s.Recall, Density = s.Density, Coverage = s.Coverage,
                    };
                    scores = null;
                }
                if (StepMetricsTable.Diverged(values, i))
                    throw new TrainingDivergedException(m.Step, $"d_loss {m.DLoss}, g_loss {m.GLoss}", File.Exists(CheckpointPath) ? CheckpointPath : null);
                metrics?.Append(m);
                _observer.Step(m, TotalSteps);

                // Mode-collapse watch: D wins outright for many steps in a row (objectives whose D outputs are probabilities).
                if (probabilities && m.DFake < 0.01 && m.DReal > 0.99) collapseStreak++;
                else collapseStreak = 0;
                if (collapseStreak == DiscriminatorWinsStreak) _observer.Notice(new DiscriminatorWinsNotice(m.Step, DiscriminatorWinsStreak));
            }
            pending.Clear();
        }
        var eval = _options.Eval;
        while (_step < TotalSteps)
        {
            if (StopRequested(cancel)) { interrupted = true; break; }
            using (var scope = TensorScope.Begin())
            {
                _model.TrainStep(NextBatch, _noise, new StepPosition(_step, TotalSteps), metricsTable, pending.Count);
                AfterStep?.Invoke(_model);
            }
            _step++;
            pending.Add((_step, currentEpoch, AugmentP()));

            bool last = _step == TotalSteps;
            bool sample = Every(_options.SampleEvery) || last, checkpoint = Every(_options.CheckpointEvery) || last;
            bool evalStep = eval is not null && Every(eval.Every);
            // Scored before the step's row is written, so the row carries the scores. Rank 0 alone scores (it alone
            // writes the row and the curves); every rank flushes at the same steps, since a flush averages the metrics
            // over the ranks (a collective).
            if (evalStep && root) scores = Evaluate(eval!);
            if (pending.Count == logEvery || sample || checkpoint || evalStep) Flush();
            if (sample && root)
            {
                double diversity = grid!.Save(Path.Combine(folder, RunLayout.SamplesFolder, $"step-{_step:D6}.png"));
                // An untrained G is nearly constant, so only judge once training is under way (see MinStepsForDiversityCheck), and where the measure applies.
                if (_step >= Math.Max(MinStepsForDiversityCheck, Math.Min(500, TotalSteps / 4)) && double.IsFinite(dataDiversity) && diversity < 0.1 * dataDiversity)
                    _observer.Notice(new LowDiversityNotice(_step, diversity, dataDiversity));
                CurvesPlot.Save(curves, metrics!.Rows, title);
            }
            if (checkpoint && root) SaveCheckpoint();
        }

        Flush();
        if (interrupted && root)
        {
            SaveCheckpoint();
            CurvesPlot.Save(curves, metrics!.Rows, title);
        }
        return new TrainResult(folder, _device.Name, startStep, _step, TotalSteps, interrupted, clock.Elapsed, CheckpointPath);

        bool Every(int? interval) => interval is { } n && _step % n == 0;
    }

    private Scoring.Scorer? _scorer;

    /// <summary>
    /// Scores <see cref="EvalOptions.Samples"/> images of the generator (the average with --ema) from a fixed latent stream of its own,
    /// in evaluation mode: no training stream, weight or batch-norm statistic of G changes, so resume stays exact (the average's
    /// statistics are re-estimated first, from its weights alone).
    /// </summary>
    private Scoring.ScoreReport Evaluate(EvalOptions eval)
    {
        if (_scorer is null)
        {
            _scorer = Scoring.Scorer.Create(_dataset, eval.Features, eval.CacheFolder, _device);
            var net = _scorer.Network;
            _observer.Notice(new FeatureNetworkNotice(net.LoadedFromCache, net.Task, net.TestAccuracy, net.TestCount, net.CachePath));
        }
        (_model as GanModel)?.RefreshEmaStatistics();
        if (_model.Exported is not Generator g)
            throw new InvalidOptionException("EvalEvery", eval.Every, $"applies to generators of images from latent codes, not {Spec.Family.FileName()}");
        int n = eval.Samples, length = Spec.Image.Length;
        var images = new float[n * length];
        bool wasTraining = g.IsTraining;
        g.Eval();
        var stream = new RandomStream(unchecked((ulong)_options.Seed * 0xBF58476D1CE4E5B9UL + 71));
        const int chunk = 256;
        for (int start = 0; start < n; start += chunk)
        {
            int m = Math.Min(chunk, n - start);
            using var scope = TensorScope.Begin();
            using var noGrad = Autograd.NoGrad();
            var z = g.SampleLatent(m, stream, _device);
            int[]? labels = Spec.IsConditional ? Enumerable.Range(start, m).Select(i => i % Spec.ClassCount).ToArray() : null;
            g.Generate(z, labels).ToArray().CopyTo(images, start * length);
        }
        if (wasTraining) g.Train();
        var report = _scorer.Score(images, n, null, new Scoring.ScoreOptions
        {
            RealCount = n, K = eval.K, KidSubsets = eval.KidSubsets, KidSubsetSize = eval.KidSubsetSize, Seed = _options.Seed,
        });
        _observer.Notice(new ScoresNotice(_step, report));
        return report;
    }

    /// <summary>Whether to stop before the next step: in a data-parallel job, when any rank was asked to (one small collective), so all stop at the same step.</summary>
    private bool StopRequested(CancellationToken cancel)
    {
        if (_communicator.Size == 1) return cancel.IsCancellationRequested;
        Span<double> flag = [cancel.IsCancellationRequested ? 1 : 0];
        _communicator.AllReduceMax(flag);
        return flag[0] > 0;
    }

    /// <summary>Replaces host values by their mean over the ranks.</summary>
    private void AverageOverRanks(float[] values)
    {
        _communicator.AllReduceSum(values);
        float scale = 1f / _communicator.Size;
        for (int i = 0; i < values.Length; i++) values[i] *= scale;
    }

    /// <summary>
    /// Refuses a job whose ranks were started differently: the options (but the run folder's spelling), the data set's
    /// size and name, and the model's parameter count must agree, or the collectives would pair up mismatched buffers.
    /// </summary>
    private void CheckRanksAgree(TrainOptions options)
    {
        string fingerprint = string.Join("\n", (options with { Out = "", Threads = null, Device = null }).ToJson(), _dataset.Name, _dataset.Count,
            _model.NamedWeights().Sum(w => (long)w.Value.Size));
        // Two 26-bit halves of a 64-bit FNV-1a hash as doubles (exact), with their negatives: max = −min on every rank iff all agree.
        ulong h = 14695981039346656037UL;
        foreach (char ch in fingerprint) h = (h ^ ch) * 1099511628211UL;
        double a = h & 0x3FFFFFF, b = (h >> 26) & 0x3FFFFFF;
        Span<double> v = [a, b, -a, -b];
        _communicator.AllReduceMax(v);
        if (v[0] != a || v[1] != b || v[2] != -a || v[3] != -b) throw new RanksDisagreeException("the options, the data or the model");
    }

    /// <summary>Stops the data loader's worker.</summary>
    public void Dispose() => _loader.Dispose();

    /// <summary>The noise stream of a run: its own seed derived from the run's seed.</summary>
    internal static RandomStream NoiseStream(long seed, int rank = 0, int ranks = 1) =>
        new(unchecked((ulong)seed * 0xD1B54A32D192ED03UL + 29)) { ShardIndex = rank, ShardCount = ranks };

    /// <summary>The stream of the pairs' jitter and mirroring: its own seed derived from the run's seed.</summary>
    internal static RandomStream AugmentStream(long seed) => new(unchecked((ulong)seed * 0x94D049BB133111EBUL + 53));

    /// <summary>What a checkpoint holds: the model's modules, optimisers and streams, the noise stream, and the augmentation stream when pairs are augmented.</summary>
    internal static TrainingState BuildState(ITrainableModel model, RandomStream noise, RandomStream? augment)
    {
        var state = new TrainingState();
        model.AddTo(state);
        state.RandomStreams["noise"] = noise;
        if (augment is not null) state.RandomStreams["augment"] = augment;
        return state;
    }

    private void SaveCheckpoint()
    {
        foreach (var (name, p) in _model.NamedWeights())
        {
            var values = p.ToArray();
            foreach (var v in values)
                if (!float.IsFinite(v))
                    throw new TrainingDivergedException(_step, $"weight {name} holds {v}", File.Exists(CheckpointPath) ? CheckpointPath : null);
        }
        // The averaged generator's batch-norm statistics, estimated from its own activations, go into both files.
        (_model as GanModel)?.RefreshEmaStatistics();
        if (_options.Ema is not null) _state.Metadata[StandingStatistics.MetadataKey] = StandingStatistics.MetadataValue;
        _state.Step = _step;
        _state.Epoch = _loader.Epoch;
        _state.Metadata["batch-index"] = _loader.BatchIndex.ToString(CultureInfo.InvariantCulture);
        _state.Metadata["config"] = _options.ToJson();
        _state.Metadata[GanSpec.MetadataKey] = Spec.ToJson();
        _state.Metadata[RanksMetadataKey] = _communicator.Size.ToString(CultureInfo.InvariantCulture);
        (_model as GanModel)?.Ada?.WriteState(_state.Metadata);
        (_model as GanModel)?.WriteEmaState(_state.Metadata);
        // A conditional model's class names travel with its files, so `sample --class rare` needs no data set.
        string? classNames = Spec.IsConditional ? System.Text.Json.JsonSerializer.Serialize(_dataset.ClassNames) : null;
        if (classNames is not null) _state.Metadata[GanModel.ClassNamesMetadataKey] = classNames;
        Checkpoint.Save(CheckpointPath, _state);
        var generatorMetadata = new Dictionary<string, string>
        {
            ["model"] = Spec.Family.FileName(),
            ["step"] = _step.ToString(CultureInfo.InvariantCulture),
            [GanSpec.MetadataKey] = Spec.ToJson(),
        };
        if (classNames is not null) generatorMetadata[GanModel.ClassNamesMetadataKey] = classNames;
        // With --ema the generator file holds the averaged weights (what sampling wants); the trained ones stay in the checkpoint.
        if (_options.Ema is { } ema)
        {
            generatorMetadata[GanModel.EmaMetadataKey] = ema.ToString("R", CultureInfo.InvariantCulture);
            generatorMetadata[StandingStatistics.MetadataKey] = StandingStatistics.MetadataValue;
            if (_options.EmaWarmup is { } warmup and not EmaWarmup.None) generatorMetadata[GanModel.EmaWarmupMetadataKey] = EmaSchedule.Word(warmup);
        }
        Checkpoint.SaveModule(Path.Combine(RunFolder, RunLayout.GeneratorFile), _model.Exported, generatorMetadata);
    }

    /// <summary>Mean over pixels of the standard deviation across samples: ~0 when all samples are alike.</summary>
    internal static double PixelSpread(float[] images, int n) => SampleGrid.PixelSpread(images, n);
}
