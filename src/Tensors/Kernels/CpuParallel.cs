namespace GpuGan.Tensors.Kernels;

/// <summary>
/// The parallel loops of the CPU SIMD kernel set for one host <see cref="Device"/>, with its
/// <see cref="CpuKernelOptions"/>. Work is split into chunks that depend only on the problem size
/// (never on the thread count or timing), and every reduction sums in a fixed order, so the same
/// seed gives bit-identical results for any thread count.
/// </summary>
internal sealed class CpuParallel
{
    private readonly ParallelOptions _parallelOptions;

    public CpuParallel(CpuKernelOptions options)
    {
        Options = options;
        _parallelOptions = new ParallelOptions { MaxDegreeOfParallelism = options.Threads };
    }

    /// <summary>The settings this device was created with.</summary>
    public CpuKernelOptions Options { get; }

    public int Threads => Options.Threads;

    /// <summary>Runs body(i) for i in [0, count); serial when count is 1 or one thread is set.</summary>
    public void ForEach(int count, Action<int> body)
    {
        if (count <= 1 || Threads == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, _parallelOptions, body);
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
        if (chunks == 1 || Threads == 1)
        {
            for (int c = 0; c < chunks; c++) body(c * grain, (int)Math.Min(count, (long)(c + 1) * grain));
            return;
        }
        Parallel.For(0, chunks, _parallelOptions, c => body(c * grain, (int)Math.Min(count, (long)(c + 1) * grain)));
    }
}
