using System.Reflection;
using System.Text.RegularExpressions;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.OpTable;

/// <summary>
/// Every op the engine records on the tape, forward or backward, has a row of its own in the op table
/// (reference, gradcheck, gradgradcheck, parity). The recorded names are read from the library itself:
/// the differentiable op structs by reflection, the other ops from the name literals passed to
/// Autograd.Record (and NormalizeTraining) in src/Tensors, so an op added without a row fails here.
/// </summary>
[TestFixture]
public sealed class CoverageTests
{
    /// <summary>Recorded names that are not ops of their own, and why.</summary>
    private static readonly Dictionary<string, string> NotOps = new()
    {
        // NormBackward's rule records stand-ins for its inputs (identity on the tape); the NormBackward rows'
        // gradgradcheck differentiates through them.
        ["Identity"] = "stand-in inside NormBackward's rule",
        ["PlantedSwapKernelAxes"] = "DerivativeSeam's planted fault (tests only)",
    };

    /// <summary>Recorded names whose rows carry another name.</summary>
    private static readonly Dictionary<string, string> RowPrefix = new() { ["BatchNorm2dEval"] = "BatchNorm2d[eval" };

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuGan.sln"))) return dir.FullName;
        Assert.Fail($"GpuGan.sln not found above {AppContext.BaseDirectory}: the coverage check reads src/Tensors");
        return "";
    }

    /// <summary>The recorded ops that must have rows (all recorded names but <see cref="NotOps"/>).</summary>
    public static IEnumerable<string> RecordedOps() => RecordedNames().Where(n => !NotOps.ContainsKey(n));

    private static SortedSet<string> RecordedNames()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var t in typeof(Tensor).Assembly.GetTypes().Where(t => t.IsValueType))
        {
            bool unary = t.GetInterfaces().Any(i => i.Name == "IDifferentiableUnaryOp"), binary = t.GetInterfaces().Any(i => i.Name == "IDifferentiableBinaryOp");
            if (unary || binary) names.Add((string)t.GetProperty("Name", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!);
        }
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot(), "src", "Tensors"), "*.cs", SearchOption.AllDirectories))
        {
            string text = File.ReadAllText(file);
            foreach (Match m in Regex.Matches(text, @"Autograd\.Record\([^;]*?,\s*""(\w+)""")) names.Add(m.Groups[1].Value);
            foreach (Match m in Regex.Matches(text, @"NormalizeTraining\(""(\w+)""")) names.Add(m.Groups[1].Value);
        }
        return names;
    }

    [Test]
    public void TheScanFindsTheKnownOps()
    {
        var names = RecordedNames();
        Assert.That(names, Is.SupersetOf(NotOps.Keys), "every exclusion names something the library records");
        Assert.That(names, Is.SupersetOf(new[] { "Conv2d", "ConvTranspose2d", "Conv2dWeightGrad", "NormBackward", "LeakyBackward", "TanhBackward", "SigmoidBackward", "MatMul", "LayerNorm" }));
    }

    [TestCaseSource(nameof(RecordedOps))]
    public void RecordedOpHasARow(string op)
    {
        string prefix = RowPrefix.GetValueOrDefault(op, op);
        var rows = OpCases.All().Select(r => r.Name).Where(n => n == prefix || n.StartsWith(prefix + (prefix == op ? "[" : ""), StringComparison.Ordinal)).ToArray();
        Assert.That(rows, Is.Not.Empty, $"the recorded op {op} has no op-table row");
    }
}
