// Measurement hook of CpuParallel: when a harness sets CpuParallel.Probe, every loop is counted and
// timed (call count and chunk count per body method, wall time of each call, the work inside each
// chunk, and when the caller's helpers started and stopped). Null in normal use: one field read per loop.
using System.Diagnostics;
using System.Reflection;

namespace GpuGan.Tensors.Kernels;

/// <summary>Counts and times the parallel loops of one <see cref="CpuParallel"/> (see the file header).</summary>
internal sealed class ParallelProbe
{
    /// <summary>Totals for one loop body (one call site).</summary>
    internal sealed class Site
    {
        public long Calls, SerialCalls, Chunks, WallTicks, WorkTicks, HelperWorkTicks, StartLagTicks, TailTicks;
    }

    private readonly Dictionary<MethodInfo, Site> _sites = new();
    private readonly object _lock = new();

    public IReadOnlyDictionary<MethodInfo, Site> Sites => _sites;

    public void Clear()
    {
        lock (_lock) _sites.Clear();
    }

    /// <summary>One call: the owner thread, its start and end, and per chunk (thread, start, end).</summary>
    internal sealed class Call(int owner, long start)
    {
        public readonly int Owner = owner;
        public readonly long Start = start;
        public long FirstHelperStart = long.MaxValue, LastChunkEnd, Work, HelperWork;
        public int Chunks;

        public void Chunk(long t0, long t1)
        {
            bool helper = Environment.CurrentManagedThreadId != Owner;
            lock (this)
            {
                Chunks++;
                Work += t1 - t0;
                if (helper)
                {
                    HelperWork += t1 - t0;
                    if (t0 < FirstHelperStart) FirstHelperStart = t0;
                }
                if (t1 > LastChunkEnd) LastChunkEnd = t1;
            }
        }
    }

    public Call Begin() => new(Environment.CurrentManagedThreadId, Stopwatch.GetTimestamp());

    public void End(MethodInfo body, Call call, bool serial)
    {
        long end = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (!_sites.TryGetValue(body, out var s)) _sites[body] = s = new Site();
            s.Calls++;
            if (serial) s.SerialCalls++;
            s.Chunks += call.Chunks;
            s.WallTicks += end - call.Start;
            s.WorkTicks += call.Work;
            s.HelperWorkTicks += call.HelperWork;
            if (!serial && call.FirstHelperStart != long.MaxValue) s.StartLagTicks += call.FirstHelperStart - call.Start;
            if (!serial) s.TailTicks += end - call.LastChunkEnd;
        }
    }
}
