using System.Runtime.InteropServices;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace GpuGan.Tensors;

/// <summary>Where a tensor lives and which kernel set runs its ops.</summary>
public enum DeviceKind
{
    /// <summary>Host memory, hand-written SIMD kernels (System.Runtime.Intrinsics, a thread team per device).</summary>
    Cpu,
    /// <summary>The ILGPU kernels on ILGPU's CPU accelerator: a simulator for checking GPU code.</summary>
    IlgpuCpu,
    /// <summary>The ILGPU kernels on an NVIDIA GPU.</summary>
    Cuda,
    /// <summary>The ILGPU kernels on an OpenCL device that ILGPU supports.</summary>
    OpenCL,
}

/// <summary>
/// A compute device: the host with the SIMD kernel set, or one ILGPU accelerator running the
/// ILGPU kernel set. Owns a buffer pool so steady-state training allocates nothing new.
/// </summary>
public sealed partial class Device : IDisposable
{
    private static readonly Lazy<Device> s_cpu = new(() => new Device(DeviceKind.Cpu, null, null, "cpu (SIMD kernels)"));
    private static readonly object s_lock = new();
    private static Device? s_ilgpuCpu;

    private readonly Context? _context;

    private Device(DeviceKind kind, Context? context, Accelerator? accelerator, string name, CpuKernelOptions? cpuOptions = null, GpuKernelOptions? gpuOptions = null)
    {
        Kind = kind;
        _context = context;
        Accelerator = accelerator;
        Name = name;
        CpuOptions = cpuOptions ?? CpuKernelOptions.Default;
        GpuOptions = gpuOptions ?? GpuKernelOptions.Default;
        Parallel = new CpuParallel(CpuOptions);
        Pool = new BufferPool(this);
    }

    /// <summary>Settings of the SIMD kernel set (used by the host device only).</summary>
    public CpuKernelOptions CpuOptions { get; }

    /// <summary>Settings of the ILGPU kernel set (used by ILGPU devices only).</summary>
    public GpuKernelOptions GpuOptions { get; }

    /// <summary>The parallel loops of the SIMD kernels, with <see cref="CpuOptions"/>' thread count.</summary>
    internal CpuParallel Parallel { get; }

    /// <summary>How this device's kernel set lowers convolutions.</summary>
    internal ConvLoweringOptions ConvLowering => IsHost ? CpuOptions.Conv : GpuOptions.Conv;

    /// <summary>Which kernel set and accelerator this is.</summary>
    public DeviceKind Kind { get; }
    /// <summary>The accelerator's name.</summary>
    public string Name { get; }

    /// <summary>The ILGPU accelerator; null for the SIMD host device.</summary>
    public Accelerator? Accelerator { get; }

    /// <summary>True when tensors live in host arrays and the SIMD kernels run.</summary>
    public bool IsHost => Kind == DeviceKind.Cpu;

    internal BufferPool Pool { get; }

    /// <summary>The host device with the SIMD kernel set on all cores, shared by the process.</summary>
    public static Device Cpu => s_cpu.Value;

    /// <summary>
    /// A new host device with the SIMD kernel set and the given settings (e.g. a thread count).
    /// Tensors on it and on <see cref="Cpu"/> are on different devices: move them with To(device).
    /// </summary>
    public static Device CreateCpu(CpuKernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new Device(DeviceKind.Cpu, null, null, $"cpu (SIMD kernels, {options.Threads} thread{(options.Threads == 1 ? "" : "s")})", options);
    }

    /// <summary>
    /// ILGPU's CPU accelerator, shared process-wide. Groups of 256 threads (32×8) so the
    /// 16×16 shared-memory tiles of the GPU kernels fit, as they do on a real GPU.
    /// </summary>
    public static Device IlgpuCpu
    {
        get
        {
            lock (s_lock)
            {
                return s_ilgpuCpu ??= NewIlgpuCpu(GpuKernelOptions.Default);
            }
        }
    }

    /// <summary>
    /// A new, private ILGPU CPU accelerator (its own context and kernel cache) with the given
    /// settings; dispose it when done. <see cref="IlgpuCpu"/> is the shared one.
    /// </summary>
    public static Device CreateIlgpuCpu(GpuKernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return NewIlgpuCpu(options);
    }

    private static Device NewIlgpuCpu(GpuKernelOptions options)
    {
        var cpuDevice = new CPUDevice(32, 8, 1);
        var context = Context.Create(b => b.CPU(cpuDevice).EnableAlgorithms().Math(MathMode.Default));
        var acc = context.GetCPUDevices()[0].CreateAccelerator(context);
        return new Device(DeviceKind.IlgpuCpu, context, acc, "ilgpu-cpu (ILGPU CPU accelerator, 32x8 threads per group)", gpuOptions: options);
    }

    /// <summary>
    /// Opens a device of the given kind; null picks the best present: CUDA, else an OpenCL device
    /// ILGPU accepts, else the host (ILGPU's own preferred-device choice orders by memory size,
    /// which can pick a CPU OpenCL driver, so the order here is explicit).
    /// <paramref name="cpu"/> applies when the result is the host device (null: <see cref="Cpu"/>,
    /// the shared all-cores device), <paramref name="gpu"/> when it is an ILGPU device (null: the
    /// defaults; for <see cref="DeviceKind.IlgpuCpu"/>, the shared <see cref="IlgpuCpu"/>).
    /// A GPU device is the caller's to dispose; disposing a shared device does nothing.
    /// </summary>
    /// <exception cref="DeviceUnavailableException">CUDA or OpenCL was asked for and none can be used here.</exception>
    public static Device Open(DeviceKind? kind, CpuKernelOptions? cpu = null, GpuKernelOptions? gpu = null)
    {
        switch (kind)
        {
            case null:
                return TryCreateGpu(DeviceKind.Cuda, gpu, out _) ?? TryCreateGpu(DeviceKind.OpenCL, gpu, out _) ?? Open(DeviceKind.Cpu, cpu, gpu);
            case DeviceKind.Cpu:
                return cpu is null ? Cpu : CreateCpu(cpu);
            case DeviceKind.IlgpuCpu:
                return gpu is null ? IlgpuCpu : CreateIlgpuCpu(gpu);
            case DeviceKind.Cuda or DeviceKind.OpenCL:
                return TryCreateGpu(kind.Value, gpu, out var problem) ?? throw new DeviceUnavailableException(kind.Value, problem);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown device kind");
        }
    }

    /// <summary>What can be used here: both CPU kernel sets, then every CUDA and OpenCL device ILGPU finds (or why a probe failed).</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        var list = new List<DeviceInfo>
        {
            new(DeviceKind.Cpu, $"SIMD kernels on {Environment.ProcessorCount} threads (AVX-512: {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}, FMA: {System.Runtime.Intrinsics.X86.Fma.IsSupported})"),
            new(DeviceKind.IlgpuCpu, "ILGPU kernels on ILGPU's CPU accelerator (a simulator for checking GPU code; slow)"),
        };
        foreach (var kind in new[] { DeviceKind.Cuda, DeviceKind.OpenCL })
        {
            try
            {
                using var context = Context.Create(b => { if (kind == DeviceKind.Cuda) b.Cuda(); else b.OpenCL(); });
                foreach (var d in context)
                    if (d.AcceleratorType == (kind == DeviceKind.Cuda ? AcceleratorType.Cuda : AcceleratorType.OpenCL))
                        list.Add(new DeviceInfo(kind, $"{d.Name}, {d.MemorySize / (1 << 20)} MiB"));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                list.Add(new DeviceInfo(kind, "", Problem: e.Message));
            }
        }
        return list;
    }

    private static Device? TryCreateGpu(DeviceKind kind, GpuKernelOptions? options, out string? problem)
    {
        problem = null;
        Context? context = null;
        try
        {
            // O2 (as the PTX test compiles): it keeps the GEMM's 8×8 register blocks at ~110 registers (O1: ~155).
            context = Context.Create(b => (kind == DeviceKind.Cuda ? b.Cuda() : b.OpenCL()).EnableAlgorithms().Optimize(OptimizationLevel.O2));
            var type = kind == DeviceKind.Cuda ? AcceleratorType.Cuda : AcceleratorType.OpenCL;
            var dev = context.Devices.FirstOrDefault(d => d.AcceleratorType == type);
            if (dev is null)
            {
                context.Dispose();
                return null;
            }
            var acc = dev.CreateAccelerator(context);
            return new Device(kind, context, acc, $"{kind.ToString().ToLowerInvariant()} ({dev.Name})", gpuOptions: options);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context?.Dispose();
            problem = e.Message;
            return null;
        }
    }

    /// <summary>Waits for queued kernels to finish (no-op on the host device).</summary>
    public void Synchronize()
    {
        var r = ActiveRecorder;
        r?.AddSync(SyncReason.Explicit);
        if (r is null || r.Executes) Accelerator?.Synchronize();
    }

    // ============================================================ accounting

    private LaunchRecorder? _recorder;

    /// <summary>The recorder attached to this device, or null.</summary>
    public LaunchRecorder? Recorder => _recorder;

    /// <summary>The attached recorder if the calling thread is the one it records; null otherwise (one field read when none is attached).</summary>
    internal LaunchRecorder? ActiveRecorder
    {
        get
        {
            var r = _recorder;
            return r is not null && r.OwnerThread == Environment.CurrentManagedThreadId ? r : null;
        }
    }

    /// <summary>
    /// Attaches <paramref name="recorder"/>: from now on every launch, copy, synchronisation and
    /// read-back that the calling thread causes on this device is recorded (and, in
    /// <see cref="RecordingMode.SkipExecution"/>, not run). Dispose the result to detach.
    /// One recorder per device; only ILGPU devices launch kernels, so the host device refuses.
    /// </summary>
    public RecorderAttachment Attach(LaunchRecorder recorder)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        if (IsHost) throw new ArgumentException($"{Name} runs the SIMD kernel set and launches no kernels: attach the recorder to an ILGPU device (ilgpu-cpu records the GPU plan)", nameof(recorder));
        lock (s_lock)
        {
            if (_recorder is not null) throw new InvalidOperationException($"{Name} already has a recorder attached");
            recorder.Bind(this);
            _recorder = recorder;
        }
        return new RecorderAttachment(this);
    }

    internal void Detach()
    {
        lock (s_lock)
        {
            _recorder?.Unbind();
            _recorder = null;
        }
    }

    /// <summary>
    /// Opens an op scope: records made until it is disposed name <paramref name="name"/> as their
    /// op. Public ops open one around their launches (<c>using var _ = device.BeginOp("Conv2d");</c>);
    /// callers may open their own to label phases. Without a recorder attached it returns a no-op
    /// value and allocates nothing.
    /// </summary>
    public OpScope BeginOp(string name) => ActiveRecorder is { } r ? r.Push(name, backward: false) : default;

    /// <summary>The scope autograd opens around the derivative rule of <paramref name="opName"/> ("Conv2d.backward").</summary>
    internal OpScope BeginBackward(string opName) => ActiveRecorder is { } r ? r.Push(opName, backward: true) : default;

    /// <summary>
    /// Host → device copy from pageable memory, queued on the stream without waiting for it (recorded;
    /// skipped in SkipExecution mode). ILGPU 1.5.3's CopyFromCPU synchronises the stream after the copy;
    /// CopyFromCPUUnsafeAsync does not: on CUDA it is one cuMemcpyAsync from pageable memory, which
    /// stages the source before it returns (so <paramref name="source"/> may be reused at once) and does
    /// not wait for queued kernels; on the CPU accelerator it is a plain copy. Pinned uploads
    /// (Accelerator.AllocatePageLocked1D + CopyFromPageLockedAsync) would need to know when the previous
    /// copy out of a reused pinned buffer finished, and ILGPU 1.5.3 streams have no events, so they are not used.
    /// The source is pinned for the call: ILGPU's ref overloads take the address as a raw pointer
    /// ("the base address of the pinned CPU buffer"), so a managed array that the GC moves between
    /// taking the address and the copy would be read from its old place (an intermittent wrong
    /// element in the ilgpu-cpu tests, under the GC pressure of parallel fixtures).
    /// </summary>
    internal unsafe void Upload(ReadOnlySpan<float> source, ArrayView<float> target)
    {
        var r = ActiveRecorder;
        if (r is not null)
        {
            r.AddCopy(CopyDirection.HostToDevice, (long)source.Length * sizeof(float), pinned: false);
            if (!r.Executes) return;
        }
        fixed (float* pinned = source)
            target.SubView(0, source.Length).CopyFromCPUUnsafeAsync(ref *pinned, source.Length);
    }

    /// <summary>
    /// Device → host copy into pageable memory, a read-back of <paramref name="kind"/> (recorded; zeros in
    /// SkipExecution mode): the host needs the values, so the queue drains first (a synchronisation).
    /// The target is pinned for the call, for the reason given at <see cref="Upload"/>. This was the
    /// intermittent ilgpu-cpu failure "Maximum on IlgpuCpu, (3, 7, 1009) with (1): element 7956: got 0":
    /// the 84,756-byte result array lives in the small-object heap, ILGPU's CPU copy is a native memmove
    /// during which another thread's GC may run, and a compaction in mid-copy moves the array with only
    /// its first part written; the rest went to the old address (zeros from element 7,956 on, the worst
    /// of which was reported), and into whatever the heap had put there.
    /// </summary>
    internal unsafe void Download(ArrayView<float> source, Span<float> target, ReadBackKind kind)
    {
        var r = ActiveRecorder;
        if (r is not null)
        {
            r.AddCopy(CopyDirection.DeviceToHost, (long)target.Length * sizeof(float), pinned: false);
            r.AddSync(SyncReason.PageableCopy);
            r.AddReadBack(kind, target.Length);
            if (!r.Executes) { target.Clear(); return; }
        }
        fixed (float* pinned = target)
            source.SubView(0, target.Length).CopyToCPU(ref *pinned, target.Length);
    }

    /// <summary>Device → device copy of <paramref name="length"/> elements, queued on the stream (recorded; skipped in SkipExecution mode).</summary>
    internal void CopyWithin(ArrayView1D<float, Stride1D.Dense> source, ArrayView1D<float, Stride1D.Dense> target, int length)
    {
        var r = ActiveRecorder;
        if (r is not null)
        {
            r.AddCopy(CopyDirection.DeviceToDevice, (long)length * sizeof(float), pinned: false);
            if (!r.Executes) return;
        }
        source.SubView(0, length).CopyTo(target.SubView(0, length));
    }

    /// <summary>Returns pooled buffers to the allocator.</summary>
    public void TrimPool() => Pool.Trim();

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>Releases the accelerator and its buffer pool (the shared <see cref="Cpu"/> and <see cref="IlgpuCpu"/> devices live for the process).</summary>
    public void Dispose()
    {
        // The shared devices (Cpu, IlgpuCpu) live for the process; devices created for a caller are released.
        if ((s_cpu.IsValueCreated && ReferenceEquals(this, s_cpu.Value)) || ReferenceEquals(this, s_ilgpuCpu)) return;
        Pool.Trim();
        Parallel.Dispose();
        DisposeSplitCounters();
        Accelerator?.Dispose();
        _context?.Dispose();
    }
}

/// <summary>One entry of <see cref="Device.List"/>.</summary>
/// <param name="Kind">The kernel set / device kind.</param>
/// <param name="Description">The device's name and size, or what the kernel set is.</param>
/// <param name="Problem">Set when probing this kind failed (the driver's message); the entry then names no device.</param>
public sealed record DeviceInfo(DeviceKind Kind, string Description, string? Problem = null);

/// <summary>Thrown by <see cref="Device.Open"/> when the requested GPU kind is not present or cannot be used.</summary>
public sealed class DeviceUnavailableException(DeviceKind kind, string? problem = null)
    : InvalidOperationException(problem is null ? $"no {Label(kind)} device found" : $"no usable {Label(kind)} device: {problem}")
{
    private static string Label(DeviceKind kind) => kind == DeviceKind.Cuda ? "CUDA" : kind.ToString();

    /// <summary>The kind that was asked for.</summary>
    public DeviceKind Kind { get; } = kind;

    /// <summary>The driver's message when a device was found but could not be opened; null when none was found.</summary>
    public string? Problem { get; } = problem;
}
