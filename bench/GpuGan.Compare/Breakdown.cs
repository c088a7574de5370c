namespace GpuGan.Compare;

internal sealed class BreakdownRow
{
    public string Name { get; set; } = "";
}

internal static class Breakdown
{
    public static List<BreakdownRow> RunAndPrint(Options o, out double measuredStepMs) => throw new NotImplementedException();
}
