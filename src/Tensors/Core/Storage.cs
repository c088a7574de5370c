using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>
/// Reference-counted contiguous float32 memory on one device. Views (reshape) share a storage;
/// the last release hands the memory back to the device pool at once, not at GC time.
/// </summary>
internal sealed class Storage
{
    private float[]? _host;
    private MemoryBuffer1D<float, Stride1D.Dense>? _buffer;
    private int _refs = 1;

    public Storage(Device device, int length)
    {
        Device = device;
        Length = length;
        if (device.IsHost) _host = device.Pool.RentHost(length);
        else _buffer = device.Pool.RentDevice(length);
    }

    public Device Device { get; }
    public int Length { get; }
    public bool Released => _refs <= 0;

    /// <summary>Host array (length may exceed <see cref="Length"/> only for zero-size tensors).</summary>
    public float[] Host => _host ?? throw new InvalidOperationException("storage is not on the host");

    public Span<float> Span => Host.AsSpan(0, Length);

    /// <summary>The device buffer as a dense 1-D view of exactly the live elements.</summary>
    public ArrayView1D<float, Stride1D.Dense> View1D => (_buffer ?? throw new InvalidOperationException("storage is not on an ILGPU device")).View.SubView(0, Math.Max(Length, 1));

    public ArrayView<float> View => View1D;

    public void AddRef() => Interlocked.Increment(ref _refs);

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) != 0) return;
        if (_host is not null) Device.Pool.Return(_host, Length);
        if (_buffer is not null) Device.Pool.Return(_buffer, Length);
        _host = null;
        _buffer = null;
    }
}
