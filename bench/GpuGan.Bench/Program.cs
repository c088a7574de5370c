using GpuGan.Bench;

if (args.Length > 0 && args[0] == "conv-quick")
{
    ConvQuick.Run(args[1..]);
    return;
}
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
