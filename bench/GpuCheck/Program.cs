// GpuGan device kit: checks and times the ILGPU kernel set on a CUDA device (see README.md).
//
//   GpuGan.GpuCheck run --models models.json --out DIR [--device cuda|ilgpu-cpu] [--dry-run]
//                       [--sections arch,parity,layers,gemm,train] [--seed N]
//   GpuGan.GpuCheck report --dir DIR        merge DIR/gpugan.json and DIR/torch.json
//
// --dry-run: tiny shapes (models.json's dryRun scale, SGEMM 64³), one repetition of everything; with
// --device ilgpu-cpu it runs anywhere, so the kit can be checked before a GPU is lent.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using GpuGan.Tensors;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Device = GpuGan.Tensors.Device;

namespace GpuGan.GpuCheck;

internal static class Program
{
    private static readonly string[] AllSections = ["arch", "parity", "layers", "gemm", "train"];

    private static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("usage: GpuGan.GpuCheck run --models FILE --out DIR [--device cuda|ilgpu-cpu] [--dry-run] [--sections a,b] [--seed N]");
            Console.WriteLine("       GpuGan.GpuCheck report --dir DIR");
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return args[0] switch
            {
                "run" => Run(args[1..]),
                "report" => Report(args[1..]),
                _ => throw new ArgumentException($"unknown command '{args[0]}' (run, report)"),
            };
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    private static int Report(string[] args)
    {
        string? dir = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--dir" && i + 1 < args.Length) dir = args[++i];
            else throw new ArgumentException($"report: unknown argument '{args[i]}'");
        }
        if (dir is null) throw new ArgumentException("report needs --dir DIR");
        Console.WriteLine(ReportWriter.Merge(dir));
        return 0;
    }

    private static int Run(string[] args)
    {
        string? modelsPath = null, outDir = null;
        string deviceName = "cuda";
        bool dryRun = false;
        int seed = 1234;
        var sections = AllSections.ToHashSet();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--models": modelsPath = Next(); break;
                case "--out": outDir = Next(); break;
                case "--device": deviceName = Next(); break;
                case "--dry-run": dryRun = true; break;
                case "--seed": seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--sections":
                    sections = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
                    foreach (var s in sections)
                        if (!AllSections.Contains(s)) throw new ArgumentException($"unknown section '{s}' ({string.Join(", ", AllSections)})");
                    break;
                default: throw new ArgumentException($"run: unknown argument '{args[i]}'");
            }
        }
        if (modelsPath is null || outDir is null) throw new ArgumentException("run needs --models FILE and --out DIR");
        if (deviceName is not ("cuda" or "ilgpu-cpu")) throw new ArgumentException("--device takes cuda or ilgpu-cpu");
        Directory.CreateDirectory(outDir);
        var reportPath = Path.Combine(outDir, "gpugan.json");

        var models = ModelsFile.Load(modelsPath);
        var scale = dryRun ? models.DryRun : models.Full;
        var budget = dryRun ? Budget.DryRun : Budget.Full;
        var total = Stopwatch.StartNew();
        void Say(string line) => Console.WriteLine($"[gpucheck {total.Elapsed.TotalSeconds,6:F1} s] {line}");

        var device = OpenDevice(deviceName, Say);
        if (device is null) return 3;
        bool simulator = device.Kind == DeviceKind.IlgpuCpu;
        var report = new GpuGanReport
        {
            Date = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            Device = device.Name,
            DryRun = dryRun,
            Runtime = RuntimeInformation.FrameworkDescription,
            Os = RuntimeInformation.OSDescription,
            Scale = scale,
            Method = $"kernels: {budget.KernelWarmup} warm-up call(s), then up to {budget.MaxRepetitions} synchronised repetitions (≤ {budget.PerKernel.TotalSeconds:F1} s), median; "
                + $"training: {budget.TrainWarmup} warm-up iteration(s), then up to {budget.MaxTrainIterations} iterations (≥ 3, ≤ {budget.PerModel.TotalSeconds:F0} s), "
                + "each synchronised, median; parity: op-table tolerances (see Parity.cs)",
        };
        Say($"device {device.Name}; {(dryRun ? "DRY RUN (tiny shapes)" : "full shapes")}; batch {scale.Batch}, nz {scale.Nz}, width {scale.Width}");
        void Save(string section)
        {
            report.Completed.Add(section);
            report.Seconds = total.Elapsed.TotalSeconds;
            report.ParitySummary = report.Parity.GroupBy(p => p.Status).ToDictionary(g => g.Key, g => g.Count());
            ReportWriter.Save(report, reportPath);
        }

        if (sections.Contains("arch"))
        {
            foreach (var spec in models.Models)
            {
                var check = CheckArchitecture(spec, scale, seed);
                report.Architectures.Add(check);
                Say($"architecture {spec.Id}: {(check.Matches ? "matches models.json" : "DIFFERS: " + check.Detail)}");
            }
            Save("arch");
        }

        if (sections.Contains("parity"))
        {
            var budgetClock = Stopwatch.StartNew();
            Say($"parity: op table on {device.Kind} vs float64 and vs cpu (budget {budget.Parity.TotalSeconds:F0} s)");
            foreach (var r in Parity.SelfTest(device))
            {
                report.Parity.Add(r);
                Say($"  kit self-test: {r.Case}: {(r.Status == "pass" ? "ok" : "BROKEN: " + r.Detail)}");
            }
            int n = 0;
            foreach (var r in Parity.OpTable(device, simulator, budgetClock, budget.Parity))
            {
                report.Parity.Add(r);
                if (r.Status == "fail") Say($"  FAIL {r.Case} — {r.Check}: {r.Detail}");
                if (++n % 50 == 0) Say($"  {n} op-table checks, {report.Parity.Count(p => p.Status == "fail")} failed");
            }
            var dcgan64 = models.Get("dcgan64");
            Say($"parity: every op of dcgan64 at {(dryRun ? "dry-run" : "full")} shapes, {device.Kind} vs cpu");
            foreach (var r in Parity.ModelLayers(dcgan64, scale, device))
            {
                report.Parity.Add(r);
                if (r.Status == "fail") Say($"  FAIL {r.Case} — {r.Check}: {r.Detail}");
            }
            Save("parity");
            Say($"parity: {report.ParitySummary.GetValueOrDefault("pass")} passed, {report.ParitySummary.GetValueOrDefault("fail")} failed, {report.ParitySummary.GetValueOrDefault("skip")} skipped");
        }

        if (sections.Contains("gemm"))
        {
            var r = Timing.Sgemm(device, budget);
            report.Kernels.Add(r);
            Say(r.Error is null ? $"SGEMM {r.Shape}: {r.MedianMs:F2} ms, {r.Gflops:F0} GFLOP/s" : $"SGEMM failed: {r.Error}");
            Save("gemm");
        }

        if (sections.Contains("layers"))
        {
            foreach (var r in Timing.Layers(models.Get("dcgan64"), scale, device, budget))
            {
                report.Kernels.Add(r);
                Say(r.Error is null ? $"{r.Name,-22} {r.Shape,-52} {r.MedianMs,9:F3} ms {r.Gflops,8:F0} GFLOP/s" : $"{r.Name} failed: {r.Error}");
            }
            Save("layers");
        }

        if (sections.Contains("train"))
        {
            foreach (var spec in models.Models)
            {
                Say($"training {spec.Id}: {spec.Title}");
                var r = Timing.Train(spec, scale, device, budget, seed, line => Say($"  {spec.Id}: {line}"));
                report.Training.Add(r);
                Say(r.Error is null
                    ? $"  {spec.Id}: median {r.MedianMs:F2} ms/iteration (min {r.MinMs:F2}, {r.IterationMs.Count} timed)"
                    : $"  {spec.Id} failed: {r.Error}");
                Save($"train {spec.Id}");
            }
        }
        Say($"done: {reportPath}");
        return 0;
    }

    /// <summary>The device under test; for CUDA, ILGPU's own error is printed when none can be opened.</summary>
    private static Device? OpenDevice(string name, Action<string> say)
    {
        if (name == "ilgpu-cpu") return Device.IlgpuCpu;
        try { return Device.Open(DeviceKind.Cuda); }
        catch (DeviceUnavailableException e) { say(e.Message); }
        try
        {
            using var context = Context.Create(b => b.Cuda());
            var devices = context.Devices.Where(d => d.AcceleratorType == AcceleratorType.Cuda).ToList();
            say(devices.Count == 0
                ? "ILGPU's CUDA backend found no device (is libcuda.so on the library path? run.sh links libcuda.so.1 for it)"
                : $"ILGPU sees {string.Join(", ", devices.Select(d => d.Name))} but the accelerator did not open");
            foreach (var d in devices)
            {
                try { using var acc = d.CreateAccelerator(context); }
                catch (Exception e) when (e is not OutOfMemoryException) { say($"  {d.Name}: {e.GetType().Name}: {e.Message}"); }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            say($"ILGPU's CUDA backend failed: {e.GetType().Name}: {e.Message}");
        }
        return null;
    }

    /// <summary>Builds each model on the host and compares its layers and optimisers with models.json.</summary>
    private static ArchCheck CheckArchitecture(ModelSpec spec, Scale scale, int seed)
    {
        try
        {
            using var scope = TensorScope.Begin();
            using var model = GanAdapter.Create(spec, scale, Device.Cpu, seed);
            var layers = LayerPlan.Resolve(spec, scale);
            var problems = new List<string>();
            void Compare(string what, List<string> expected, List<string> actual)
            {
                if (!expected.SequenceEqual(actual))
                    problems.Add($"{what}: models.json [{string.Join(" ", expected)}] vs GanModel [{string.Join(" ", actual)}]");
            }
            Compare("G", LayerPlan.ExpectedSequence(layers.Where(l => l.Transposed)), model.GeneratorLayers());
            Compare("D", LayerPlan.ExpectedSequence(layers.Where(l => !l.Transposed)), model.DiscriminatorLayers());
            var expectedOpt = GanAdapter.DescribeOptimizer(spec.Optimizer);
            var (optG, optD) = model.Optimizers();
            if (optG != expectedOpt || optD != expectedOpt) problems.Add($"optimisers: models.json {expectedOpt}; GanModel G {optG}, D {optD}");
            return new ArchCheck { Model = spec.Id, Matches = problems.Count == 0, Detail = problems.Count == 0 ? null : string.Join("; ", problems) };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new ArchCheck { Model = spec.Id, Matches = false, Detail = $"{e.GetType().Name}: {e.Message}" };
        }
    }
}
