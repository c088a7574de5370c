using System.Collections.Concurrent;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using NUnit.Framework;

namespace GpuGan.Tests.Core;

/// <summary>
/// The thread team of the CPU kernel set (CpuParallel): every chunk runs exactly once whatever the thread count,
/// a throwing body's exception reaches the caller only after the chunks in flight have ended, nested and
/// concurrent loops finish, the thread count is respected, and idle or disposed teams let their threads go.
/// </summary>
[TestFixture]
public sealed class CpuParallelTests
{
    private static CpuParallel Team(int threads, double idleExitSeconds = 5) =>
        new(new CpuKernelOptions { Threads = threads }, TimeSpan.FromSeconds(idleExitSeconds));

    [Test]
    public void EveryChunkRunsOnceAndTheCutIgnoresTheThreadCount([Values(1, 2, 3, 5)] int threads)
    {
        using var team = Team(threads);
        foreach (var (count, grain) in new[] { (1, 1), (7, 3), (1000, 7), (4097, 64), (10, 100) })
        {
            var hits = new int[count];
            var cuts = new ConcurrentBag<(int, int)>();
            for (int repeat = 0; repeat < 3; repeat++)
            {
                cuts.Clear();
                team.ForChunks(count, grain, (s, e) =>
                {
                    cuts.Add((s, e));
                    for (int i = s; i < e; i++) Interlocked.Increment(ref hits[i]);
                });
                var expected = Enumerable.Range(0, (count + grain - 1) / grain).Select(c => (c * grain, Math.Min(count, (c + 1) * grain)));
                Assert.That(cuts.OrderBy(c => c.Item1), Is.EqualTo(expected), $"count {count}, grain {grain}");
            }
            Assert.That(hits, Is.All.EqualTo(3), $"count {count}, grain {grain}");

            var each = new int[count];
            team.ForEach(count, i => Interlocked.Increment(ref each[i]));
            Assert.That(each, Is.All.EqualTo(1));
        }
    }

    [Test]
    public void AThrowingBodyRethrowsItsExceptionAfterTheChunksInFlightEnd([Values(1, 2, 4)] int threads)
    {
        using var team = Team(threads);
        int running = 0, started = 0;
        var ex = Assert.Throws<InvalidDataException>(() => team.ForEach(64, i =>
        {
            Interlocked.Increment(ref running);
            Interlocked.Increment(ref started);
            try
            {
                Thread.SpinWait(20_000);
                if (i == 5) throw new InvalidDataException("chunk 5");
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        }));
        Assert.That(ex!.Message, Is.EqualTo("chunk 5"));
        Assert.That(ex.StackTrace, Does.Contain(nameof(AThrowingBodyRethrowsItsExceptionAfterTheChunksInFlightEnd)), "the original stack is kept");
        Assert.That(Volatile.Read(ref running), Is.Zero, "no chunk may still run when the loop returns");
        Assert.That(started, Is.LessThan(64), "chunks after the failure are skipped");
        // The team still works afterwards.
        var hits = new int[100];
        team.ForChunks(100, 3, (s, e) => { for (int i = s; i < e; i++) hits[i]++; });
        Assert.That(hits, Is.All.EqualTo(1));
    }

    [Test]
    public void NestedAndConcurrentLoopsFinish()
    {
        using var team = Team(3);
        var grid = new int[16, 40];
        team.ForEach(16, i => team.ForChunks(40, 3, (s, e) => { for (int j = s; j < e; j++) Interlocked.Increment(ref grid[i, j]); }));
        Assert.That(grid.Cast<int>(), Is.All.EqualTo(1));

        // Two callers on one team at once (two models training on one device from two threads).
        var sums = new long[2];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, caller =>
        {
            for (int r = 0; r < 50; r++)
                team.ForChunks(1000, 10, (s, e) => { long local = 0; for (int i = s; i < e; i++) local += i; Interlocked.Add(ref sums[caller], local); });
        });
        Assert.That(sums, Is.All.EqualTo(50L * 999 * 1000 / 2));
    }

    [Test]
    public void TheThreadCountIsRespectedAndIdleOrDisposedTeamsEnd()
    {
        var team = Team(3, idleExitSeconds: 0.5);
        var threadIds = new ConcurrentDictionary<int, bool>();
        team.ForEach(60, _ => { threadIds[Environment.CurrentManagedThreadId] = true; Thread.SpinWait(50_000); });
        Assert.That(threadIds.Count, Is.InRange(1, 3));
        Assert.That(team.HelpersAlive, Is.EqualTo(2));

        Assert.That(() => team.HelpersAlive, Is.Zero.After(5000, 10), "helpers idle for longer than the idle exit end");
        var hits = new int[50];
        team.ForEach(50, i => hits[i]++);   // starts them again
        Assert.That(hits, Is.All.EqualTo(1));
        Assert.That(team.HelpersAlive, Is.EqualTo(2));

        team.Dispose();
        Assert.That(() => team.HelpersAlive, Is.Zero.After(5000, 10), "disposing ends the helpers");
        team.ForEach(50, i => hits[i]++);   // a disposed team runs on the caller
        Assert.That(hits, Is.All.EqualTo(2));
        Assert.That(team.HelpersAlive, Is.Zero);

        using var single = Team(1);
        single.ForEach(10, _ => { });
        Assert.That(single.HelpersAlive, Is.Zero, "one thread starts no helper");
    }
}
