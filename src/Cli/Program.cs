// gpugan: the command line. Thin: parses options, wires progress output, and calls GpuGan.Gan.
using System.CommandLine;
using GpuGan.Cli;

return GpugGanCommand.Run(args, Console.Out, Console.Error);
