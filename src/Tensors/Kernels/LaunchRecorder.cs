// Launch and transfer accounting. A LaunchRecorder attached to an ILGPU device (Device.Attach)
// sees everything the device does for the thread that attached it:
//   - every kernel launch (Device.Launch): kernel name, extent, grid, group, declared LaunchCost;
//   - every copy between host and device or within the device: direction, bytes, pinned or pageable;
//   - every synchronisation: explicit (Device.Synchronize) or implied by a copy into pageable host memory;
//   - every host read of device data: Item() (a scalar) and ToArray() (an array);
// each tagged with the op that caused it: the innermost op scope (Device.BeginOp, opened by the
// public Tensor-level ops, ".backward" scopes opened by autograd around each derivative rule) and
// the path of all open scopes ("Conv2d.backward/ConvTranspose2d").
//
// SkipExecution mode records the same plan without running it: launches and copies are recorded
// and skipped, buffers are still allocated (so every shape flows as in a real run), host reads
// return zeros (Item() is 0). A training step's control flow does not depend on tensor values, so
// one iteration of a model at its real shape can be recorded on the ILGPU CPU simulator in seconds.
//
// Only the attaching thread is recorded (and, in SkipExecution mode, skipped): Device.IlgpuCpu is
// shared by the process, and another thread's work on it must neither leak into the record nor
// stop running.
namespace GpuGan.Tensors;

/// <summary>Whether a <see cref="LaunchRecorder"/> lets the recorded work run.</summary>
public enum RecordingMode
{
    /// <summary>Record and run every launch and copy as usual.</summary>
    Execute,
    /// <summary>Record launches and copies but do not run them; host reads of device data return zeros.</summary>
    SkipExecution,
}

/// <summary>Direction of a recorded copy.</summary>
public enum CopyDirection
{
    /// <summary>Host memory to device memory.</summary>
    HostToDevice,
    /// <summary>Device memory to host memory.</summary>
    DeviceToHost,
    /// <summary>Between device buffers.</summary>
    DeviceToDevice,
}

/// <summary>Why the host waited for the device.</summary>
public enum SyncReason
{
    /// <summary><see cref="Device.Synchronize"/> was called.</summary>
    Explicit,
    /// <summary>
    /// A copy from device memory into pageable host memory (a read-back): the host waits until every
    /// queued launch has drained and the data has arrived. (Uploads from pageable memory are queued
    /// without waiting: see Device.Upload.)
    /// </summary>
    PageableCopy,
}

/// <summary>What kind of host read of device data was recorded.</summary>
public enum ReadBackKind
{
    /// <summary><see cref="Tensor.Item"/>: one value.</summary>
    Scalar,
    /// <summary><see cref="Tensor.ToArray"/> (and what is built on it: ToString, To(host), saving state).</summary>
    Array,
}

/// <summary>Grid or group dimensions of a launch.</summary>
public readonly record struct Dim3(int X, int Y, int Z)
{
    /// <summary>X·Y·Z.</summary>
    public long Size => (long)X * Y * Z;

    /// <inheritdoc/>
    public override string ToString() => Z == 1 ? Y == 1 ? $"{X}" : $"{X}x{Y}" : $"{X}x{Y}x{Z}";
}

/// <summary>One kernel launch.</summary>
/// <param name="Sequence">Position among all records of the recorder (launches, copies, syncs and read-backs share one counter).</param>
/// <param name="Kernel">"DeclaringType.Method", with type arguments for a generic kernel.</param>
/// <param name="Op">The innermost open op scope, or null outside every scope.</param>
/// <param name="OpPath">All open op scopes, outermost first, joined by '/'; null outside every scope.</param>
/// <param name="Extent">Threads asked for: the index extent of an auto-grouped kernel, grid × group for explicit groups.</param>
/// <param name="Grid">Groups launched. For an auto-grouped kernel, ⌈Extent / Group.X⌉ with the group size ILGPU chose on the recording accelerator; a GPU model should re-derive it from <paramref name="Extent"/>.</param>
/// <param name="Group">Threads per group (ILGPU's choice on the recording accelerator for an auto-grouped kernel).</param>
/// <param name="DynamicSharedMemoryBytes">Dynamic shared memory of the launch (static shared memory is in the ptxas report).</param>
/// <param name="AutoGrouped">True when ILGPU picked the group size (an Index1D kernel).</param>
/// <param name="Cost">The work the launcher declared.</param>
public sealed record LaunchRecord(int Sequence, string Kernel, string? Op, string? OpPath, long Extent, Dim3 Grid, Dim3 Group,
    int DynamicSharedMemoryBytes, bool AutoGrouped, LaunchCost Cost);

/// <summary>One copy.</summary>
/// <param name="Sequence">Position among all records of the recorder.</param>
/// <param name="Op">The innermost open op scope, or null outside every scope.</param>
/// <param name="OpPath">All open op scopes, outermost first, joined by '/'; null outside every scope.</param>
/// <param name="Direction">Host to device, device to host, or device to device.</param>
/// <param name="Bytes">Bytes copied.</param>
/// <param name="Pinned">True when the host side is page-locked memory (an asynchronous copy); false for pageable memory.</param>
public sealed record CopyRecord(int Sequence, string? Op, string? OpPath, CopyDirection Direction, long Bytes, bool Pinned);

/// <summary>One point where the host waited for the device to drain its queue.</summary>
public sealed record SyncRecord(int Sequence, string? Op, string? OpPath, SyncReason Reason);

/// <summary>One host read of device data (the host needs the values, so it waits for them).</summary>
public sealed record ReadBackRecord(int Sequence, string? Op, string? OpPath, ReadBackKind Kind, long Elements);

/// <summary>
/// Records the kernel launches, copies, synchronisations and read-backs an ILGPU device performs
/// for one thread, each tagged with the op that caused it. Attach it with <see cref="Device.Attach"/>;
/// in <see cref="RecordingMode.SkipExecution"/> the recorded work is not run (see the file header).
/// Not thread-safe: it is fed by the one thread that attached it.
/// </summary>
public sealed class LaunchRecorder(RecordingMode mode = RecordingMode.Execute)
{
    private readonly List<LaunchRecord> _launches = new();
    private readonly List<CopyRecord> _copies = new();
    private readonly List<SyncRecord> _syncs = new();
    private readonly List<ReadBackRecord> _readBacks = new();
    private readonly List<(string Name, string Path)> _scopes = new();
    private int _sequence;

    /// <summary>What is recorded.</summary>
    public RecordingMode Mode { get; } = mode;

    /// <summary>False in <see cref="RecordingMode.SkipExecution"/>.</summary>
    public bool Executes => Mode == RecordingMode.Execute;

    /// <summary>The device this recorder is attached to, or null.</summary>
    public Device? Device { get; private set; }

    /// <summary>Kernel launches, in order.</summary>
    public IReadOnlyList<LaunchRecord> Launches => _launches;
    /// <summary>Host↔device copies, in order.</summary>
    public IReadOnlyList<CopyRecord> Copies => _copies;
    /// <summary>Synchronisations, in order.</summary>
    public IReadOnlyList<SyncRecord> Syncs => _syncs;
    /// <summary>Read-backs to the host, in order.</summary>
    public IReadOnlyList<ReadBackRecord> ReadBacks => _readBacks;

    /// <summary>Total bytes copied in one direction.</summary>
    public long BytesCopied(CopyDirection direction) => _copies.Where(c => c.Direction == direction).Sum(c => c.Bytes);

    /// <summary>Forgets every record (open op scopes stay open), e.g. after a warm-up iteration.</summary>
    public void Clear()
    {
        _launches.Clear();
        _copies.Clear();
        _syncs.Clear();
        _readBacks.Clear();
        _sequence = 0;
    }

    /// <summary>The managed thread whose work is recorded.</summary>
    internal int OwnerThread { get; private set; }

    internal void Bind(Device device)
    {
        if (Device is not null) throw new InvalidOperationException($"this recorder is already attached to {Device}");
        Device = device;
        OwnerThread = Environment.CurrentManagedThreadId;
    }

    internal void Unbind()
    {
        Device = null;
        _scopes.Clear();
    }

    // ------------------------------------------------------------ op scopes

    private string? Op => _scopes.Count == 0 ? null : _scopes[^1].Name;
    private string? OpPath => _scopes.Count == 0 ? null : _scopes[^1].Path;

    internal OpScope Push(string name, bool backward)
    {
        if (backward) name += ".backward";
        int depth = _scopes.Count;
        _scopes.Add((name, depth == 0 ? name : _scopes[^1].Path + "/" + name));
        return new OpScope(this, depth);
    }

    /// <summary>Closes the scope opened at <paramref name="depth"/> and any left open inside it.</summary>
    internal void PopTo(int depth)
    {
        if (depth < _scopes.Count) _scopes.RemoveRange(depth, _scopes.Count - depth);
    }

    // ------------------------------------------------------------ records

    internal void AddLaunch(string kernel, long extent, Dim3 grid, Dim3 group, int sharedBytes, bool autoGrouped, in LaunchCost cost)
        => _launches.Add(new LaunchRecord(_sequence++, kernel, Op, OpPath, extent, grid, group, sharedBytes, autoGrouped, cost));

    internal void AddCopy(CopyDirection direction, long bytes, bool pinned)
        => _copies.Add(new CopyRecord(_sequence++, Op, OpPath, direction, bytes, pinned));

    internal void AddSync(SyncReason reason) => _syncs.Add(new SyncRecord(_sequence++, Op, OpPath, reason));

    internal void AddReadBack(ReadBackKind kind, long elements) => _readBacks.Add(new ReadBackRecord(_sequence++, Op, OpPath, kind, elements));
}

/// <summary>
/// An open op scope (<see cref="Device.BeginOp"/>); disposing it closes it. The default value,
/// returned when no recorder is attached, does nothing.
/// </summary>
public readonly struct OpScope : IDisposable
{
    private readonly LaunchRecorder? _recorder;
    private readonly int _depth;

    internal OpScope(LaunchRecorder recorder, int depth)
    {
        _recorder = recorder;
        _depth = depth;
    }

    /// <summary>Closes the op scope.</summary>
    public void Dispose() => _recorder?.PopTo(_depth);
}

/// <summary>Detaches a recorder from its device when disposed (see <see cref="Device.Attach"/>).</summary>
public sealed class RecorderAttachment : IDisposable
{
    private Device? _device;

    internal RecorderAttachment(Device device) => _device = device;

    /// <summary>Detaches the recorder from the device.</summary>
    public void Dispose()
    {
        _device?.Detach();
        _device = null;
    }
}
