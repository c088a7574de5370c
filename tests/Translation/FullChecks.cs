using NUnit.Framework;

namespace GpuGan.Tests.Translation;

/// <summary>
/// Checks too slow for a developer's test run on a 2-core machine (a whole CycleGAN step on the ILGPU CPU simulator,
/// the longer quality runs): they run when GPUGAN_FULL_CHECKS=1, which .ci/run sets, and are ignored with the reason otherwise.
/// </summary>
internal static class FullChecks
{
    public const string Variable = "GPUGAN_FULL_CHECKS";

    public static bool Enabled => Environment.GetEnvironmentVariable(Variable) == "1";

    /// <summary>Ignores the calling test unless the full checks are on.</summary>
    public static void Require(string what)
    {
        if (!Enabled) Assert.Ignore($"{what}: a full check, run with {Variable}=1 (.ci/run sets it)");
    }
}
