// FP32 FMA-throughput probe: the roof the GEMM benchmarks are judged against.
// Each thread runs 12 independent FMA chains (enough to cover FMA latency × issue width on
// current x86 cores), so the loop is bound by FMA throughput alone; flops = 2 · lanes · FMAs.

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GpuGan.Bench;

internal static class PeakProbe
{
    // Short runs (~2 ms at peak), best of many: on a shared machine the best run is the one
    // that found its cores free, which is the number a peak is.
    private const long Iterations = 500_000;
    private const int Repeats = 300;

    public static void Run()
    {
        string isa = Avx512F.IsSupported ? "Vector512 (AVX-512F)" : Fma.IsSupported ? "Vector256 (FMA)" : "none";
        Console.WriteLine($"FP32 FMA peak probe, {isa}, {Environment.ProcessorCount} logical processors");
        if (!Fma.IsSupported && !Avx512F.IsSupported)
        {
            Console.WriteLine("no FMA support: nothing to probe");
            return;
        }
        Chain(Iterations / 50); // JIT warm-up
        for (int threads = 1; threads <= Environment.ProcessorCount; threads *= 2)
        {
            double best = 0;
            for (int rep = 0; rep < Repeats; rep++) best = Math.Max(best, Measure(threads));
            Console.WriteLine($"{threads} thread(s): {best:F1} GFLOP/s (best of {Repeats} runs)");
        }
    }

    private static double Measure(int threads)
    {
        var sw = Stopwatch.StartNew();
        var sink = new float[threads];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => sink[t] = Chain(Iterations));
        double seconds = sw.Elapsed.TotalSeconds;
        int lanes = Avx512F.IsSupported ? 16 : 8;
        return 2.0 * lanes * 12 * Iterations * threads / seconds / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chain(long iterations)
    {
        if (Avx512F.IsSupported)
        {
            var m = Vector512.Create(0.999999f);
            var d = Vector512.Create(1e-7f);
            Vector512<float> x0 = Vector512.Create(1f), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0;
            Vector512<float> x6 = x0, x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
            for (long i = 0; i < iterations; i++)
            {
                x0 = Avx512F.FusedMultiplyAdd(x0, m, d); x1 = Avx512F.FusedMultiplyAdd(x1, m, d);
                x2 = Avx512F.FusedMultiplyAdd(x2, m, d); x3 = Avx512F.FusedMultiplyAdd(x3, m, d);
                x4 = Avx512F.FusedMultiplyAdd(x4, m, d); x5 = Avx512F.FusedMultiplyAdd(x5, m, d);
                x6 = Avx512F.FusedMultiplyAdd(x6, m, d); x7 = Avx512F.FusedMultiplyAdd(x7, m, d);
                x8 = Avx512F.FusedMultiplyAdd(x8, m, d); x9 = Avx512F.FusedMultiplyAdd(x9, m, d);
                x10 = Avx512F.FusedMultiplyAdd(x10, m, d); x11 = Avx512F.FusedMultiplyAdd(x11, m, d);
            }
            var s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
            return Vector512.Sum(s);
        }
        else
        {
            var m = Vector256.Create(0.999999f);
            var d = Vector256.Create(1e-7f);
            Vector256<float> x0 = Vector256.Create(1f), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0;
            Vector256<float> x6 = x0, x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
            for (long i = 0; i < iterations; i++)
            {
                x0 = Fma.MultiplyAdd(x0, m, d); x1 = Fma.MultiplyAdd(x1, m, d);
                x2 = Fma.MultiplyAdd(x2, m, d); x3 = Fma.MultiplyAdd(x3, m, d);
                x4 = Fma.MultiplyAdd(x4, m, d); x5 = Fma.MultiplyAdd(x5, m, d);
                x6 = Fma.MultiplyAdd(x6, m, d); x7 = Fma.MultiplyAdd(x7, m, d);
                x8 = Fma.MultiplyAdd(x8, m, d); x9 = Fma.MultiplyAdd(x9, m, d);
                x10 = Fma.MultiplyAdd(x10, m, d); x11 = Fma.MultiplyAdd(x11, m, d);
            }
            var s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
            return Vector256.Sum(s);
        }
    }
}
