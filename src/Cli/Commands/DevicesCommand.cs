using System.CommandLine;
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
        }));
        return command;
    }

    private static string OneLine(string s) => string.Join(" ", s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
