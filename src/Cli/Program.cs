// gpugan: the command line. Thin: parses options, wires progress output, and calls GpuGan.Gan.
using GpuGan.Cli;

return GpuGanCommand.Run(args, Console.Out, Console.Error);
