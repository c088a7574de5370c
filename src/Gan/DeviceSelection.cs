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
    public static Device Open(DeviceKind? kind, int? threads) =>
        Device.Open(kind, threads is { } n ? new CpuKernelOptions { Threads = n } : null);
}
