// The gpugan command line: builds the command tree (src/Cli/Commands), parses, runs, and returns
// the exit code (ExitCodes). Thin: every default is in Defaults, every word in Words and
// ErrorReport; the work is done by GpuGan.Gan.
using System.CommandLine;
using GpuGan.Cli.Commands;

namespace GpuGan.Cli;

/// <summary>Runs the gpugan command line.</summary>
public static class GpuGanCommand
{
    /// <summary>Runs <paramref name="args"/>, writing to <paramref name="stdout"/> and <paramref name="stderr"/>; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
        => Run(args, stdout, stderr, cancel, CliHooks.None);

    /// <summary>As <see cref="Run(string[], TextWriter, TextWriter, CancellationToken)"/>, with test hooks.</summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel, CliHooks hooks)
    {
        var cli = new CliContext(stdout, stderr, cancel, hooks, args);
        try
        {
            var root = new RootCommand("GpuGan: train GANs on hand-written kernels (ILGPU and CPU SIMD)")
            {
                TrainCommand.Create(cli),
                SampleCommand.Create(cli),
                TranslateCommand.Create(cli),
                ExportCommand.Create(cli),
                DevicesCommand.Create(cli),
            };
            if (args.Length == 0)
            {
                // No command: show what there is (and say so in the exit code).
                root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
                return ExitCodes.Usage;
            }
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                // Our own parsers word their errors with the flag; otherwise name the offending token when there is one.
                var error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("--", StringComparison.Ordinal))
                    ?? parsed.Errors.FirstOrDefault(e => e.Message.Contains('\'')) ?? parsed.Errors[0];
                stderr.WriteLine($"gpugan: {error.Message} (see gpugan --help)");
                return ExitCodes.Usage;
            }
            int code = parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
            return cli.ExitCode != ExitCodes.Ok ? cli.ExitCode : code;
        }
        catch (Exception e)
        {
            return ErrorReport.Handle(e, stderr, logFolder: null, args);
        }
    }
}
