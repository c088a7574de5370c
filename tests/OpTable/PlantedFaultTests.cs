// Planted wrong rules (the issue's "done when"): each test plants one wrong derivative rule through the
// test-only seam (src/Tensors/Core/DerivativeSeam.cs), runs gradcheck and gradgradcheck on the cpu
// kernels over the rows that use the rule, and asserts that the checks named in its plan fail, after
// showing that the same checks pass without the plant (so the failure is the plant's doing). Every
// catching (row, check) is written to the test output.
//
// Plants: a zeroed ∂/∂u (upstream-gradient) rule for every backward op the engine records
// (LeakyBackward, TanhBackward, SigmoidBackward, NormBackward, ConvTranspose2d as Conv2d's input
// gradient, Conv2d as ConvTranspose2d's, Conv2dWeightGrad), a sign-flipped second-order term in the norm
// rule, and a transposed conv weight gradient (Conv2d's and ConvTranspose2d's). A zeroed ∂/∂u rule leaves
// every first derivative of the forward op intact: only gradgradcheck w.r.t. u (item 1) sees it on the
// forward op's row, and the backward op's own row (item 2) sees it in its first order.
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.OpTable;

[TestFixture, Category("cpu")]
public sealed class PlantedFaultTests
{
    public enum Check { GradCheck, GradGradCheck }

    /// <summary>A plant, the rows (by op name, see Named) it is run over, and the (row prefix, check) pairs that must catch it.</summary>
    internal sealed record Plan(string Title, PlantedFault Fault, string[] Rows, (string Row, Check Check)[] MustCatch)
    {
        public override string ToString() => Title;
    }

    public static IEnumerable<TestCaseData> Plans() => AllPlans().Select(p => new TestCaseData(p.Title).SetArgDisplayNames(p.Title));

    private static IEnumerable<Plan> AllPlans()
    {
        static Plan P(string title, PlantedFault fault, string[] rows, params (string, Check)[] must) => new(title, fault, rows, must);
        var zero = PlantedFaultKind.ZeroInputGradient;

        yield return P("LeakyBackward ∂/∂g = 0", new(zero, "LeakyBackward", 0), ["LeakyBackward", "LeakyRelu", "Relu"],
            ("LeakyRelu", Check.GradGradCheck), ("Relu", Check.GradGradCheck), ("LeakyBackward", Check.GradCheck));
        yield return P("TanhBackward ∂/∂g = 0", new(zero, "TanhBackward", 0), ["TanhBackward", "Tanh"],
            ("Tanh", Check.GradGradCheck), ("TanhBackward", Check.GradCheck));
        yield return P("SigmoidBackward ∂/∂g = 0", new(zero, "SigmoidBackward", 0), ["SigmoidBackward", "Sigmoid"],
            ("Sigmoid", Check.GradGradCheck), ("SigmoidBackward", Check.GradCheck));
        yield return P("NormBackward ∂/∂g = 0", new(zero, "NormBackward", 0), ["NormBackward", "LayerNorm", "InstanceNorm2d", "BatchNorm2d[train*"],
            ("LayerNorm", Check.GradGradCheck), ("InstanceNorm2d", Check.GradGradCheck), ("BatchNorm2d[train*", Check.GradGradCheck),
            ("NormBackward", Check.GradCheck));
        yield return P("ConvTranspose2d ∂/∂y = 0 (Conv2d's input gradient)", new(zero, "ConvTranspose2d", 0), ["Conv2d", "ConvTranspose2d"],
            ("Conv2d", Check.GradGradCheck), ("ConvTranspose2d", Check.GradCheck));
        yield return P("Conv2d ∂/∂x = 0 (ConvTranspose2d's input gradient)", new(zero, "Conv2d", 0), ["ConvTranspose2d", "Conv2d"],
            ("ConvTranspose2d", Check.GradGradCheck), ("Conv2d", Check.GradCheck));
        yield return P("Conv2dWeightGrad ∂/∂g = 0", new(zero, "Conv2dWeightGrad", 1), ["Conv2dWeightGrad", "Conv2d", "ConvTranspose2d"],
            ("Conv2d", Check.GradGradCheck), ("ConvTranspose2d", Check.GradGradCheck), ("Conv2dWeightGrad", Check.GradCheck));
        yield return P("norm rule: sign-flipped second-order term", new(PlantedFaultKind.FlipNormSecondOrderTerm),
            ["NormBackward", "LayerNorm", "InstanceNorm2d", "BatchNorm2d[train*"],
            // The term is part of dx only: the dγ and dβ rows of NormBackward do not reach it.
            ("LayerNorm", Check.GradGradCheck), ("InstanceNorm2d", Check.GradGradCheck), ("BatchNorm2d[train*", Check.GradGradCheck),
            ("NormBackward[*, dx]", Check.GradCheck));
        yield return P("Conv2d: transposed weight gradient", new(PlantedFaultKind.TransposeWeightGradient, "Conv2d"), ["Conv2d"],
            ("Conv2d", Check.GradCheck), ("Conv2d", Check.GradGradCheck));
        yield return P("ConvTranspose2d: transposed weight gradient", new(PlantedFaultKind.TransposeWeightGradient, "ConvTranspose2d"), ["ConvTranspose2d"],
            ("ConvTranspose2d", Check.GradCheck), ("ConvTranspose2d", Check.GradGradCheck));
    }

    /// <summary>Row names of an op: "Op" or "Op[…]"; a pattern with * is a glob over the whole name.</summary>
    private static bool Named(OpCase r, string pattern) => pattern.Contains('*')
        ? System.Text.RegularExpressions.Regex.IsMatch(r.Name, "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*") + "$")
        : r.Name == pattern || r.Name.StartsWith(pattern + "[", StringComparison.Ordinal);

    private static string? Run(OpCase op, Check check)
    {
        try
        {
            return check == Check.GradCheck ? GradCheck.TryCheck(op, Device.Cpu) : GradCheck.TryCheckSecondOrder(op, Device.Cpu);
        }
        catch (Exception e) when (e is InvalidOperationException or ShapeMismatchException)
        {
            // A wrong rule may also break a shape contract (a swapped non-square kernel): caught, by the engine.
            return $"threw {e.GetType().Name}: {e.Message}";
        }
    }

    [TestCaseSource(nameof(Plans))]
    public void PlantedWrongRuleIsCaught(string title)
    {
        var plan = AllPlans().Single(p => p.Title == title);
        var rows = OpCases.All().Where(r => plan.Rows.Any(p => Named(r, p))).ToArray();
        Assert.That(rows, Is.Not.Empty, $"{plan}: no rows named {string.Join(", ", plan.Rows)}");

        bool Matches(OpCase r, (string Row, Check Check) m) => Named(r, m.Row);

        // Control: without the plant, the checks that must catch it pass.
        foreach (var m in plan.MustCatch)
        {
            var own = rows.Where(r => Matches(r, m)).ToArray();
            Assert.That(own, Is.Not.Empty, $"{plan}: no row named {m.Row}");
            foreach (var r in own)
                if (Run(r, m.Check) is { } failure) Assert.Fail($"{plan}: {m.Check} of {r.Name} fails without the plant: {failure}");
        }

        var caught = new List<(string Row, Check Check, string Message)>();
        using (DerivativeSeam.Plant(plan.Fault))
        {
            foreach (var r in rows)
                foreach (var check in new[] { Check.GradCheck, Check.GradGradCheck })
                {
                    if (check == Check.GradGradCheck && !r.SupportsGradGrad) continue;
                    if (Run(r, check) is { } failure) caught.Add((r.Name, check, failure));
                }
        }
        Assert.That(DerivativeSeam.Planted, Is.Null, "the plant is gone after its scope");

        TestContext.Out.WriteLine($"planted: {plan.Fault}; caught by {caught.Count} of the checks over {rows.Length} rows:");
        foreach (var (row, check, message) in caught) TestContext.Out.WriteLine($"  {check,-13} {row}: {message}");
        foreach (var m in plan.MustCatch)
        {
            // Every row of the prefix whose op the plant can reach must catch it; a pointwise (1×1) kernel is its own
            // transpose, so for that plant one catching row of the prefix suffices.
            var own = rows.Where(r => Matches(r, m)).Select(r => r.Name).ToArray();
            var hits = caught.Where(c => c.Check == m.Check && own.Contains(c.Row)).Select(c => c.Row).ToArray();
            if (plan.Fault.Kind == PlantedFaultKind.TransposeWeightGradient)
                Assert.That(hits, Is.Not.Empty, $"{plan}: no {m.Check} of the {m.Row}* rows caught it");
            else
                Assert.That(own.Except(hits), Is.Empty, $"{plan}: {m.Check} of these rows did not catch it");
        }
    }

    /// <summary>A plant is visible only to the flow that planted it: a thread that does not inherit its context never sees it.</summary>
    [Test]
    public void PlantIsInvisibleToOtherThreads()
    {
        using var _ = DerivativeSeam.Plant(new PlantedFault(PlantedFaultKind.ZeroInputGradient, "LeakyBackward", 0));
        PlantedFault? seen = new(PlantedFaultKind.FlipNormSecondOrderTerm);
        Thread other;
        using (ExecutionContext.SuppressFlow())
        {
            other = new Thread(() => seen = DerivativeSeam.Planted);
            other.Start();
        }
        other.Join();
        Assert.That(seen, Is.Null, "an unrelated thread (a parallel test) must not see the plant");
        Assert.That(DerivativeSeam.Planted, Is.Not.Null, "the planting flow sees it");
    }
}
