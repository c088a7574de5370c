using System.CommandLine;
using GpuGan.Gan.Training;
using GpuGan.Tensors;

namespace GpuGan.Cli;

/// <summary>Builds the command tree and runs it; errors become one line on stderr and exit code 2.</summary>
public static class GpugGanCommand
{
    public const int ExitUsage = 2;
    public const int ExitFailure = 1;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        var root = new RootCommand("GpuGan: train GANs on hand-written kernels (ILGPU and CPU SIMD)");
        var exit = 0;

        // ------------------------------------------------------------ train
        var model = new Option<string>("--model") { Description = "gan | dcgan | wgan | wgan-gp | cdcgan", DefaultValueFactory = _ => "dcgan" };
        var data = new Option<string>("--data") { Description = "petri | sines | fashion-mnist | mnist:DIR | a folder of IDX files or images", DefaultValueFactory = _ => "petri" };
        var imageSize = new Option<int?>("--image-size") { Description = "28, 32 or 64 (default: the data set's size)" };
        var channels = new Option<int?>("--channels") { Description = "1 or 3 (default: the data set's)" };
        var epochs = new Option<int?>("--epochs") { Description = "train for N epochs" };
        var steps = new Option<int?>("--steps") { Description = "train for N generator steps" };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 64 };
        var lr = new Option<float?>("--lr") { Description = "learning rate (default: the model's canonical one)" };
        var seed = new Option<long>("--seed") { Description = "random seed", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "auto | cpu | ilgpu-cpu | cuda | opencl", DefaultValueFactory = _ => "auto" };
        var outDir = new Option<string?>("--out") { Description = "run folder (default runs/<model>-<data>-<time>)" };
        var resume = new Option<bool>("--resume") { Description = "continue the run in --out from its last checkpoint" };
        var sampleEvery = new Option<int>("--sample-every") { Description = "write a sample grid every N steps", DefaultValueFactory = _ => 100 };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "write a checkpoint every N steps", DefaultValueFactory = _ => 200 };
        var threads = new Option<int>("--threads") { Description = "CPU kernel threads (0 = all cores)", DefaultValueFactory = _ => 0 };
        var limit = new Option<int?>("--limit") { Description = "use at most N images of the data set" };
        var train = new Command("train", "train a GAN; writes config.json, metrics.csv, samples/, curves.png, checkpoints/ into the run folder")
        {
            model, data, imageSize, channels, epochs, steps, batch, lr, seed, device, outDir, resume, sampleEvery, checkpointEvery, threads, limit,
        };
        train.SetAction(r =>
        {
            var options = new TrainOptions
            {
                Model = r.GetValue(model)!, Data = r.GetValue(data)!, ImageSize = r.GetValue(imageSize), Channels = r.GetValue(channels),
                Epochs = r.GetValue(epochs), Steps = r.GetValue(steps), Batch = r.GetValue(batch), Lr = r.GetValue(lr),
                Seed = r.GetValue(seed), Device = r.GetValue(device)!, Out = r.GetValue(outDir), SampleEvery = r.GetValue(sampleEvery),
                CheckpointEvery = r.GetValue(checkpointEvery), Threads = r.GetValue(threads), Limit = r.GetValue(limit),
            };
            exit = Guard(stderr, () =>
            {
                // Ctrl-C asks the trainer to stop after the current step and save a checkpoint.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
                Console.CancelKeyPress += onCancel;
                try
                {
                    var observer = new ConsoleObserver(stdout, stderr);
                    string summary = "";
                    if (ReferenceEquals(stdout, Console.Out) && ConsoleObserver.Interactive)
                    {
                        Spectre.Console.ProgressExtensions.Columns(Spectre.Console.AnsiConsole.Progress(),
                                new Spectre.Console.TaskDescriptionColumn(), new Spectre.Console.ProgressBarColumn(),
                                new Spectre.Console.PercentageColumn(), new Spectre.Console.RemainingTimeColumn())
                            .Start(ctx =>
                            {
                                observer.Attach(ctx.AddTask("training"));
                                summary = Trainer.Run(options, r.GetValue(resume), observer, stop.Token);
                            });
                    }
                    else
                    {
                        summary = Trainer.Run(options, r.GetValue(resume), observer, stop.Token);
                    }
                    stdout.WriteLine(summary);
                }
                finally
                {
                    Console.CancelKeyPress -= onCancel;
                }
            });
        });

        // ------------------------------------------------------------ sample
        var run = new Option<string?>("--run") { Description = "run folder to sample from (uses its generator.safetensors)" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "a generator or checkpoint .safetensors file (needs config.json beside it or in its parent)" };
        var count = new Option<int>("--count") { Description = "how many samples", DefaultValueFactory = _ => 64 };
        var sampleOut = new Option<string>("--out") { Description = "output folder", Required = true };
        var format = new Option<string>("--format") { Description = "png | idx", DefaultValueFactory = _ => "png" };
        var cls = new Option<int?>("--class") { Description = "class to generate (cdcgan)" };
        var sampleSeed = new Option<long>("--seed") { Description = "latent seed", DefaultValueFactory = _ => 1 };
        var grid = new Option<bool>("--grid") { Description = "write one grid image instead of one file per sample" };
        var sampleDevice = new Option<string>("--device") { Description = "auto | cpu | ilgpu-cpu | cuda | opencl", DefaultValueFactory = _ => "cpu" };
        var sample = new Command("sample", "generate images (or curves for sines) from a trained generator")
        {
            run, checkpoint, count, sampleOut, format, cls, sampleSeed, grid, sampleDevice,
        };
        sample.SetAction(r => exit = Guard(stderr, () =>
        {
            var request = new SampleRequest
            {
                Run = r.GetValue(run), Checkpoint = r.GetValue(checkpoint), Count = r.GetValue(count), Out = r.GetValue(sampleOut)!,
                Format = r.GetValue(format)!, Class = r.GetValue(cls), Seed = r.GetValue(sampleSeed), Grid = r.GetValue(grid), Device = r.GetValue(sampleDevice)!,
            };
            foreach (var line in Sampler.Run(request)) stdout.WriteLine(line);
        }));

        // ------------------------------------------------------------ devices
        var devices = new Command("devices", "list devices and kernel sets");
        devices.SetAction(_ => exit = Guard(stderr, () =>
        {
            foreach (var d in Device.List())
            {
                string name = d.Kind switch { DeviceKind.Cpu => "cpu", DeviceKind.IlgpuCpu => "ilgpu-cpu", DeviceKind.Cuda => "cuda", _ => "opencl" };
                stdout.WriteLine($"{name,-10} {(d.Problem is null ? d.Description : "probe failed: " + d.Problem)}");
            }
        }));

        root.Subcommands.Add(train);
        root.Subcommands.Add(sample);
        root.Subcommands.Add(devices);

        if (args.Length == 0)
        {
            // No command: show what there is (and say so in the exit code).
            root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
            return ExitUsage;
        }
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // Name the offending token when there is one ("Unrecognized command or argument 'x'").
            var error = parsed.Errors.FirstOrDefault(e => e.Message.Contains('\'')) ?? parsed.Errors[0];
            stderr.WriteLine($"gpugan: {error.Message} (see gpugan --help)");
            return ExitUsage;
        }
        var code = parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        return exit != 0 ? exit : code;
    }

    /// <summary>Known failure kinds print one line, never a stack trace.</summary>
    private static int Guard(TextWriter stderr, Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"gpugan: {e.Message}");
            return ExitUsage;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or UnauthorizedAccessException
            or GpuGan.Gan.Data.DataFormatException or GpuGan.Layers.Serialization.SafeTensorsFormatException or TrainingDivergedException or NotSupportedException)
        {
            stderr.WriteLine($"gpugan: {e.Message}");
            return ExitFailure;
        }
    }
}
