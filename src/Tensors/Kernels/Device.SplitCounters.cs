// The arrival counters of the split-k GEMM (MatMulKernels.GemmTiledKernel): per output tile, one int per
// group of splits and one for the groups (MatMulKernels.CountersPerTile), each incremented once per arrival;
// the last arrival adds the partials and sets its counter back to 0, so the buffer is all zeros between launches. Launches on one device
// run in stream order (ILGPU's CPU accelerator also runs one kernel at a time, whichever thread launches),
// so one buffer per device serves every split GEMM. It is zeroed once when allocated and grows (doubling)
// when a launch has more tiles; a grown-out buffer is kept until the device is disposed, because a launch
// still queued on the stream may use it.
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

public sealed partial class Device
{
    private readonly object _splitCountersLock = new();
    private MemoryBuffer1D<int, Stride1D.Dense>? _splitCounters;
    private readonly List<MemoryBuffer1D<int, Stride1D.Dense>> _retiredSplitCounters = [];

    /// <summary>At least <paramref name="tiles"/> zeroed split-k arrival counters of this device (see the file header).</summary>
    internal ArrayView<int> SplitCounters(int tiles)
    {
        lock (_splitCountersLock)
        {
            if (_splitCounters is null || _splitCounters.Length < tiles)
            {
                long length = Math.Max(4096, _splitCounters is null ? tiles : Math.Max(tiles, 2 * _splitCounters.Length));
                var fresh = AcceleratorOrThrow().Allocate1D<int>(length);
                // Queued on the stream like the launches, so it is zero before the next split GEMM reads it.
                fresh.MemSetToZero(Stream);
                if (_splitCounters is not null) _retiredSplitCounters.Add(_splitCounters);
                _splitCounters = fresh;
            }
            return _splitCounters.View;
        }
    }

    private void DisposeSplitCounters()
    {
        lock (_splitCountersLock)
        {
            _splitCounters?.Dispose();
            foreach (var b in _retiredSplitCounters) b.Dispose();
            _retiredSplitCounters.Clear();
            _splitCounters = null;
        }
    }
}
