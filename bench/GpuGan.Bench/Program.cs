using BenchmarkDotNet.Running;
using GpuGan.Bench;

if (args.Length > 0 && args[0] == "peak")
{
    PeakProbe.Run();
    return;
}
if (args.Length > 0 && args[0] == "gemm-quick")
{
    GemmQuick.Run(args[1..]);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
