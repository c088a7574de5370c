// gpugan score: generated images against the real data in the feature space of a network GpuGan
// trains on that data (cached under the user's cache folder). Samples come from a run's generator
// (--run) or from a folder written by `gpugan sample` or any folder of images (--samples, with --data).
using System.CommandLine;
using System.Globalization;
using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Sampling;
using GpuGan.Gan.Scoring;
using GpuGan.Gan.Training;

namespace GpuGan.Cli.Commands;

internal static class ScoreCommand
{
    public static Command Create(CliContext cli)
    {
        var run = new Option<string?>(Words.Run) { Description = $"run folder: samples from its {RunLayout.GeneratorFile}, data from its config.json" };
        var samples = new Option<string?>(Words.Samples) { Description = $"a folder of sample images, or of IDX samples (gpugan sample {Words.Format} {Words.Idx}); needs {Words.Data}" };
        var data = new Option<string?>(Words.Data) { Description = $"the real data: {Words.Alternatives([Words.Petri, Words.Sines, Words.FashionMnist, Words.MnistPrefix + "DIR"])} | a folder (default with {Words.Run}: the run's)" };
        var imageSize = Flags.OptionalInt(Words.ImageSize, $"image side of {Words.Data} (default: the run's, or the data set's)");
        var count = Flags.Int(Words.Count, "samples to generate and score, and real images to compare with", Defaults.ScoreCount);
        var json = new Option<string?>(Words.Json) { Description = "also write the scores to this JSON file" };
        var seed = Flags.Long(Words.Seed, "latent seed of the samples, and seed of the real reference choice", Defaults.SampleSeed);
        var device = Flags.Choice(Words.Device, "device", Words.Devices, Defaults.TrainDevice);
        var cache = new Option<string?>(Words.CacheDir) { Description = "feature networks' cache folder (default: the user's cache folder, gpugan/)" };
        var featureSteps = Flags.Int(Words.FeatureSteps, "training steps of a new feature network", Defaults.FeatureSteps);
        var raw = new Option<bool>(Words.Raw) { Description = $"with {Words.Run}: the trained generator weights, not their moving average" };
        var nearest = Flags.OptionalInt(Words.Nearest, "memorisation report: nearest training images (features and pixels) against held-out images' distances, and a grid of K samples beside their nearest training images");
        var outDir = new Option<string?>(Words.Out) { Description = $"folder of the {Words.Nearest} grid, memorisation.png (default with {Words.Run}: the run folder)" };
        var cls = new Option<string?>(Words.Class) { Description = $"with {Words.Run} of a cdcgan: generate every sample of this class (name or number), e.g. rare for petri (default: the classes in turn)" };
        var featureWidth = Flags.Int(Words.FeatureWidth, "width of a new feature network (features have 4x as many values)", Defaults.FeatureWidth);
        var reference = Flags.Choice(Words.Reference, "real images compared with: a seeded choice from the feature network's training part, or from the held-out tenth of the data (which a run on a --limit subset never saw)", Words.References, Defaults.ScoreReference);
        var command = new Command("score", "score generated images against the real data: Frechet distance, KID, precision/recall/density/coverage, classes")
        {
            run, samples, data, imageSize, count, json, seed, device.Option, cache, featureSteps, featureWidth, raw, nearest, outDir, reference.Option, cls,
        };
        command.SetAction(r => cli.Execute("score", () => null, () =>
        {
            string? runFolder = r.GetValue(run), samplesFolder = r.GetValue(samples), dataWord = r.GetValue(data);
            if ((runFolder is null) == (samplesFolder is null))
                throw new UsageException($"give exactly one of {Words.Run} DIR or {Words.Samples} DIR");
            if (samplesFolder is not null && r.GetValue(cls) is not null)
                throw new UsageException($"{Words.Class} applies with {Words.Run} (samples written by gpugan sample carry their class in their file names)");
            if (samplesFolder is not null && dataWord is null)
                throw new UsageException($"{Words.Samples} needs {Words.Data} naming the real data");
            int n = r.GetValue(count);
            if (n < Defaults.ScoreNeighbours + 1) throw new UsageException($"{Words.Count}: must be at least {Defaults.ScoreNeighbours + 1}, got {n}");
            var dev = DeviceSelection.Open(device.Value(r), threads: null);

            IDataset real;
            if (runFolder is not null)
            {
                string configPath = Path.Combine(runFolder, RunLayout.ConfigFile);
                if (!File.Exists(configPath)) throw new UsageException($"{Words.Run}: {configPath} does not exist (not a run folder)");
                var saved = TrainOptions.FromJson(File.ReadAllText(configPath), configPath);
                var source = dataWord is null ? saved.Data : TrainCommand.ParseData(dataWord, saved.Model);
                real = DatasetFactory.Create(source, r.GetValue(imageSize) ?? saved.ImageSize, saved.Channels, dataWord is null ? saved.Limit : null, saved.Seed, saved.ImageLimits);
            }
            else
            {
                real = DatasetFactory.Create(TrainCommand.ParseData(dataWord!, Gan.Models.ModelFamily.Dcgan), r.GetValue(imageSize), null, null, Defaults.Seed);
            }

            var netOptions = new FeatureNetworkOptions
            {
                Width = r.GetValue(featureWidth), Steps = r.GetValue(featureSteps), Batch = Defaults.FeatureBatch,
                LearningRate = Defaults.FeatureLr, Seed = Defaults.Seed,
            };
            string cacheFolder = r.GetValue(cache) ?? Defaults.CacheFolder();
            var task = FeatureNetwork.TaskOf(real);
            var progress = new Progress(cli.Out);
            var scorer = Scorer.Create(real, netOptions, cacheFolder, dev, progress);
            var net = scorer.Network;
            cli.Out.WriteLine($"feature network ({(task == FeatureTask.Classes ? $"{net.ClassCount} classes" : "rotation, self-supervised")}): " +
                $"{(net.LoadedFromCache ? "from the cache" : "trained now")}, test accuracy {net.TestAccuracy.ToString("F3", CultureInfo.InvariantCulture)} " +
                $"on {net.TestCount} held-out images ({net.CachePath})");

            float[] images;
            int[]? asked;
            int got;
            string from;
            if (runFolder is not null)
            {
                string path = RunFiles.GeneratorPath(runFolder, null, r.GetValue(raw));
                var sampler = Sampler.Load(path, dev, r.GetValue(raw));
                scorer.CheckShape(path, sampler.Spec.Image.Channels, sampler.Spec.Image.Height, sampler.Spec.Image.Width);
                int? classLabel = r.GetValue(cls) is { } word ? sampler.ClassOf(word) : null;
                var generated = sampler.Generate(n, r.GetValue(seed), classLabel);
                (images, asked, got, from) = (generated.Values, generated.Labels, n, path);
            }
            else
            {
                (images, asked, got) = ReadSamples(samplesFolder!, real, n);
                from = samplesFolder!;
            }
            var options = new ScoreOptions
            {
                RealCount = n, K = Defaults.ScoreNeighbours, KidSubsets = Defaults.KidSubsets, KidSubsetSize = Defaults.KidSubsetSize, Seed = r.GetValue(seed),
                HeldOutReference = reference.Value(r),
            };
            if (r.GetValue(nearest) is < 1) throw new UsageException($"{Words.Nearest}: must be at least 1");
            var report = scorer.Score(images, got, asked, options);
            Print(cli.Out, report, from);
            if (options.HeldOutReference) cli.Out.WriteLine($"  (real images from the held-out part: {report.RealCount} of {net.TestCount})");
            var jsonText = System.Text.Json.Nodes.JsonNode.Parse(report.ToJson())!.AsObject();
            jsonText["reference"] = options.HeldOutReference ? "held-out" : "training";
            if (r.GetValue(nearest) is { } rows)
            {
                var memo = Memorisation.Report(scorer, real, images, got, dev);
                // Never into the samples folder: the grid would be read as a sample next time.
                string folder = r.GetValue(outDir) ?? runFolder ?? throw new UsageException($"{Words.Nearest} with {Words.Samples} needs {Words.Out} DIR for memorisation.png");
                Directory.CreateDirectory(folder);
                string grid = Path.Combine(folder, "memorisation.png");
                Memorisation.SaveGrid(grid, memo, real, images, rows);
                foreach (var s in new[] { memo.Features, memo.Pixels })
                    cli.Out.WriteLine($"  nearest training image ({s.Space}): median {s.GeneratedMedian.ToString("G4", CultureInfo.InvariantCulture)} for the samples, " +
                        $"{s.HeldOutMedian.ToString("G4", CultureInfo.InvariantCulture)} for held-out real images (their minimum {s.HeldOutMinimum.ToString("G4", CultureInfo.InvariantCulture)}); " +
                        $"{s.CopiedShare.ToString("P1", CultureInfo.InvariantCulture)} of the samples are nearer than that minimum");
                cli.Out.WriteLine(memo.Flagged
                    ? $"  MEMORISATION: more than {Memorisation.FlagShare.ToString("P0", CultureInfo.InvariantCulture)} of the samples are nearer to a training image than any held-out real image is: the generator copies its training set"
                    : "  memorisation: not flagged");
                cli.Out.WriteLine($"wrote {grid} (sample | nearest in features | nearest in pixels)");
                jsonText["memorisation"] = new System.Text.Json.Nodes.JsonObject
                {
                    ["flagged"] = memo.Flagged,
                    ["features-copied-share"] = memo.Features.CopiedShare, ["pixels-copied-share"] = memo.Pixels.CopiedShare,
                    ["features-median"] = memo.Features.GeneratedMedian, ["features-held-out-median"] = memo.Features.HeldOutMedian,
                    ["pixels-median"] = memo.Pixels.GeneratedMedian, ["pixels-held-out-median"] = memo.Pixels.HeldOutMedian,
                };
            }
            if (r.GetValue(json) is { } jsonPath)
            {
                GpuGan.Layers.Serialization.AtomicFile.WriteAllBytes(jsonPath, System.Text.Encoding.UTF8.GetBytes(jsonText.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n"));
                cli.Out.WriteLine($"wrote {jsonPath}");
            }
        }));
        return command;
    }

    /// <summary>At most <paramref name="n"/> samples from a folder: IDX files written by gpugan sample, or images (resized to the data's size).</summary>
    private static (float[] Images, int[]? Labels, int Count) ReadSamples(string folder, IDataset real, int n)
    {
        if (!Directory.Exists(folder)) throw new UsageException($"{Words.Samples}: {folder} does not exist");
        IDataset set;
        int[]? labels = null;
        if (SampleFiles.ReadIdx(folder) is var (idx, labelled))
        {
            set = idx;
            if (labelled) labels = Enumerable.Range(0, Math.Min(n, idx.Count)).Select(idx.Label).ToArray();
        }
        else
        {
            var images = ImageFolderDataset.Load(folder, real.Height, real.Channels, classFolders: false);
            set = images;
            // gpugan sample names a conditional model's samples sample-NNNNN-classK.png: the class asked for.
            var asked = images.Files.Take(Math.Min(n, images.Count)).Select(f => SampleClass.Match(Path.GetFileName(f))).ToArray();
            if (asked.Length > 0 && asked.All(m => m.Success))
                labels = asked.Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
        }
        if (set.Channels != real.Channels || set.Height != real.Height || set.Width != real.Width)
            throw new SampleShapeException(folder, set.Channels, set.Height, set.Width, real.Channels, real.Height, real.Width);
        int count = Math.Min(n, set.Count);
        return (set.CopySamples(0, count), labels, count);
    }

    private static readonly System.Text.RegularExpressions.Regex SampleClass = new(@"-class([0-9]{1,5})\.[A-Za-z]+$");

    private static void Print(TextWriter o, ScoreReport s, string from)
    {
        static string F(double v, string f = "G4") => v.ToString(f, CultureInfo.InvariantCulture);
        o.WriteLine($"scored {s.SampleCount} samples ({from}) against {s.RealCount} real images of {s.Data}");
        o.WriteLine($"  frechet distance  {F(s.FrechetDistance)}");
        o.WriteLine($"  kid               {F(s.Kid)} ± {F(s.KidStd)}");
        o.WriteLine($"  precision         {F(s.Precision, "F3")}");
        o.WriteLine($"  recall            {F(s.Recall, "F3")}");
        o.WriteLine($"  density           {F(s.Density, "F3")}");
        o.WriteLine($"  coverage          {F(s.Coverage, "F3")}   (k = {s.K})");
        if (s.ClassCounts is { } counts)
        {
            var names = s.ClassNames ?? Gan.Data.DatasetExtensions.NumberNames(counts.Length);
            string Shares(int[] c)
            {
                double total = Math.Max(1, c.Sum());
                return string.Join(", ", c.Select((v, k) => $"{names[k]} {v} ({(v / total).ToString("P1", CultureInfo.InvariantCulture)})"));
            }
            o.WriteLine($"  classes           {Shares(counts)}   (as the feature network recognises the samples)");
            if (s.RealClassCounts is { } realCounts) o.WriteLine($"  real classes      {Shares(realCounts)}   (recognised in the real images)");
            if (s.RealLabelCounts is { } labelCounts) o.WriteLine($"  real labels       {Shares(labelCounts)}   (the real images' own labels)");
            o.WriteLine($"  class entropy     {F(s.ClassEntropyBits, "F3")} bits (real images: {F(s.RealClassEntropyBits, "F3")}, at most {F(Math.Log2(counts.Length), "F3")})");
        }
        foreach (var a in s.AskedClasses ?? [])
            o.WriteLine($"  asked for {a.Name,-7} {a.Recognised} of {a.Asked} samples asked for {a.Name} are recognised as {a.Name} ({a.Share.ToString("P1", CultureInfo.InvariantCulture)})");
        if (double.IsFinite(s.AskedClassAccuracy))
            o.WriteLine($"  asked class       {F(s.AskedClassAccuracy, "F3")} of the samples are recognised as the class asked for");
    }

    private sealed class Progress(TextWriter output) : IProgress<(int Step, int Steps, double Loss)>
    {
        public void Report((int Step, int Steps, double Loss) value)
        {
            if (value.Step == 1) output.WriteLine($"training the feature network ({value.Steps} steps; once per data set, then cached)");
            else if (value.Step == value.Steps) output.WriteLine($"  step {value.Step}/{value.Steps}: loss {value.Loss.ToString("F4", CultureInfo.InvariantCulture)}");
        }
    }
}
