// Tuning knobs of the two kernel sets. They belong to a Device (immutable, given when it is
// created), never to process-wide statics: two devices with different settings can run side by
// side (the determinism tests compare 1 and 2 threads that way), and nothing a test or a trainer
// sets leaks into the next one. Every knob here changes speed only: results are bit-identical
// for any setting (work is split by shapes and fixed chunk sizes; sums keep their order). Exception:
// ConvLoweringOptions.GemmOnly and a forced GEMM family also decide whether few-channel convolutions run on
// their direct kernels (ConvFewChannels.cs), whose weight gradient sums in another order (last bits may differ).

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
/// How convolutions are lowered to GEMMs: samples are processed in groups of about <see cref="ColumnTarget"/>
/// GEMM columns whose workspace (the column matrix, or where the cpu set gathers patches straight into the GEMM,
/// the permute buffer and patch tables) is at most <see cref="WorkspaceBudget"/> floats, in groups of equal size.
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

    /// <summary>
    /// The cpu set's GEMM lowering for every shape: no direct kernels for few input channels (ConvFewChannels.cs).
    /// The reference those kernels are tested and benchmarked against. Unlike the other knobs this one may change the
    /// last bits (the direct weight gradient sums in another order). Default false.
    /// </summary>
    internal bool GemmOnly { get; init; }

    /// <summary>
    /// The cpu set's reference lowering: materialise the column matrix (im2col) for the forward and the weight
    /// gradient instead of gathering patches straight into the GEMM's B panels. Same bits (the implicit path packs
    /// the same values into the same panels, and this path runs on the implicit path's sample groups, so its column
    /// matrix may exceed <see cref="WorkspaceBudget"/>); kept for the bit-equality tests and the benchmarks. Default false.
    /// </summary>
    internal bool Im2Col { get; init; }

    /// <summary>
    /// Run the cpu set's k4 s2 p1 convolutions (the DCGAN and PatchGAN layers past the first) as Winograd F(4×4, 2×2) on
    /// their polyphase split where it measured faster: the forward, the input gradient (ConvTranspose2d's forward) and the
    /// weight gradient of layers with 2×2 or more output tiles per sample. 2.56× fewer
    /// multiplications, but each output carries ~3–16× the rounding error of the direct sum (the transforms scale
    /// products by up to 64), so results are no longer within the direct conv's float32 tolerance of float64 and
    /// data-parallel runs drift apart sooner. Opt-in; default false.
    /// </summary>
    public bool Winograd { get; init; }

    /// <summary>Largest workspace of one sample group (see the type's summary), in floats. Default 2^22 (16 MiB).</summary>
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
/// <remarks>
/// Results are bit-identical run to run on one device with one setting. Unlike the CPU knobs, the
/// reduction and split-K knobs change how sums are cut into partial sums, so a different setting may
/// change the last bits (the cut depends on the shapes and these knobs only, never on timing).
/// </remarks>
public sealed record GpuKernelOptions
{
    private readonly int _reductionElementsPerThread = 16;
    private readonly int _targetGroups = 264;
    private readonly int _gemmMaxSerialK = 2048;

    /// <summary>The defaults.</summary>
    public static GpuKernelOptions Default { get; } = new();

    /// <summary>
    /// Convolution lowering of the ILGPU kernels. Default: the whole batch as one group (a GPU wants
    /// one large GEMM, not the CPU set's cache-sized groups), within a 2^26-float (256 MiB) workspace.
    /// </summary>
    public ConvLoweringOptions Conv { get; init; } = new() { ColumnTarget = int.MaxValue, WorkspaceBudget = 1L << 26 };

    /// <summary>
    /// Elements one thread of a reduction adds in sequence before the group combines them (default 16):
    /// a long reduced axis is cut into chunks of 256 threads × this, one group each, and the chunk sums
    /// are added by a second launch in a fixed order.
    /// </summary>
    public int ReductionElementsPerThread
    {
        get => _reductionElementsPerThread;
        init => _reductionElementsPerThread = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ReductionElementsPerThread), value, "must be at least 1");
    }

    /// <summary>
    /// Groups a launch should have to fill the chip (default 264: two per SM of a 132-SM H100). A GEMM
    /// with fewer output tiles splits k until it has about this many groups.
    /// </summary>
    public int TargetGroups
    {
        get => _targetGroups;
        init => _targetGroups = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(TargetGroups), value, "must be at least 1");
    }

    /// <summary>
    /// Longest k one GEMM group walks (default 2048): a longer k is split into fixed chunks whose partial
    /// products are added in chunk order by a second launch.
    /// </summary>
    public int GemmMaxSerialK
    {
        get => _gemmMaxSerialK;
        init => _gemmMaxSerialK = value >= 16 ? value : throw new ArgumentOutOfRangeException(nameof(GemmMaxSerialK), value, "must be at least 16 (one k-slice)");
    }
}
