// Ctrl-C (SIGINT), SIGTERM (schedulers, `docker stop`) and SIGHUP (a closed terminal) all ask a
// run to stop: the first finishes the current step, saves a checkpoint and exits 0 with the resume
// hint; a second ends the process at once (128 + the signal's number). Every file of a run is
// written atomically (temp file, flush, rename), so ending at once leaves each file old or new,
// never torn — except metrics.csv's last row, which resume repairs.
using System.Runtime.InteropServices;

namespace GpuGan.Cli;

/// <summary>Turns stop signals into a cancellation while registered.</summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly TextWriter _stderr;
    private readonly List<PosixSignalRegistration> _registrations = new();
    private int _received;

    public StopSignals(TextWriter stderr, CancellationToken outer)
    {
        _stderr = stderr;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(outer);
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP })
        {
            try
            {
                _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
            }
            catch (PlatformNotSupportedException)
            {
                // SIGHUP has no equivalent on some platforms; the others still stop the run.
            }
        }
    }

    /// <summary>Cancelled by the first stop signal (or by the outer token).</summary>
    public CancellationToken Token => _stop.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;   // the process does not end by itself; we decide below
        string name = Name(context.Signal);
        if (Interlocked.Increment(ref _received) == 1)
        {
            _stderr.WriteLine($"gpugan: {name}: stopping after this step and saving a checkpoint (send it again to stop at once)");
            _stderr.Flush();
            _stop.Cancel();
            return;
        }
        _stderr.WriteLine($"gpugan: {name} again: stopping at once (files written so far are complete; resume from the last checkpoint)");
        _stderr.Flush();
        Environment.Exit(ExitCodes.SignalBase + Number(context.Signal));
    }

    private static string Name(PosixSignal s) => s switch
    {
        PosixSignal.SIGINT => "SIGINT",
        PosixSignal.SIGTERM => "SIGTERM",
        PosixSignal.SIGHUP => "SIGHUP",
        _ => s.ToString(),
    };

    private static int Number(PosixSignal s) => s switch
    {
        PosixSignal.SIGHUP => 1,
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGTERM => 15,
        _ => 0,
    };

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _stop.Dispose();
    }
}
