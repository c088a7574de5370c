// Stopwatch per lowering phase (im2col, col2im, permutes) of each DCGAN-64 layer: `-- conv-phases`.
using System.Diagnostics;
using GpuGan.Tensors;

namespace GpuGan.Bench;

internal static class ConvPhases
{
    public static unsafe void Run(string[] args)
    {
        var cpu = Device.Cpu.Parallel;
        foreach (var (name, _, g) in ConvLayers.All.Where(l => l.Name.StartsWith("D64")))
        {
            int gs = ConvKernels.GroupSize(g, Device.Cpu.ConvLowering);
            long cols = (long)gs * g.P;
            var x = new float[(long)g.N * g.Cin * g.HW];
            var col = new float[g.Ckk * cols];
            var y = new float[(long)g.N * g.Cout * g.P];
            var tmp = new float[g.Cout * cols];
            fixed (float* xp = x, cp = col, yp = y, tp = tmp)
            {
                float* xx = xp, cc = cp, yy = yp, tt = tp;
                double T(Action a) { a(); var s = new List<double>(); for (int r = 0; r < 7; r++) { var sw = Stopwatch.StartNew(); a(); s.Add(sw.Elapsed.TotalMilliseconds); } s.Sort(); return s[3]; }
                int groups = (g.N + gs - 1) / gs;
                double im = T(() => { for (int n0 = 0; n0 < g.N; n0 += gs) ConvKernels.Im2ColCpu(cpu, xx, cc, g, n0, Math.Min(gs, g.N - n0)); });
                double c2i = T(() => { for (int n0 = 0; n0 < g.N; n0 += gs) ConvKernels.Col2ImCpu(cpu, cc, xx, null, g, n0, Math.Min(gs, g.N - n0)); });
                double p1 = gs == 1 ? 0 : T(() => { for (int n0 = 0; n0 < g.N; n0 += gs) ConvKernels.NcpToCnpCpu(cpu, yy, tt, g.Cout, g.P, n0, Math.Min(gs, g.N - n0)); });
                double p2 = gs == 1 ? 0 : T(() => { for (int n0 = 0; n0 < g.N; n0 += gs) ConvKernels.CnpToNcpCpu(cpu, tt, yy, null, g.Cout, g.P, n0, Math.Min(gs, g.N - n0)); });
                Console.WriteLine($"{name,-22} gs={gs,3} groups={groups,3} im2col {im,7:F2} ms  col2im {c2i,7:F2} ms  ncp>cnp {p1,6:F2}  cnp>ncp {p2,6:F2}");
            }
        }
    }
}
