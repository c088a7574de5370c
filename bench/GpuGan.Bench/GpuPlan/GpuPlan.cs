// gpu-plan: what one training iteration asks of a GPU, counted without a GPU, and a roofline
// ESTIMATE of its time. The iteration is recorded on ILGPU's CPU accelerator by a LaunchRecorder
// in SkipExecution mode (every launch, copy, synchronisation and read-back with the work the
// launcher declares; nothing runs), at the model's real shape. The estimate's purpose is to rank
// what to fix; the device kit (bench/GpuCheck) measures the real thing.
//
// The model, per kernel launch:
//     t = max( FLOPs ÷ (peak × min(1, blocks ÷ SMs)),   compute, scaled by the share of SMs the grid can occupy
//              bytes ÷ bandwidth,                        compulsory DRAM traffic (bytes read + written)
//              serial loop × 20 ns )                     the longest sequential loop one thread runs
//         + 4 µs                                         launch overhead (host API + GPU front end)
// per synchronisation (Synchronize, or a read-back into pageable memory, which waits for the stream):
//     10 µs drain: the host wakes up once the queue is empty (≈ 5 µs), and the next launch no longer
//     overlaps running work, so its overhead is exposed (≈ one launch overhead, 4 µs); rounded up;
// per copy between host and device: 4 µs + bytes ÷ host-link bandwidth (pageable memory goes through
// a staging buffer: about half the PCIe peak — 25 GB/s for H100 SXM's PCIe 5.0 ×16, 12 GB/s for the
// RTX 4090's PCIe 4.0 ×16); a copy within the device: 4 µs + 2·bytes ÷ bandwidth.
// The iteration's time is the sum (launches are issued in order on one stream; overlap between the
// host's launch work and the GPU's execution is ignored, which overstates small launches).
//
// Constants. GPUs: published datasheet figures — H100 SXM: 132 SMs, 67 TFLOP/s FP32 (non-tensor),
// 3.35 TB/s HBM3; RTX 4090: 128 SMs, 82.6 TFLOP/s FP32, 1.008 TB/s GDDR6X. Serial loop: 20 ns per
// element ≈ 40 cycles at 2 GHz: each step of a one-thread walk loads an element (an L1 hit costs
// ≈ 33 cycles on Hopper; one access in 32 misses to L2/DRAM) and adds it into a register that the next
// step depends on; ILGPU does not unroll such loops, so nothing overlaps. A GEMM thread's loop over
// k (its declared serial loop) costs about the same per step: 8 shared-memory loads (≈ 30 cycles of
// latency) feeding 16 FMAs. The same figure for both GPUs (their clocks differ by 25%; the figure is
// a rounded estimate, not a measurement).
//
// Blocks. An explicitly grouped launch brings its grid. An auto-grouped launch (Index1D kernels)
// gets its group size from ILGPU on the device: on CUDA, LoadAutoGroupedKernel asks
// cuOccupancyMaxPotentialBlockSize, which returns the largest group that reaches the highest
// occupancy — 1024 threads for kernels of at most 32 registers without shared memory (sm_75 to
// sm_90; every auto-grouped kernel of ours is at 8–30 registers on sm_90 except the random fill at
// 44). So blocks = ⌈extent ÷ 1024⌉: the fewest blocks a CUDA device would launch, the pessimistic
// side for grid fill. The recorder's own grid for auto-grouped launches is the CPU accelerator's
// choice and is not used.
using System.Globalization;
using GpuGan.GpuCheck;
using GpuGan.Tensors;

namespace GpuGan.Bench.GpuPlan;

/// <summary>A GPU's datasheet figures, as the roofline uses them.</summary>
internal sealed record GpuSpec(string Id, string Name, int Sms, double PeakFlops, double DramBytesPerSecond, double HostLinkBytesPerSecond)
{
    public static readonly GpuSpec H100 = new("h100", "NVIDIA H100 SXM", 132, 67e12, 3.35e12, 25e9);
    public static readonly GpuSpec Rtx4090 = new("rtx4090", "NVIDIA GeForce RTX 4090", 128, 82.6e12, 1.008e12, 12e9);

    public static GpuSpec Get(string id) => id switch
    {
        "h100" => H100,
        "rtx4090" => Rtx4090,
        _ => throw new ArgumentException($"--gpu: unknown GPU '{id}' (h100, rtx4090)"),
    };
}

/// <summary>The model's constants (see the file header for where each comes from).</summary>
internal static class Roofline
{
    public const double LaunchOverheadSeconds = 4e-6;
    public const double DrainSeconds = 10e-6;
    public const double SerialElementSeconds = 20e-9;
    /// <summary>Threads per group a CUDA device gives an auto-grouped kernel (cuOccupancyMaxPotentialBlockSize).</summary>
    public const int CudaAutoGroupSize = 1024;
    /// <summary>"Over 1 MFLOP": below that an under-filled grid costs less than a launch.</summary>
    public const double UnderfilledFlops = 1e6;

    /// <summary>Groups a CUDA device would launch for this record.</summary>
    public static long Blocks(LaunchRecord l) => l.AutoGrouped ? (l.Extent + CudaAutoGroupSize - 1) / CudaAutoGroupSize : l.Grid.Size;

    /// <summary>Fewer blocks than SMs while doing more than 1 MFLOP: most of the chip idles.</summary>
    public static bool IsUnderfilled(LaunchRecord l, GpuSpec gpu) => Blocks(l) < gpu.Sms && l.Cost.Flops > UnderfilledFlops;

    /// <summary>Modelled time of one launch and the term that bounds it.</summary>
    public static (double Seconds, string Bound) LaunchTime(LaunchRecord l, GpuSpec gpu)
    {
        double fill = Math.Min(1.0, (double)Blocks(l) / gpu.Sms);
        double compute = l.Cost.Flops == 0 ? 0 : l.Cost.Flops / (gpu.PeakFlops * fill);
        double memory = (l.Cost.BytesRead + l.Cost.BytesWritten) / gpu.DramBytesPerSecond;
        double serial = l.Cost.SerialLoop * SerialElementSeconds;
        double body = Math.Max(compute, Math.Max(memory, serial));
        string bound = body == 0 ? "overhead" : body == compute ? "compute" : body == memory ? "memory" : "serial";
        return (body + LaunchOverheadSeconds, bound);
    }

    public static double CopyTime(CopyRecord c, GpuSpec gpu) => LaunchOverheadSeconds + (c.Direction == CopyDirection.DeviceToDevice
        ? 2.0 * c.Bytes / gpu.DramBytesPerSecond
        : (double)c.Bytes / gpu.HostLinkBytesPerSecond);
}

/// <summary>Per-kernel (or per-op) totals of a plan.</summary>
internal sealed class PlanGroup
{
    public string Name { get; set; } = "";
    public int Launches { get; set; }
    public double Flops { get; set; }
    public double Bytes { get; set; }
    public long MaxSerialLoop { get; set; }
    public int Underfilled { get; set; }
    public long MinBlocks { get; set; } = long.MaxValue;
    public double ModelledMs { get; set; }
    /// <summary>Launches bounded by compute, memory, the serial loop, or overhead only.</summary>
    public Dictionary<string, int> Bounds { get; set; } = [];
}

internal sealed class UnderfilledLaunch
{
    public string Kernel { get; set; } = "";
    public string? Op { get; set; }
    public long Blocks { get; set; }
    public string Grid { get; set; } = "";
    public double Mflop { get; set; }
    public double ModelledUs { get; set; }
}

/// <summary>One recorded iteration, summarised for one GPU.</summary>
internal sealed class Plan
{
    public string Model { get; set; } = "";
    public string Title { get; set; } = "";
    public int Batch { get; set; }
    public string Gpu { get; set; } = "";
    public string RecordedOn { get; set; } = "";
    public string Note { get; set; } = "";
    public Dictionary<string, double> Constants { get; set; } = [];

    public int Launches { get; set; }
    public int Synchronizations { get; set; }
    public Dictionary<string, int> SynchronizationsByReason { get; set; } = [];
    public int ReadBacks { get; set; }
    public int ScalarReadBacks { get; set; }
    public int ArrayReadBacks { get; set; }
    public int Copies { get; set; }
    public long BytesHostToDevice { get; set; }
    public long BytesDeviceToHost { get; set; }
    public long BytesDeviceToDevice { get; set; }
    public long MaxSerialLoop { get; set; }
    public string? MaxSerialLoopKernel { get; set; }
    public string? MaxSerialLoopOp { get; set; }
    public int UnderfilledLaunches { get; set; }
    public double UnderfilledMflop { get; set; }
    public double TotalGflop { get; set; }
    public double TotalDramMB { get; set; }

    public double ModelledMs { get; set; }
    public double ModelledKernelMs { get; set; }
    public double ModelledLaunchOverheadMs { get; set; }
    public double ModelledSyncMs { get; set; }
    public double ModelledCopyMs { get; set; }

    public List<PlanGroup> ByKernel { get; set; } = [];
    public List<PlanGroup> ByOp { get; set; } = [];
    public List<UnderfilledLaunch> Underfilled { get; set; } = [];
    public List<string> ReadBackOps { get; set; } = [];

    /// <summary>Summarises a recorded iteration for <paramref name="gpu"/>.</summary>
    public static Plan From(LaunchRecorder r, GpuSpec gpu)
    {
        var p = new Plan
        {
            Gpu = gpu.Name,
            Note = "a roofline model of a recorded plan (nothing ran on a GPU), to rank what to fix; not a measurement",
            Constants = new()
            {
                ["sms"] = gpu.Sms,
                ["peakTflops"] = gpu.PeakFlops / 1e12,
                ["dramTBps"] = gpu.DramBytesPerSecond / 1e12,
                ["hostLinkGBps"] = gpu.HostLinkBytesPerSecond / 1e9,
                ["launchOverheadUs"] = Roofline.LaunchOverheadSeconds * 1e6,
                ["drainUs"] = Roofline.DrainSeconds * 1e6,
                ["serialElementNs"] = Roofline.SerialElementSeconds * 1e9,
                ["cudaAutoGroupSize"] = Roofline.CudaAutoGroupSize,
            },
            Launches = r.Launches.Count,
            Synchronizations = r.Syncs.Count,
            SynchronizationsByReason = r.Syncs.GroupBy(s => s.Reason.ToString()).ToDictionary(g => g.Key, g => g.Count()),
            ReadBacks = r.ReadBacks.Count,
            ScalarReadBacks = r.ReadBacks.Count(x => x.Kind == ReadBackKind.Scalar),
            ArrayReadBacks = r.ReadBacks.Count(x => x.Kind == ReadBackKind.Array),
            Copies = r.Copies.Count,
            BytesHostToDevice = r.BytesCopied(CopyDirection.HostToDevice),
            BytesDeviceToHost = r.BytesCopied(CopyDirection.DeviceToHost),
            BytesDeviceToDevice = r.BytesCopied(CopyDirection.DeviceToDevice),
            ReadBackOps = r.ReadBacks.GroupBy(x => x.OpPath ?? "(no op)").Select(g => $"{g.Count()} × {g.Key}").ToList(),
        };

        var kernels = new Dictionary<string, PlanGroup>();
        var ops = new Dictionary<string, PlanGroup>();
        double kernelSeconds = 0;
        foreach (var l in r.Launches)
        {
            var (seconds, bound) = Roofline.LaunchTime(l, gpu);
            kernelSeconds += seconds;
            bool under = Roofline.IsUnderfilled(l, gpu);
            long blocks = Roofline.Blocks(l);
            foreach (var (dict, key) in new[] { (kernels, l.Kernel), (ops, TopOp(l.OpPath)) })
            {
                if (!dict.TryGetValue(key, out var g)) dict[key] = g = new PlanGroup { Name = key };
                g.Launches++;
                g.Flops += l.Cost.Flops;
                g.Bytes += l.Cost.BytesRead + l.Cost.BytesWritten;
                g.MaxSerialLoop = Math.Max(g.MaxSerialLoop, l.Cost.SerialLoop);
                g.MinBlocks = Math.Min(g.MinBlocks, blocks);
                g.ModelledMs += seconds * 1e3;
                g.Bounds[bound] = g.Bounds.GetValueOrDefault(bound) + 1;
                if (under) g.Underfilled++;
            }
            if (under)
            {
                p.UnderfilledLaunches++;
                p.UnderfilledMflop += l.Cost.Flops / 1e6;
                p.Underfilled.Add(new UnderfilledLaunch
                {
                    Kernel = l.Kernel, Op = l.OpPath, Blocks = blocks,
                    Grid = l.AutoGrouped ? $"{blocks} x {Roofline.CudaAutoGroupSize} (auto)" : $"{l.Grid} x {l.Group}",
                    Mflop = l.Cost.Flops / 1e6, ModelledUs = seconds * 1e6,
                });
            }
            if (l.Cost.SerialLoop > p.MaxSerialLoop)
            {
                p.MaxSerialLoop = l.Cost.SerialLoop;
                p.MaxSerialLoopKernel = l.Kernel;
                p.MaxSerialLoopOp = l.OpPath;
            }
            p.TotalGflop += l.Cost.Flops / 1e9;
            p.TotalDramMB += (l.Cost.BytesRead + l.Cost.BytesWritten) / 1e6;
        }
        p.Underfilled = p.Underfilled.OrderByDescending(u => u.ModelledUs).ToList();
        p.ByKernel = kernels.Values.OrderByDescending(g => g.ModelledMs).ToList();
        p.ByOp = ops.Values.OrderByDescending(g => g.ModelledMs).ToList();
        p.ModelledLaunchOverheadMs = r.Launches.Count * Roofline.LaunchOverheadSeconds * 1e3;
        p.ModelledKernelMs = kernelSeconds * 1e3 - p.ModelledLaunchOverheadMs;
        p.ModelledSyncMs = r.Syncs.Count * Roofline.DrainSeconds * 1e3;
        p.ModelledCopyMs = r.Copies.Sum(c => Roofline.CopyTime(c, gpu)) * 1e3;
        p.ModelledMs = kernelSeconds * 1e3 + p.ModelledSyncMs + p.ModelledCopyMs;
        return p;
    }

    /// <summary>The outermost op of a path ("Conv2d.backward/ConvTranspose2d" → "Conv2d.backward").</summary>
    private static string TopOp(string? path) => path is null ? "(no op)" : path.Split('/')[0];
}

/// <summary>Records one training iteration of a model without running it.</summary>
internal static class PlanRecorder
{
    /// <summary>
    /// Builds the model on ilgpu-cpu with a SkipExecution recorder attached (nothing runs), runs
    /// <paramref name="warmup"/> iterations (the first allocates optimiser state and gradients) and
    /// returns one recorder per recorded iteration after that.
    /// </summary>
    public static List<LaunchRecorder> Record(ModelSpec spec, Scale scale, int warmup, int iterations, int seed = 1234)
    {
        var device = Device.IlgpuCpu;
        var recorders = new List<LaunchRecorder>();
        var setup = new LaunchRecorder(RecordingMode.SkipExecution);
        GanAdapter model;
        using (device.Attach(setup))
        {
            model = GanAdapter.Create(spec, scale, device, seed);
            for (int i = 0; i < warmup; i++) model.Step();
        }
        using (model)
        {
            for (int i = 0; i < iterations; i++)
            {
                var r = new LaunchRecorder(RecordingMode.SkipExecution);
                using (device.Attach(r)) model.Step();
                recorders.Add(r);
            }
        }
        return recorders;
    }

    public static string Format(double v) => v.ToString(v >= 100 ? "F0" : v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
}
