// gpugan train: parses the flags into typed options (every default from Defaults), runs the
// trainer under a progress bar (or plain lines when not on a terminal), and turns a stop signal
// into "finish the step, save, exit 0 with the resume hint".
using System.CommandLine;
using GpuGan.Gan.Data;
using GpuGan.Gan.Distributed;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using Spectre.Console;

namespace GpuGan.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create(CliContext cli)
    {
        var model = Flags.Choice(Words.Model, "model", Words.Models, Defaults.Model);
        var data = new Option<string>(Words.Data)
        {
            Description = $"{Words.Alternatives([Words.Petri, Words.Sines, Words.FashionMnist, Words.MnistPrefix + "DIR"])} | a folder of IDX files or images; " +
                $"for pix2pix and cyclegan: {Words.Alternatives([Words.PetriPairs, Words.PetriStyles, Words.FashionMnistEdges])} | a folder of A|B images, A/ and B/, or trainA/ and trainB/",
            DefaultValueFactory = _ => Defaults.Data,
        };
        var imageSize = Flags.OptionalInt(Words.ImageSize, $"{Words.Alternatives(GanSpec.ConvolutionalSizes.Select(s => s.ToString(System.Globalization.CultureInfo.InvariantCulture)))}; " +
            $"{Words.Alternatives(GanSpec.TranslationSizes.Select(s => s.ToString(System.Globalization.CultureInfo.InvariantCulture)))} for pix2pix and cyclegan (default: the data set's size)");
        var channels = Flags.OptionalInt(Words.Channels, "1 or 3 (default: the data set's)");
        var epochs = Flags.OptionalInt(Words.Epochs, "train for N epochs");
        var steps = Flags.OptionalInt(Words.Steps, $"train for N generator steps (default {Defaults.Steps(ModelFamily.Dcgan, DataSourceKind.Petri)} for dcgan on petri, {Defaults.Steps(ModelFamily.Gan, DataSourceKind.Sines)} for gan on sines, else {Defaults.Steps(ModelFamily.Wgan, DataSourceKind.Idx)})");
        var batch = Flags.Int(Words.Batch, $"batch size (default {Defaults.Batch}; {Defaults.BatchOf(ModelFamily.Pix2pix)} for pix2pix and cyclegan, as their papers)", Defaults.Batch);
        var lr = Flags.OptionalFloat(Words.Lr, "learning rate (default: the model's canonical one)");
        var seed = Flags.Long(Words.Seed, "random seed", Defaults.Seed);
        var device = Flags.Choice(Words.Device, "device", Words.Devices, Defaults.TrainDevice);
        var outDir = new Option<string?>(Words.Out) { Description = "run folder (default runs/<model>-<data>-<time>)" };
        var resume = new Option<bool>(Words.Resume) { Description = $"continue the run in {Words.Out} from its last checkpoint" };
        var sampleEvery = Flags.Int(Words.SampleEvery, "write a sample grid every N steps", Defaults.SampleEvery);
        var checkpointEvery = Flags.Int(Words.CheckpointEvery, "write a checkpoint every N steps", Defaults.CheckpointEvery);
        var logEvery = Flags.Int(Words.LogEvery, "read the step metrics back from the device every N steps (metrics.csv keeps a row per step)", Defaults.LogEvery);
        var threads = Flags.Int(Words.Threads, "CPU kernel threads, 0 = all cores", Defaults.Threads);
        var limit = Flags.OptionalInt(Words.Limit, "use at most N samples of the data set (the first N of any source)");
        var maxSide = Flags.Int(Words.MaxImageSide, "skip input images wider or taller than N pixels (checked before decoding)", Defaults.MaxImageSide);
        var maxPixels = Flags.Long(Words.MaxImagePixels, "skip input images of more than N pixels (width x height, checked before decoding)", Defaults.MaxImagePixels);
        var noAugment = new Option<bool>(Words.NoAugment) { Description = "pix2pix, cyclegan: no random jitter (resize up, random crop) and mirroring of the training images" };
        var prior = Flags.Choice(Words.Prior, "aae: the prior of the codes", Words.Priors, Defaults.Prior);
        var resize = Flags.Choice(Words.Resize, "resampling filter of image files (ImageSharp; antialiased when shrinking)", Words.ResizeFilters, Defaults.Resize);
        var strictData = new Option<bool>(Words.StrictData) { Description = "an image file that cannot be used (corrupt, too large, refused) is an error, not a skipped file" };
        var evalEvery = Flags.OptionalInt(Words.EvalEvery, $"score the generator every N steps ({Defaults.EvalSamples} samples; FD, KID, precision, recall, density, coverage) into metrics.csv, curves.png and the console");
        var diffAugment = new Option<string?>(Words.Augment) { Description = "DiffAugment of real and generated images before the discriminator: a comma-separated list of color, translation, cutout" };
        var augmentP = Flags.OptionalDouble(Words.AugmentP, $"{Words.Augment}: apply each transformation to each sample with probability P (default 1: always); with {Words.Ada}, the starting p (default 0)");
        var ada = new Option<double?>(Words.Ada)
        {
            Description = $"{Words.Augment}: adaptive probability (StyleGAN2-ADA): every 4 D steps p moves towards keeping D's mean sign on real images at TARGET (default {Defaults.AdaTarget.ToString(System.Globalization.CultureInfo.InvariantCulture)})",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var adaSpeed = Flags.OptionalDouble(Words.AdaSpeed, $"{Words.Ada}: real images over which p can go from 0 to 1 (default {Defaults.AdaSpeedImages.ToString(System.Globalization.CultureInfo.InvariantCulture)}; StyleGAN2-ADA uses 500000 for far longer runs)");
        var ema = Flags.OptionalDouble(Words.Ema, "keep a moving average of the generator's weights with this decay (e.g. 0.999); sample uses it");
        var emaWarmup = Flags.Choice(Words.EmaWarmup, $"{Words.Ema}: how the decay starts: none (the decay from step 1), num-updates (TensorFlow's min(decay, (1+t)/(10+t))), " +
            $"rampup (StyleGAN2-ADA's: half-life at most {EmaSchedule.RampupRatio.ToString(System.Globalization.CultureInfo.InvariantCulture)} of the steps so far)", Words.EmaWarmups, Defaults.EmaWarmup);
        var distributed = new Option<bool>(Words.Distributed)
        {
            Description = $"data-parallel training as one rank of an MPI job (on by itself when started by mpirun); {Words.Batch} stays the global batch, split over the ranks",
        };
        var syncBn = new Option<bool>(Words.SyncBn) { Description = "data-parallel: batch norm with the statistics of the global batch of all ranks (default: each rank's own part)" };
        var winograd = new Option<bool>(Words.Winograd)
        {
            Description = "cpu device: the 4x4 stride-2 convolutions as Winograd F(4x4, 2x2) (about 15 % faster DCGAN-64 steps, ~3-16x the direct convolution's rounding error); saved with the run",
        };
        var collectiveTimeout = Flags.Int(Words.CollectiveTimeout, "data-parallel: abort the job when one rank waits longer than N seconds for the others", Defaults.CollectiveTimeout);
        var command = new Command("train", "train a GAN; writes config.json, metrics.csv, samples/, curves.png, checkpoints/ into the run folder")
        {
            model.Option, data, imageSize, channels, epochs, steps, batch, lr, seed, device.Option, outDir, resume, sampleEvery, checkpointEvery, logEvery, threads, limit, maxSide, maxPixels,
            noAugment, prior.Option, ema, evalEvery, diffAugment, distributed, syncBn, collectiveTimeout,
        };
        command.Options.Add(winograd);
        command.Options.Add(augmentP);
        command.Options.Add(ada);
        command.Options.Add(adaSpeed);
        command.Options.Add(resize.Option);
        command.Options.Add(strictData);
        command.Options.Add(emaWarmup.Option);

        command.SetAction(r =>
        {
            string? folder = r.GetValue(outDir);
            cli.Execute("train", () => folder, () =>
            {
                int threadCount = r.GetValue(threads);
                if (threadCount < 0) throw new UsageException($"{Words.Threads}: must be 0 (all cores) or more, got {threadCount}");
                int? threadOption = threadCount == 0 ? null : threadCount;
                int timeout = r.GetValue(collectiveTimeout);
                if (timeout < 1) throw new UsageException($"{Words.CollectiveTimeout}: must be at least 1 (seconds), got {timeout}");
                bool mpi = r.GetValue(distributed) || MpiEnvironment.LaunchedSize() is not null;
                Func<ITrainingObserver, ICommunicator, Trainer> prepare;
                if (r.GetValue(resume))
                {
                    if (folder is null) throw new UsageException($"{Words.Resume} needs {Words.Out} naming the run folder to continue");
                    var ignored = new Option[] { model.Option, data, imageSize, channels, batch, lr, seed, limit, maxSide, maxPixels, noAugment, prior.Option, resize.Option, strictData, ema, emaWarmup.Option, evalEvery, diffAugment, syncBn, augmentP, ada, adaSpeed, winograd }.Where(o => Flags.Given(r, o)).Select(o => o.Name).ToList();
                    if (ignored.Count > 0)
                        cli.Err.WriteLine($"warning: {string.Join(", ", ignored)} {(ignored.Count == 1 ? "is" : "are")} ignored with {Words.Resume}: the run continues with its saved configuration");
                    var options = new ResumeOptions
                    {
                        Folder = folder,
                        Steps = r.GetValue(steps), Epochs = r.GetValue(epochs), Device = device.Value(r),
                        Threads = Flags.Given(r, threads) ? threadOption : null,
                        SampleEvery = Flags.Given(r, sampleEvery) ? r.GetValue(sampleEvery) : null,
                        CheckpointEvery = Flags.Given(r, checkpointEvery) ? r.GetValue(checkpointEvery) : null,
                        LogEvery = Flags.Given(r, logEvery) ? r.GetValue(logEvery) : null,
                    };
                    prepare = (observer, communicator) => Trainer.ResumeRank(options, communicator, observer);
                }
                else
                {
                    var family = model.Value(r);
                    string dataWord = r.GetValue(data)!;
                    var source = ParseData(dataWord, family);
                    if (Flags.Given(r, noAugment) && family.Kind() != ModelKind.Translation)
                        throw new UsageException($"{Words.NoAugment} applies to pix2pix and cyclegan only");
                    if (Flags.Given(r, prior.Option) && family != ModelFamily.Aae)
                        throw new UsageException($"{Words.Prior} applies to aae only");
                    if (Flags.Given(r, adaSpeed) && !Flags.Given(r, ada)) throw new UsageException($"{Words.AdaSpeed} applies with {Words.Ada}");
                    if ((Flags.Given(r, ada) || Flags.Given(r, augmentP)) && r.GetValue(diffAugment) is null)
                        throw new UsageException($"{(Flags.Given(r, ada) ? Words.Ada : Words.AugmentP)} needs {Words.Augment} naming the transformations (e.g. {Words.Augment} color,translation,cutout)");
                    if (Flags.Given(r, emaWarmup.Option) && r.GetValue(ema) is null) throw new UsageException($"{Words.EmaWarmup} applies with {Words.Ema}");
                    folder ??= Defaults.RunFolder(Words.Of(family), dataWord, DateTime.Now);
                    var (e, s) = (r.GetValue(epochs), r.GetValue(steps));
                    var options = new TrainOptions
                    {
                        Model = family, Data = source, ImageSize = r.GetValue(imageSize), Channels = r.GetValue(channels),
                        Epochs = e, Steps = s ?? (e is null ? Defaults.Steps(family, source.Kind) : null),
                        Batch = Flags.Given(r, batch) ? r.GetValue(batch) : Defaults.BatchOf(family), Lr = r.GetValue(lr), Seed = r.GetValue(seed),
                        Device = device.Value(r), Out = folder,
                        SampleEvery = r.GetValue(sampleEvery), CheckpointEvery = r.GetValue(checkpointEvery), LogEvery = r.GetValue(logEvery), Threads = threadOption,
                        Limit = r.GetValue(limit), MaxImageSide = r.GetValue(maxSide), MaxImagePixels = r.GetValue(maxPixels),
                        LatentDim = family.Kind() == ModelKind.Translation ? 0 : Defaults.LatentDimOf(family), Width = Defaults.WidthOf(family),
                        Augment = family.Kind() == ModelKind.Translation ? !r.GetValue(noAugment) : null,
                        Prior = family == ModelFamily.Aae ? prior.Value(r) : null,
                        Resize = resize.Value(r), StrictData = r.GetValue(strictData) ? true : null,
                        Ema = r.GetValue(ema),
                        EmaWarmup = r.GetValue(ema) is null ? null : emaWarmup.Value(r),
                        DiffAugment = r.GetValue(diffAugment) is { } words ? ParseAugment(words) : null,
                        AugmentProbability = r.GetValue(augmentP),
                        Ada = Flags.Given(r, ada) ? new AdaOptions(r.GetValue(ada) ?? Defaults.AdaTarget, r.GetValue(adaSpeed) ?? Defaults.AdaSpeedImages) : null,
                        Eval = r.GetValue(evalEvery) is { } every ? Defaults.Eval(every) : null,
                        SyncBatchNorm = r.GetValue(syncBn) ? true : null,
                        Winograd = r.GetValue(winograd) ? true : null,
                    };
                    prepare = (observer, communicator) => Trainer.StartRank(options, communicator, observer);
                }
                if (mpi) TrainDistributed(cli, prepare, TimeSpan.FromSeconds(timeout), folder);
                else Train(cli, observer => prepare(observer, SingleProcessCommunicator.Instance));
            });
        });
        return command;
    }

    /// <summary>--augment: "color,translation,cutout" (any non-empty subset).</summary>
    private static AugmentKinds ParseAugment(string words)
    {
        var kinds = AugmentKinds.None;
        foreach (string w in words.Split(',', StringSplitOptions.TrimEntries))
            kinds |= Words.AugmentKinds.FirstOrDefault(a => a.Word == w) is { Word: not null } found
                ? found.Kind
                : throw new UsageException($"{Words.Augment}: unknown augmentation '{w}' (expected {Words.OneOf(Words.AugmentKinds.Select(a => a.Word))})");
        return kinds;
    }

    /// <summary>--data: a built-in set, mnist:DIR, or a folder (IDX files or images; image pairs for the translation families).</summary>
    internal static DataSource ParseData(string word, ModelFamily family) => word switch
    {
        Words.Petri => DataSource.Petri(Defaults.SyntheticCount),
        Words.Sines => DataSource.Sines(Defaults.SyntheticCount),
        Words.FashionMnist => DataSource.FashionMnist(),
        Words.PetriPairs => DataSource.PetriPairs(Defaults.SyntheticCount),
        Words.PetriStyles => DataSource.PetriStyles(Defaults.SyntheticCount),
        Words.FashionMnistEdges => DataSource.FashionMnistEdges(),
        _ when word.StartsWith(Words.MnistPrefix, StringComparison.Ordinal) => DataSource.Idx(word[Words.MnistPrefix.Length..]),
        _ when Directory.Exists(word) => family.Kind() == ModelKind.Translation ? DataSource.TranslationFolder(word) : DataSource.Folder(word),
        _ => throw new UsageException($"{Words.Data}: '{word}' is neither a built-in set ({Words.OneOf([Words.Petri, Words.Sines, Words.FashionMnist, Words.PetriPairs, Words.PetriStyles, Words.FashionMnistEdges])}), {Words.MnistPrefix}DIR, nor an existing folder"),
    };

    /// <summary>
    /// One rank of an MPI job: rank 0 shows the progress and writes the run folder, the others are silent but for errors.
    /// A failure on any rank is reported by that rank (naming it) and ends the whole job (MPI_Abort), so no rank waits
    /// for it in a collective; a rank that hangs is ended by the others' collective timeout.
    /// </summary>
    private static void TrainDistributed(CliContext cli, Func<ITrainingObserver, ICommunicator, Trainer> prepare, TimeSpan timeout, string? folder)
    {
        var mpi = MpiCommunicator.Initialize(timeout, line =>
        {
            cli.Err.WriteLine("gpugan: " + line);
            cli.Err.Flush();
        }, ExitCodes.Failure);
        try
        {
            Train(cli, observer => prepare(mpi.Rank == 0 ? observer : NullObserver.Instance, mpi), quiet: mpi.Rank != 0);
        }
        catch (Exception e) when (mpi.Size > 1)
        {
            var report = new StringWriter();
            int code = ErrorReport.Handle(e, report, folder is not null && Directory.Exists(folder) ? folder : null, cli.Args);
            string line = report.ToString().TrimEnd();
            if (line.StartsWith("gpugan: ", StringComparison.Ordinal)) line = line["gpugan: ".Length..];
            cli.Err.WriteLine($"gpugan: rank {mpi.Rank} of {mpi.Size} ({mpi.ProcessorName}): {line}; stopping every rank of the job");
            cli.Err.Flush();
            cli.Out.Flush();
            mpi.Abort(code);
        }
        mpi.Dispose();
    }

    private static void Train(CliContext cli, Func<ITrainingObserver, Trainer> prepare, bool quiet = false)
    {
        var console = new ConsoleObserver(cli.Out, cli.Err);
        ITrainingObserver observer = cli.Hooks.WrapObserver?.Invoke(console) ?? console;
        using var signals = new StopSignals(cli.Err, cli.Cancel);
        using var trainer = prepare(observer);
        cli.Hooks.TrainerReady?.Invoke(trainer);
        TrainResult? result = null;
        if (ReferenceEquals(cli.Out, Console.Out) && ConsoleObserver.Interactive && !quiet)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    console.Attach(ctx.AddTask("training"));
                    result = trainer.Run(signals.Token);
                });
        }
        else
        {
            result = trainer.Run(signals.Token);
        }
        if (quiet) return;
        cli.Out.WriteLine(result!.Interrupted
            ? $"interrupted at step {result.Step}: checkpoint saved; continue with: gpugan train {Words.Out} {result.RunFolder} {Words.Resume}"
            : $"done: {result.Step} steps in {result.Elapsed.TotalSeconds:F0} s; run folder {result.RunFolder}");
    }
}
