// The matmul family (src/Tensors/Ops/MatMul), GEMM benchmarks: the CPU SIMD kernel on square, odd and DCGAN-64 im2col shapes (batch 64),
// on 1 and 2 threads, and the ILGPU tiled kernel on ILGPU's CPU accelerator (a simulator, so
// one small size). The GFLOP/s column divides 2·m·n·k by the mean time; compare it with
// `-- peak` (the machine's FMA roof).
//
// Shape strings: "<op(A)><op(B)> MxNxK", N = plain, T = transposed operand. For the conv
// shapes M = out channels, K = in channels·4·4, N = batch·H·W of the output; "TN" is the
// conv input gradient (Wᵀ·dY) and "NT" the weight gradient (dY·colᵀ). The last three (n, m or k = 1)
// take the skinny kernels (MatMulSkinny.cs), memory-bound: compare their time, not the FMA roof.

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GpuGan.Tensors;
using Device = GpuGan.Tensors.Device;
using GpuGan.Tensors.Kernels;
using GpuGan.Tensors.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Bench;

public class GemmConfig : ManualConfig
{
    public GemmConfig()
    {
        AddColumn(new GflopsColumn(best: false), new GflopsColumn(best: true));
    }
}

[Config(typeof(GemmConfig))]
public unsafe class MatMulBenchmarks
{
    public static readonly string[] Shapes =
    {
        "NN 512x512x512",
        "NN 1152x1152x1152",
        "NN 509x511x513",
        "NN 64x65536x48",       // DCGAN conv1 forward
        "NN 128x16384x1024",    // conv2 forward
        "NN 256x4096x2048",     // conv3 forward
        "NN 512x1024x4096",     // conv4 forward
        "TN 1024x16384x128",    // conv2 input gradient
        "NT 128x1024x16384",    // conv2 weight gradient
        "NN 64x1x6272",         // a 28×28 discriminator's dense last layer (6272 → 1, batch 64): forward (GEMV)
        "TN 1x6272x64",         // its weight gradient (row vector × matrix)
        "NN 64x6272x1",         // its input gradient (outer product)
    };

    public static IEnumerable<string> ShapeValues => Shapes;

    [ParamsSource(nameof(ShapeValues))]
    public string Shape { get; set; } = Shapes[0];

    [Params(1, 2)]
    public int Threads { get; set; }

    private float* _a, _b, _c;
    private CpuParallel _cpu = null!;
    private bool _ta, _tb;
    private int _m, _n, _k;

    public static (bool TransA, bool TransB, int M, int N, int K) Parse(string shape)
    {
        var parts = shape.Split(' ');
        var dims = parts[1].Split('x').Select(int.Parse).ToArray();
        return (parts[0][0] == 'T', parts[0][1] == 'T', dims[0], dims[1], dims[2]);
    }

    [GlobalSetup]
    public void Setup()
    {
        (_ta, _tb, _m, _n, _k) = Parse(Shape);
        _cpu = new CpuParallel(new CpuKernelOptions { Threads = Threads });
        _a = Alloc((long)_m * _k, 1);
        _b = Alloc((long)_k * _n, 2);
        _c = Alloc((long)_m * _n, 3);
    }

    private static float* Alloc(long length, int seed)
    {
        var p = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64);
        var rng = new Random(seed);
        for (long i = 0; i < length; i++) p[i] = (float)rng.NextDouble() - 0.5f;
        return p;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        System.Runtime.InteropServices.NativeMemory.AlignedFree(_a);
        System.Runtime.InteropServices.NativeMemory.AlignedFree(_b);
        System.Runtime.InteropServices.NativeMemory.AlignedFree(_c);
    }

    [Benchmark(Description = "GemmCpu")]
    public void CpuSimd() => MatMulKernels.GemmCpu(_cpu, _ta, _tb, _m, _n, _k, 1f, _a, _b, 0f, _c);
}

/// <summary>
/// MatMulKernels.GemmPanelsCpu, the Winograd point GEMM: one thread, both operands prepacked over all of k (as the
/// transforms write them), against GemmCpu on one thread packing the same dense operands. Shapes: the 28-pixel D2's
/// forward (Cout × tiles × 4·Cin), input gradient (tiles × 4·Cin × Cout) and weight gradient (Cout × 4·Cin × tiles),
/// and DCGAN-64 D4's forward (512 × 64 × 1024: four k-slices).
/// </summary>
[Config(typeof(GemmConfig))]
public unsafe class GemmPanelsBenchmarks
{
    [Params("NT 128x256x256", "NN 256x256x128", "TN 128x256x256", "NT 512x64x1024")]
    public string Shape { get; set; } = "NT 128x256x256";

    private float* _a, _b, _c, _ap, _bp;
    private CpuParallel _serial = null!;
    private bool _ta, _tb;
    private int _m, _n, _k;

    [GlobalSetup]
    public void Setup()
    {
        (_ta, _tb, _m, _n, _k) = MatMulBenchmarks.Parse(Shape);
        _serial = new CpuParallel(new CpuKernelOptions { Threads = 1 });
        _a = Alloc((long)_m * _k);
        _b = Alloc((long)_k * _n);
        _c = Alloc((long)_m * _n);
        _ap = Alloc((_m + 7) / 8 * 8L * _k);
        _bp = Alloc((_n + 31) / 32 * 32L * _k);
        var rng = new Random(1);
        for (long i = 0; i < (long)_m * _k; i++) _a[i] = (float)rng.NextDouble() - 0.5f;
        for (long i = 0; i < (long)_k * _n; i++) _b[i] = (float)rng.NextDouble() - 0.5f;
        MatMulKernels.PackPanelsA(_ta, _m, _k, _a, _ap);
        MatMulKernels.PackPanelsB(_tb, _k, _n, _b, _bp);
    }

    private static float* Alloc(long length) =>
        (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64);

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var p in new[] { (nint)_a, (nint)_b, (nint)_c, (nint)_ap, (nint)_bp })
            System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)p);
    }

    [Benchmark(Description = "GemmPanelsCpu (prepacked)")]
    public void Panels() => MatMulKernels.GemmPanelsCpu(_m, _n, _k, MatMulKernels.GemmOperand.Panels(_ap), MatMulKernels.GemmOperand.Panels(_bp), 0f, _c);

    [Benchmark(Baseline = true, Description = "GemmCpu (1 thread, packs)")]
    public void Packing() => MatMulKernels.GemmCpu(_serial, _ta, _tb, _m, _n, _k, 1f, _a, _b, 0f, _c);
}

/// <summary>
/// The ILGPU GEMM on the CPU simulator: 128³ runs the 128×64 tiled kernel split over k (2 tiles < 264 target
/// groups), NT 16x48x4096 is a conv weight gradient's shape (one tile, k split in 128 chunks of 32, combined
/// in-kernel by the tile's last groups in two fixed-order levels), NN 150x70x700 a ragged split of 22 chunks
/// (the in-kernel combine with full tiles), NN 64x512x16 the short-k one-thread-per-element kernel.
/// </summary>
[Config(typeof(GemmConfig))]
public class GemmIlgpuCpuBenchmarks
{
    [Params("NN 128x128x128", "NT 16x48x4096", "NN 150x70x700", "NN 64x512x16")]
    public string Shape { get; set; } = "NN 128x128x128";

    private Device? _device;
    private Accelerator? _acc;
    private MemoryBuffer1D<float, Stride1D.Dense>? _a, _b, _c;
    private int _m, _n, _k;
    private bool _ta, _tb;

    [GlobalSetup]
    public void Setup()
    {
        (_ta, _tb, _m, _n, _k) = MatMulBenchmarks.Parse(Shape);
        _device = Device.IlgpuCpu; // groups of 32x8 threads, as the tiled kernel needs
        _acc = _device.Accelerator!;
        var rng = new Random(1);
        float[] Rand(int len) => Enumerable.Range(0, len).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _a = _acc.Allocate1D(Rand(_m * _k));
        _b = _acc.Allocate1D(Rand(_k * _n));
        _c = _acc.Allocate1D<float>(_m * _n);
        Run(); // compile the kernel outside the measurement
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a?.Dispose(); _b?.Dispose(); _c?.Dispose();
    }

    [Benchmark(Description = "GemmIlgpu (CPU accelerator)")]
    public void Run()
    {
        MatMulKernels.GemmIlgpu(_device!, _ta, _tb, _m, _n, _k, 1f, _a!.View, _b!.View, 0f, _c!.View);
        _acc!.Synchronize();
    }
}

/// <summary>
/// GFLOP/s = 2·m·n·k / time, from the benchmark's "Shape" parameter: one column from the
/// median, one from the fastest iteration (on a shared machine, the run that had its cores).
/// </summary>
public sealed class GflopsColumn(bool best) : IColumn
{
    public string Id => nameof(GflopsColumn) + (best ? "Best" : "Median");
    public string ColumnName => best ? "GFLOP/s best" : "GFLOP/s median";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => $"2·m·n·k / {(best ? "fastest" : "median")} iteration time, in 1e9 floating-point operations per second";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public override string ToString() => ColumnName;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var shape = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Shape")?.Value as string;
        if (report?.ResultStatistics is null || shape is null) return "-";
        var (_, _, m, n, k) = MatMulBenchmarks.Parse(shape);
        double seconds = (best ? report.ResultStatistics.Min : report.ResultStatistics.Median) / 1e9;
        double gflops = 2.0 * m * n * k / seconds / 1e9;
        return gflops >= 10 ? gflops.ToString("F1") : gflops.ToString("G3");
    }
}
