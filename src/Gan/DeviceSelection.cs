using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;

namespace GpuGan.Gan;

/// <summary>Opens the device a run or a sampler asks for by kind.</summary>
public static class DeviceSelection
{
    /// <summary>
    /// The device of <paramref name="kind"/> (null: CUDA, else OpenCL, else the SIMD CPU set), with the CPU kernels
    /// on <paramref name="threads"/> threads (null: every core).
    /// </summary>
    /// <exception cref="DeviceNotFoundException">No device of that kind can be used here.</exception>
    public static Device Open(DeviceKind? kind, int? threads)
    {
        // Until devices carry their own kernel options, the CPU kernels' thread count is process-wide.
        CpuParallel.Threads = threads ?? Environment.ProcessorCount;
        try
        {
            return kind switch
            {
                null => Device.Auto(),
                DeviceKind.Cpu => Device.Cpu,
                DeviceKind.IlgpuCpu => Device.IlgpuCpu,
                DeviceKind.Cuda => Device.FromName("cuda"),
                DeviceKind.OpenCL => Device.FromName("opencl"),
                _ => throw new InvalidOptionException("Device", kind, "is not a known device kind"),
            };
        }
        catch (InvalidOperationException e)
        {
            throw new DeviceNotFoundException(kind!.Value, "none found", e);
        }
    }
}
