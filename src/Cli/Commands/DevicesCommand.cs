using System.CommandLine;
using GpuGan.Gan.Distributed;
using GpuGan.Tensors;

namespace GpuGan.Cli.Commands;

/// <summary>gpugan devices: what can run here.</summary>
internal static class DevicesCommand
{
    public static Command Create(CliContext cli)
    {
        var command = new Command("devices", "list devices and kernel sets");
        command.SetAction(_ => cli.Execute("devices", () => null, () =>
        {
            foreach (var d in Device.List())
                cli.Out.WriteLine($"{Words.Of(d.Kind),-10} {(d.Problem is null ? d.Description : "probe failed: " + OneLine(d.Problem))}");
            // From the launcher's environment (no MPI call): under mpirun every rank prints its own list and this line.
            cli.Out.WriteLine(MpiEnvironment.LaunchedSize() is { } size
                ? $"{"mpi",-10} rank {MpiEnvironment.LaunchedRank()?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}/{size} on {Environment.MachineName} (train runs data-parallel over the {size} ranks)"
                : $"{"mpi",-10} not started by mpirun: one process (launch with mpirun -np N gpugan train ... to train data-parallel)");
        }));
        return command;
    }

    private static string OneLine(string s) => string.Join(" ", s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
