// The deferred metrics of a training step: the step writes its metrics (and the divergence flag) into a
// device table that the trainer reads back every LogEvery steps. metrics.csv must not depend on the
// interval (a row per step, the same values), the guard must still name the first bad step, and on an
// ILGPU device a step between read-backs must neither synchronise nor read anything back.
using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

[TestFixture, NonParallelizable]
public sealed class LogEveryTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-logevery-").FullName;

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static string[] RowsWithoutSpeed(string folder) => File.ReadAllLines(Path.Combine(folder, RunLayout.MetricsFile))
        .Select(l => string.Join(",", l.Split(',')[..^1])).ToArray();

    [Test]
    public void MetricsDoNotDependOnTheReadBackInterval()
    {
        string every = Path.Combine(_root, "every"), batched = Path.Combine(_root, "batched");
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), every, 7) with { CheckpointEvery = 5, LogEvery = 1 });
        var steps = new List<long>();
        TinyRuns.Train(TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), batched, 7) with { CheckpointEvery = 5, LogEvery = 3 }, new StepObserver(steps));
        var expected = RowsWithoutSpeed(every);
        Assert.That(expected, Has.Length.EqualTo(8), "a header and a row per step");
        Assert.That(RowsWithoutSpeed(batched), Is.EqualTo(expected));
        Assert.That(steps, Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6, 7 }), "the observer sees every step, in order");
    }

    [Test]
    public void DeferredGuardNamesTheFirstBadStep()
    {
        // A learning rate of 1e30 throws the weights to ±1e30 at once; the losses overflow a step or two later.
        string first = Path.Combine(_root, "one"), later = Path.Combine(_root, "four");
        var options = TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(16), first, 20) with { Lr = 1e30f, CheckpointEvery = 1000, LogEvery = 1 };
        var immediate = Assert.Throws<TrainingDivergedException>(() => TinyRuns.Train(options))!;
        var deferred = Assert.Throws<TrainingDivergedException>(() => TinyRuns.Train(options with { Out = later, LogEvery = 4 }))!;
        TestContext.Out.WriteLine(deferred.Message);
        Assert.That(deferred.Step, Is.EqualTo(immediate.Step), "the flag is per step: the read-back interval does not move it");
        Assert.That(deferred.Message, Does.Contain($"step {immediate.Step}"));
        var rows = File.ReadAllLines(Path.Combine(later, RunLayout.MetricsFile)).Skip(1).ToArray();
        Assert.That(rows, Has.Length.EqualTo(immediate.Step - 1), "rows up to the step before the bad one");
        Assert.That(rows.All(l => !l.Contains("NaN") && !l.Contains("Infinity")), "no bad row is logged");
    }

    [Test]
    public void AStepOnAnIlgpuDeviceNeitherWaitsNorReadsBack()
    {
        var device = Device.IlgpuCpu;
        var model = GanModel.Create(GanSpec.Canonical(ModelFamily.WganGp, new ImageShape(1, 28, 28), 8, 4, 0), 9, device);
        var data = new float[2 * 28 * 28];
        new RandomStream(8).FillUniform(data, -1, 1);
        using var table = model.CreateMetricsTable(2);
        var recorder = new LaunchRecorder(RecordingMode.SkipExecution);
        using (device.Attach(recorder))
        {
            for (int row = 0; row < 2; row++)
            {
                using var scope = TensorScope.Begin();
                model.TrainStep(() => (Tensor.FromArray(data, new Shape(2, 1, 28, 28), device), []), new RandomStream(3), table, row);
            }
        }
        Assert.That(recorder.Syncs, Is.Empty, "no synchronisation inside the steps");
        Assert.That(recorder.ReadBacks, Is.Empty, "no read-back inside the steps");
        Assert.That(recorder.Copies.Count(c => c.Direction == CopyDirection.HostToDevice), Is.EqualTo(2 * 5), "one upload per critic batch");
        Assert.That(recorder.Launches.Count(l => l.Kernel == "ScalarRowKernels.WriteRowKernel"), Is.EqualTo(2), "one metrics row per step");
    }

    [Test]
    public void ScalarRowsCarryTheDivergenceFlag()
    {
        foreach (var device in new[] { Device.Cpu, Device.IlgpuCpu })
        {
            using var scope = TensorScope.Begin();
            var table = Tensor.Zeros(new Shape(2, 4), device);
            var one = Tensor.Scalar(1f, device);
            var nan = Tensor.Scalar(float.NaN, device);
            var inf = Tensor.Scalar(float.PositiveInfinity, device);
            Tensor.WriteScalarRow(table, 0, [one, null, inf], guarded: [0, 1]);   // ∞ is not guarded; the absent one is not checked
            Tensor.WriteScalarRow(table, 1, [one, nan, one], guarded: [1]);
            var v = table.ToArray();
            Assert.That(v[..3], Is.EqualTo(new[] { 1f, float.NaN, float.PositiveInfinity }), $"{device.Kind}: row 0 values");
            Assert.That((v[3], v[7]), Is.EqualTo((0f, 1f)), $"{device.Kind}: flags");
        }
    }

    private sealed class StepObserver(List<long> steps) : ITrainingObserver
    {
        public void Started(TrainingStarted started) { }
        public void Step(StepMetrics metrics, long totalSteps) => steps.Add(metrics.Step);
        public void Notice(TrainingNotice notice) { }
    }
}
