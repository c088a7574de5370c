// Per-step overhead profile of a GAN TrainStep on the cpu kernel set: `-- step-profile --model dcgan28|wgangp28|dcgan64
// [--threads 2] [--steps 10]`. Attaches a ParallelProbe to the device's CpuParallel and reports, per step: the parallel
// loops (calls, chunks, wall, work, the helpers' start lag and the join tail), the serial fraction (step time outside
// every multi-threaded loop: only the calling thread works), managed allocations and GC counts and pauses. A second
// run of the same steps without the probe gives the undisturbed step time and process CPU time.
using System.Diagnostics;
using GpuGan.Gan.Models;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;

namespace GpuGan.Bench;

internal static class StepProfile
{
    public static void Run(string[] args)
    {
        string model = "dcgan28";
        int threads = 2, steps = 10, top = 25;
        bool winograd = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--steps": steps = int.Parse(args[++i]); break;
                case "--top": top = int.Parse(args[++i]); break;
                case "--winograd": winograd = true; break; // ConvLoweringOptions.Winograd
                default: throw new ArgumentException($"unknown argument '{args[i]}'");
            }
        }
        var (family, channels, size) = model switch
        {
            "dcgan28" => (ModelFamily.Dcgan, 1, 28),
            "wgangp28" => (ModelFamily.WganGp, 1, 28),
            "dcgan64" => (ModelFamily.Dcgan, 3, 64),
            _ => throw new ArgumentException($"unknown model '{model}'"),
        };
        using var device = Device.CreateCpu(new CpuKernelOptions { Threads = threads, Conv = new ConvLoweringOptions { Winograd = winograd } });
        var spec = GanSpec.Canonical(family, new ImageShape(channels, size, size), 100, 64, classCount: 0);
        var gan = GanModel.Create(spec, 1, device);
        var data = new RandomStream(2);
        var real = new Tensor[4];
        for (int i = 0; i < real.Length; i++)
            real[i] = Tensor.RandU(new Shape(64, channels, size, size), data, device, -1f, 1f).KeepAlive();
        var noise = new RandomStream(3);
        int next = 0;
        void Step()
        {
            using var scope = TensorScope.Begin();
            gan.TrainStep(() => (real[next++ % real.Length], []), noise);
        }

        for (int i = 0; i < 3; i++) Step();
        var proc = Process.GetCurrentProcess();
        double f = 1000.0 / Stopwatch.Frequency;
        Console.WriteLine($"== step-profile {model}, {threads} thread(s){(winograd ? ", Winograd" : "")}, {steps} steps after 3 warm-up steps");

        // Without the probe: time, CPU time, allocations, GC.
        var wall = new List<double>();
        long allocMain0 = GC.GetAllocatedBytesForCurrentThread(), allocAll0 = GC.GetTotalAllocatedBytes(precise: true);
        int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
        var pause0 = GC.GetTotalPauseDuration();
        proc.Refresh();
        var cpu0 = proc.TotalProcessorTime;
        for (int s = 0; s < steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Step();
            wall.Add((Stopwatch.GetTimestamp() - t0) * f);
        }
        proc.Refresh();
        double cpuMs = (proc.TotalProcessorTime - cpu0).TotalMilliseconds / steps;
        long allocMain = (GC.GetAllocatedBytesForCurrentThread() - allocMain0) / steps;
        long allocAll = (GC.GetTotalAllocatedBytes(precise: true) - allocAll0) / steps;
        var pause = (GC.GetTotalPauseDuration() - pause0).TotalMilliseconds;
        wall.Sort();
        Console.WriteLine($"   step (no probe): median {wall[steps / 2]:F1} ms, min {wall[0]:F1} ms; process CPU {cpuMs:F1} ms/step ({cpuMs / wall[steps / 2]:F2} cores)");
        Console.WriteLine($"   managed allocations per step: {allocMain / 1024.0:F1} KiB on the main thread, {allocAll / 1024.0:F1} KiB in all threads");
        Console.WriteLine($"   GC over {steps} steps: gen0 {GC.CollectionCount(0) - g0}, gen1 {GC.CollectionCount(1) - g1}, gen2 {GC.CollectionCount(2) - g2}, pause {pause:F1} ms in all");

        // With the probe.
        var probe = new ParallelProbe();
        device.Parallel.Probe = probe;
        double stepTicks = 0;
        for (int s = 0; s < steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Step();
            stepTicks += Stopwatch.GetTimestamp() - t0;
        }
        device.Parallel.Probe = null;
        double stepMs = stepTicks * f / steps;
        var sites = probe.Sites.Select(kv => (Name: $"{kv.Key.DeclaringType?.Name}.{kv.Key.Name}", S: kv.Value)).ToList();
        ParallelProbe.Site Sum(IEnumerable<ParallelProbe.Site> ss)
        {
            var t = new ParallelProbe.Site();
            foreach (var s in ss)
            {
                t.Calls += s.Calls; t.SerialCalls += s.SerialCalls; t.Chunks += s.Chunks; t.WallTicks += s.WallTicks; t.WorkTicks += s.WorkTicks;
                t.HelperWorkTicks += s.HelperWorkTicks; t.StartLagTicks += s.StartLagTicks; t.TailTicks += s.TailTicks;
            }
            return t;
        }
        var par = Sum(sites.Where(x => true).Select(x => x.S));
        // Wall inside the loops that ran on more than one thread: the parallel calls of each site.
        double parWall = 0, serWall = 0;
        foreach (var (_, s) in sites)
        {
            // Serial calls and parallel calls of one site are summed together; split by the fraction of calls (close enough
            // for the sites that are always one or the other, which is nearly all of them).
            double serialShare = s.Calls == 0 ? 0 : (double)s.SerialCalls / s.Calls;
            serWall += s.WallTicks * serialShare * f;
            parWall += s.WallTicks * (1 - serialShare) * f;
        }
        serWall /= steps; parWall /= steps;
        double serial = stepMs - parWall;
        Console.WriteLine($"   step (probe): {stepMs:F1} ms mean");
        Console.WriteLine($"   loops per step: {(double)par.Calls / steps:F0} calls ({(double)(par.Calls - par.SerialCalls) / steps:F0} on {threads} threads, {(double)par.SerialCalls / steps:F0} serial: one chunk or one thread), {(double)par.Chunks / steps:F0} chunks");
        Console.WriteLine($"   time in multi-threaded loops {parWall:F1} ms/step ({parWall / stepMs:P1}); serial loops {serWall:F1} ms; outside any loop {stepMs - parWall - serWall:F1} ms");
        Console.WriteLine($"   serial fraction (only the calling thread works): {serial:F1} ms = {serial / stepMs:P1} of the step");
        double work = par.WorkTicks * f / steps, helper = par.HelperWorkTicks * f / steps;
        Console.WriteLine($"   chunk work {work:F1} ms/step (helpers {helper:F1} ms); helper start lag {par.StartLagTicks * f / steps:F2} ms/step, join tail {par.TailTicks * f / steps:F2} ms/step");
        long parCalls = par.Calls - par.SerialCalls;
        if (parCalls > 0)
            Console.WriteLine($"   per multi-threaded call: start lag {par.StartLagTicks * f * 1000 / parCalls:F1} µs, tail {par.TailTicks * f * 1000 / parCalls:F1} µs");
        Console.WriteLine();
        Console.WriteLine($"   {"loop body",-70} {"calls",7} {"serial",7} {"chunks",7} {"wall ms",8} {"work ms",8} {"helper",7} {"lag µs",7} {"tail µs",7}");
        foreach (var (name, s) in sites.OrderByDescending(x => x.S.WallTicks).Take(top))
        {
            long pc = s.Calls - s.SerialCalls;
            Console.WriteLine($"   {Trim(name),-70} {(double)s.Calls / steps,7:F1} {(double)s.SerialCalls / steps,7:F1} {(double)s.Chunks / steps,7:F1} {s.WallTicks * f / steps,8:F2} {s.WorkTicks * f / steps,8:F2} {s.HelperWorkTicks * f / steps,7:F2} {(pc == 0 ? 0 : s.StartLagTicks * f * 1000 / pc),7:F1} {(pc == 0 ? 0 : s.TailTicks * f * 1000 / pc),7:F1}");
        }
        foreach (var t in real) t.Dispose();
    }

    private static string Trim(string s) => s.Length <= 70 ? s : s[..70];
}
