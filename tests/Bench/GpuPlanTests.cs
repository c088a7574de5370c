using GpuGan.Bench.GpuPlan;
using GpuGan.GpuCheck;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Bench;

/// <summary>
/// gpu-plan (bench/GpuGan.Bench/GpuPlan, compiled into the tests): a recorded iteration of a tiny
/// model is non-empty and the same every iteration, and the roofline arithmetic matches a hand
/// computation.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class GpuPlanTests
{
    [Test]
    public void TinyModelPlanIsNonZeroAndSteady()
    {
        var models = ModelsFile.Load(Path.Combine(TestContext.CurrentContext.TestDirectory, "models.json"));
        foreach (var id in new[] { "dcgan28", "wgangp28" })
        {
            var recorded = PlanRecorder.Record(models.Get(id), models.DryRun, warmup: 2, iterations: 2);
            var (a, b) = (recorded[0], recorded[1]);
            Assert.That(a.Launches, Is.Not.Empty, $"{id}: no launch recorded");
            Assert.That(b.Launches.Select(l => (l.Kernel, l.Extent, l.Grid)), Is.EqualTo(a.Launches.Select(l => (l.Kernel, l.Extent, l.Grid))),
                $"{id}: the plan differs between two iterations");
            Assert.That((b.Syncs.Count, b.ReadBacks.Count, b.Copies.Count), Is.EqualTo((a.Syncs.Count, a.ReadBacks.Count, a.Copies.Count)));
            // One upload per real batch: 1 for DCGAN, 5 for WGAN-GP's critic steps.
            int batches = models.Get(id).CriticSteps;
            Assert.That(a.Copies.Count(c => c.Direction == CopyDirection.HostToDevice), Is.EqualTo(batches));
            Assert.That(a.BytesCopied(CopyDirection.HostToDevice), Is.EqualTo(batches * models.DryRun.Batch * 28 * 28 * sizeof(float)));

            var plan = Plan.From(a, GpuSpec.H100);
            Assert.That(plan.Launches, Is.EqualTo(a.Launches.Count));
            Assert.That(plan.ModelledMs, Is.GreaterThanOrEqualTo(a.Launches.Count * Roofline.LaunchOverheadSeconds * 1e3));
            Assert.That(plan.ByKernel.Sum(g => g.Launches), Is.EqualTo(a.Launches.Count));
            TestContext.Out.WriteLine($"{id} (batch {models.DryRun.Batch}): {a.Launches.Count} launches, {a.Syncs.Count} syncs, {a.ReadBacks.Count} read-backs, {plan.ModelledMs:F2} ms modelled");
        }
    }

    [Test]
    public void RooflineArithmeticMatchesAHandComputation()
    {
        var r = new LaunchRecorder(RecordingMode.SkipExecution);
        // A GEMM-like launch: 66 groups of 256 on a 132-SM H100 (half the chip), 2 GFLOP, 100 MB, k = 1000.
        r.AddLaunch("Gemm", 66 * 256, new Dim3(66, 1, 1), new Dim3(256, 1, 1), 0, autoGrouped: false, new LaunchCost(2_000_000_000, 60_000_000, 40_000_000, 1000));
        // A one-thread-per-output sum over 10^6 elements, auto-grouped over 5000 outputs: ⌈5000/1024⌉ = 5 blocks on CUDA.
        r.AddLaunch("Sum", 5000, new Dim3(625, 1, 1), new Dim3(8, 1, 1), 0, autoGrouped: true, new LaunchCost(5_000_000, 20_000_000, 20_000, 1_000_000));
        r.AddSync(SyncReason.PageableCopy);
        r.AddCopy(CopyDirection.HostToDevice, 2_500_000, pinned: false);

        var h100 = GpuSpec.H100;
        var gemm = Roofline.LaunchTime(r.Launches[0], h100);
        // compute 2e9 / (67e12 · 66/132) = 59.7015 µs > memory 1e8 / 3.35e12 = 29.85 µs > serial 1000 · 20 ns = 20 µs; + 4 µs.
        Assert.That(gemm.Bound, Is.EqualTo("compute"));
        Assert.That(gemm.Seconds, Is.EqualTo(2e9 / (67e12 * 0.5) + 4e-6).Within(1e-12));
        Assert.That(gemm.Seconds * 1e6, Is.EqualTo(63.7015).Within(1e-4));
        Assert.That(Roofline.IsUnderfilled(r.Launches[0], h100), Is.True, "66 blocks < 132 SMs with 2 GFLOP");

        var sum = Roofline.LaunchTime(r.Launches[1], h100);
        Assert.That(Roofline.Blocks(r.Launches[1]), Is.EqualTo(5), "the CUDA group size, not the recording accelerator's");
        // serial 10^6 · 20 ns = 20 ms dominates compute 5e6 / (67e12 · 5/132) and memory 2.002e7 / 3.35e12.
        Assert.That(sum.Bound, Is.EqualTo("serial"));
        Assert.That(sum.Seconds, Is.EqualTo(0.02 + 4e-6).Within(1e-12));
        Assert.That(Roofline.IsUnderfilled(r.Launches[1], h100), Is.True, "5 blocks with 5 MFLOP");

        var plan = Plan.From(r, h100);
        // Total: both launches + one 10 µs drain + the copy (4 µs + 2.5e6 / 25e9 = 104 µs).
        double expectedMs = (2e9 / (67e12 * 0.5) + 4e-6 + 0.02 + 4e-6 + 10e-6 + 4e-6 + 2.5e6 / 25e9) * 1e3;
        Assert.That(plan.ModelledMs, Is.EqualTo(expectedMs).Within(1e-9));
        Assert.That(plan.ModelledMs, Is.EqualTo(20.18170).Within(1e-5));
        Assert.That((plan.Launches, plan.Synchronizations, plan.UnderfilledLaunches, plan.MaxSerialLoop, plan.MaxSerialLoopKernel),
            Is.EqualTo((2, 1, 2, 1_000_000L, "Sum")));
        Assert.That(plan.ByKernel.Select(g => g.Name), Is.EqualTo(new[] { "Sum", "Gemm" }), "largest modelled time first");

        // The RTX 4090: compute 2e9 / (82.6e12 · 66/128) = 46.96 µs, but 1e8 B / 1.008e12 B/s = 99.21 µs: memory-bound there.
        var rtx = Roofline.LaunchTime(r.Launches[0], GpuSpec.Rtx4090);
        Assert.That(rtx.Bound, Is.EqualTo("memory"));
        Assert.That(rtx.Seconds, Is.EqualTo(1e8 / 1.008e12 + 4e-6).Within(1e-12));
    }
}
