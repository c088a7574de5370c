// Section 5 of the kit: the results. The run writes gpugan.json after every section (a crash keeps
// what was measured); torch_check.py writes torch.json; `report` merges both into gpucheck.json and
// gpucheck.md (the table: GpuGan ms, PyTorch ms, ratio, per model).
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace GpuGan.GpuCheck;

internal sealed class ArchCheck
{
    public string Model { get; set; } = "";
    public bool Matches { get; set; }
    public string? Detail { get; set; }
}

internal sealed class GpuGanReport
{
    public string Date { get; set; } = "";
    public string Device { get; set; } = "";
    public bool DryRun { get; set; }
    public string Runtime { get; set; } = "";
    public string Os { get; set; } = "";
    public Scale? Scale { get; set; }
    public string Method { get; set; } = "";
    public List<ArchCheck> Architectures { get; set; } = [];
    public List<CheckResult> Parity { get; set; } = [];
    public Dictionary<string, int> ParitySummary { get; set; } = [];
    public List<KernelTiming> Kernels { get; set; } = [];
    public List<TrainTiming> Training { get; set; } = [];
    public List<string> Errors { get; set; } = [];
    public double Seconds { get; set; }
    /// <summary>Sections completed so far (the file is rewritten after each).</summary>
    public List<string> Completed { get; set; } = [];
}

internal static class ReportWriter
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Save(GpuGanReport report, string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(report, Json));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Merges gpugan.json and torch.json (either may be missing) into gpucheck.json and gpucheck.md.</summary>
    public static string Merge(string dir)
    {
        var gpuganPath = Path.Combine(dir, "gpugan.json");
        var torchPath = Path.Combine(dir, "torch.json");
        var gpugan = File.Exists(gpuganPath) ? JsonSerializer.Deserialize<GpuGanReport>(File.ReadAllText(gpuganPath), Json) : null;
        var torch = File.Exists(torchPath) ? JsonNode.Parse(File.ReadAllText(torchPath)) : null;

        var rows = new List<JsonObject>();
        var models = (gpugan?.Training.Select(t => t.Model) ?? [])
            .Concat(torch?["results"]?.AsArray().Select(r => (string)r!["model"]!) ?? [])
            .Distinct().ToList();
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine("# GpuGan device check");
        md.AppendLine();
        if (gpugan is not null)
            md.AppendLine(inv, $"- GpuGan: {gpugan.Device}{(gpugan.DryRun ? " — DRY RUN (tiny shapes, not a measurement)" : "")}; {gpugan.Runtime}; {gpugan.Date}");
        else
            md.AppendLine("- GpuGan: no gpugan.json (the GpuGan run failed before writing anything)");
        if (torch is not null)
            md.AppendLine(inv, $"- PyTorch: {torch["torch"]} on {torch["device"]}, cuDNN {torch["cudnn"] ?? "n/a"}, cudnn.benchmark on{((bool?)torch["dryRun"] == true ? " — DRY RUN" : "")}");
        else
            md.AppendLine("- PyTorch: no torch.json (torch_check.py failed or did not run)");
        md.AppendLine();
        md.AppendLine("## One training iteration (median ms, synchronised)");
        md.AppendLine();
        md.AppendLine("| model | GpuGan ms | PyTorch FP32 ms | ratio | PyTorch TF32 ms | ratio |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var model in models)
        {
            var g = gpugan?.Training.FirstOrDefault(t => t.Model == model);
            double? Torch(bool tf32) => torch?["results"]?.AsArray()
                .Where(r => (string)r!["model"]! == model && (bool)r!["tf32"]! == tf32 && r!["medianMs"] is not null)
                .Select(r => (double?)r!["medianMs"]!).FirstOrDefault();
            double? ours = g is { Error: null } ? g.MedianMs : null;
            double? fp32 = Torch(false), tf32 = Torch(true);
            string F(double? v) => v is { } x && double.IsFinite(x) ? x.ToString(x < 10 ? "F2" : "F1", inv) : "–";
            string R(double? a, double? b) => a is { } x && b is { } y && y > 0 ? (x / y).ToString("F1", inv) + "×" : "–";
            md.AppendLine(inv, $"| {model} | {(g?.Error is not null ? "error" : F(ours))} | {F(fp32)} | {R(ours, fp32)} | {F(tf32)} | {R(ours, tf32)} |");
            rows.Add(new JsonObject
            {
                ["model"] = model,
                ["gpuganMs"] = ours,
                ["torchFp32Ms"] = fp32,
                ["torchTf32Ms"] = tf32,
                ["ratioFp32"] = ours is { } o1 && fp32 is { } t1 && t1 > 0 ? o1 / t1 : null,
                ["ratioTf32"] = ours is { } o2 && tf32 is { } t2 && t2 > 0 ? o2 / t2 : null,
                ["gpuganError"] = g?.Error,
            });
        }
        md.AppendLine();
        md.AppendLine("Ratio = GpuGan ÷ PyTorch (above 1: GpuGan is slower).");

        if (gpugan is not null)
        {
            if (gpugan.Kernels.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("## Kernels (median ms, synchronised)");
                md.AppendLine();
                md.AppendLine("| kernel | shape | ms | GFLOP/s |");
                md.AppendLine("|---|---|---:|---:|");
                foreach (var k in gpugan.Kernels)
                    md.AppendLine(inv, $"| {k.Name} | {k.Shape} | {(k.Error is null ? k.MedianMs.ToString("F3", inv) : "error")} | {(k.Error is null ? k.Gflops.ToString(k.Gflops >= 10 ? "F0" : "G3", inv) : k.Error)} |");
            }
            md.AppendLine();
            md.AppendLine("## Correctness");
            md.AppendLine();
            foreach (var a in gpugan.Architectures)
                md.AppendLine(inv, $"- {a.Model}: architecture {(a.Matches ? "matches models.json" : "DIFFERS from models.json: " + a.Detail)}");
            foreach (var group in gpugan.Parity.GroupBy(p => p.Group))
            {
                int pass = group.Count(p => p.Status == "pass"), fail = group.Count(p => p.Status == "fail"), skip = group.Count(p => p.Status == "skip");
                md.AppendLine(inv, $"- {group.Key}: {pass} passed, {fail} failed, {skip} skipped");
            }
            var failures = gpugan.Parity.Where(p => p.Status == "fail").ToList();
            foreach (var f in failures.Take(40))
                md.AppendLine(inv, $"  - FAIL {f.Case} — {f.Check}: {Shorten(f.Detail)}");
            if (failures.Count > 40) md.AppendLine(inv, $"  - … {failures.Count - 40} more in gpugan.json");
            foreach (var e in gpugan.Errors)
                md.AppendLine(inv, $"- error: {Shorten(e)}");
            md.AppendLine();
            md.AppendLine(inv, $"GpuGan sections completed: {string.Join(", ", gpugan.Completed)}; {gpugan.Seconds:F0} s.");
        }
        if (torch?["errors"] is JsonArray te && te.Count > 0)
            foreach (var e in te) md.AppendLine(inv, $"- torch error: {Shorten((string?)e)}");

        var merged = new JsonObject
        {
            ["summary"] = new JsonArray(rows.ToArray<JsonNode?>()),
            ["gpugan"] = gpugan is null ? null : JsonSerializer.SerializeToNode(gpugan, Json),
            ["torch"] = torch?.DeepClone(),
        };
        File.WriteAllText(Path.Combine(dir, "gpucheck.json"), merged.ToJsonString(Json));
        var text = md.ToString();
        File.WriteAllText(Path.Combine(dir, "gpucheck.md"), text);
        return text;
    }

    private static string Shorten(string? s)
    {
        if (s is null) return "";
        s = s.ReplaceLineEndings(" ");
        return s.Length <= 300 ? s : s[..300] + "…";
    }
}
