namespace GpuGan.Cli;

/// <summary>gpugan's exit codes.</summary>
public static class ExitCodes
{
    /// <summary>Done (also: interrupted by a first Ctrl-C/SIGTERM/SIGHUP, with a checkpoint saved).</summary>
    public const int Ok = 0;

    /// <summary>A problem with a file, the data, the device, or training (divergence): one line on stderr.</summary>
    public const int Failure = 1;

    /// <summary>A bad command line: an unknown flag, a value out of range, options that do not go together.</summary>
    public const int Usage = 2;

    /// <summary>An internal error (a bug): one line on stderr naming a log file with the stack trace (EX_SOFTWARE).</summary>
    public const int Internal = 70;

    /// <summary>A second stop signal ends the process at once with 128 + the signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP).</summary>
    public const int SignalBase = 128;
}
