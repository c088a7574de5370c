// The one place kernels are loaded and launched. Each ILGPU kernel is loaded once per device and
// its typed launcher delegate cached under the kernel's MethodInfo (a generic kernel instantiation
// is its own MethodInfo, so every struct type argument gets its own entry). The delegate type is
// written once, here, in the generic overloads: call sites pass the kernel's method group and its
// arguments and C# infers the rest, e.g.
//     device.Launch(ElementwiseKernels.FillKernel, n, cost, view, value);                    // Index1D, auto-grouped
//     device.Launch(MatMulKernels.GemmTiledKernel, config, cost, a, b, c, m, n, k, ...);     // KernelConfig, explicit groups
// Overloads differ by arity only (1..10 kernel arguments after the index or config).
//
// Every launch declares its LaunchCost and passes BeforeLaunch, which hands it to the attached
// LaunchRecorder (if any) and says whether to run it (a recorder in SkipExecution mode records
// the plan without running it). With no recorder attached that is one field read.
using System.Reflection;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>A kernel loaded on one device: its typed launcher and what the recorder reports about it.</summary>
internal abstract class LoadedKernel(string name, MethodInfo method, int groupSize)
{
    /// <summary>"DeclaringType.Method" (with type arguments for generic kernels).</summary>
    public string Name { get; } = name;
    public MethodInfo Method { get; } = method;
    /// <summary>Threads per group ILGPU chose for an auto-grouped kernel on this accelerator; 0 for explicit groups.</summary>
    public int GroupSize { get; } = groupSize;
}

internal sealed class LoadedKernel<TLauncher>(string name, MethodInfo method, int groupSize, TLauncher launcher)
    : LoadedKernel(name, method, groupSize) where TLauncher : Delegate
{
    public TLauncher Launcher { get; } = launcher;
}

public sealed partial class Device
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<MethodInfo, LoadedKernel> _kernels = new();

    /// <summary>The kernels loaded on this device so far (tests check each carries [GpuKernel]).</summary>
    internal IEnumerable<MethodInfo> LoadedKernels => _kernels.Keys;

    private AcceleratorStream Stream => Accelerator!.DefaultStream;

    private Accelerator AcceleratorOrThrow()
        => Accelerator ?? throw new InvalidOperationException($"{Name} runs the SIMD kernel set and launches no ILGPU kernels");

    /// <summary>Validates and caches a freshly loaded kernel; a concurrent load of the same kernel keeps the first.</summary>
    private LoadedKernel CacheKernel<TLauncher>(MethodInfo method, TLauncher launcher, KernelInfo? info, bool autoGrouped) where TLauncher : Delegate
    {
        var attribute = method.GetCustomAttribute<GpuKernelAttribute>()
            ?? throw new InvalidOperationException($"kernel {KernelName(method)} is not marked [GpuKernel], so the PTX test does not compile it");
        if (attribute.ExplicitlyGrouped == autoGrouped)
            throw new InvalidOperationException($"kernel {KernelName(method)} is marked ExplicitlyGrouped = {attribute.ExplicitlyGrouped} but launched {(autoGrouped ? "auto-grouped" : "with a KernelConfig")}");
        // ILGPU reports the group size it picked for an auto-grouped kernel; fall back to the
        // accelerator's warp if a backend leaves it unset.
        int group = autoGrouped ? info?.MinGroupSize ?? Accelerator!.WarpSize : 0;
        return _kernels.GetOrAdd(method, new LoadedKernel<TLauncher>(KernelName(method), method, group, launcher));
    }

    private static string KernelName(MethodInfo m)
    {
        var name = $"{m.DeclaringType?.Name}.{m.Name}";
        return m.IsGenericMethod ? $"{name}<{string.Join(", ", m.GetGenericArguments().Select(t => t.Name))}>" : name;
    }

    /// <summary>Records an auto-grouped launch; false when the attached recorder skips execution.</summary>
    private bool BeforeLaunch(LoadedKernel kernel, int extent, in LaunchCost cost)
    {
        if (extent < 0) throw new ArgumentOutOfRangeException(nameof(extent), extent, $"{kernel.Name}: negative launch extent");
        if (extent == 0) return false;
        var r = ActiveRecorder;
        if (r is null) return true;
        int group = kernel.GroupSize;
        r.AddLaunch(kernel.Name, extent, new Dim3((extent + group - 1) / group, 1, 1), new Dim3(group, 1, 1), 0, autoGrouped: true, cost);
        return r.Executes;
    }

    /// <summary>Records an explicitly grouped launch; false when the attached recorder skips execution.</summary>
    private bool BeforeLaunch(LoadedKernel kernel, in KernelConfig config, in LaunchCost cost)
    {
        var r = ActiveRecorder;
        if (r is null) return true;
        var grid = new Dim3(config.GridDim.X, config.GridDim.Y, config.GridDim.Z);
        var group = new Dim3(config.GroupDim.X, config.GroupDim.Y, config.GroupDim.Z);
        r.AddLaunch(kernel.Name, grid.Size * group.Size, grid, group, config.SharedMemoryConfig.ArraySize,
            autoGrouped: false, cost);
        return r.Executes;
    }

    // ============================================================ launch overloads (by arity)

    /// <summary>Launches an auto-grouped kernel with 1 argument over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1>(Action<Index1D, T1> kernel, int extent, in LaunchCost cost, T1 a1)
        where T1 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1);
    }

    /// <summary>Launches an auto-grouped kernel with 2 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2>(Action<Index1D, T1, T2> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2)
        where T1 : struct where T2 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2);
    }

    /// <summary>Launches an auto-grouped kernel with 3 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3>(Action<Index1D, T1, T2, T3> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3)
        where T1 : struct where T2 : struct where T3 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3);
    }

    /// <summary>Launches an auto-grouped kernel with 4 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3, T4>(Action<Index1D, T1, T2, T3, T4> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3, T4>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3, T4>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3, a4);
    }

    /// <summary>Launches an auto-grouped kernel with 5 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3, T4, T5>(Action<Index1D, T1, T2, T3, T4, T5> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3, T4, T5>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3, a4, a5);
    }

    /// <summary>Launches an auto-grouped kernel with 6 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6>(Action<Index1D, T1, T2, T3, T4, T5, T6> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3, T4, T5, T6>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3, a4, a5, a6);
    }

    /// <summary>Launches an auto-grouped kernel with 7 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3, T4, T5, T6, T7>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3, a4, a5, a6, a7);
    }

    /// <summary>Launches an auto-grouped kernel with 8 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3, T4, T5, T6, T7, T8>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3, a4, a5, a6, a7, a8);
    }

    /// <summary>Launches an auto-grouped kernel with 9 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3, a4, a5, a6, a7, a8, a9);
    }

    /// <summary>Launches an auto-grouped kernel with 10 arguments over <paramref name="extent"/> threads.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel, int extent, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadAutoGroupedKernel<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(kernel, out var info), info, autoGrouped: true);
        var k = (LoadedKernel<Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>>)entry;
        if (BeforeLaunch(k, extent, cost)) k.Launcher(Stream, extent, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);
    }

    /// <summary>Launches an explicitly grouped kernel with 1 argument on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1>(Action<T1> kernel, KernelConfig config, in LaunchCost cost, T1 a1)
        where T1 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1);
    }

    /// <summary>Launches an explicitly grouped kernel with 2 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2>(Action<T1, T2> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2)
        where T1 : struct where T2 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2);
    }

    /// <summary>Launches an explicitly grouped kernel with 3 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3>(Action<T1, T2, T3> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3)
        where T1 : struct where T2 : struct where T3 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3);
    }

    /// <summary>Launches an explicitly grouped kernel with 4 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3, T4>(Action<T1, T2, T3, T4> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3, T4>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3, a4);
    }

    /// <summary>Launches an explicitly grouped kernel with 5 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3, T4, T5>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3, a4, a5);
    }

    /// <summary>Launches an explicitly grouped kernel with 6 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3, T4, T5, T6>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3, a4, a5, a6);
    }

    /// <summary>Launches an explicitly grouped kernel with 7 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7>(Action<T1, T2, T3, T4, T5, T6, T7> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3, T4, T5, T6, T7>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3, a4, a5, a6, a7);
    }

    /// <summary>Launches an explicitly grouped kernel with 8 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8>(Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3, T4, T5, T6, T7, T8>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3, a4, a5, a6, a7, a8);
    }

    /// <summary>Launches an explicitly grouped kernel with 9 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3, T4, T5, T6, T7, T8, T9>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9);
    }

    /// <summary>Launches an explicitly grouped kernel with 10 arguments on the grid and groups of <paramref name="config"/>.</summary>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel, KernelConfig config, in LaunchCost cost, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct
    {
        if (!_kernels.TryGetValue(kernel.Method, out var entry))
            entry = CacheKernel(kernel.Method, AcceleratorOrThrow().LoadKernel<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(kernel, out var info), info, autoGrouped: false);
        var k = (LoadedKernel<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>>)entry;
        if (BeforeLaunch(k, config, cost)) k.Launcher(Stream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);
    }

}
