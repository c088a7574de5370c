// dotnet run -c Release --project bench/GpuGan.Bench -- gpu-plan --model dcgan64|dcgan28|wgangp28
//     [--gpu h100|rtx4090] [--json FILE] [--launches FILE]
// Records one full training iteration of the model at its real shape (batch 64) on ilgpu-cpu
// without running it, and prints what a GPU would be asked to do, with the roofline estimate of
// GpuPlan.cs (whose header states the model and its constants).
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuGan.GpuCheck;

namespace GpuGan.Bench.GpuPlan;

internal static class GpuPlanCommand
{
    private const string Usage = "usage: gpu-plan --model dcgan64|dcgan28|wgangp28 [--gpu h100|rtx4090] [--json FILE] [--launches FILE]";

    public static int Run(string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        string? modelId = null, json = null, launches = null;
        string gpuId = "h100";
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--model": modelId = Next(); break;
                    case "--gpu": gpuId = Next(); break;
                    case "--json": json = Next(); break;
                    case "--launches": launches = Next(); break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"{e.Message}\n{Usage}");
                return 2;
            }
        }
        if (modelId is null) { Console.Error.WriteLine(Usage); return 2; }
        GpuSpec gpu;
        ModelSpec spec;
        var models = ModelsFile.Load(Path.Combine(AppContext.BaseDirectory, "models.json"));
        try
        {
            gpu = GpuSpec.Get(gpuId);
            spec = models.Get(modelId);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"{e.Message}\n{Usage}");
            return 2;
        }

        var clock = Stopwatch.StartNew();
        // Two warm-up iterations: the first creates the optimiser state and the gradient buffers,
        // so the plan of the steady state is the third. The fourth checks that it is steady.
        var recorded = PlanRecorder.Record(spec, models.Full, warmup: 2, iterations: 2);
        var plan = Plan.From(recorded[0], gpu);
        plan.Model = spec.Id;
        plan.Title = spec.Title;
        plan.Batch = models.Full.Batch;
        plan.RecordedOn = $"ilgpu-cpu, SkipExecution (recorded in {clock.Elapsed.TotalSeconds:F1} s)";
        bool steady = recorded[0].Launches.Select(l => l.Kernel).SequenceEqual(recorded[1].Launches.Select(l => l.Kernel))
            && recorded[0].Syncs.Count == recorded[1].Syncs.Count && recorded[0].ReadBacks.Count == recorded[1].ReadBacks.Count;

        Console.Write(Render(plan, steady));
        if (json is not null)
        {
            File.WriteAllText(json, JsonSerializer.Serialize(plan, new JsonSerializerOptions
            {
                WriteIndented = true,
                PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
                Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            }));
            Console.WriteLine($"json: {json}");
        }
        if (launches is not null)
        {
            // One line per launch of the recorded iteration, in order: where each launch comes from
            // (the full op path), for finding the glue that a fusion would remove.
            File.WriteAllLines(launches, recorded[0].Launches.Select(l => $"{l.Sequence}\t{l.Kernel}\t{l.OpPath ?? "(no op)"}\t{l.Extent}"));
            Console.WriteLine($"launches: {launches}");
        }
        return steady ? 0 : 1;
    }

    internal static string Render(Plan p, bool steady)
    {
        var s = new StringBuilder();
        var f = PlanRecorder.Format;
        s.AppendLine($"gpu-plan: {p.Title} — one training iteration, modelled on {p.Gpu}");
        s.AppendLine($"THIS IS AN ESTIMATE: {p.Note}.");
        s.AppendLine($"recorded on {p.RecordedOn}; the next iteration's plan is {(steady ? "identical (steady)" : "DIFFERENT (not steady)")}");
        s.AppendLine($"model: t = max(FLOPs/(peak·min(1, blocks/SMs)), bytes/bandwidth, serial·{p.Constants["serialElementNs"]} ns) + {p.Constants["launchOverheadUs"]} µs per launch;"
            + $" {p.Constants["drainUs"]} µs per synchronisation; copies 4 µs + bytes/{p.Constants["hostLinkGBps"]} GB/s;"
            + $" {p.Constants["sms"]} SMs, {p.Constants["peakTflops"]} TFLOP/s, {p.Constants["dramTBps"]} TB/s; auto-grouped kernels in groups of {p.Constants["cudaAutoGroupSize"]}");
        s.AppendLine();
        s.AppendLine($"launches            {p.Launches}");
        s.AppendLine($"synchronisations    {p.Synchronizations} ({string.Join(", ", p.SynchronizationsByReason.Select(kv => $"{kv.Value} {kv.Key}"))})");
        s.AppendLine($"read-backs          {p.ReadBacks} ({p.ScalarReadBacks} scalar Item(), {p.ArrayReadBacks} array)");
        s.AppendLine($"copies              {p.Copies}: host→device {p.BytesHostToDevice:N0} B, device→host {p.BytesDeviceToHost:N0} B, device→device {p.BytesDeviceToDevice:N0} B");
        s.AppendLine($"longest serial loop {p.MaxSerialLoop:N0} elements per thread ({p.MaxSerialLoopKernel} in {p.MaxSerialLoopOp})");
        s.AppendLine($"under-filled grids  {p.UnderfilledLaunches} launches with fewer blocks than {p.Constants["sms"]} SMs doing > 1 MFLOP ({f(p.UnderfilledMflop)} MFLOP)");
        s.AppendLine($"work                {f(p.TotalGflop)} GFLOP, {f(p.TotalDramMB)} MB of DRAM traffic");
        s.AppendLine($"modelled time       {f(p.ModelledMs)} ms = kernels {f(p.ModelledKernelMs)} + launch overhead {f(p.ModelledLaunchOverheadMs)} + drains {f(p.ModelledSyncMs)} + copies {f(p.ModelledCopyMs)} (ms)");
        s.AppendLine();
        s.AppendLine("by kernel (modelled ms, largest first):");
        s.AppendLine($"  {"kernel",-46} {"launches",8} {"GFLOP",9} {"MB",9} {"min blk",8} {"max serial",11} {"under",6} {"ms",9}  bound");
        foreach (var g in p.ByKernel) s.AppendLine(Row(g, f));
        s.AppendLine();
        s.AppendLine("by op (outermost op scope, modelled ms, largest first):");
        foreach (var g in p.ByOp.Take(20)) s.AppendLine(Row(g, f));
        if (p.Underfilled.Count > 0)
        {
            s.AppendLine();
            s.AppendLine($"under-filled launches (top 15 of {p.Underfilled.Count} by modelled µs):");
            foreach (var u in p.Underfilled.Take(15))
                s.AppendLine($"  {u.Kernel,-40} {u.Grid,-22} {f(u.Mflop),9} MFLOP {f(u.ModelledUs),9} µs  {u.Op}");
        }
        if (p.ReadBackOps.Count > 0)
        {
            s.AppendLine();
            s.AppendLine("read-backs by op: " + string.Join("; ", p.ReadBackOps));
        }
        return s.ToString();
    }

    private static string Row(PlanGroup g, Func<double, string> f)
        => $"  {Trim(g.Name, 46),-46} {g.Launches,8} {f(g.Flops / 1e9),9} {f(g.Bytes / 1e6),9} {g.MinBlocks,8} {g.MaxSerialLoop,11:N0} {g.Underfilled,6} {f(g.ModelledMs),9}  "
            + string.Join(" ", g.Bounds.OrderByDescending(b => b.Value).Select(b => $"{b.Key}:{b.Value}"));

    private static string Trim(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";
}
