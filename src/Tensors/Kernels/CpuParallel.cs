namespace GpuGan.Tensors.Kernels;

/// <summary>
/// Thread settings of the CPU SIMD kernel set. Work is split into a fixed number of chunks
/// that depends only on the problem size and <see cref="Threads"/>, and every reduction sums
/// in a fixed order, so the same seed and thread count give bit-identical results.
/// </summary>
public static class CpuParallel
{
    private static int _threads = Environment.ProcessorCount;
    private static ParallelOptions _options = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>Number of worker threads the CPU kernels use (default: processor count).</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "thread count must be at least 1");
            _threads = value;
            _options = new ParallelOptions { MaxDegreeOfParallelism = value };
        }
    }

    internal static ParallelOptions Options => _options;

    /// <summary>Runs body(i) for i in [0, count); serial when count is 1 or one thread is set.</summary>
    internal static void For(int count, Action<int> body)
    {
        if (count <= 1 || _threads == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, _options, body);
    }
}
