// Compiles every [GpuKernel] in the library (GpuGan.Tensors, .Layers, .Gan, gpugan) to PTX and, where ptxas is at hand, assembles that PTX
// with `ptxas -v` for sm_75 (Turing, the oldest architecture we promise) and sm_90 (Hopper, what the
// device kit runs on). No CUDA device or driver is needed: ILGPU's PTX backend is constructed
// directly with a capability context for the target architecture.
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
// One PTX per kernel, two ptxas runs: the PTX is written for sm_75 with ISA 7.8 (the newest ISA
// ptxas 11.8 accepts) and assembled for both architectures; PTX is forward compatible. Checked
// (ILGPU 1.5.3, all 22 kernels of the time): compiling for SM_90 instead gives the same PTX but for
// the `.target` line and the numbering of parameter names. ptxas -v reports, per function:
//   "N bytes stack frame, S bytes spill stores, L bytes spill loads" and
//   "Used R registers, M bytes smem, …";
// the test prints them as one table (TestContext.Progress, and ptxas-report.txt in the test's work
// directory) and fails on any spill: a spilling kernel goes through local memory (DRAM) every
// iteration, the first thing a GPU engineer looks for.
//
// Which methods are kernels (EveryKernelIsMarked): ILGPU takes a kernel as a delegate to a method,
// so a kernel is (a) a method whose address the library takes (IL `ldftn`) and that has an ILGPU
// index or view parameter, or (b) a static method whose first parameter is an ILGPU index
// (implicitly grouped kernels, however they are loaded). Explicitly grouped kernels take views
// first and are found by (a). Every such method must carry [GpuKernel]; otherwise this PTX test
// would never see it. The dynamic half (EveryKernelTheLibraryLoadsIsMarkedAndCompiled) records a
// representative op sequence on ilgpu-cpu without executing it and checks every kernel the device's
// kernel cache loaded: marked, and compiled here. A generic kernel is compiled per closed
// instantiation, listed by its declaring type's static Instantiations().
//
// ptxas is looked up in: $GPUGAN_PTXAS, then `ptxas` on PATH, then .tools/cuda/usr/bin/ptxas
// (or .tools/cuda/usr/lib/nvidia-cuda-toolkit/bin/ptxas) under the repository root, which
// .ci/run fills. Without ptxas the assembly step is ignored, unless GPUGAN_REQUIRE_PTXAS=1,
// then it fails.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Reflection.Emit;
using System.Text;
using System.Text.RegularExpressions;
using GpuGan.Tensors;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Device = GpuGan.Tensors.Device;
using NUnit.Framework;

namespace GpuGan.Tests.Ptx;

[TestFixture]
public sealed class PtxCompileTests
{
    // ISA 7.8 is the newest PTX version that ptxas 11.8 (Debian 12's nvidia-cuda-toolkit) accepts;
    // ILGPU writes it into `.version`.
    private static readonly CudaArchitecture PtxArchitecture = CudaArchitecture.SM_75;
    private static readonly CudaInstructionSet InstructionSet = CudaInstructionSet.ISA_78;

    /// <summary>The architectures ptxas assembles for: the oldest we promise and the kit's H100.</summary>
    internal static readonly string[] PtxasArchitectures = ["sm_75", "sm_90"];

    private static readonly TimeSpan PtxasTimeout = TimeSpan.FromMinutes(2);

    private static readonly Type[] IndexTypes =
        [typeof(Index1D), typeof(Index2D), typeof(Index3D), typeof(LongIndex1D), typeof(LongIndex2D), typeof(LongIndex3D)];

    /// <summary>
    /// Every library assembly (src/: GpuGan.Tensors, .Layers, .Gan and the CLI, gpugan), scanned for
    /// kernels that lack the attribute. Loaded by name so that a type renamed in src/ cannot break it.
    /// </summary>
    private static readonly string[] LibraryAssemblyNames = ["GpuGan.Tensors", "GpuGan.Layers", "GpuGan.Gan", "gpugan"];

    private static IEnumerable<Assembly> LibraryAssemblies => LibraryAssemblyNames.Select(n => Assembly.Load(n));

    private const BindingFlags AllDeclared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static
        | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    /// <summary>ptxas figures by kernel, filled by the compile cases and printed once at the end.</summary>
    private static readonly ConcurrentDictionary<string, PtxasReport[]> s_reports = new(StringComparer.Ordinal);

    /// <summary>Every method in the library assemblies marked [GpuKernel], static or not (non-static fails).</summary>
    public static IReadOnlyList<MethodInfo> FindKernels()
        => LibraryAssemblies.SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(AllDeclared))
            .Where(m => m.GetCustomAttribute<GpuKernelAttribute>() is not null)
            .OrderBy(m => m.DeclaringType!.FullName, StringComparer.Ordinal)
            .ThenBy(m => m.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// What the PTX test compiles: every non-generic [GpuKernel], and every closed instantiation of
    /// a generic one (a generic method definition cannot be compiled). A generic kernel's declaring
    /// type lists its instantiations in a static method <c>Instantiations()</c> returning
    /// IReadOnlyList&lt;MethodInfo&gt; (ElementwiseKernels does); a generic kernel whose type has
    /// none is returned as its definition, and its compile case fails saying so.
    /// </summary>
    public static IReadOnlyList<MethodInfo> CompiledKernels() => ExpandGenerics(FindKernels());

    internal static IReadOnlyList<MethodInfo> ExpandGenerics(IEnumerable<MethodInfo> kernels)
    {
        var result = new List<MethodInfo>();
        foreach (var m in kernels)
        {
            if (!m.IsGenericMethodDefinition) { result.Add(m); continue; }
            var list = m.DeclaringType!.GetMethod(InstantiationsMethod, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, Type.EmptyTypes);
            var closed = list?.Invoke(null, null) is IEnumerable<MethodInfo> all
                ? all.Where(c => c.IsGenericMethod && !c.ContainsGenericParameters && c.GetGenericMethodDefinition() == m).ToList()
                : [];
            if (closed.Count == 0) result.Add(m);
            else result.AddRange(closed.OrderBy(KernelName, StringComparer.Ordinal));
        }
        return result;
    }

    private const string InstantiationsMethod = "Instantiations";

    public static IEnumerable<TestCaseData> KernelCases() =>
        CompiledKernels().Select(m => new TestCaseData(m).SetArgDisplayNames(KernelName(m)));

    internal static string KernelName(MethodInfo m)
    {
        var name = $"{m.DeclaringType!.Name}.{m.Name}";
        if (m.IsGenericMethod && !m.ContainsGenericParameters)
            return $"{name}<{string.Join(",", m.GetGenericArguments().Select(t => t.Name))}>";
        // Overloads get their parameter count so that test names stay unique.
        int overloads = m.DeclaringType.GetMethods(AllDeclared)
            .Count(o => o.Name == m.Name && o.GetCustomAttribute<GpuKernelAttribute>() is not null);
        return overloads > 1 ? $"{name}`{m.GetParameters().Length}" : name;
    }

    [Test]
    public void AtLeastOneKernelIsMarked()
    {
        Assert.That(FindKernels(), Is.Not.Empty,
            "no [GpuKernel] method found in the library: the PTX test would check nothing");
        Assert.That(FindKernels(), Has.Some.Matches<MethodInfo>(m => m.Name == "GemmTiledKernel"),
            "the GEMM kernel is not found: the library assemblies are not all scanned");
    }

    [TestCaseSource(nameof(KernelCases))]
    public void CompilesToPtxAndAssembles(MethodInfo kernel)
    {
        var name = KernelName(kernel);
        var ptx = CompileToPtx(kernel);
        Assert.That(ptx, Does.Contain(".entry"), "ILGPU produced PTX without a kernel entry");
        if (kernel.Name == "GemmTiledKernel")
        {
            // The in-kernel split-k combine relies on a device-level fence before and after the arrival count, an
            // atomic add on the counter and a barrier that reduces the last-arrival flag (MatMulKernels.CombineIfLast).
            Assert.That(ptx, Does.Contain("membar.gl"), "split-k: the device-level fence is missing from the PTX");
            Assert.That(ptx, Does.Contain("atom.").And.Contain(".add"), "split-k: the atomic arrival count is missing from the PTX");
            Assert.That(ptx, Does.Contain("bar.red.or"), "split-k: the last-arrival barrier is missing from the PTX");
        }

        var ptxas = FindPtxas(out var searched);
        if (ptxas is null)
        {
            var message = $"ptxas not found: searched {searched}";
            if (Environment.GetEnvironmentVariable("GPUGAN_REQUIRE_PTXAS") == "1")
                Assert.Fail($"{message} (GPUGAN_REQUIRE_PTXAS=1)");
            Assert.Ignore($"{message}; ILGPU's PTX compile passed, the ptxas check did not run");
        }

        var reports = AssembleAll(ptxas!, name, ptx);
        s_reports[name] = reports;
        foreach (var r in reports) TestContext.Out.WriteLine(r.Row(name));

        var spilling = reports.Where(r => r.SpillStores > 0 || r.SpillLoads > 0).ToList();
        Assert.That(spilling, Is.Empty,
            $"{name} spills registers to local memory: "
            + string.Join("; ", spilling.Select(r => $"{r.Architecture}: {r.SpillStores} bytes stored, {r.SpillLoads} bytes loaded ({r.SpillingFunctions})")));
    }

    [OneTimeTearDown]
    public void PrintPtxasTable()
    {
        if (s_reports.IsEmpty) return;
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"ptxas -v ({string.Join(", ", PtxasArchitectures)}), {s_reports.Count} kernels:");
        table.AppendLine(PtxasReport.Header);
        foreach (var (name, reports) in s_reports.OrderBy(p => p.Key, StringComparer.Ordinal))
            foreach (var r in reports) table.AppendLine(r.Row(name));
        TestContext.Progress.Write(table.ToString());
        File.WriteAllText(Path.Combine(TestContext.CurrentContext.WorkDirectory, "ptxas-report.txt"), table.ToString());
    }

    // ------------------------------------------------------------------ unmarked kernels

    [Test]
    public void EveryKernelIsMarked()
    {
        var found = FindKernelShapedMethods();
        var unmarked = found.Keys.Where(m => m.GetCustomAttribute<GpuKernelAttribute>() is null).ToList();
        Assert.That(unmarked, Is.Empty,
            "kernels without [GpuKernel] (the PTX test never compiles them):\n  "
            + string.Join("\n  ", unmarked.Select(m => $"{m.DeclaringType!.FullName}.{m.Name} ({found[m]})")));

        // The rule must see every marked kernel: a marked kernel it misses means the rule has gone
        // blind (or the kernel is dead code that nothing loads).
        var missed = FindKernels().Where(m => !found.ContainsKey(m)).ToList();
        Assert.That(missed, Is.Empty,
            "[GpuKernel] methods that nothing in the library loads (dead, or the detection rule is out of date):\n  "
            + string.Join("\n  ", missed.Select(m => $"{m.DeclaringType!.FullName}.{m.Name}")));
    }

    /// <summary>
    /// Methods of the library that ILGPU could take as kernels, with the reason each was found:
    /// delegate targets with an ILGPU index or view parameter, and static methods taking an index first.
    /// Generic instantiations are reported as their definitions (where the attribute lives).
    /// </summary>
    internal static Dictionary<MethodInfo, string> FindKernelShapedMethods()
        => FindKernelShapedMethods(LibraryAssemblies.SelectMany(a => a.GetTypes()));

    internal static Dictionary<MethodInfo, string> FindKernelShapedMethods(IEnumerable<Type> types)
    {
        var found = new Dictionary<MethodInfo, string>();
        {
            foreach (var type in types)
            {
                foreach (var method in type.GetMethods(AllDeclared))
                {
                    var ps = method.GetParameters();
                    if (method.IsStatic && ps.Length > 0 && IsIndexType(ps[0].ParameterType))
                        found.TryAdd(method, "static, takes an ILGPU index first");
                }
                foreach (var method in type.GetMethods(AllDeclared).Cast<MethodBase>().Concat(type.GetConstructors(AllDeclared)))
                {
                    foreach (var target in IlScanner.FunctionPointerTargets(method))
                    {
                        if (target is not MethodInfo targetMethod) continue;
                        var mi = targetMethod.IsGenericMethod ? targetMethod.GetGenericMethodDefinition() : targetMethod;
                        if (mi.ReturnType == typeof(void) && mi.GetParameters().Any(p => IsIlgpuKernelType(p.ParameterType)))
                            found.TryAdd(mi, $"delegate created in {method.DeclaringType!.Name}.{method.Name}");
                    }
                }
            }
        }
        return found;
    }

    [Test]
    public void PtxasReportCountsSpillsOfTheEntryAndItsCallees()
    {
        // ptxas 11.8 -v output for an entry that calls a spilling .func (shape of the real thing).
        const string output = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Function properties for Helper
                8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
            ptxas info    : Compiling entry function 'Kernel' for 'sm_90'
            ptxas info    : Function properties for Kernel
                24 bytes stack frame, 16 bytes spill stores, 12 bytes spill loads
            ptxas info    : Used 255 registers, 8192 bytes smem
            """;
        var r = PtxasReport.Parse("sm_90", "Kernel", output);
        Assert.That((r.Registers, r.SharedBytes, r.StackFrameBytes, r.SpillStores, r.SpillLoads), Is.EqualTo((255, 8192, 24, 20, 16)));
        Assert.That(r.SpillingFunctions, Is.EqualTo("Helper, Kernel"));

        var clean = PtxasReport.Parse("sm_75", "K", """
            ptxas info    : Compiling entry function 'K' for 'sm_75'
            ptxas info    : Function properties for K
                0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 10 registers, 364 bytes cmem[0]
            """);
        Assert.That((clean.Registers, clean.SharedBytes, clean.SpillStores, clean.SpillLoads), Is.EqualTo((10, 0, 0, 0)));
    }

    [Test]
    public void DetectionRuleFindsUnmarkedKernelsOfBothKinds()
    {
        var found = FindKernelShapedMethods([typeof(UnmarkedKernelProbes)]);
        var names = found.Keys.Select(m => m.Name).Order(StringComparer.Ordinal).ToList();
        Assert.That(names, Is.EqualTo(new[]
            {
                nameof(UnmarkedKernelProbes.ExplicitlyGroupedProbe), nameof(UnmarkedKernelProbes.ImplicitlyGroupedProbe),
                nameof(UnmarkedKernelProbes.UnlistedGenericProbe),
            }),
            "the rule must find index-first kernels (generic ones too) and a delegate-loaded view kernel, and not their host helpers");
    }

    [Test]
    public void GenericKernelsCompilePerInstantiation()
    {
        var definition = typeof(GenericKernelProbes).GetMethod(nameof(GenericKernelProbes.ScaleKernel))!;
        var closed = ExpandGenerics([definition]);
        Assert.That(closed.Select(KernelName), Is.EqualTo(new[] { "GenericKernelProbes.ScaleKernel<DoubleIt>", "GenericKernelProbes.ScaleKernel<Halve>" }));
        foreach (var k in closed)
            Assert.That(CompileToPtx(k), Does.Contain(".entry"), $"{KernelName(k)} did not compile");
        var unlisted = typeof(UnmarkedKernelProbes).GetMethod(nameof(UnmarkedKernelProbes.UnlistedGenericProbe))!;
        Assert.That(ExpandGenerics([unlisted]), Is.EqualTo(new[] { unlisted }),
            "a generic kernel without an instantiation list stays a definition, whose compile case fails");
    }

    /// <summary>
    /// The dynamic half of the cross-check: a representative op sequence (every op-table row's
    /// forward, first and second derivatives, the optimisers, clipping, gradient norms, random
    /// fills) on ilgpu-cpu, recorded without executing (fast), then every kernel the device cache
    /// loaded must carry [GpuKernel] and be one the PTX test compiles (for a generic kernel: that
    /// very instantiation). (Every launch goes through the typed cache: the string-keyed loader is gone.)
    /// </summary>
    [Test, NonParallelizable]
    public void EveryKernelTheLibraryLoadsIsMarkedAndCompiled()
    {
        var device = Device.IlgpuCpu;
        var recorder = new LaunchRecorder(RecordingMode.SkipExecution);
        using (device.Attach(recorder))
            RepresentativeOps.Run(device);

        var loaded = device.LoadedKernels.ToList();
        Assert.That(loaded, Is.Not.Empty, "the representative sequence loaded no kernel through the device cache");
        var compiled = CompiledKernels().ToHashSet();
        var unmarked = loaded.Where(m => (m.IsGenericMethod ? m.GetGenericMethodDefinition() : m).GetCustomAttribute<GpuKernelAttribute>() is null).ToList();
        var uncompiled = loaded.Where(m => !compiled.Contains(m)).ToList();
        TestContext.Out.WriteLine($"{loaded.Count} kernels loaded through the device cache:");
        foreach (var m in loaded.OrderBy(KernelName, StringComparer.Ordinal)) TestContext.Out.WriteLine($"  {KernelName(m)}");
        Assert.That(unmarked.Select(KernelName), Is.Empty, "kernels loaded without [GpuKernel]");
        Assert.That(uncompiled.Select(KernelName), Is.Empty, "kernels loaded that the PTX test does not compile");
    }

    /// <summary>Kernel-shaped methods without the attribute, for the rule's own test (never loaded).</summary>
    private static class UnmarkedKernelProbes
    {
        public static void ImplicitlyGroupedProbe(Index1D i, ArrayView<float> x) => x[i] = 0f;

        public static void ExplicitlyGroupedProbe(ArrayView<float> x, int n)
        {
            if (Grid.GlobalIndex.X < n) x[Grid.GlobalIndex.X] = 1f;
        }

        /// <summary>A host helper that takes a view but is not a kernel: called, not loaded.</summary>
        public static void HostHelper(ArrayView<float> x) => ExplicitlyGroupedProbe(x, 1);

        /// <summary>Takes the explicitly grouped probe's address the way a launcher does.</summary>
        public static Delegate Loader() => (Action<ArrayView<float>, int>)ExplicitlyGroupedProbe;

        /// <summary>A generic kernel whose type lists no instantiations (found by the rule too).</summary>
        public static void UnlistedGenericProbe<T>(Index1D i, ArrayView<float> x) where T : struct => x[i] = 2f;
    }

    private static bool IsIndexType(Type t) => IndexTypes.Contains(t);

    /// <summary>
    /// ILGPU index types and array views (the types only a kernel takes), and structs of the library that hold views
    /// (the multi-tensor optimiser kernels take their eight tensors' views in one struct).
    /// </summary>
    private static bool IsIlgpuKernelType(Type t) => IsIlgpuKernelType(t, depth: 0);

    private static bool IsIlgpuKernelType(Type t, int depth)
    {
        if (IsIndexType(t)) return true;
        if (t.IsGenericType)
        {
            var d = t.GetGenericTypeDefinition();
            if (d == typeof(ArrayView<>) || d == typeof(ArrayView1D<,>) || d == typeof(ArrayView2D<,>) || d == typeof(ArrayView3D<,>)) return true;
        }
        return depth < 2 && t.IsValueType && !t.IsPrimitive && t.Assembly != typeof(ArrayView<>).Assembly && t.Assembly != typeof(int).Assembly
            && t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).Any(f => IsIlgpuKernelType(f.FieldType, depth + 1));
    }

    // ------------------------------------------------------------------ compile and assemble

    /// <summary>Compiles one kernel to PTX in a fresh context: a failed compile poisons a context.</summary>
    private static string CompileToPtx(MethodInfo kernel)
    {
        var definition = kernel.IsGenericMethod ? kernel.GetGenericMethodDefinition() : kernel;
        var attribute = definition.GetCustomAttribute<GpuKernelAttribute>()!;
        Assert.That(kernel.IsStatic, Is.True, "a [GpuKernel] must be static");
        Assert.That(kernel.ContainsGenericParameters, Is.False,
            $"a generic [GpuKernel] is compiled per instantiation: {kernel.DeclaringType!.Name} must list them in a static {InstantiationsMethod}() (IReadOnlyList<MethodInfo>)");
        var parameters = kernel.GetParameters();
        bool indexFirst = parameters.Length > 0 && IsIndexType(parameters[0].ParameterType);
        if (attribute.ExplicitlyGrouped)
            Assert.That(indexFirst, Is.False,
                "marked ExplicitlyGrouped but takes an Index1D/2D/3D first: drop ExplicitlyGrouped");
        else
            Assert.That(indexFirst, Is.True,
                "implicitly grouped kernels take Index1D/2D/3D first; a kernel using Group/Grid/"
                + "SharedMemory needs [GpuKernel(ExplicitlyGrouped = true)]");

        // O2, as Device creates its CUDA and OpenCL contexts.
        using var context = Context.Create(builder => builder.Default().EnableAlgorithms().Optimize(OptimizationLevel.O2));
        // No NVVM (libdevice): GpuGan does not ship it, so kernels must compile without it.
        using var backend = new PTXBackend(
            context, new CudaCapabilityContext(PtxArchitecture), PtxArchitecture, InstructionSet, nvvmAPI: null);
        var entry = attribute.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
        var compiled = backend.Compile(entry, KernelSpecialization.Empty);
        return ((PTXCompiledKernel)compiled).PTXAssembly;
    }

    /// <summary>Runs ptxas -v for every architecture at once (one process each) and parses the reports.</summary>
    private static PtxasReport[] AssembleAll(string ptxas, string kernelName, string ptx)
    {
        var dir = Path.Combine(Path.GetTempPath(), "gpugan-ptx", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var ptxFile = Path.Combine(dir, kernelName.Replace('`', '_') + ".ptx");
        File.WriteAllText(ptxFile, ptx);

        var runs = PtxasArchitectures.Select(arch => Task.Run(() => RunPtxas(ptxas, arch, ptxFile))).ToArray();
        Task.WaitAll(runs);
        var failures = runs.Select(r => r.Result).Where(r => r.Error is not null).ToList();
        if (failures.Count > 0)
        {
            // Keep the PTX for inspection; the message carries ptxas's own words.
            Assert.Fail(string.Join("\n", failures.Select(f => f.Error)) + $"\nPTX kept at {ptxFile}");
        }
        Directory.Delete(dir, recursive: true);
        return runs.Select(r => PtxasReport.Parse(r.Result.Architecture, kernelName, r.Result.Output)).ToArray();
    }

    private sealed record PtxasRun(string Architecture, string Output, string? Error);

    private static PtxasRun RunPtxas(string ptxas, string arch, string ptxFile)
    {
        var cubinFile = Path.ChangeExtension(ptxFile, $".{arch}.cubin");
        var start = new ProcessStartInfo(ptxas)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-v", $"-arch={arch}", ptxFile, "-o", cubinFile })
            start.ArgumentList.Add(arg);

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(PtxasTimeout))
        {
            process.Kill(entireProcessTree: true);
            return new(arch, "", $"ptxas -arch={arch} timed out after {PtxasTimeout}");
        }
        process.WaitForExit();
        var output = stderr.Result + stdout.Result;
        if (process.ExitCode != 0)
            return new(arch, output, $"ptxas -arch={arch} rejected the PTX (exit {process.ExitCode}):\n{output}");
        if (new FileInfo(cubinFile).Length == 0)
            return new(arch, output, $"ptxas -arch={arch} wrote an empty cubin");
        return new(arch, output, null);
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

/// <summary>
/// What `ptxas -v` says about one kernel on one architecture: the entry function's registers,
/// shared memory and stack frame, and the spills summed over the entry and every function it calls.
/// </summary>
internal sealed partial record PtxasReport(string Architecture, int Registers, int SharedBytes, int StackFrameBytes,
    int SpillStores, int SpillLoads, string SpillingFunctions)
{
    public const string Header = "kernel                                        arch    regs   smem B  stack B  spill st B  spill ld B";

    public string Row(string kernel) => string.Create(CultureInfo.InvariantCulture,
        $"{kernel,-45} {Architecture,-6} {Registers,5} {SharedBytes,8} {StackFrameBytes,8} {SpillStores,11} {SpillLoads,11}");

    [GeneratedRegex(@"Compiling entry function '([^']+)'")]
    private static partial Regex EntryLine();

    [GeneratedRegex(@"Function properties for (\S+)")]
    private static partial Regex PropertiesLine();

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex FrameLine();

    [GeneratedRegex(@"Used (\d+) registers(?:, (\d+) bytes smem)?")]
    private static partial Regex UsedLine();

    /// <summary>Parses ptxas -v output; fails the test when the lines it needs are missing.</summary>
    public static PtxasReport Parse(string architecture, string kernel, string output)
    {
        string? entry = null, current = null;
        int registers = -1, shared = 0, stack = 0, stores = 0, loads = 0;
        var spilling = new List<string>();
        foreach (var line in output.Split('\n'))
        {
            Match m;
            if ((m = EntryLine().Match(line)).Success) entry = m.Groups[1].Value;
            else if ((m = PropertiesLine().Match(line)).Success) current = m.Groups[1].Value;
            else if ((m = FrameLine().Match(line)).Success)
            {
                int s = Int(m, 2), l = Int(m, 3);
                stores += s;
                loads += l;
                if (s > 0 || l > 0) spilling.Add(current ?? "?");
                if (current is not null && current == entry) stack = Int(m, 1);
            }
            else if ((m = UsedLine().Match(line)).Success && entry is not null && registers < 0)
            {
                // The first "Used" line after the entry's "Compiling" line is the entry's own.
                registers = Int(m, 1);
                shared = m.Groups[2].Success ? Int(m, 2) : 0;
            }
        }
        Assert.That(entry, Is.Not.Null, $"ptxas -v output for {kernel} ({architecture}) has no entry function:\n{output}");
        Assert.That(registers, Is.GreaterThanOrEqualTo(0), $"ptxas -v output for {kernel} ({architecture}) has no register count:\n{output}");
        return new(architecture, registers, shared, stack, stores, loads, string.Join(", ", spilling));
    }

    private static int Int(Match m, int group) => int.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);
}

/// <summary>Walks method bodies for the methods whose address they take (ldftn, ldvirtftn).</summary>
internal static class IlScanner
{
    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    public static IEnumerable<MethodBase> FunctionPointerTargets(MethodBase method)
    {
        byte[]? il;
        try { il = method.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException) { yield break; }
        if (il is null) yield break;

        var typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArgs = method is MethodInfo { IsGenericMethod: true } ? method.GetGenericArguments() : null;
        int pc = 0;
        while (pc < il.Length)
        {
            short value = il[pc] == 0xFE ? (short)(0xFE00 | il[pc + 1]) : il[pc];
            pc += il[pc] == 0xFE ? 2 : 1;
            if (!s_opCodes.TryGetValue(value, out var op))
                throw new InvalidOperationException($"unknown IL opcode 0x{value:X} in {method.DeclaringType}.{method.Name}");
            int operand = pc;
            pc += op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, pc),
                _ => 4,
            };
            if (op != OpCodes.Ldftn && op != OpCodes.Ldvirtftn) continue;
            MethodBase? target = null;
            try { target = method.Module.ResolveMethod(BitConverter.ToInt32(il, operand), typeArgs, methodArgs); }
            catch (ArgumentException) { }
            if (target is not null) yield return target;
        }
    }
}

/// <summary>Op structs for the generic probe kernel (the pattern of the elementwise kernels).</summary>
internal interface IProbeOp
{
    static abstract float Apply(float x);
}

internal readonly struct DoubleIt : IProbeOp
{
    public static float Apply(float x) => 2f * x;
}

internal readonly struct Halve : IProbeOp
{
    public static float Apply(float x) => 0.5f * x;
}

/// <summary>A generic kernel and its instantiation list, compiled by GenericKernelsCompilePerInstantiation.</summary>
internal static class GenericKernelProbes
{
    [GpuKernel]
    public static void ScaleKernel<TOp>(Index1D i, ArrayView<float> x) where TOp : struct, IProbeOp => x[i] = TOp.Apply(x[i]);

    public static IReadOnlyList<MethodInfo> Instantiations() =>
    [
        typeof(GenericKernelProbes).GetMethod(nameof(ScaleKernel))!.MakeGenericMethod(typeof(Halve)),
        typeof(GenericKernelProbes).GetMethod(nameof(ScaleKernel))!.MakeGenericMethod(typeof(DoubleIt)),
    ];
}

/// <summary>Runs what a user of the library runs, to load the kernels behind it (values do not matter).</summary>
internal static class RepresentativeOps
{
    public static void Run(Device device)
    {
        var gen = new RandomStream(3);
        foreach (var op in GpuGan.Tests.OpTable.OpCases.All())
        {
            using var scope = TensorScope.Begin();
            var xs = op.InputShapes.Select((shape, i) => Tensor.FromArray(op.Sample(gen, i), shape, device)).ToArray();
            var wrt = Enumerable.Range(0, xs.Length).Where(op.IsDifferentiable).Select(i => xs[i]).ToArray();
            foreach (var x in wrt) x.RequiresGrad = true;
            var y = op.Forward(xs);
            if (wrt.Length == 0) continue;
            var grads = Autograd.Grad([y], wrt, [Tensor.RandN(y.Shape, gen, device)], createGraph: op.SupportsGradGrad, allowUnused: true);
            if (!op.SupportsGradGrad) continue;
            Tensor? total = null;
            foreach (var g in grads)
            {
                var term = g.Mul(Tensor.RandN(g.Shape, gen, device)).Sum();
                total = total is null ? term : total.Add(term);
            }
            if (total!.RequiresGrad) Autograd.Grad([total], wrt, allowUnused: true);
        }

        using (TensorScope.Begin())
        {
            Tensor Param()
            {
                var p = Tensor.RandN(new Shape(3, 5), gen, device).KeepAlive();
                p.RequiresGrad = true;
                p.Grad = Tensor.RandU(new Shape(3, 5), gen, device, -1f, 1f).KeepAlive();
                return p;
            }
            Tensor[] ps = [Param(), Param(), Param(), Param()];
            new GpuGan.Layers.Optim.Adam([ps[0]], 1e-3f, weightDecay: 0.01).Step();
            new GpuGan.Layers.Optim.RmsProp([ps[1]], 1e-3f, momentum: 0.9f, centered: true).Step();
            new GpuGan.Layers.Optim.Sgd([ps[2]], 0.1f, momentum: 0.9f, nesterov: true).Step();
            new GpuGan.Layers.Optim.Sgd([ps[3]], 0.1f).Step();
            GpuGan.Layers.Optim.ParameterOps.ClipWeights(ps, 0.01f);
            _ = GpuGan.Layers.Optim.ParameterOps.GradNorm(ps);
            Tensor.Zeros(new Shape(7), device).Fill(2f);
            foreach (var p in ps) { p.Grad!.Dispose(); p.Dispose(); }
        }
    }
}
