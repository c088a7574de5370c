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
            foreach (var (name, description) in Device.List()) cli.Out.WriteLine($"{name,-10} {description}");
        }));
        return command;
    }
}
