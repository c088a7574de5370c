namespace GpuGan.Cli;

/// <summary>What every command needs: the output streams, the outer cancellation, test hooks, and the exit code it sets.</summary>
internal sealed class CliContext(TextWriter stdout, TextWriter stderr, CancellationToken cancel, CliHooks hooks, IReadOnlyList<string> args)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    public CancellationToken Cancel { get; } = cancel;
    public CliHooks Hooks { get; } = hooks;
    public IReadOnlyList<string> Args { get; } = args;
    public int ExitCode { get; private set; }

    /// <summary>
    /// Runs a command's body: user errors become one line and exit 1/2, anything else an internal error (exit 70)
    /// with its log in <paramref name="logFolder"/> (when it exists by then) or the temp folder.
    /// </summary>
    public void Execute(string command, Func<string?> logFolder, Action body)
    {
        try
        {
            Hooks.BeforeCommand?.Invoke(command);
            body();
            ExitCode = ExitCodes.Ok;
        }
        catch (Exception e)
        {
            ExitCode = ErrorReport.Handle(e, Err, logFolder(), Args);
        }
    }
}
