using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>
/// Exact-size free lists of host arrays or device buffers. A training step asks for the same
/// sizes every iteration, so after the first one every request is served from the pool.
/// </summary>
internal sealed class BufferPool(Device device)
{
    private readonly Dictionary<int, Stack<float[]>> _host = new();
    private readonly Dictionary<int, Stack<MemoryBuffer1D<float, Stride1D.Dense>>> _gpu = new();
    private readonly object _lock = new();

    /// <summary>Fresh allocations so far (tests check this stops growing after a warm-up step).</summary>
    public long Allocations { get; private set; }

    public float[] RentHost(int length)
    {
        lock (_lock)
        {
            if (_host.TryGetValue(length, out var s) && s.Count > 0) return s.Pop();
            Allocations++;
        }
        // Pinned so kernels can take raw pointers without fixing the array each time.
        return GC.AllocateUninitializedArray<float>(Math.Max(length, 1), pinned: true);
    }

    public MemoryBuffer1D<float, Stride1D.Dense> RentDevice(int length)
    {
        lock (_lock)
        {
            if (_gpu.TryGetValue(length, out var s) && s.Count > 0) return s.Pop();
            Allocations++;
        }
        return device.Accelerator!.Allocate1D<float>(Math.Max(length, 1));
    }

    public void Return(float[] array, int length)
    {
        lock (_lock)
        {
            if (!_host.TryGetValue(length, out var s)) _host[length] = s = new Stack<float[]>();
            s.Push(array);
        }
    }

    public void Return(MemoryBuffer1D<float, Stride1D.Dense> buffer, int length)
    {
        lock (_lock)
        {
            if (!_gpu.TryGetValue(length, out var s)) _gpu[length] = s = new Stack<MemoryBuffer1D<float, Stride1D.Dense>>();
            s.Push(buffer);
        }
    }

    public void Trim()
    {
        lock (_lock)
        {
            _host.Clear();
            foreach (var s in _gpu.Values)
                foreach (var b in s) b.Dispose();
            _gpu.Clear();
        }
    }
}
