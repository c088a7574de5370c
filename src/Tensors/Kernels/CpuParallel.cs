// The parallel loops of the CPU SIMD kernel set: a persistent team of Threads − 1 helper threads per
// host device, plus the calling thread.
//
// Why not Parallel.For: a DCGAN-28 step runs ~150 multi-threaded loops of 0.05–5 ms each. Through
// Parallel.For each one queued a task to the thread pool and waited for a pool thread to wake; the
// probe (ParallelProbe, bench `step-profile`) measured 23–70 µs per loop before the second thread
// started its first chunk and 11–23 µs after the last chunk ended before the call returned, plus
// ~1.5 KB of allocations per loop (2026-12-06, bench/GpuGan.Compare/results/2026-12-06c/NOTES-s14p.md).
//
// How a loop runs: the caller publishes a Loop (the body, the chunk count, a claim counter), bumps
// the team's epoch and, only if a helper is asleep, pulses it. Every participant — the caller first —
// claims chunks with one Interlocked.Increment each until none is left. The caller then waits only
// for chunks that another thread has claimed and not yet finished; it never waits for a helper to
// start, so a helper that is slow to wake (or a machine where it never gets a core) costs
// parallelism, never progress. Chunks are cut from count and grain only (never from the thread count
// or timing) and each chunk writes its own outputs, so any thread count gives the same bits.
//
// Helpers that find no new epoch spin for SpinMicroseconds (the gap between two loops of one step is
// usually shorter; the spin only runs on a core the caller is not using, and not at all when there are
// more threads than cores) and then block on a monitor, so an idle device costs no CPU. A helper idle
// for IdleExitSeconds ends (its device may have been dropped without Dispose); the next loop starts it
// again. A body that throws: the first exception
// is kept, the remaining chunks are skipped, the caller waits for the chunks in flight and rethrows
// it with its original stack. A body may itself run a loop (nested): the inner loop becomes the
// published one and the outer loop's remaining chunks are finished by the threads already in it.
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace GpuGan.Tensors.Kernels;

/// <summary>
/// The parallel loops of the CPU SIMD kernel set for one host <see cref="Device"/>, with its
/// <see cref="CpuKernelOptions"/>. Work is split into chunks that depend only on the problem size
/// (never on the thread count or timing), and every reduction sums in a fixed order, so the same
/// seed gives bit-identical results for any thread count. See the file header for the thread team.
/// </summary>
internal sealed class CpuParallel : IDisposable
{
    /// <summary>How long an idle helper spins for the next loop before it blocks.</summary>
    internal const int SpinMicroseconds = 200;

    /// <summary>How long a blocked helper waits for work before its thread ends (default of the constructor).</summary>
    internal const int IdleExitSeconds = 5;

    private readonly object _gate = new();
    private readonly long _spinTicks;
    private readonly TimeSpan _idleExit;
    private Loop? _current;     // the loop helpers join (the latest published; null when it has finished)
    private long _epoch;        // bumped on every publication
    private int _sleepers;      // helpers blocked on _gate
    private int _alive;         // helper threads running (changed under _gate)
    private int _started;       // helper threads ever started (names only)
    private volatile bool _disposed;

    public CpuParallel(CpuKernelOptions options) : this(options, TimeSpan.FromSeconds(IdleExitSeconds))
    {
    }

    /// <summary>A team whose helpers end after <paramref name="idleExit"/> without work (tests use a short one).</summary>
    internal CpuParallel(CpuKernelOptions options, TimeSpan idleExit)
    {
        Options = options;
        _idleExit = idleExit;
        // More threads than cores: a spinning helper would take the core of a thread with work, so helpers block at once.
        _spinTicks = options.Threads <= Environment.ProcessorCount ? Stopwatch.Frequency * SpinMicroseconds / 1_000_000 : 0;
    }

    /// <summary>The settings this device was created with.</summary>
    public CpuKernelOptions Options { get; }

    /// <summary>
    /// A one-thread team with the same options, for kernels that run many independent products in parallel, each on one
    /// thread (the Winograd convolution's 25 point GEMMs): an inner GEMM too small to split would otherwise run alone.
    /// </summary>
    public CpuParallel Serial => Threads == 1 ? this : _serial ??= new CpuParallel(Options with { Threads = 1 });

    private CpuParallel? _serial;

    public int Threads => Options.Threads;

    /// <summary>Helper threads alive now (tests: the team ends when idle and on dispose).</summary>
    internal int HelpersAlive => Volatile.Read(ref _alive);

    /// <summary>When set, every loop is counted and timed (a measuring harness only).</summary>
    internal ParallelProbe? Probe { get; set; }

    /// <summary>Runs body(i) for i in [0, count); serial when count is 1 or one thread is set.</summary>
    public void ForEach(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (Probe is { } probe)
        {
            var call = probe.Begin();
            Run(new Loop(i => { long t0 = Stopwatch.GetTimestamp(); body(i); call.Chunk(t0, Stopwatch.GetTimestamp()); }, null, count, 1, count));
            probe.End(body.Method, call, serial: count == 1 || Threads == 1);
            return;
        }
        if (count == 1 || Threads == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Run(new Loop(body, null, count, 1, count));
    }

    /// <summary>Work per chunk (elements) of the chunked loops: enough to amortise a task, small enough to balance two to a few dozen threads.</summary>
    public const int ChunkWork = 1 << 15;

    /// <summary>Items per chunk so that a chunk does about <paramref name="chunkWork"/> elements when one item costs <paramref name="workPerItem"/>.</summary>
    public static int Grain(long workPerItem, int chunkWork = ChunkWork) => (int)Math.Max(1, chunkWork / Math.Max(1, workPerItem));

    /// <summary>
    /// The chunked loop: cuts [0, count) into chunks of <paramref name="grain"/> items (the last
    /// one shorter) and runs body(start, end) for each, in parallel. The cut depends on count and
    /// grain only, never on the thread count, so a kernel whose chunks write disjoint outputs gives
    /// the same bits on any number of threads.
    /// </summary>
    public void ForChunks(int count, int grain, Action<int, int> body)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(grain, 1);
        if (count <= 0) return;
        int chunks = (int)(((long)count + grain - 1) / grain);
        if (Probe is { } probe)
        {
            var call = probe.Begin();
            Run(new Loop(null, (s, e) => { long t0 = Stopwatch.GetTimestamp(); body(s, e); call.Chunk(t0, Stopwatch.GetTimestamp()); }, count, grain, chunks));
            probe.End(body.Method, call, serial: chunks == 1 || Threads == 1);
            return;
        }
        if (chunks == 1 || Threads == 1)
        {
            for (int c = 0; c < chunks; c++) body(c * grain, (int)Math.Min(count, (long)(c + 1) * grain));
            return;
        }
        Run(new Loop(null, body, count, grain, chunks));
    }

    /// <summary>Ends the helper threads; later loops run on the calling thread alone.</summary>
    public void Dispose()
    {
        _disposed = true;
        lock (_gate) Monitor.PulseAll(_gate);
        if (_serial is { } serial && serial != this) serial.Dispose();
    }

    // ------------------------------------------------------------ the team

    /// <summary>One published loop: its chunks, the next one to claim, how many are finished, the first error.</summary>
    private sealed class Loop(Action<int>? each, Action<int, int>? range, int count, int grain, int chunks)
    {
        public readonly int Chunks = chunks;
        private int _next;
        private int _done;
        private Exception? _error;

        public bool Finished => Volatile.Read(ref _done) >= Chunks;
        public Exception? Error => Volatile.Read(ref _error);

        /// <summary>Claims and runs chunks until none is left (every participant, the caller included).</summary>
        public void Work()
        {
            int c;
            while ((c = Interlocked.Increment(ref _next) - 1) < Chunks)
            {
                try
                {
                    if (Volatile.Read(ref _error) is null)
                    {
                        if (each is not null) each(c);
                        else range!(c * grain, (int)Math.Min(count, (long)(c + 1) * grain));
                    }
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _error, e, null);
                }
                finally
                {
                    Interlocked.Increment(ref _done);
                }
            }
        }
    }

    private void Run(Loop loop)
    {
        if (Threads == 1 || loop.Chunks == 1 || _disposed)
        {
            loop.Work();
        }
        else
        {
            if (Volatile.Read(ref _alive) < Threads - 1) StartHelpers();
            Volatile.Write(ref _current, loop);
            Interlocked.Increment(ref _epoch);
            // Pairs with the sleeper's Increment of _sleepers before it re-reads _epoch (both full fences):
            // either this sees the sleeper and pulses, or the sleeper sees the new epoch and does not sleep.
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_gate) Monitor.PulseAll(_gate);
            loop.Work();
            Interlocked.CompareExchange(ref _current, null, loop);
            if (!loop.Finished)
            {
                // Only chunks another thread has claimed are left: wait for them, without Sleep(1).
                var spin = new SpinWait();
                while (!loop.Finished) spin.SpinOnce(sleep1Threshold: -1);
            }
        }
        if (loop.Error is { } error) ExceptionDispatchInfo.Capture(error).Throw();
    }

    private void StartHelpers()
    {
        lock (_gate)
        {
            while (_alive < Threads - 1 && !_disposed)
            {
                _alive++;
                var thread = new Thread(HelperMain) { IsBackground = true, Name = $"GpuGan cpu {++_started}" };
                thread.Start();
            }
        }
    }

    private void HelperMain()
    {
        long seen = -1;   // a new helper joins the loop being published
        while (true)
        {
            long epoch = Volatile.Read(ref _epoch);
            if (epoch == seen)
            {
                epoch = WaitForWork(seen);
                if (epoch == seen) return;   // disposed, or idle for IdleExitSeconds (_alive already lowered)
            }
            seen = epoch;
            Volatile.Read(ref _current)?.Work();
        }
    }

    /// <summary>Spins, then blocks, until the epoch moves past <paramref name="seen"/>; returns <paramref name="seen"/> when the helper should end.</summary>
    private long WaitForWork(long seen)
    {
        long spinUntil = Stopwatch.GetTimestamp() + _spinTicks;
        long epoch;
        while ((epoch = Volatile.Read(ref _epoch)) == seen && !_disposed)
        {
            if (Stopwatch.GetTimestamp() >= spinUntil) break;
            Thread.SpinWait(16);
        }
        if (epoch != seen) return epoch;
        lock (_gate)
        {
            Interlocked.Increment(ref _sleepers);
            try
            {
                while ((epoch = Volatile.Read(ref _epoch)) == seen)
                {
                    if (_disposed || !Monitor.Wait(_gate, _idleExit) && Volatile.Read(ref _epoch) == seen)
                    {
                        _alive--;
                        return seen;
                    }
                }
                return epoch;
            }
            finally
            {
                Interlocked.Decrement(ref _sleepers);
            }
        }
    }
}
