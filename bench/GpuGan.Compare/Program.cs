// GpuGan vs TorchSharp: one GAN training iteration, timed in both engines on the same machine with
// the same thread count (issue 6; pix2pix64 and cyclegan64 from issue 15).
//
// Timing runs both engines in this process: warm-up iterations, then alternating timed blocks
// A B A B … so that drift on a shared machine hits both; the figure is the median ms/iteration.
// Peak memory is measured in separate child processes (this executable re-invoked with
// --child gpugan|torch --model X), each reading its own VmHWM from /proc/self/status.
//
//   dotnet run -c Release --project bench/GpuGan.Compare -- [--json out.json] [--threads 2]
//       [--models dcgan64,dcgan28,wgangp28,pix2pix64,cyclegan64] [--blocks 4] [--block-seconds 3] [--no-memory] [--breakdown]
//   … -- --verify pix2pix64|cyclegan64 [--verify-steps N] [--verify-resync]: both sides' metrics side by side (Verify.cs)
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuGan.Compare;

internal static class Program
{
    private static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        Options o;
        try { o = Options.Parse(args); }
        catch (ArgumentException e) { Console.Error.WriteLine(e.Message); Console.Error.WriteLine(Options.Usage); return 2; }

        if (o.Child is not null) return Child.Run(o);
        if (o.Verify is not null) return Verify.Run(o);
        if (o.BreakdownOnly)
        {
            var rows = Breakdown.RunAndPrint(o, out double measured);
            if (o.Json is not null)
                File.WriteAllText(o.Json, JsonSerializer.Serialize(new { model = o.BreakdownModel, threads = o.Threads, measuredStepMs = measured, rows },
                    new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            return 0;
        }
        return Harness.Run(o);
    }
}

internal sealed class Options
{
    public static readonly string Usage =
        "usage: GpuGan.Compare [--json FILE] [--threads N] [--models a,b,c] [--blocks N] [--block-seconds S]\n" +
        "                      [--warmup N] [--no-memory] [--breakdown] [--breakdown-only] [--breakdown-model ID] [--winograd]\n" +
        "       GpuGan.Compare --child gpugan|torch --model ID [--threads N] [--iterations N]\n" +
        "       GpuGan.Compare --verify pix2pix64|cyclegan64 [--verify-steps N] [--verify-resync] [--threads N]\n" +
        "models: " + string.Join(", ", ModelSpec.Ids);

    public string? Json;
    public int Threads = 2;
    public string[] Models = ModelSpec.Ids;
    public int Blocks = 4;
    public double BlockSeconds = 3;
    public int Warmup = 2;
    public bool Memory = true;
    public bool Breakdown;
    public bool BreakdownOnly;
    public string BreakdownModel = "dcgan64";
    public string? Child;
    public string? ChildModel;
    public int ChildIterations = 2;
    public int Seed = 1234;
    public bool Winograd;
    public string? Verify;
    public int VerifySteps = 3;
    public bool VerifyResync;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--json": o.Json = Next(); break;
                case "--threads": o.Threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--models": o.Models = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--blocks": o.Blocks = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--block-seconds": o.BlockSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": o.Warmup = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--no-memory": o.Memory = false; break;
                case "--breakdown": o.Breakdown = true; break;
                case "--breakdown-only": o.BreakdownOnly = true; break;
                case "--breakdown-model": o.BreakdownModel = Next(); break;
                case "--child": o.Child = Next(); break;
                case "--model": o.ChildModel = Next(); break;
                case "--iterations": o.ChildIterations = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--verify": o.Verify = Next(); break;
                case "--verify-resync": o.VerifyResync = true; break;
                case "--verify-steps": o.VerifySteps = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seed": o.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--winograd": o.Winograd = true; break; // GpuGan side: ConvLoweringOptions.Winograd
                case "-h" or "--help": throw new ArgumentException("");
                default: throw new ArgumentException($"unknown argument '{args[i]}'");
            }
        }
        if (o.Threads < 1) throw new ArgumentException("--threads must be ≥ 1");
        foreach (var m in o.Models) ModelSpec.Get(m);
        if (ModelSpec.Get(o.BreakdownModel).IsTranslation) throw new ArgumentException("--breakdown-model takes a DCGAN or WGAN-GP id");
        if (o.Verify is not null && !ModelSpec.Get(o.Verify).IsTranslation) throw new ArgumentException("--verify takes pix2pix64 or cyclegan64");
        if (o.VerifySteps < 1) throw new ArgumentException("--verify-steps must be ≥ 1");
        if (o.Child is not null and not ("gpugan" or "torch")) throw new ArgumentException("--child takes gpugan or torch");
        if (o.Child is not null && o.ChildModel is null) throw new ArgumentException("--child needs --model");
        return o;
    }
}

internal static class Engines
{
    public static IEngine Create(string engine, ModelSpec spec, int seed, int threads, bool winograd = false) => engine switch
    {
        "gpugan" => GpuGanSide.Create(spec, seed, threads, winograd),
        "torch" => CreateTorch(spec, seed, threads),
        _ => throw new ArgumentException(engine),
    };

    private static IEngine CreateTorch(ModelSpec spec, int seed, int threads)
    {
        TorchEngine.SetThreads(threads);
        return spec.Kind switch
        {
            "pix2pix" => new TorchPix2PixEngine(spec, seed),
            "cyclegan" => new TorchCycleGanEngine(spec, seed),
            _ => new TorchEngine(spec, seed),
        };
    }
}

/// <summary>--child: build one engine's model, run a few iterations, report peak RSS. Prints KEY VALUE lines.</summary>
internal static class Child
{
    public static int Run(Options o)
    {
        var spec = ModelSpec.Get(o.ChildModel!);
        long baseline = ProcStatus.KiB("VmRSS");
        using var engine = Engines.Create(o.Child!, spec, o.Seed, o.Threads, o.Winograd);
        var times = new List<double>();
        for (int i = 0; i < o.ChildIterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            engine.Step();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        Console.WriteLine($"BASELINE_RSS_KIB {baseline}");
        Console.WriteLine($"PEAK_RSS_KIB {ProcStatus.KiB("VmHWM")}");
        Console.WriteLine($"ITER_MS {string.Join(",", times.Select(t => t.ToString("F1", CultureInfo.InvariantCulture)))}");
        return 0;
    }
}

internal static class ProcStatus
{
    /// <summary>A field of /proc/self/status in KiB (VmHWM = peak resident set, VmRSS = current).</summary>
    public static long KiB(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"{field} not in /proc/self/status");
    }
}

internal sealed class EngineResult
{
    public string Engine { get; set; } = "";
    public double MedianMsPerIteration { get; set; }
    public double MinMsPerIteration { get; set; }
    public double MaxMsPerIteration { get; set; }
    public double ImagesPerSecond { get; set; }
    public double WarmupMs { get; set; }
    public List<double> IterationMs { get; set; } = [];
    public List<double> BlockMedianMs { get; set; } = [];
    public double? PeakRssMiB { get; set; }
    public double? BaselineRssMiB { get; set; }
    public List<double>? ChildIterationMs { get; set; }
}

internal sealed class ModelResult
{
    public string Model { get; set; } = "";
    public string Title { get; set; } = "";
    public int Batch { get; set; }
    public int RealImagesPerIteration { get; set; }
    public EngineResult GpuGan { get; set; } = new();
    public EngineResult Torch { get; set; } = new();
    /// <summary>GpuGan median ms/iteration over TorchSharp's: above 1 means GpuGan is slower.</summary>
    public double Ratio { get; set; }
    /// <summary>GpuGan's fastest iteration over TorchSharp's: less sensitive to bursts of load on a shared machine.</summary>
    public double RatioOfMin { get; set; }
}

internal sealed class Report
{
    public string Date { get; set; } = "";
    public string Machine { get; set; } = "";
    public int LogicalCores { get; set; }
    public int Threads { get; set; }
    /// <summary>GpuGan ran its convolutions with ConvLoweringOptions.Winograd (--winograd).</summary>
    public bool Winograd { get; set; }
    public string Runtime { get; set; } = "";
    public string TorchVersion { get; set; } = "";
    public string Method { get; set; } = "";
    public List<ModelResult> Models { get; set; } = [];
    public List<BreakdownRow>? Breakdown { get; set; }
    public double? BreakdownMeasuredStepMs { get; set; }
    public double TotalSeconds { get; set; }
    /// <summary>/proc/loadavg at the start and the end: how shared the machine was.</summary>
    public string LoadAverageStart { get; set; } = "";
    public string LoadAverageEnd { get; set; } = "";
}

internal static class Harness
{
    public static int Run(Options o)
    {
        var total = Stopwatch.StartNew();
        var report = new Report
        {
            Date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            Machine = CpuModel(),
            LogicalCores = Environment.ProcessorCount,
            Threads = o.Threads,
            Winograd = o.Winograd,
            Runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            LoadAverageStart = LoadAverage(),
            Method = $"warm-up up to {o.Warmup} iteration(s) (≤ 10 s) per engine, then {o.Blocks} alternating blocks per engine " +
                     $"(GpuGan, TorchSharp, GpuGan, …) of ≈{o.BlockSeconds:F1} s each; median of all timed iterations. " +
                     "Peak RSS (VmHWM) from a separate child process per engine and model.",
        };
        TorchEngine.SetThreads(o.Threads);
        report.TorchVersion = TorchEngine.Version;
        Console.WriteLine($"GpuGan vs {report.TorchVersion}, {o.Threads} thread(s), {report.Machine} ({report.LogicalCores} logical cores), {report.Runtime}{(o.Winograd ? "; GpuGan with --winograd" : "")}");

        foreach (string id in o.Models)
        {
            var spec = ModelSpec.Get(id);
            Console.WriteLine();
            Console.WriteLine($"== {spec.Title}");
            var r = TimeModel(spec, o);
            report.Models.Add(r);
            Console.WriteLine($"   GpuGan {r.GpuGan.MedianMsPerIteration,9:F1} ms/it   TorchSharp {r.Torch.MedianMsPerIteration,9:F1} ms/it   ratio {r.Ratio:F2} (of fastest iterations {r.RatioOfMin:F2})");
        }

        if (o.Memory)
        {
            Console.WriteLine();
            Console.WriteLine("== peak memory (child processes)");
            foreach (var r in report.Models)
            {
                foreach (var (engine, er) in new[] { ("gpugan", r.GpuGan), ("torch", r.Torch) })
                {
                    var (peak, baseline, ms) = RunChild(engine, r.Model, o);
                    er.PeakRssMiB = peak;
                    er.BaselineRssMiB = baseline;
                    er.ChildIterationMs = ms;
                    Console.WriteLine($"   {r.Model,-9} {er.Engine,-10} peak {peak,7:F0} MiB (at start {baseline:F0} MiB)");
                }
            }
        }

        if (o.Breakdown)
        {
            Console.WriteLine();
            report.Breakdown = Breakdown.RunAndPrint(o, out double measured);
            report.BreakdownMeasuredStepMs = measured;
        }

        report.TotalSeconds = total.Elapsed.TotalSeconds;
        report.LoadAverageEnd = LoadAverage();
        Console.WriteLine();
        Console.WriteLine(Table(report));
        Console.WriteLine($"total {report.TotalSeconds:F0} s; load average (1/5/15 min) at start {report.LoadAverageStart}, at end {report.LoadAverageEnd}");
        if (o.Json is not null)
        {
            var json = JsonSerializer.Serialize(report, new JsonSerializerOptions
            {
                WriteIndented = true,
                PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
                DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            });
            File.WriteAllText(o.Json, json);
            Console.WriteLine($"wrote {o.Json}");
        }
        return 0;
    }

    private static ModelResult TimeModel(ModelSpec spec, Options o)
    {
        using var gpugan = Engines.Create("gpugan", spec, o.Seed, o.Threads, o.Winograd);
        using var torch = Engines.Create("torch", spec, o.Seed, o.Threads);
        var engines = new[] { gpugan, torch };
        var results = engines.Select(e => new EngineResult { Engine = e.Name }).ToArray();
        var warmLast = new double[2];

        for (int e = 0; e < 2; e++)
        {
            long t0 = Stopwatch.GetTimestamp();
            // At least one warm-up iteration (JIT, buffer pools, optimiser state); stop early after 10 s.
            for (int i = 0; i < Math.Max(1, o.Warmup) && (i == 0 || Stopwatch.GetElapsedTime(t0).TotalSeconds < 10); i++)
            {
                long ti = Stopwatch.GetTimestamp();
                engines[e].Step();
                warmLast[e] = Stopwatch.GetElapsedTime(ti).TotalMilliseconds;
            }
            results[e].WarmupMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            Console.WriteLine($"   warm-up {engines[e].Name,-10} in {results[e].WarmupMs,8:F0} ms (last {warmLast[e]:F0} ms)");
        }

        // Iterations per block from the last warm-up iteration, so a block lasts ≈ BlockSeconds.
        var perBlock = warmLast.Select(ms => Math.Max(1, (int)Math.Round(o.BlockSeconds * 1000 / ms))).ToArray();
        for (int b = 0; b < o.Blocks; b++)
        {
            for (int e = 0; e < 2; e++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                var block = new List<double>();
                for (int i = 0; i < perBlock[e]; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    engines[e].Step();
                    block.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
                results[e].IterationMs.AddRange(block);
                results[e].BlockMedianMs.Add(Median(block));
            }
            Console.WriteLine($"   block {b + 1}/{o.Blocks}: GpuGan {results[0].BlockMedianMs[^1],8:F1} ms/it ×{perBlock[0]}   TorchSharp {results[1].BlockMedianMs[^1],8:F1} ms/it ×{perBlock[1]}");
        }

        int imagesPerIteration = spec.Kind == "wgan-gp" ? 5 * spec.Batch : spec.Batch;
        foreach (var r in results)
        {
            r.MedianMsPerIteration = Median(r.IterationMs);
            r.MinMsPerIteration = r.IterationMs.Min();
            r.MaxMsPerIteration = r.IterationMs.Max();
            r.ImagesPerSecond = imagesPerIteration / (r.MedianMsPerIteration / 1000);
        }
        return new ModelResult
        {
            Model = spec.Id, Title = spec.Title, Batch = spec.Batch, RealImagesPerIteration = imagesPerIteration,
            GpuGan = results[0], Torch = results[1],
            Ratio = results[0].MedianMsPerIteration / results[1].MedianMsPerIteration,
            RatioOfMin = results[0].MinMsPerIteration / results[1].MinMsPerIteration,
        };
    }

    private static (double PeakMiB, double BaselineMiB, List<double> Ms) RunChild(string engine, string model, Options o)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var a in new[] { "--child", engine, "--model", model, "--threads", $"{o.Threads}", "--seed", $"{o.Seed}", "--iterations", $"{o.ChildIterations}" })
            psi.ArgumentList.Add(a);
        if (o.Winograd) psi.ArgumentList.Add("--winograd");
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"child {engine} {model} exited {p.ExitCode}:\n{stdout}\n{stderr.Result}");
        var kv = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 2)).Where(a => a.Length == 2).ToDictionary(a => a[0], a => a[1].Trim());
        return (long.Parse(kv["PEAK_RSS_KIB"], CultureInfo.InvariantCulture) / 1024.0,
            long.Parse(kv["BASELINE_RSS_KIB"], CultureInfo.InvariantCulture) / 1024.0,
            kv["ITER_MS"].Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToList());
    }

    public static string Table(Report report)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"| model | engine | ms/iteration (median) | min–max | real images/s | peak RSS MiB | GpuGan / TorchSharp (median) | (min) |");
        sb.AppendLine($"|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var m in report.Models)
        {
            foreach (var (er, first) in new[] { (m.GpuGan, true), (m.Torch, false) })
            {
                sb.AppendLine($"| {(first ? m.Title : "")} | {er.Engine} | {er.MedianMsPerIteration:F1} | {er.MinMsPerIteration:F0}–{er.MaxMsPerIteration:F0} | " +
                              $"{er.ImagesPerSecond:F1} | {(er.PeakRssMiB is { } p ? p.ToString("F0", CultureInfo.InvariantCulture) : "–")} | {(first ? m.Ratio.ToString("F2", CultureInfo.InvariantCulture) : "")} | {(first ? m.RatioOfMin.ToString("F2", CultureInfo.InvariantCulture) : "")} |");
            }
        }
        return sb.ToString();
    }

    public static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }

    private static string CpuModel()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return "unknown CPU";
    }
}
