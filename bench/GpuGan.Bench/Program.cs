using BenchmarkDotNet.Running;
using GpuGan.Bench;

// Quick Stopwatch sweeps for tuning; quote BenchmarkDotNet's figures.
switch (args.Length > 0 ? args[0] : "")
{
    case "peak":
        PeakProbe.Run();
        return;
    case "gemm-quick":
        GemmQuick.Run(args[1..]);
        return;
    case "conv-phases":
        ConvPhases.Run(args[1..]);
        return;
    case "step-profile":
        StepProfile.Run(args[1..]);
        return;
    case "conv-quick":
        ConvQuick.Run(args[1..]);
        return;
    case "images-make":
        ImageLoadQuick.Make(args[1..]);
        return;
    case "images-quick":
        ImageLoadQuick.Run(args[1..]);
        return;
    case "images-profile":
        ImageProfile.Run(args[1..]);
        return;
    case "resize-dump":
        ResizeDump.Run(args[1..]);
        return;
    case "gpu-plan":
        Environment.Exit(GpuGan.Bench.GpuPlan.GpuPlanCommand.Run(args[1..]));
        return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
