// Tuning knobs of the two kernel sets. They belong to a Device (immutable, given when it is
// created), never to process-wide statics: two devices with different settings can run side by
// side (the determinism tests compare 1 and 2 threads that way), and nothing a test or a trainer
// sets leaks into the next one. Every knob here changes speed only: results are bit-identical
// for any setting (work is split by shapes and fixed chunk sizes; sums keep their order).

namespace GpuGan.Tensors;

/// <summary>Which CPU GEMM micro-kernel family the SIMD kernel set uses.</summary>
public enum CpuGemmKernel
{
    /// <summary>The best this CPU supports: AVX-512, else AVX2+FMA, else the plain loop.</summary>
    Auto,
    /// <summary>8×32 AVX-512 micro-kernel (throws where AVX-512F is missing).</summary>
    Avx512,
    /// <summary>6×16 AVX2+FMA micro-kernel (throws where AVX2 or FMA is missing).</summary>
    Avx2,
    /// <summary>The unpacked scalar loop (the fallback without AVX2).</summary>
    Scalar,
}

/// <summary>
/// How convolutions are lowered to GEMMs: samples are processed in groups whose column matrix has
/// about <see cref="ColumnTarget"/> columns and at most <see cref="WorkspaceBudget"/> floats.
/// The group size depends on these and the shapes only.
/// </summary>
public sealed record ConvLoweringOptions
{
    private readonly int _columnTarget = 4096;
    private readonly long _workspaceBudget = 1L << 22;

    /// <summary>Wanted columns (group size × output pixels) of one group's GEMM. Default 4096.</summary>
    public int ColumnTarget
    {
        get => _columnTarget;
        init => _columnTarget = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ColumnTarget), value, "must be at least 1");
    }

    /// <summary>Largest column workspace, in floats. Default 2^22 (16 MiB).</summary>
    public long WorkspaceBudget
    {
        get => _workspaceBudget;
        init => _workspaceBudget = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(WorkspaceBudget), value, "must be at least 1");
    }
}

/// <summary>Settings of the CPU SIMD kernel set, fixed for the life of a host <see cref="Device"/>.</summary>
public sealed record CpuKernelOptions
{
    private readonly int _threads = Environment.ProcessorCount;

    /// <summary>All cores, the best GEMM micro-kernel, the default convolution lowering.</summary>
    public static CpuKernelOptions Default { get; } = new();

    /// <summary>Worker threads of the parallel loops. Default: the processor count.</summary>
    public int Threads
    {
        get => _threads;
        init => _threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Threads), value, "thread count must be at least 1");
    }

    /// <summary>GEMM micro-kernel family (tests force each one). Default: <see cref="CpuGemmKernel.Auto"/>.</summary>
    public CpuGemmKernel Gemm { get; init; } = CpuGemmKernel.Auto;

    /// <summary>Convolution lowering of the SIMD kernels.</summary>
    public ConvLoweringOptions Conv { get; init; } = new();
}

/// <summary>Settings of the ILGPU kernel set, fixed for the life of an ILGPU <see cref="Device"/>.</summary>
public sealed record GpuKernelOptions
{
    /// <summary>The defaults.</summary>
    public static GpuKernelOptions Default { get; } = new();

    /// <summary>Convolution lowering of the ILGPU kernels.</summary>
    public ConvLoweringOptions Conv { get; init; } = new();
}
