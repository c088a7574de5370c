// Compiles every [GpuKernel] in GpuGan.Tensors and GpuGan.Layers (optimiser kernels) to PTX for sm_75 and, where ptxas is at hand,
// assembles that PTX with ptxas. No CUDA device or driver is needed: ILGPU's PTX backend is
// constructed directly with a capability context for the target architecture.
//
// Why both steps: ILGPU accepts some kernels whose PTX ptxas rejects, and CUDA users would meet
// them first at load time. Known cases with ILGPU 1.5.3 (verified with ptxas 11.8):
//   - MathF.FusedMultiplyAdd is emitted as a call to an extern function that nothing defines
//     ("Unresolved extern function 'FusedMultiplyAdd'"). Write a * b + c; ptxas fuses it.
//   - Under MathMode.Fast, tanh is emitted with .ftz, which is illegal on tanh.
//     This test compiles with ILGPU's default math mode, as the library's contexts must; if
//     Device ever turns on MathMode.Fast, compile with it here too.
// Checked with probes: Exp, Log, Sqrt, Tanh, Pow, Max, Abs (MathF and XMath) and XMath.Rsqrt pass.
//
// ptxas is looked up in: $GPUGAN_PTXAS, then `ptxas` on PATH, then .tools/cuda/usr/bin/ptxas
// (or .tools/cuda/usr/lib/nvidia-cuda-toolkit/bin/ptxas) under the repository root, which
// .ci/run fills. Without ptxas the assembly step is ignored, unless GPUGAN_REQUIRE_PTXAS=1,
// then it fails.
using System.Diagnostics;
using System.Reflection;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NUnit.Framework;

namespace GpuGan.Tests.Ptx;

[TestFixture]
public sealed class PtxCompileTests
{
    // Turing, the oldest architecture we promise. ISA 7.8 is the newest PTX version that
    // ptxas 11.8 (Debian 12's nvidia-cuda-toolkit) accepts; ILGPU writes it into `.version`.
    private static readonly CudaArchitecture Architecture = CudaArchitecture.SM_75;
    private static readonly CudaInstructionSet InstructionSet = CudaInstructionSet.ISA_78;
    private const string PtxasArch = "sm_75";
    private static readonly TimeSpan PtxasTimeout = TimeSpan.FromMinutes(2);

    private static readonly Type[] IndexTypes = [typeof(Index1D), typeof(Index2D), typeof(Index3D)];

    /// <summary>Assemblies that hold kernels: the engine and the layers (optimiser updates, weight clipping).</summary>
    private static readonly Assembly[] KernelAssemblies = [typeof(GpuKernelAttribute).Assembly, typeof(GpuGan.Layers.Module).Assembly];

    /// <summary>Every method in the kernel assemblies marked [GpuKernel], static or not (non-static fails).</summary>
    public static IReadOnlyList<MethodInfo> FindKernels()
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static
            | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        return KernelAssemblies.SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(all))
            .Where(m => m.GetCustomAttribute<GpuKernelAttribute>() is not null)
            .OrderBy(m => m.DeclaringType!.FullName, StringComparer.Ordinal)
            .ThenBy(m => m.Name, StringComparer.Ordinal)
            .ToList();
    }

    public static IEnumerable<TestCaseData> KernelCases() =>
        FindKernels().Select(m => new TestCaseData(m).SetArgDisplayNames(KernelName(m)));

    private static string KernelName(MethodInfo m)
    {
        var name = $"{m.DeclaringType!.Name}.{m.Name}";
        // Overloads get their parameter count so that test names stay unique.
        int overloads = m.DeclaringType.GetMethods(BindingFlags.Public | BindingFlags.NonPublic
            | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Count(o => o.Name == m.Name && o.GetCustomAttribute<GpuKernelAttribute>() is not null);
        return overloads > 1 ? $"{name}`{m.GetParameters().Length}" : name;
    }

    [Test]
    public void AtLeastOneKernelIsMarked()
    {
        Assert.That(FindKernels(), Is.Not.Empty,
            "no [GpuKernel] method found in GpuGan.Tensors: the PTX test would check nothing");
        Assert.That(FindKernels().Any(m => m.DeclaringType!.Assembly == typeof(GpuGan.Layers.Module).Assembly), Is.True,
            "no [GpuKernel] method found in GpuGan.Layers: the optimiser kernels are not scanned");
    }

    [TestCaseSource(nameof(KernelCases))]
    public void CompilesToPtxAndAssembles(MethodInfo kernel)
    {
        var ptx = CompileToPtx(kernel);
        Assert.That(ptx, Does.Contain(".entry"), "ILGPU produced PTX without a kernel entry");

        var ptxas = FindPtxas(out var searched);
        if (ptxas is null)
        {
            var message = $"ptxas not found: searched {searched}";
            if (Environment.GetEnvironmentVariable("GPUGAN_REQUIRE_PTXAS") == "1")
                Assert.Fail($"{message} (GPUGAN_REQUIRE_PTXAS=1)");
            Assert.Ignore($"{message}; ILGPU's PTX compile passed, the ptxas check did not run");
        }
        RunPtxas(ptxas!, KernelName(kernel), ptx);
    }

    /// <summary>Compiles one kernel to PTX in a fresh context: a failed compile poisons a context.</summary>
    private static string CompileToPtx(MethodInfo kernel)
    {
        var attribute = kernel.GetCustomAttribute<GpuKernelAttribute>()!;
        Assert.That(kernel.IsStatic, Is.True, "a [GpuKernel] must be static");
        Assert.That(kernel.ContainsGenericParameters, Is.False,
            "a [GpuKernel] must not be generic: the test cannot pick type arguments");
        var parameters = kernel.GetParameters();
        bool indexFirst = parameters.Length > 0 && IndexTypes.Contains(parameters[0].ParameterType);
        if (attribute.ExplicitlyGrouped)
            Assert.That(indexFirst, Is.False,
                "marked ExplicitlyGrouped but takes an Index1D/2D/3D first: drop ExplicitlyGrouped");
        else
            Assert.That(indexFirst, Is.True,
                "implicitly grouped kernels take Index1D/2D/3D first; a kernel using Group/Grid/"
                + "SharedMemory needs [GpuKernel(ExplicitlyGrouped = true)]");

        using var context = Context.Create(builder => builder.Default().EnableAlgorithms());
        // No NVVM (libdevice): GpuGan does not ship it, so kernels must compile without it.
        using var backend = new PTXBackend(
            context, new CudaCapabilityContext(Architecture), Architecture, InstructionSet, nvvmAPI: null);
        var entry = attribute.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
        var compiled = backend.Compile(entry, KernelSpecialization.Empty);
        return ((PTXCompiledKernel)compiled).PTXAssembly;
    }

    private static void RunPtxas(string ptxas, string kernelName, string ptx)
    {
        var dir = Path.Combine(Path.GetTempPath(), "gpugan-ptx", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var ptxFile = Path.Combine(dir, kernelName.Replace('`', '_') + ".ptx");
        var cubinFile = Path.ChangeExtension(ptxFile, ".cubin");
        File.WriteAllText(ptxFile, ptx);

        var start = new ProcessStartInfo(ptxas)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { $"-arch={PtxasArch}", ptxFile, "-o", cubinFile })
            start.ArgumentList.Add(arg);

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(PtxasTimeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"ptxas timed out after {PtxasTimeout}; PTX kept at {ptxFile}");
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            // Keep the PTX for inspection; the message carries ptxas's own words.
            Assert.Fail($"ptxas -arch={PtxasArch} rejected the PTX of {kernelName} (exit {process.ExitCode}):\n"
                + $"{stderr.Result}{stdout.Result}\nPTX kept at {ptxFile}");
        }
        Assert.That(new FileInfo(cubinFile).Length, Is.GreaterThan(0), "ptxas wrote an empty cubin");
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>Finds ptxas; <paramref name="searched"/> lists the places tried, for messages.</summary>
    internal static string? FindPtxas(out string searched)
    {
        var tried = new List<string>();
        searched = "";

        var fromEnv = Environment.GetEnvironmentVariable("GPUGAN_PTXAS");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            // Set but wrong is a configuration error, not a missing tool.
            Assert.That(File.Exists(fromEnv), Is.True, $"GPUGAN_PTXAS={fromEnv} does not exist");
            return fromEnv;
        }
        tried.Add("$GPUGAN_PTXAS (unset)");

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var candidate = Path.Combine(dir, "ptxas");
            if (File.Exists(candidate)) return candidate;
        }
        tried.Add("PATH");

        var root = FindRepoRoot();
        if (root is not null)
        {
            foreach (var relative in new[] { "usr/bin/ptxas", "usr/lib/nvidia-cuda-toolkit/bin/ptxas" })
            {
                var candidate = Path.Combine(root, ".tools", "cuda", relative);
                if (File.Exists(candidate)) return candidate;
                tried.Add(candidate);
            }
        }
        else
        {
            tried.Add(".tools/cuda (repository root not found)");
        }
        searched = string.Join(", ", tried) + " (run .ci/run to fetch it)";
        return null;
    }

    private static string? FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GpuGan.sln"))) return dir.FullName;
        }
        return null;
    }
}
