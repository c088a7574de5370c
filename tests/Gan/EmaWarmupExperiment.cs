using System.Globalization;
using GpuGan.Cli;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>
/// The EMA warm-up experiment's harness (docs/quality/experiments/EMA-WARMUP.md): ONE `gpugan train` run (the CLI path,
/// `--ema 0.999 --ema-warmup none`, the library's average = variant a; the runs were made before rampup became the default,
/// with `--ema 0.999` alone, which then meant the same) keeps the other averages beside it after every generator step,
/// with the library's own update (GanModel.Blend) and schedule (EmaSchedule), since no average changes training.
/// Each average then gets standing statistics and is written as the generator file of its own copy of the run folder,
/// for `gpugan score --run`.
/// Environment: GPUGAN_EMAW_OUT (folder), GPUGAN_EMAW_SEED (training seed, 1), GPUGAN_EMAW_STEPS (3000).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class EmaWarmupExperiment
{
    /// <summary>The variants kept beside the library's (a): id, decay cap, warm-up. a2 repeats a, to check the harness.</summary>
    private static readonly (string Id, double Decay, EmaWarmup Warmup)[] Variants =
    [
        ("a2", 0.999, EmaWarmup.None),
        ("b", 0.999, EmaWarmup.NumUpdates),
        ("c", 0.995574, EmaWarmup.Rampup),   // StyleGAN2-ADA's ema_kimg = 10 at batch 64: 0.5^(64/10,000)
    ];

    [Test, Explicit("one DCGAN-28 training run on Fashion-MNIST, 3,000 steps: about 8 minutes on 2 cores (the EMA warm-up experiment)")]
    public void TrainOnceKeepingEveryAverage()
    {
        string root = Environment.GetEnvironmentVariable("GPUGAN_EMAW_OUT") ?? Path.Combine(Path.GetTempPath(), "gpugan-emaw");
        string seed = Environment.GetEnvironmentVariable("GPUGAN_EMAW_SEED") ?? "1";
        string steps = Environment.GetEnvironmentVariable("GPUGAN_EMAW_STEPS") ?? "3000";
        string run = Path.Combine(root, $"s{seed}-a");
        Generator[] averages = [];
        long updates = 0;
        var hooks = new CliHooks(TrainerReady: trainer =>
        {
            var gan = (GanModel)trainer.Model;
            averages = [.. Variants.Select(_ =>
            {
                var g = GanModel.CreateGenerator(gan.Spec, gan.Device);
                g.LoadStateDict(gan.G.StateDict());   // G's initial weights, as the library's average starts
                return g;
            })];
            trainer.AfterStep = model =>
            {
                var g = ((GanModel)model).G;
                for (int i = 0; i < Variants.Length; i++)
                    GanModel.Blend(averages[i], g, EmaSchedule.Decay(Variants[i].Decay, Variants[i].Warmup, updates));
                updates++;
                // Standing statistics on the trainer's device, while it is open (the library's average gets its own when saved).
                if (updates == trainer.TotalSteps)
                    foreach (var average in averages.Skip(1)) StandingStatistics.Estimate(average, model.Device);
            };
        });
        var (code, output, err) = TinyRuns.Cli(hooks, "train", "--data", "fashion-mnist", "--image-size", "28", "--ema", "0.999", "--ema-warmup", "none", "--steps", steps,
            "--device", "cpu", "--threads", "2", "--seed", seed, "--sample-every", "500", "--checkpoint-every", "500", "--out", run);
        Assert.That(code, Is.EqualTo(0), err);
        TestContext.Out.WriteLine(output);
        Assert.That(updates, Is.EqualTo(long.Parse(steps, CultureInfo.InvariantCulture)));

        string generatorFile = Path.Combine(run, RunLayout.GeneratorFile);
        var library = SafeTensors.Read(generatorFile);
        // a2 repeats the library's own average with the harness's code: the same bits (parameters; the statistics are estimated below).
        var a2 = averages[0].NamedParameters().ToList();
        var libraryGenerator = GpuGan.Gan.Sampling.Sampler.Load(generatorFile, GpuGan.Tensors.Device.Cpu).Generator;
        foreach (var ((name, mine), (_, theirs)) in a2.Zip(libraryGenerator.NamedParameters()))
            Assert.That(mine.ToArray(), Is.EqualTo(theirs.ToArray()), $"harness average a2 vs the library's, {name}");

        var metadata = library.Metadata.Where(kv => kv.Key != "format").ToDictionary();
        for (int i = 1; i < Variants.Length; i++)
        {
            var (id, decay, warmup) = Variants[i];
            string folder = Path.Combine(root, $"s{seed}-{id}");
            CopyFolder(run, folder);
            var m = new Dictionary<string, string>(metadata)
            {
                [GanModel.EmaMetadataKey] = decay.ToString("R", CultureInfo.InvariantCulture),
                [GanModel.EmaWarmupMetadataKey] = EmaSchedule.Word(warmup),
            };
            Checkpoint.SaveModule(Path.Combine(folder, RunLayout.GeneratorFile), averages[i], m);
            TestContext.Out.WriteLine($"{id}: {folder}");
        }
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}
