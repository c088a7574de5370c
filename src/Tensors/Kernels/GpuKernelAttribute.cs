namespace GpuGan.Tensors.Kernels;

/// <summary>
/// Marks a static ILGPU kernel method. The PTX test compiles every method carrying this
/// attribute, so a kernel that is not marked is a kernel CUDA users meet untested.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class GpuKernelAttribute : Attribute
{
    /// <summary>True for kernels launched with explicit groups (shared memory, barriers).</summary>
    public bool ExplicitlyGrouped { get; init; }
}
