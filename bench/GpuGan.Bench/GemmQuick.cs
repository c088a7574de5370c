// Stopwatch GEMM sweep for fast iteration while tuning (`-- gemm-quick [threads]`); the
// numbers to quote come from MatMulBenchmarks under BenchmarkDotNet.

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
        var shapes = Environment.GetEnvironmentVariable("GEMM_SHAPES")?.Split(';') ?? MatMulBenchmarks.Shapes;
        foreach (var shape in shapes)
        {
            var (ta, tb, m, n, k) = MatMulBenchmarks.Parse(shape);
            var rng = new Random(1);
            var a = new float[(long)m * k]; var b = new float[(long)k * n]; var c = new float[(long)m * n];
            for (long i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
            for (long i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble() - 0.5f;
            double flops = 2.0 * m * n * k;
            if (Environment.GetEnvironmentVariable("GEMM_PANELS") is { } copiesText)
            {
                PanelsSweep(ta, tb, m, n, k, a, b, shape, int.Parse(copiesText));
                continue;
            }
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

    /// <summary>
    /// GEMM_PANELS=copies: MatMulKernels.GemmPanelsCpu on one thread with both operands prepacked (the Winograd point GEMMs),
    /// cycling through <c>copies</c> distinct operand and result sets (25 ≈ one Winograd call's points: operands from L3 or
    /// memory rather than L2), against GemmCpu on the same shape and one thread.
    /// </summary>
    private static unsafe void PanelsSweep(bool ta, bool tb, int m, int n, int k, float[] a, float[] b, string shape, int copies)
    {
        long aLen = (m + 7) / 8 * 8L * k, bLen = (n + 31) / 32 * 32L * k, cLen = (long)m * n;
        var ap = new float[copies * aLen];
        var bp = new float[copies * bLen];
        var c = new float[copies * cLen];
        var serial = new CpuParallel(new CpuKernelOptions { Threads = 1 });
        double flops = 2.0 * m * n * k;
        fixed (float* pa = a, pb = b, pap = ap, pbp = bp, pc = c)
        {
            for (int i = 0; i < copies; i++)
            {
                MatMulKernels.PackPanelsA(ta, m, k, pa, pap + i * aLen);
                MatMulKernels.PackPanelsB(tb, k, n, pb, pbp + i * bLen);
            }
            foreach (bool panels in new[] { true, false })
            {
                var samples = new List<double>();
                var total = Stopwatch.StartNew();
                for (int run = 0; run < 5 || (total.Elapsed.TotalSeconds < 3 && run < 3000); run++)
                {
                    int i = run % copies;
                    var sw = Stopwatch.StartNew();
                    if (panels)
                        MatMulKernels.GemmPanelsCpu(m, n, k, MatMulKernels.GemmOperand.Panels(pap + i * aLen), MatMulKernels.GemmOperand.Panels(pbp + i * bLen), 0f, pc + i * cLen);
                    else
                        MatMulKernels.GemmCpu(serial, ta, tb, m, n, k, 1f, pa, pb, 0f, pc + i * cLen);
                    samples.Add(sw.Elapsed.TotalSeconds);
                }
                samples.Sort();
                Console.WriteLine($"{shape,-22} {(panels ? $"panels ×{copies}" : "GemmCpu"),-12} 1 thread  best {flops / samples[0] / 1e9,6:F1}  median {flops / samples[samples.Count / 2] / 1e9,6:F1} GFLOP/s  ({samples.Count} runs)");
            }
        }
    }
}
