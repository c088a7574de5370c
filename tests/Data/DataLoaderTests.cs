using GpuGan.Gan.Data;
using NUnit.Framework;

namespace GpuGan.Tests.Data;

public class DataLoaderTests
{
    // Sample i is the constant vector (i / 1000) so batches can be checked by content.
    private sealed class CountingDataset(int count, int length = 3) : IDataset
    {
        public int Count => count;
        public int Channels => 1;
        public int Height => 1;
        public int Width => length;
        public int ClassCount => 5;
        public string Name => "counting";
        public int Reads;

        public void CopySample(int index, Span<float> destination)
        {
            Interlocked.Increment(ref Reads);
            destination[..length].Fill(index / 1000f);
        }

        public int Label(int index) => index % 5;
    }

    private static List<int[]> Take(DataLoader loader, int batches)
    {
        var result = new List<int[]>();
        for (int i = 0; i < batches; i++)
        {
            var b = loader.Next();
            for (int k = 0; k < b.Count; k++)
            {
                Assert.That(b.Data.AsSpan(k * 3, 3).ToArray(), Is.All.EqualTo(b.Indices[k] / 1000f));
                Assert.That(b.Labels[k], Is.EqualTo(b.Indices[k] % 5));
            }
            result.Add(b.Indices.AsSpan(0, b.Count).ToArray());
        }
        return result;
    }

    [Test]
    public void SameSeedGivesSameBatches()
    {
        var data = new CountingDataset(100);
        using var a = new DataLoader(data, 8, seed: 3);
        using var b = new DataLoader(data, 8, seed: 3);
        using var c = new DataLoader(data, 8, seed: 4);
        var fromA = Take(a, 30);
        Assert.That(Take(b, 30), Is.EqualTo(fromA));
        Assert.That(Take(c, 30), Is.Not.EqualTo(fromA));
    }

    [Test]
    public void EveryEpochIsAPermutationInADifferentOrder()
    {
        var data = new CountingDataset(100);
        using var loader = new DataLoader(data, 10, seed: 1);
        Assert.That(loader.BatchesPerEpoch, Is.EqualTo(10));
        var epochs = new List<int[]>();
        for (int e = 0; e < 3; e++)
        {
            var seen = new List<int>();
            foreach (var batch in loader.ReadEpoch())
            {
                Assert.That(batch.Epoch, Is.EqualTo(e));
                Assert.That(batch.Count, Is.EqualTo(10));
                seen.AddRange(batch.Indices.AsSpan(0, batch.Count).ToArray());
            }
            Assert.That(seen, Is.EquivalentTo(Enumerable.Range(0, 100)), $"epoch {e} visits every sample once");
            epochs.Add(seen.ToArray());
            Assert.That(seen, Is.EqualTo(loader.EpochOrder(e)));
        }
        Assert.That(epochs[0], Is.Not.EqualTo(epochs[1]));
        Assert.That(epochs[1], Is.Not.EqualTo(epochs[2]));
        Assert.That(epochs[0], Is.Not.EqualTo(Enumerable.Range(0, 100).ToArray()), "shuffled");
    }

    [Test]
    public void DropLastAndShortLastBatch()
    {
        var data = new CountingDataset(23);
        using (var dropping = new DataLoader(data, 5, seed: 2))
        {
            Assert.That(dropping.BatchesPerEpoch, Is.EqualTo(4));
            var batches = Take(dropping, 5);
            Assert.That(batches.Select(b => b.Length), Is.All.EqualTo(5));
            Assert.That(batches.Take(4).SelectMany(b => b).Distinct().Count(), Is.EqualTo(20));
        }
        using var keeping = new DataLoader(data, 5, seed: 2, dropLast: false);
        Assert.That(keeping.BatchesPerEpoch, Is.EqualTo(5));
        var epoch = keeping.ReadEpoch().Select(b => (b.Count, b.Index)).ToList();
        Assert.That(epoch, Is.EqualTo(new[] { (5, 0), (5, 1), (5, 2), (5, 3), (3, 4) }));
        Assert.Throws<ArgumentException>(() => new DataLoader(new CountingDataset(3), 4, seed: 0));
    }

    [Test]
    public void ResumeAtEpochAndBatchGivesTheSameBatches()
    {
        var data = new CountingDataset(50);
        using var straight = new DataLoader(data, 7, seed: 11);
        var all = Take(straight, 7 * 4); // 7 batches per epoch, 4 epochs
        foreach (var (epoch, batch) in new[] { (0, 0), (1, 3), (2, 6), (2, 7) })
        {
            using var resumed = new DataLoader(data, 7, seed: 11);
            resumed.Seek(epoch, batch);
            int start = epoch * 7 + batch;
            Assert.That(Take(resumed, all.Count - start), Is.EqualTo(all.Skip(start).ToList()), $"resume at ({epoch}, {batch})");
        }

        // Seek on a running loader, backwards, then forwards again.
        using var loader = new DataLoader(data, 7, seed: 11);
        Take(loader, 10);
        loader.Seek(0, 2);
        Assert.That((loader.Epoch, loader.BatchIndex), Is.EqualTo((0, 2)));
        Assert.That(Take(loader, 5), Is.EqualTo(all.Skip(2).Take(5).ToList()));
        Assert.That((loader.Epoch, loader.BatchIndex), Is.EqualTo((1, 0)));
    }

    [Test]
    public void PreparesTheNextBatchInTheBackground()
    {
        var data = new CountingDataset(64);
        using var loader = new DataLoader(data, 8, seed: 0);
        var first = loader.Next();
        // While the caller holds the first batch, the worker fills the second buffer and then waits.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Volatile.Read(ref data.Reads) < 16 && DateTime.UtcNow < deadline) Thread.Sleep(1);
        Thread.Sleep(50);
        Assert.That(Volatile.Read(ref data.Reads), Is.EqualTo(16), "exactly one batch is prepared ahead");
        Assert.That(first.Index, Is.EqualTo(0));
        var second = loader.Next();
        Assert.That(second, Is.Not.SameAs(first), "two buffers alternate");
        Assert.That(loader.Next(), Is.SameAs(first));
    }

    private sealed class FailingDataset : IDataset
    {
        public int Count => 10;
        public int Channels => 1;
        public int Height => 1;
        public int Width => 1;
        public int ClassCount => 0;
        public string Name => "failing";
        public void CopySample(int index, Span<float> destination)
        {
            if (index == 7) throw new InvalidOperationException("sample 7 is broken");
            destination[0] = 0;
        }

        public int Label(int index) => -1;
    }

    [Test]
    public void WorkerErrorsReachTheCaller()
    {
        using var loader = new DataLoader(new FailingDataset(), 10, seed: 0, shuffle: false);
        var e = Assert.Throws<InvalidOperationException>(() => loader.Next());
        Assert.That(e!.Message, Is.EqualTo("sample 7 is broken"));
    }

    [Test]
    public void DisposeStopsTheWorker()
    {
        var loader = new DataLoader(new CountingDataset(40), 4, seed: 0);
        loader.Next();
        loader.Dispose();
        loader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => loader.Next());
    }
}
