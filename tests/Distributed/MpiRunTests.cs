using System.Diagnostics;
using System.Globalization;
using GpuGan.Gan.Models;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Distributed;

/// <summary>
/// Data-parallel training under a real <c>mpirun --allow-run-as-root --oversubscribe -np 2</c> (OpenMPI; .ci/run installs it):
/// 2 ranks × 32 images against 1 process × 64 images, step by step, for WGAN-GP (no batch norm) and DCGAN with --sync-bn;
/// per-rank batch norm as the negative control; exact resume of a 2-rank run; a failing rank ending the job with its message.
/// Skipped (Ignored, with the reason) where mpirun is not installed.
///
/// Tolerance (written before the runs, from the arithmetic, not fitted to them). The two runs compute the same
/// float32 quantities with sums associated differently: a mean over 64 samples becomes two means over 32 averaged,
/// and a weight gradient's sum over N·H·W becomes two half sums (the GEMM's split-K chunks follow the batch), then an
/// allreduce. A float32 sum of n terms moves by at most ~log2(n)·2⁻²⁴ of the sum of their magnitudes on re-association,
/// about 1e-6 relative for these sizes. Per step, each metric (losses, D(x), D(G(z)), the gradient penalty, both gradient
/// norms) is a reduction over the batch of such values, so one step differs by ~1e-6 relative. Five steps of Adam (lr
/// 1e-4, 2e-4) carry those differences forward without amplifying them much (a step moves a weight by ≤ lr, so a
/// perturbation of the gradient's direction of 1e-6 perturbs the next forward by far less than the step itself). We
/// allow |a − b| ≤ 1e-5 + 1e-4·|b|: 100× the one-step estimate for the growth over 5 steps, and still orders of magnitude
/// below what a real mistake makes: per-rank batch-norm statistics (the negative control below, which must exceed it),
/// summed instead of averaged gradients (grad norms off by 2×), or a rank drawing the other half's noise (O(1)).
/// Weights after 5 steps: Adam normalises each update by its own running RMS, so an element whose gradient is at the
/// level of its rounding error can move by up to 2·lr per step in either run; a per-element bound would have to be that
/// loose. So the weights are compared as a whole: ‖w₂ − w₁‖ ≤ 1e-3·‖w₁ − w₀‖ (w₀ the initial weights), the two runs'
/// difference against how far training moved them.
/// Resume: the cpu kernel set is deterministic for a fixed thread count and rank count, so a 2-rank run stopped after
/// 3 steps and resumed to 5 must equal the uninterrupted 2-rank run bit for bit (metrics and every checkpoint tensor).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class MpiRunTests
{
    private const double MetricAtol = 1e-5, MetricRtol = 1e-4, WeightRatio = 1e-3;
    private static readonly string[] Compared = ["d_loss", "g_loss", "d_real", "d_fake", "gradient_penalty", "grad_norm_d", "grad_norm_g"];

    private string _mpirun = "", _cli = "", _root = "";

    [OneTimeSetUp]
    public void FindMpirun()
    {
        _mpirun = FindOnPath("mpirun") ?? "";
        if (_mpirun.Length == 0)
            Assert.Ignore("mpirun is not on PATH: install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev; .ci/run does) to run the data-parallel tests");
        _cli = CliDll();
        _root = Directory.CreateTempSubdirectory("gpugan-mpi-").FullName;
    }

    [OneTimeTearDown]
    public void RemoveRuns()
    {
        if (_root.Length > 0 && Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static string[] Common(string model, int steps, string folder) =>
        ["train", "--model", model, "--data", "petri", "--limit", "256", "--batch", "64", "--steps", steps.ToString(CultureInfo.InvariantCulture),
         "--seed", "3", "--threads", "1", "--device", "cpu", "--log-every", "1", "--sample-every", "1000", "--checkpoint-every", "1000", "--out", folder];

    [Test]
    public void WganGpTwoRanksEqualOneProcess()
    {
        string one = Path.Combine(_root, "wgangp-1"), two = Path.Combine(_root, "wgangp-2");
        Train(0, Common("wgan-gp", 5, one));
        Train(2, Common("wgan-gp", 5, two));
        AssertSameTraining(one, two, "wgan-gp");
    }

    [Test]
    public void DcganSyncBnTwoRanksEqualOneProcessAndPerRankStatisticsDoNot()
    {
        string one = Path.Combine(_root, "dcgan-1"), sync = Path.Combine(_root, "dcgan-2-sync"), local = Path.Combine(_root, "dcgan-2-local");
        Train(0, Common("dcgan", 5, one));
        Train(2, [.. Common("dcgan", 5, sync), "--sync-bn"]);
        AssertSameTraining(one, sync, "dcgan --sync-bn");

        // The negative control: batch norm over each rank's 32 images is another model of the data; it must be told apart.
        Train(2, Common("dcgan", 5, local));
        var a = Metrics(one);
        var b = Metrics(local);
        double worst = Enumerable.Range(0, a.Count).SelectMany(i => Compared.Where(c => !double.IsNaN(a[i][c])).Select(c => Math.Abs(a[i][c] - b[i][c]) / (MetricAtol + MetricRtol * Math.Abs(a[i][c])))).Max();
        Assert.That(worst, Is.GreaterThan(10), "per-rank batch norm should differ from the global batch's far beyond the tolerance");
    }

    [Test]
    public void TwoRankResumeIsExact()
    {
        string whole = Path.Combine(_root, "resume-whole"), split = Path.Combine(_root, "resume-split");
        Train(2, Common("dcgan", 5, whole));
        Train(2, Common("dcgan", 3, split));
        var (stdout, _) = Train(2, ["train", "--out", split, "--resume", "--steps", "5"]);
        Assert.That(stdout, Does.Contain("rank 0/2 step 5/5"), "the progress line names the rank and the rank count");

        var (a, b) = (Metrics(whole), Metrics(split));
        Assert.That(b, Has.Count.EqualTo(5));
        for (int i = 0; i < 5; i++)
            foreach (var c in Compared)
                if (double.IsNaN(a[i][c])) Assert.That(b[i][c], Is.NaN, $"step {i + 1} {c}");
                else Assert.That(b[i][c], Is.EqualTo(a[i][c]), $"step {i + 1} {c}");
        var (wa, wb) = (Checkpoint(whole), Checkpoint(split));
        Assert.That(wb.Keys, Is.EquivalentTo(wa.Keys));
        foreach (var (key, values) in wa)
            Assert.That(wb[key], Is.EqualTo(values), $"{key} after resume");
        Assert.That(SafeTensors.Read(Path.Combine(split, "checkpoints", "last.safetensors")).Metadata["ranks"], Is.EqualTo("2"));
    }

    [Test]
    public void AFailingRankEndsTheJobWithItsMessage()
    {
        // MPMD launch: rank 1 is given an empty image folder. Its trainer fails after MPI is up; it must report that,
        // naming itself, and end the job (MPI_Abort) instead of leaving rank 0 waiting in its first collective.
        string folder = Path.Combine(_root, "failing"), empty = Directory.CreateDirectory(Path.Combine(_root, "empty-folder")).FullName;
        string[] good = Common("dcgan", 2, folder), bad = [.. Common("dcgan", 2, folder)];
        bad[Array.IndexOf(bad, "petri")] = empty;
        var clock = Stopwatch.StartNew();
        var (code, stdout, stderr) = Launch([
            "--allow-run-as-root", "--oversubscribe", "-np", "1", "dotnet", _cli, .. good, ":", "-np", "1", "dotnet", _cli, .. bad]);
        Assert.That(code, Is.Not.EqualTo(0), stdout + stderr);
        Assert.That(stderr, Does.Contain("gpugan: ").And.Contain("rank 1 of 2").And.Contain("stopping every rank of the job"), stderr);
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(120)), "the job ended by itself, not by a timeout");
    }

    // ------------------------------------------------------------ helpers

    private void AssertSameTraining(string one, string two, string what)
    {
        var (a, b) = (Metrics(one), Metrics(two));
        Assert.That(b, Has.Count.EqualTo(a.Count).And.Count.EqualTo(5), $"{what}: metrics rows");
        for (int i = 0; i < a.Count; i++)
            foreach (var c in Compared)
            {
                double x = a[i][c], y = b[i][c];
                if (double.IsNaN(x)) { Assert.That(y, Is.NaN, $"{what} step {i + 1} {c}"); continue; }
                Assert.That(Math.Abs(x - y), Is.LessThanOrEqualTo(MetricAtol + MetricRtol * Math.Abs(x)), $"{what} step {i + 1} {c}: 1 process {x}, 2 ranks {y}");
            }

        var (wa, wb) = (Checkpoint(one), Checkpoint(two));
        var spec = GanSpec.FromJson(SafeTensors.Read(Path.Combine(one, "checkpoints", "last.safetensors")).Metadata[GanSpec.MetadataKey], null);
        var initial = GanModel.Create(spec, 3, Device.Cpu).NamedWeights().ToDictionary(w => w.Name, w => w.Value.ToArray());
        double moved = 0, apart = 0;
        foreach (var (name, w0) in initial)
        {
            var (w1, w2) = (wa[name], wb[name]);
            for (int j = 0; j < w0.Length; j++)
            {
                moved += Math.Pow(w1[j] - w0[j], 2);
                apart += Math.Pow(w2[j] - w1[j], 2);
            }
        }
        TestContext.Out.WriteLine($"{what}: ‖w₂ − w₁‖ / ‖w₁ − w₀‖ = {Math.Sqrt(apart / moved):E2}");
        Assert.That(moved, Is.GreaterThan(0), $"{what}: training moved the weights");
        Assert.That(Math.Sqrt(apart), Is.LessThanOrEqualTo(WeightRatio * Math.Sqrt(moved)), $"{what}: weights after 5 steps");
    }

    private static List<Dictionary<string, double>> Metrics(string folder)
    {
        var lines = File.ReadAllLines(Path.Combine(folder, "metrics.csv"));
        var header = lines[0].Split(',');
        return lines.Skip(1).Select(l => l.Split(',')).Select(f => header.Select((h, i) => (h, v: f[i].Length == 0 ? double.NaN : double.Parse(f[i], CultureInfo.InvariantCulture)))
            .ToDictionary(p => p.h, p => p.v)).ToList();
    }

    private static Dictionary<string, float[]> Checkpoint(string folder) =>
        SafeTensors.Read(Path.Combine(folder, "checkpoints", "last.safetensors")).Tensors
            .Where(t => t.Value.Dtype == SafeTensorDtype.F32).ToDictionary(t => t.Key, t => t.Value.ToFloat32Array());

    /// <summary>One process (ranks 0: plain dotnet) or an mpirun job; fails the test on a non-zero exit.</summary>
    private (string Stdout, string Stderr) Train(int ranks, string[] args)
    {
        var (code, stdout, stderr) = ranks == 0
            ? Run("dotnet", [_cli, .. args])
            : Launch(["--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(CultureInfo.InvariantCulture), "dotnet", _cli, .. args]);
        Assert.That(code, Is.EqualTo(0), $"{string.Join(' ', args)} on {ranks} ranks:\n{stdout}\n{stderr}");
        return (stdout, stderr);
    }

    private (int, string, string) Launch(string[] args) => Run(_mpirun, args);

    private static (int Code, string Stdout, string Stderr) Run(string file, string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish in 5 minutes");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>The CLI built beside this test assembly's configuration (src/Cli/bin/&lt;configuration&gt;/&lt;tfm&gt;/gpugan.dll).</summary>
    private static string CliDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = dir.Name, configuration = dir.Parent!.Name;
        for (var d = dir; d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "GpuGan.sln")))
            {
                string cli = Path.Combine(d.FullName, "src", "Cli", "bin", configuration, tfm, "gpugan.dll");
                Assert.That(File.Exists(cli), Is.True, $"{cli} is not built (build GpuGan.sln)");
                return cli;
            }
        Assert.Fail($"GpuGan.sln not found above {AppContext.BaseDirectory}");
        return "";
    }
}
