using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace GpuGan.Bench;

/// <summary>A "GB/s" column: bytes the benchmark case must move (from its class) over its mean time.</summary>
public sealed class GBPerSecondColumn(Func<BenchmarkCase, double> bytes) : IColumn
{
    public string Id => "GBps";
    public string ColumnName => "GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "bytes read + written by the minimal passes, per second (1e9)";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean; // ns
        return mean is null or 0 ? "-" : (bytes(benchmarkCase) / mean.Value).ToString("G3");
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    internal static int[] Dims(BenchmarkCase c, string param) => ((string)c.Parameters[param]).Split('x').Select(int.Parse).ToArray();

    internal static int Size(BenchmarkCase c, string param) => Dims(c, param).Aggregate(1, (a, b) => a * b);
}
