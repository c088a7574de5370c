using GpuGan.Tensors;

namespace GpuGan.Gan;

/// <summary>Opens the device a run or a sampler asks for by kind.</summary>
public static class DeviceSelection
{
    /// <summary>
    /// The device of <paramref name="kind"/> (null: CUDA, else OpenCL, else the SIMD CPU set), with the CPU kernels
    /// on <paramref name="threads"/> threads when it is the host (null: the shared all-cores device).
    /// </summary>
    /// <exception cref="DeviceUnavailableException">CUDA or OpenCL was asked for and none can be used here.</exception>
    public static Device Open(DeviceKind? kind, int? threads) => Open(kind, threads, winograd: false);

    /// <summary>
    /// As <see cref="Open(DeviceKind?, int?)"/>, with the CPU set's convolutions on the Winograd kernels when
    /// <paramref name="winograd"/> (<see cref="ConvLoweringOptions.Winograd"/>; no effect on GPU devices).
    /// </summary>
    /// <exception cref="DeviceUnavailableException">CUDA or OpenCL was asked for and none can be used here.</exception>
    public static Device Open(DeviceKind? kind, int? threads, bool winograd)
    {
        if (threads is null && !winograd) return Device.Open(kind, null);
        var cpu = new CpuKernelOptions();
        if (threads is { } n) cpu = cpu with { Threads = n };
        if (winograd) cpu = cpu with { Conv = cpu.Conv with { Winograd = true } };
        return Device.Open(kind, cpu);
    }
}
