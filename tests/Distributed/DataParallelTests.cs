using GpuGan.Gan;
using GpuGan.Gan.Data;
using GpuGan.Gan.Distributed;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Tensors;
using GpuGan.Tests.Gan;
using GpuGan.Tests.OpTable;
using NUnit.Framework;

namespace GpuGan.Tests.Distributed;

/// <summary>
/// The pieces of data-parallel training that one process can check: K shards of the data and of the noise are the
/// one-process batch and draw cut in K; the gradient averager's buckets and layout; the sync-BN layer; the watchdog;
/// the trainer's refusals. The MPI job itself is MpiRunTests.
/// </summary>
[TestFixture]
public sealed class DataParallelTests
{
    [Test]
    public void ShardedNoiseIsTheOneProcessDrawCutInParts([Values(2, 4)] int ranks)
    {
        var whole = new RandomStream(99, 5);
        var parts = Enumerable.Range(0, ranks).Select(r => new RandomStream(99, 5) { ShardIndex = r, ShardCount = ranks }).ToArray();
        using var scope = TensorScope.Begin();
        for (int draw = 0; draw < 3; draw++)
        {
            // A latent batch (N, nz, 1, 1), a per-sample α (N, 1, 1, 1) and per-sample labels, as one training step draws them.
            var z = Tensor.RandN(new Shape(8, 3, 1, 1), whole).ToArray();
            var zParts = parts.SelectMany(p => Tensor.RandN(new Shape(8 / ranks, 3, 1, 1), p).ToArray()).ToArray();
            Assert.That(zParts, Is.EqualTo(z), $"latent draw {draw}");
            var alpha = Tensor.RandU(new Shape(8, 1, 1, 1), whole).ToArray();
            Assert.That(parts.SelectMany(p => Tensor.RandU(new Shape(8 / ranks, 1, 1, 1), p).ToArray()), Is.EqualTo(alpha), $"α draw {draw}");
            var labels = new int[8];
            whole.NextInts(labels, 10);
            Assert.That(parts.SelectMany(p => { var l = new int[8 / ranks]; p.NextInts(l, 10); return l; }), Is.EqualTo(labels), $"label draw {draw}");
            Assert.That(parts.Select(p => p.Offset), Is.All.EqualTo(whole.Offset), "every rank's stream offset is the one-process offset");
        }
    }

    [Test]
    public void NextIntsIsTheSequenceOfNextInt()
    {
        var a = new RandomStream(5);
        var b = new RandomStream(5);
        var many = new int[17];
        a.NextInts(many, 7);
        Assert.That(many, Is.EqualTo(Enumerable.Range(0, 17).Select(_ => b.NextInt(7)).ToArray()));
        Assert.That(a.Offset, Is.EqualTo(b.Offset));
    }

    [Test]
    public void ShardedLoadersReadTheGlobalBatchesDisjointly()
    {
        var data = new PetriDataset(40, 32, seed: 2);
        using var whole = new DataLoader(data, 8, seed: 3);
        var shards = Enumerable.Range(0, 4).Select(r => DataLoader.Sharded(data, 8, 3, r, 4)).ToArray();
        try
        {
            for (int step = 0; step < 12; step++)   // 5 batches per epoch: crosses two epoch boundaries
            {
                var b = whole.Next();
                var indices = b.Indices.ToArray();
                var samples = b.Samples.ToArray();
                var parts = shards.Select(s => s.Next()).ToArray();
                Assert.That(parts.Select(p => p.Count), Is.All.EqualTo(2));
                Assert.That(parts.SelectMany(p => p.Indices.Take(p.Count)), Is.EqualTo(indices), $"step {step}: the shards are the global batch in order");
                Assert.That(parts.SelectMany(p => p.Samples.ToArray()), Is.EqualTo(samples));
                Assert.That(shards.Select(s => (s.Epoch, s.BatchIndex)), Is.All.EqualTo((whole.Epoch, whole.BatchIndex)), "positions agree (what a checkpoint holds)");
            }
        }
        finally
        {
            foreach (var s in shards) s.Dispose();
        }
        Assert.Throws<ArgumentException>(() => DataLoader.Sharded(data, 6, 3, 0, 4));
    }

    [Test]
    public void TheAveragerReducesOneFlatBufferInBuckets()
    {
        using var scope = TensorScope.Begin();
        var p1 = Tensor.Zeros(new Shape(5, 3)).KeepAlive();
        var p2 = Tensor.Zeros(new Shape(7)).KeepAlive();
        var p3 = Tensor.Zeros(new Shape(2)).KeepAlive();   // no gradient: reduced as zeros, and given one
        p1.Grad = Tensor.FromArray(Enumerable.Range(0, 15).Select(i => i * 0.25f).ToArray(), 5, 3).KeepAlive();
        p2.Grad = Tensor.FromArray(Enumerable.Range(0, 7).Select(i => -i * 1.5f).ToArray(), 7).KeepAlive();
        var comm = new ReplicatedCommunicator(4);   // four ranks holding these very gradients: the mean is the gradient itself
        var averager = new GradientAverager(comm, bucketBytes: 10 * sizeof(float));
        averager.Average([p1, p2, p3]);
        Assert.That(p1.Grad.ToArray(), Is.EqualTo(Enumerable.Range(0, 15).Select(i => i * 0.25f).ToArray()));
        Assert.That(p2.Grad.ToArray(), Is.EqualTo(Enumerable.Range(0, 7).Select(i => -i * 1.5f).ToArray()));
        Assert.That(p3.Grad!.ToArray(), Is.All.EqualTo(0f));
        Assert.That((averager.Calls, comm.Calls, averager.Bytes), Is.EqualTo((3L, 3L, 24L * sizeof(float))), "24 values in buckets of 10: 3 calls, not one per tensor");
    }

    [Test]
    public void SyncBatchNormLayerOverOneRankIsBatchNorm()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new Shape(4, 3, 5, 5), new RandomStream(3));
        var plain = new BatchNorm2d(3);
        var sync = new BatchNorm2d(3) { Communicator = SingleProcessCommunicator.Instance };
        for (int i = 0; i < 3; i++)
        {
            GradCheck.AssertClose(sync.Forward(x).ToArray(), plain.Forward(x).ToArray(), 2e-5, 1e-5, $"training output, pass {i}");
            GradCheck.AssertClose(sync.RunningMean!.ToArray(), plain.RunningMean!.ToArray(), 1e-6, 1e-5, $"running mean, pass {i}");
            GradCheck.AssertClose(sync.RunningVar!.ToArray(), plain.RunningVar!.ToArray(), 1e-6, 1e-5, $"running variance, pass {i}");
        }
        Assert.That(sync.NumBatchesTracked, Is.EqualTo(plain.NumBatchesTracked));
        sync.Eval();
        plain.Eval();
        // Eval mode normalises with the running statistics alone (which agree to float32 rounding, above).
        GradCheck.AssertClose(sync.Forward(x).ToArray(), plain.Forward(x).ToArray(), 1e-5, 1e-5, "eval output");
    }

    [Test]
    public void SyncBatchNormRunningVarianceIsUnbiasedOverTheGlobalCount()
    {
        // Two replicas: M = 2m values per channel, so running_var takes σ²·2m/(2m − 1) where one process takes σ²·m/(m − 1).
        using var scope = TensorScope.Begin();
        var x = Tensor.RandN(new Shape(2, 3, 2, 2), new RandomStream(4));
        var plain = new BatchNorm2d(3);
        var sync = new BatchNorm2d(3) { Communicator = new ReplicatedCommunicator(2) };
        plain.Forward(x);
        sync.Forward(x);
        double m = 2 * 4;
        var fromPlain = plain.RunningVar!.ToArray().Select(v => (v - 0.9) / 0.1 * (m - 1) / m).ToArray();   // σ² (biased)
        var expected = fromPlain.Select(v => 0.9 + 0.1 * v * 2 * m / (2 * m - 1)).ToArray();
        GradCheck.AssertClose(sync.RunningVar!.ToArray(), expected, 1e-6, 1e-5, "running variance over 2 replicas");
    }

    [Test]
    public void TheWatchdogReportsACollectiveThatOutlivesItsTimeout()
    {
        string? report = null;
        using var fired = new ManualResetEventSlim();
        using var dog = new CollectiveWatchdog(TimeSpan.FromMilliseconds(300), what => { report = what; fired.Set(); });
        using (dog.Enter("quick one")) { }
        Assert.That(fired.Wait(600), Is.False, "a collective that returned in time is not reported");
        using (dog.Enter("allreduce (sum) of float32, 12 values"))
            Assert.That(fired.Wait(5000), Is.True, "a stuck collective is reported");
        Assert.That(report, Does.Contain("collective #2").And.Contain("allreduce (sum) of float32, 12 values"));
    }

    [Test]
    public void TheTrainerRefusesWhatItCannotSplit()
    {
        string folder = Path.Combine(Path.GetTempPath(), "gpugan-dp-" + Guid.NewGuid().ToString("N"));
        var options = TinyRuns.Options(ModelFamily.Dcgan, DataSource.Petri(64), folder, 2) with { Batch = 6 };
        var odd = Assert.Throws<BatchNotDivisibleException>(() => Trainer.StartRank(options, new ReplicatedCommunicator(4)));
        Assert.That((odd!.Batch, odd.Ranks), Is.EqualTo((6, 4)));
        var pairs = TinyRuns.Options(ModelFamily.Pix2pix, DataSource.PetriPairs(16), folder, 2) with { Batch = 2, LatentDim = 0, ImageSize = 32 };
        Assert.Throws<DistributedNotSupportedException>(() => Trainer.StartRank(pairs, new ReplicatedCommunicator(2)));
        Assert.That(Directory.Exists(folder), Is.False, "nothing written");
    }
}

/// <summary>SyncBatchNorm2d over replicas against the fused BatchNorm2d at the shapes DCGAN trains with (first and second order).</summary>
[TestFixture]
public sealed class SyncBatchNormShapeTests
{
    [TestCase(32, 128, 8, 8)]
    [TestCase(32, 256, 4, 4)]
    [TestCase(32, 64, 16, 16)]
    public void GradientsMatchBatchNorm(int n, int c, int h, int w)
    {
        using var scope = TensorScope.Begin();
        var gen = new RandomStream(21);
        var x = Tensor.RandN(new Shape(n, c, h, w), gen).MulScalar(0.3f).AddScalar(0.1f).Detach();
        x.RequiresGrad = true;
        var gamma = Tensor.RandU(new Shape(c), gen, null, 0.5f, 1.5f).Detach();
        gamma.RequiresGrad = true;
        var beta = Tensor.RandN(new Shape(c), gen).Detach();
        beta.RequiresGrad = true;
        var u = Tensor.RandN(new Shape(n, c, h, w), gen);
        var plain = x.BatchNorm2d(gamma, beta, null, null, training: true);
        var sync = x.SyncBatchNorm2d(gamma, beta, null, null, training: true, new ReplicatedCommunicator(2));
        GradCheck.AssertClose(sync.ToArray(), plain.ToArray(), 1e-5, 1e-5, "forward");
        var gp = Autograd.Grad([plain], [x, gamma, beta], [u]);
        var gs = Autograd.Grad([sync], [x, gamma, beta], [u]);
        string[] names = ["dx", "dγ", "dβ"];
        for (int i = 0; i < 3; i++)
        {
            var expected = gp[i]!.ToArray();
            double scale = expected.Max(v => Math.Abs(v));
            GradCheck.AssertClose(gs[i]!.ToArray(), expected, 1e-5 * scale, 1e-4, names[i]);
        }
    }
}
