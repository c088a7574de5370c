// Stopwatch GEMM sweep for fast iteration while tuning (`-- gemm-quick [threads]`); the
// numbers to quote come from GemmBenchmarks under BenchmarkDotNet.

using System.Diagnostics;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using GpuGan.Tensors.Ops;

namespace GpuGan.Bench;

internal static class GemmQuick
{
    public static unsafe void Run(string[] args)
    {
                int[] threadCounts = args.Length > 0 ? args.Select(int.Parse).ToArray() : new[] { 1, 2 };
        var shapes = Environment.GetEnvironmentVariable("GEMM_SHAPES")?.Split(';') ?? GemmBenchmarks.Shapes;
        foreach (var shape in shapes)
        {
            var (ta, tb, m, n, k) = GemmBenchmarks.Parse(shape);
            var rng = new Random(1);
            var a = new float[(long)m * k]; var b = new float[(long)k * n]; var c = new float[(long)m * n];
            for (long i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
            for (long i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble() - 0.5f;
            double flops = 2.0 * m * n * k;
            foreach (int threads in threadCounts)
            {
                var cpu = new CpuParallel(new CpuKernelOptions { Threads = threads });
                fixed (float* pa = a, pb = b, pc = c)
                {
                    var samples = new List<double>();
                    var total = Stopwatch.StartNew();
                    for (int run = 0; run < 5 || (total.Elapsed.TotalSeconds < 3 && run < 300); run++)
                    {
                        var sw = Stopwatch.StartNew();
                        MatMulKernels.GemmCpu(cpu, ta, tb, m, n, k, 1f, pa, pb, 0f, pc);
                        samples.Add(sw.Elapsed.TotalSeconds);
                    }
                    samples.Sort();
                    Console.WriteLine($"{shape,-22} threads={threads}  best {flops / samples[0] / 1e9,6:F1}  median {flops / samples[samples.Count / 2] / 1e9,6:F1} GFLOP/s  ({samples.Count} runs)");
                }
            }
        }
    }
}
