using GpuGan.Tensors;

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
        Device device;
        try
        {
            device = kind switch
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
        // The thread count is a setting of the host device (Device.Cpu uses every core).
        return device.Kind == DeviceKind.Cpu && threads is { } n ? Device.CreateCpu(new CpuKernelOptions { Threads = n }) : device;
    }
}
