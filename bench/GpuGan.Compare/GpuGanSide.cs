namespace GpuGan.Compare;

internal static class GpuGanSide
{
    public static IEngine Create(ModelSpec spec, int seed, int threads) =>
        throw new NotImplementedException("GpuGan side waits for GanModel in main");
}
