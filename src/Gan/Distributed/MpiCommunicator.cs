// A thin binding of the few MPI calls data-parallel training needs, over OpenMPI's libmpi
// (Debian's openmpi-bin / libopenmpi-dev, 4.1), by function pointers resolved at run time.
//
// Why not MPI.NET: its 1.4.0 package binds msmpi.dll with MS-MPI's handle ABI (MPI_Comm,
// MPI_Datatype and MPI_Op are ints: MPI_COMM_WORLD = 0x44000000); OpenMPI's handles are pointers to
// global objects (MPI_COMM_WORLD is &ompi_mpi_comm_world, MPI_FLOAT &ompi_mpi_float, MPI_SUM
// &ompi_mpi_op_sum), so the package cannot drive OpenMPI on Linux. Here each handle is the address
// of its exported symbol, and MPI_IN_PLACE is (void*)1 as in OpenMPI's mpi.h.
//
// libmpi is opened with RTLD_GLOBAL before anything else: OpenMPI loads its components (shared
// memory, TCP, the collectives) with dlopen, and they resolve symbols of libmpi and libopen-pal
// from the global namespace, which .NET's own loading (RTLD_LOCAL) would hide from them.
//
// No hang: every collective runs under a watchdog. If one has not returned after the timeout
// (another rank died before it or hangs), the watchdog reports which collective on this rank was
// stuck and calls MPI_Abort, which ends every rank of the job.
using System.Runtime.InteropServices;
using GpuGan.Tensors;

namespace GpuGan.Gan.Distributed;

/// <summary>The ranks of an MPI job (MPI_COMM_WORLD) through OpenMPI's libmpi; every collective under a timeout.</summary>
public sealed unsafe class MpiCommunicator : ICommunicator, IDisposable
{
    private const int ThreadMultiple = 3;   // MPI_THREAD_MULTIPLE: the watchdog may abort while the main thread waits in a collective
    private static readonly string[] LibraryNames = ["libmpi.so.40", "libmpi.so", "libmpi.so.12"];

    private readonly nint _comm, _float, _double, _byte, _sum, _max;
    private readonly delegate* unmanaged<nint, nint, int, nint, nint, nint, int> _allreduce;
    private readonly delegate* unmanaged<nint, int, nint, int, nint, int> _bcast;
    private readonly delegate* unmanaged<nint, int> _barrier;
    private readonly delegate* unmanaged<nint, int, int> _abort;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly CollectiveWatchdog _watchdog;
    private readonly int _abortCode;
    private bool _disposed;

    private MpiCommunicator(nint library, TimeSpan timeout, Action<string> onStuck, int abortCode)
    {
        nint Export(string name) => NativeLibrary.TryGetExport(library, name, out var address)
            ? address : throw new MpiUnavailableException($"{name} is missing from libmpi (not OpenMPI?)");
        _comm = Export("ompi_mpi_comm_world");
        _float = Export("ompi_mpi_float");
        _double = Export("ompi_mpi_double");
        _byte = Export("ompi_mpi_byte");
        _sum = Export("ompi_mpi_op_sum");
        _max = Export("ompi_mpi_op_max");
        _allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)Export("MPI_Allreduce");
        _bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Export("MPI_Bcast");
        _barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        _abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        var initThread = (delegate* unmanaged<int*, nint*, int, int*, int>)Export("MPI_Init_thread");
        var commRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        var commSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        var processorName = (delegate* unmanaged<byte*, int*, int>)Export("MPI_Get_processor_name");

        int provided, rank, size;
        Check(initThread(null, null, ThreadMultiple, &provided), "MPI_Init_thread");
        Check(commRank(_comm, &rank), "MPI_Comm_rank");
        Check(commSize(_comm, &size), "MPI_Comm_size");
        var name = stackalloc byte[256];   // MPI_MAX_PROCESSOR_NAME is 256 in OpenMPI
        int length = 0;
        Check(processorName(name, &length), "MPI_Get_processor_name");
        (Rank, Size, ThreadLevel, ProcessorName) = (rank, size, provided, System.Text.Encoding.UTF8.GetString(name, Math.Clamp(length, 0, 255)));
        _abortCode = abortCode;
        Timeout = timeout;
        _watchdog = new CollectiveWatchdog(timeout, what =>
        {
            onStuck($"rank {Rank} of {Size} on {ProcessorName}: {what} did not complete within {timeout.TotalSeconds:F0} s; " +
                "another rank has failed or hangs (its own message, if it wrote one, is above); aborting the job");
            Abort();
        });
    }

    /// <summary>
    /// Initialises MPI (MPI_Init_thread) and joins MPI_COMM_WORLD. <paramref name="onStuck"/> receives the one-line report of a
    /// collective that outlived <paramref name="timeout"/>, just before the job is aborted with <paramref name="abortCode"/>.
    /// </summary>
    /// <exception cref="MpiUnavailableException">No OpenMPI library could be loaded.</exception>
    public static MpiCommunicator Initialize(TimeSpan timeout, Action<string> onStuck, int abortCode)
    {
        ArgumentNullException.ThrowIfNull(onStuck);
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the collective timeout must be positive");
        return new MpiCommunicator(OpenLibrary(), timeout, onStuck, abortCode);
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <summary>The host this rank runs on (MPI_Get_processor_name).</summary>
    public string ProcessorName { get; }

    /// <summary>The thread support MPI granted (3 = MPI_THREAD_MULTIPLE).</summary>
    public int ThreadLevel { get; }

    /// <summary>How long one collective may wait before the job is aborted.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Collectives completed on this rank so far.</summary>
    public long Collectives => _watchdog.Completed;

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> values) => AllReduce(values, _float, _sum, "allreduce (sum) of float32");

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values) => AllReduce(values, _double, _sum, "allreduce (sum) of float64");

    /// <inheritdoc/>
    public void AllReduceMax(Span<double> values) => AllReduce(values, _double, _max, "allreduce (max) of float64");

    private void AllReduce<T>(Span<T> values, nint type, nint op, string what) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (values.IsEmpty) return;
        fixed (T* p = values)
        {
            using var _ = _watchdog.Enter($"{what}, {values.Length} values");
            Check(_allreduce(1 /* MPI_IN_PLACE */, (nint)p, values.Length, type, op, _comm), "MPI_Allreduce");
        }
    }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, Size);
        fixed (byte* p = data)
        {
            using var _ = _watchdog.Enter($"broadcast of {data.Length} bytes from rank {root}");
            Check(_bcast((nint)p, data.Length, _byte, root, _comm), "MPI_Bcast");
        }
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var _ = _watchdog.Enter("barrier");
        Check(_barrier(_comm), "MPI_Barrier");
    }

    /// <summary>Ends every rank of the job (MPI_Abort) with <paramref name="code"/> (null: the abort code given at <see cref="Initialize"/>); does not return.</summary>
    public void Abort(int? code = null)
    {
        int exit = code ?? _abortCode;
        _abort(_comm, exit);
        Environment.Exit(exit);   // MPI_Abort does not return; should it, leave anyway
    }

    /// <summary>Stops the watchdog and finalises MPI (after which no rank may communicate).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _watchdog.Dispose();
        _finalize();
    }

    private static void Check(int code, string call)
    {
        // With MPI's default error handler (MPI_ERRORS_ARE_FATAL) a failed call aborts the job before returning; this is the rest.
        if (code != 0) throw new MpiUnavailableException($"{call} failed with MPI error {code}");
    }

    private const int RtldNow = 2, RtldGlobal = 0x100;

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    private static nint OpenLibrary()
    {
        foreach (var name in LibraryNames)
        {
            // Global first (see the file header), then the handle .NET uses for the exports.
            if (OperatingSystem.IsLinux() && DlOpen(name, RtldNow | RtldGlobal) == 0) continue;
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        }
        throw new MpiUnavailableException($"no MPI library found (tried {string.Join(", ", LibraryNames)}); install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev)");
    }
}

/// <summary>MPI cannot be used: the library is missing, is not OpenMPI, or a call failed.</summary>
public sealed class MpiUnavailableException(string problem) : GanException($"MPI: {problem}")
{
    /// <summary>What went wrong.</summary>
    public string Problem { get; } = problem;
}

/// <summary>
/// Watches the collective in progress on this rank: one at a time (the training loop is one thread); a background thread
/// wakes every quarter second and calls the callback once when the collective in progress has outlived the timeout.
/// </summary>
internal sealed class CollectiveWatchdog : IDisposable
{
    private readonly TimeSpan _timeout;
    private readonly Action<string> _onStuck;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private string? _current;
    private long _startedAt;
    private long _completed;

    public CollectiveWatchdog(TimeSpan timeout, Action<string> onStuck)
    {
        (_timeout, _onStuck) = (timeout, onStuck);
        _thread = new Thread(Watch) { IsBackground = true, Name = "MPI collective watchdog" };
        _thread.Start();
    }

    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Marks a collective as in progress until the returned scope is disposed.</summary>
    public Scope Enter(string what)
    {
        lock (_gate)
        {
            _current = $"collective #{_completed + 1} ({what})";
            _startedAt = Environment.TickCount64;
        }
        return new Scope(this);
    }

    private void Leave()
    {
        lock (_gate)
        {
            _current = null;
            _completed++;
        }
    }

    private void Watch()
    {
        while (!_stop.Token.WaitHandle.WaitOne(250))
        {
            string? stuck = null;
            lock (_gate)
                if (_current is not null && Environment.TickCount64 - _startedAt > (long)_timeout.TotalMilliseconds) stuck = _current;
            if (stuck is not null)
            {
                _onStuck(stuck);
                return;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _stop.Dispose();
    }

    internal readonly struct Scope(CollectiveWatchdog owner) : IDisposable
    {
        public void Dispose() => owner.Leave();
    }
}

/// <summary>What the environment says about an MPI launch.</summary>
public static class MpiEnvironment
{
    /// <summary>This process's rank when it was started by mpirun/mpiexec (OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK); null otherwise.</summary>
    public static int? LaunchedRank()
    {
        foreach (var name in new[] { "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK" })
            if (int.TryParse(Environment.GetEnvironmentVariable(name), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int rank))
                return rank;
        return null;
    }

    /// <summary>
    /// The job's size when this process was started by mpirun/mpiexec (OpenMPI's OMPI_COMM_WORLD_SIZE, or the PMI/PMIx
    /// launchers' PMI_SIZE / PMIX_SIZE); null otherwise.
    /// </summary>
    public static int? LaunchedSize()
    {
        foreach (var name in new[] { "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE" })
            if (int.TryParse(Environment.GetEnvironmentVariable(name), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int size) && size >= 1)
                return size;
        return null;
    }
}
