// --verify pix2pix64|cyclegan64: the check that the two sides of a translation comparison train the
// same thing before anyone times them. Builds our model (TrainableModels.Create) and the TorchSharp
// engine, checks that their parameters have the same names, shapes and counts, copies our initial
// weights into the torch modules by name, runs --verify-steps steps on the same batches on both,
// and prints every metric our TrainStep writes beside torch's with the relative difference, then
// the largest weight difference after the steps (in units of the learning rate, since Adam moves a
// weight by about lr per step).
//   pix2pix: the U-Net's dropout masks are the only randomness; in this mode the torch dropout
//     multiplies by the masks our Dropout draws (the same RandomStream calls on a copy of the
//     model's dropout stream), so dropout stays on, as in training, and the masks agree.
//   CycleGAN: the history pools are the only randomness and they only draw once they hold 50
//     images (batch 1: from step 51 on), so the steps checked here are deterministic on both sides.
// Exit code 0 when every metric of the first step agrees to 1e-4 relative, 1 otherwise.
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Tensors;
using TorchSharp;
using TorchTensor = TorchSharp.torch.Tensor;

namespace GpuGan.Compare;

internal static class Verify
{
    private const double Tolerance = 1e-4;

    private static readonly string[] MetricNames = ["d_loss", "g_loss", "D(real)", "D(fake)", "|grad D|", "|grad G|", "L1 / cycle"];

    public static int Run(Options o)
    {
        var spec = ModelSpec.Get(o.Verify!);
        TorchEngine.SetThreads(o.Threads);
        using var device = Device.CreateCpu(new CpuKernelOptions { Threads = o.Threads });
        var ours = TrainableModels.Create(GpuGanTranslationEngine.GanSpecOf(spec), o.Seed, device);

        IEngine torchEngine;
        Func<TorchTensor, float[]> torchStep;
        // A third copy in float64 (TorchSharp in double): the exact step-1 gradients both float32 sides are measured against.
        IEngine reference;
        Func<TorchTensor, float[]> referenceStep;
        (string Name, Module Ours, torch.nn.Module Theirs, torch.nn.Module Exact)[] networks;
        string randomness;
        if (ours is Pix2PixModel p)
        {
            // The torch dropout takes its masks from a copy of our dropout stream, drawn with the calls our Dropout makes.
            Func<long[], TorchTensor> Masks()
            {
                var masks = new RandomStream(p.DropoutStream.Seed, p.DropoutStream.Offset);
                return shape =>
                {
                    using var u = Tensor.RandU(new Shape(shape.Select(d => (int)d).ToArray()), masks, device);
                    var m = u.ToArray();
                    for (int i = 0; i < m.Length; i++) m[i] = m[i] > 0.5f ? 2f : 0f;
                    return torch.tensor(m).reshape(shape);
                };
            }
            var t = new TorchPix2PixEngine(spec, o.Seed, Masks());
            var t64 = new TorchPix2PixEngine(spec, o.Seed, Masks(), torch.ScalarType.Float64);
            torchEngine = t;
            torchStep = t.StepOn;
            reference = t64;
            referenceStep = t64.StepOn;
            networks = [("G", p.G, t.G, t64.G), ("D", p.D, t.D, t64.D)];
            randomness = "dropout on (training mode) on both sides; torch uses GpuGan's dropout masks";
        }
        else if (ours is CycleGanModel c)
        {
            var t = new TorchCycleGanEngine(spec, o.Seed);
            var t64 = new TorchCycleGanEngine(spec, o.Seed, torch.ScalarType.Float64);
            torchEngine = t;
            torchStep = t.StepOn;
            reference = t64;
            referenceStep = t64.StepOn;
            networks = [("G_A", c.Generators.GA, t.GA, t64.GA), ("G_B", c.Generators.GB, t.GB, t64.GB), ("D_A", c.DA, t.DA, t64.DA), ("D_B", c.DB, t.DB, t64.DB)];
            randomness = $"history pools of {CycleGanModel.PaperPoolSize} still filling (no random choice before step {CycleGanModel.PaperPoolSize + 1})";
            if (o.VerifySteps > CycleGanModel.PaperPoolSize)
                throw new ArgumentException($"--verify-steps above {CycleGanModel.PaperPoolSize}: the pools' random choices differ between the engines");
        }
        else throw new InvalidOperationException($"no verify mode for {ours.GetType().Name}");

        using (torchEngine)
        using (reference)
        {
            foreach (var (name, mine, _, exact) in networks) CopyWeights(name, mine, exact);
            Console.WriteLine($"verify {spec.Id}: {spec.Title}; GpuGan {ours.GetType().Name} (cpu kernel set) vs {TorchEngine.Version}, {o.Threads} thread(s), seed {o.Seed}");
            Console.WriteLine($"randomness: {randomness}");
            Console.WriteLine(o.VerifyResync
                ? "weights: GpuGan's copied into torch before every step (each step compared at identical weights)"
                : "weights: GpuGan's copied into torch once, before step 1 (later steps also compare the optimiser updates)");
            Console.WriteLine();
            Console.WriteLine("parameters (elements / tensors):");
            foreach (var (name, mine, theirs, _) in networks)
            {
                int copied = CopyWeights(name, mine, theirs);
                long countOurs = mine.ParameterCount();
                long countTorch = theirs.parameters().Sum(x => x.numel());
                Console.WriteLine($"   {name,-4} GpuGan {countOurs,12:N0} / {mine.Parameters().Count(),3}   TorchSharp {countTorch,12:N0} / {theirs.parameters().Count(),3}   " +
                                  $"{(countOurs == countTorch ? "equal" : "DIFFERENT")}; {copied} tensors copied by name");
                if (countOurs != countTorch) return 1;
            }

            Console.WriteLine();
            Console.WriteLine($"| step | metric | GpuGan | TorchSharp | relative difference |");
            Console.WriteLine($"|---:|---|---:|---:|---:|");
            var data = new RandomStream(unchecked((ulong)o.Seed + 7));
            double firstStepWorst = 0, worst = 0;
            var gradientReport = new List<string>();
            var exactReport = new List<string>();
            for (int k = 0; k < o.VerifySteps; k++)
            {
                // --verify-resync: start every step from GpuGan's weights, so each step's metrics and gradients are compared
                // at identical weights (Adam's moments stay each side's own).
                if (k > 0 && o.VerifyResync)
                    foreach (var (name, netOurs, netTorch, _) in networks) CopyWeights(name, netOurs, netTorch);
                var values = new float[spec.Batch * 2 * spec.Channels * spec.Size * spec.Size];
                data.FillUniform(values, -1f, 1f);
                StepMetrics mine;
                using (var scope = TensorScope.Begin())
                {
                    var batch = Tensor.FromArray(values, new Shape(spec.Batch, 2 * spec.Channels, spec.Size, spec.Size), device);
                    long step = k;
                    mine = StepMetricsTable.RunOnce(device, (table, row) =>
                        ours.TrainStep(() => (batch, []), new RandomStream(0), new StepPosition(step, GpuGanTranslationEngine.LongRun), table, row));
                }
                float[] theirs;
                using (var batch = torch.tensor(values).reshape(spec.Batch, 2 * spec.Channels, spec.Size, spec.Size))
                    theirs = torchStep(batch);
                if (k == 0)
                {
                    using (var batch = torch.tensor(values).reshape(spec.Batch, 2 * spec.Channels, spec.Size, spec.Size).to(torch.ScalarType.Float64))
                        referenceStep(batch);
                    exactReport = ExactReport(networks);
                }
                gradientReport.Add($"  step {k + 1}:");
                gradientReport.AddRange(GradientReport(networks));
                double[] ourValues = [mine.DLoss, mine.GLoss, mine.DReal, mine.DFake, mine.GradNormD, mine.GradNormG, mine.Reconstruction];
                for (int i = 0; i < MetricNames.Length; i++)
                {
                    double rel = Relative(ourValues[i], theirs[i]);
                    worst = Math.Max(worst, rel);
                    if (k == 0) firstStepWorst = Math.Max(firstStepWorst, rel);
                    Console.WriteLine($"| {k + 1} | {MetricNames[i]} | {ourValues[i]:G8} | {theirs[i]:G8} | {rel:E1} |");
                }
            }

            Console.WriteLine();
            Console.WriteLine("step-1 gradients against TorchSharp in float64 at the same weights and inputs (max |g − g64| / max |g64| over the group):");
            foreach (var line in exactReport) Console.WriteLine(line);
            Console.WriteLine();
            Console.WriteLine("gradients (each network's own step), GpuGan vs TorchSharp:");
            foreach (var line in gradientReport) Console.WriteLine(line);
            Console.WriteLine();
            float lr = ours is Pix2PixModel pm ? pm.OptG.LearningRate : ((CycleGanModel)ours).OptG.LearningRate;
            Console.WriteLine($"weights after {o.VerifySteps} step(s), largest |GpuGan − TorchSharp| in units of lr = {lr:G3}:");
            foreach (var (name, mine, theirs, _) in networks)
            {
                var diffs = WeightDifferences(mine, theirs, lr);
                Console.WriteLine($"   {name,-4} {diffs.Max(d => d.Max) / lr:F4} lr; largest in " +
                                  string.Join(", ", diffs.OrderByDescending(d => d.Max).Take(3).Select(d => $"{d.Name} {d.Max / lr:F3} lr ({d.Over} of {d.Count} over 0.1 lr)")));
            }
            Console.WriteLine();
            Console.WriteLine($"largest relative difference of a metric: step 1 {firstStepWorst:E2}, all steps {worst:E2} (tolerance {Tolerance:E0} on step 1)");
            bool ok = firstStepWorst <= Tolerance;
            Console.WriteLine(ok ? "VERIFY OK" : "VERIFY FAILED");
            return ok ? 0 : 1;
        }
    }

    private static double Relative(double a, double b) => Math.Abs(a - b) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(b)), 1e-6);

    /// <summary>Copies our weights into the torch module by parameter name; the names and shapes must match one to one.</summary>
    private static int CopyWeights(string network, Module mine, torch.nn.Module theirs)
    {
        var torchParams = theirs.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        var ourParams = mine.NamedParameters().ToList();
        var missing = ourParams.Select(x => x.Name).Except(torchParams.Keys).ToList();
        var extra = torchParams.Keys.Except(ourParams.Select(x => x.Name)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new InvalidOperationException($"{network}: parameter names differ; only GpuGan: {string.Join(", ", missing)}; only TorchSharp: {string.Join(", ", extra)}");
        using var _ = torch.no_grad();
        foreach (var (name, value) in ourParams)
        {
            var target = torchParams[name];
            var shape = value.Shape.Dims.ToArray().Select(d => (long)d).ToArray();
            if (!target.shape.SequenceEqual(shape))
                throw new InvalidOperationException($"{network}.{name}: GpuGan shape {value.Shape}, TorchSharp [{string.Join(", ", target.shape)}]");
            using var source = torch.tensor(value.ToArray()).reshape(shape);
            target.copy_(source);
        }
        return ourParams.Count;
    }

    /// <summary>
    /// Per network: the largest gradient difference relative to the largest gradient, and the elements whose gradient has
    /// opposite signs on the two sides (Adam's first step moves each weight by ≈ lr·sign(g), so those end up ≈ 2·lr apart) with
    /// the largest |g| among them, to show that only rounding-level gradients flip.
    /// </summary>
    private static List<string> GradientReport((string Name, Module Ours, torch.nn.Module Theirs, torch.nn.Module Exact)[] networks)
    {
        var lines = new List<string>();
        foreach (var (network, mine, theirs, _) in networks)
        {
            var torchParams = theirs.named_parameters().ToDictionary(x => x.name, x => x.parameter);
            double maxGrad = 0, maxDiff = 0, flippedMax = 0;
            int flipped = 0;
            long count = 0;
            var perParameter = new List<(string Name, double Relative)>();
            foreach (var (name, value) in mine.NamedParameters())
            {
                if (value.Grad is not { } ourGrad || torchParams[name].grad is not { } torchGrad) continue;
                var a = ourGrad.ToArray();
                var b = torchGrad.detach().cpu().data<float>().ToArray();
                count += a.Length;
                double paramMax = 0, paramDiff = 0;
                for (int i = 0; i < a.Length; i++)
                {
                    paramMax = Math.Max(paramMax, Math.Abs(a[i]));
                    paramDiff = Math.Max(paramDiff, Math.Abs(a[i] - b[i]));
                }
                perParameter.Add((name, paramDiff / Math.Max(paramMax, 1e-30)));
                for (int i = 0; i < a.Length; i++)
                {
                    maxGrad = Math.Max(maxGrad, Math.Max(Math.Abs(a[i]), Math.Abs(b[i])));
                    maxDiff = Math.Max(maxDiff, Math.Abs(a[i] - b[i]));
                    if (Math.Sign(a[i]) * Math.Sign(b[i]) < 0)
                    {
                        flipped++;
                        flippedMax = Math.Max(flippedMax, Math.Max(Math.Abs(a[i]), Math.Abs(b[i])));
                    }
                }
            }
            lines.Add($"   {network,-4} max |Δg| / max |g| = {maxDiff / maxGrad:E2} (max |g| {maxGrad:G4}, {count:N0} elements); " +
                      $"opposite signs: {flipped} element(s){(flipped > 0 ? $", |g| ≤ {flippedMax:E2} = {flippedMax / maxGrad:E1} of max |g|" : "")}");
            // Listed apart: biases (in front of instance norm their true gradient is 0, so both sides hold rounding noise) and weights.
            foreach (var (kind, suffix) in new[] { ("biases", ".bias"), ("weights", ".weight") })
            {
                var worstOfKind = perParameter.Where(x => x.Name.EndsWith(suffix, StringComparison.Ordinal)).OrderByDescending(x => x.Relative).Take(3).ToList();
                if (worstOfKind.Count > 0)
                    lines.Add($"        {kind}, largest max |Δg| / max |g| within one: " + string.Join(", ", worstOfKind.Select(x => $"{x.Name} {x.Relative:E1}")));
            }
        }
        return lines;
    }

    /// <summary>
    /// Per network, for its biases and its weights apart: how far our float32 gradients and torch's float32 gradients are
    /// from the float64 ones. Where both float32 sides are equally far, the difference between them is rounding, not a mismatch.
    /// </summary>
    private static List<string> ExactReport((string Name, Module Ours, torch.nn.Module Theirs, torch.nn.Module Exact)[] networks)
    {
        static double[] Values(TorchTensor t) => t.detach().cpu().to(torch.ScalarType.Float64).data<double>().ToArray();
        var lines = new List<string>();
        foreach (var (network, mine, theirs, exact) in networks)
        {
            var torchParams = theirs.named_parameters().ToDictionary(x => x.name, x => x.parameter);
            var exactParams = exact.named_parameters().ToDictionary(x => x.name, x => x.parameter);
            foreach (var (kind, suffix) in new[] { ("biases", ".bias"), ("weights", ".weight") })
            {
                double maxExact = 0, errOurs = 0, errTorch = 0;
                int n = 0;
                foreach (var (name, value) in mine.NamedParameters().Where(x => x.Name.EndsWith(suffix, StringComparison.Ordinal)))
                {
                    if (value.Grad is not { } ourGrad || torchParams[name].grad is not { } torchGrad || exactParams[name].grad is not { } exactGrad) continue;
                    var a = ourGrad.ToArray();
                    var b = Values(torchGrad);
                    var e = Values(exactGrad);
                    n += a.Length;
                    for (int i = 0; i < a.Length; i++)
                    {
                        maxExact = Math.Max(maxExact, Math.Abs(e[i]));
                        errOurs = Math.Max(errOurs, Math.Abs(a[i] - e[i]));
                        errTorch = Math.Max(errTorch, Math.Abs(b[i] - e[i]));
                    }
                }
                if (n > 0)
                    lines.Add($"   {network,-4} {kind,-7} ({n,10:N0}): GpuGan {errOurs / maxExact:E2}   TorchSharp float32 {errTorch / maxExact:E2}   (max |g64| {maxExact:G4})");
            }
        }
        return lines;
    }

    /// <summary>Per parameter: the largest |GpuGan − TorchSharp|, and how many elements differ by more than 0.1·lr.</summary>
    private static List<(string Name, double Max, int Over, int Count)> WeightDifferences(Module mine, torch.nn.Module theirs, float lr)
    {
        var torchParams = theirs.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        var result = new List<(string, double, int, int)>();
        foreach (var (name, value) in mine.NamedParameters())
        {
            var a = value.ToArray();
            var b = torchParams[name].detach().cpu().data<float>().ToArray();
            double worst = 0;
            int over = 0;
            for (int i = 0; i < a.Length; i++)
            {
                double d = Math.Abs(a[i] - b[i]);
                worst = Math.Max(worst, d);
                if (d > 0.1 * lr) over++;
            }
            result.Add((name, worst, over, a.Length));
        }
        return result;
    }
}
