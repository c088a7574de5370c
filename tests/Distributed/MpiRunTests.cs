using System.Diagnostics;
using System.Globalization;
using GpuGan.Layers.Serialization;
using NUnit.Framework;

namespace GpuGan.Tests.Distributed;

/// <summary>
/// Data-parallel training under a real <c>mpirun --allow-run-as-root --oversubscribe -np 2</c> (OpenMPI; .ci/run installs it):
/// 2 ranks × 32 images against 1 process × 64 images, step by step over 2 steps (5 with GPUGAN_FULL_CHECKS=2: each step
/// costs two process starts, ~3 s for WGAN-GP, and CI's suite budget is 6 minutes; step 1 is Adam's sign-like step, step 2
/// the first whose update depends on the gradients' magnitudes), for WGAN-GP and DCGAN with --sync-bn;
/// per-rank batch norm as the negative control; exact resume of a 2-rank run; a failing rank ending the job with its message.
/// Skipped (Ignored, with the reason) where mpirun is not installed.
///
/// Step by step: step k of both runs starts from the same state, the one-process run's checkpoint after step k − 1 (a
/// 2-rank job resumes a one-process checkpoint: weights, optimiser state, data position and noise offset are global).
/// Then a difference can only come from what data parallelism changes in that step. (A first version compared two
/// uninterrupted 5-step runs with the tolerance below and failed at step 2: GAN training under Adam amplifies any
/// perturbation, measured here 7e-7 at step 1, 1.6e-4 at step 2, 2.5e-3 at step 5 for DCGAN, largely because Adam's
/// first update is lr·sign(g), so the few elements whose gradient is within rounding of zero move by ±lr, 2·lr apart.
/// That is the optimiser's sensitivity, not a data-parallel error, so each step is compared from a common state.)
///
/// Tolerance of a step's metrics (written before the first run). The two runs compute the same float32 quantities with
/// sums associated differently: a mean over 64 samples becomes two means over 32 averaged, a weight gradient's sum over
/// N·H·W two half sums (the GEMM's split-K chunks follow the batch) and an allreduce. Re-associating a float32 sum of n
/// terms moves it by at most ~log2(n)·2⁻²⁴ of the sum of their magnitudes, about 1e-6 relative for these sizes; each metric
/// (losses, D(x), D(G(z)), the gradient penalty, both gradient norms, taken before the step's update) is a reduction of
/// such values. We allow |a − b| ≤ 1e-5 + 1e-4·|b|, 100× that estimate, and still orders of magnitude below a real
/// mistake: per-rank batch-norm statistics (the negative control, which must exceed it 10×), summed instead of averaged
/// gradients (the norms 2× off), a rank drawing the other half's noise (O(1)).
/// Weights after a step: every element within 1e-6 + 1e-4·|w| of the one-process run, except elements that Adam moved
/// by the largest update apart (≤ 2·lr: its first update is lr·sign(g), see above); those need a gradient at the level
/// of its rounding error, so at most 1 in 10⁴ elements may be such. Averaging the wrong gradients or mixing up noise moves
/// a large fraction of the elements.
/// Resume: the cpu kernel set is deterministic for a fixed thread count and rank count, so a 2-rank run stopped after
/// 3 steps and resumed to 5 must equal the uninterrupted 2-rank run bit for bit (metrics and every checkpoint tensor).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class MpiRunTests
{
    private const double MetricAtol = 1e-5, MetricRtol = 1e-4;
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
    public void WganGpTwoRanksEqualOneProcessStepByStep() =>
        // The critic has no batch norm, but the generator (DCGAN's) has: its statistics must be the global batch's too.
        AssertSameStepByStep("wgan-gp", lr: 1e-4);

    /// <summary>
    /// DCGAN's metrics agree at every step; its weights are compared element by element after step 1 only. From step 2 on, a
    /// pre-activation of D's last LeakyReLU can sit within rounding of 0 (diagnosed at step 2 of this run: one element of the
    /// fake pass's batch-norm output is +1.8e-7 in one process and −1.4e-7 on 2 ranks), so the activation's slope there is 1
    /// in one run and 0.2 in the other: a discrete change of one element's gradient that the backward pass spreads to every
    /// layer below (~1e-3 of their gradients, 5e-3 of the step's update, ~14 000 weights past the element bound). That is the
    /// kink of a non-smooth activation meeting float32 rounding, not data parallelism; WGAN-GP's step-by-step check above
    /// (no kink crossed) compares the weights at every step.
    /// </summary>
    [Test]
    public void DcganSyncBnTwoRanksEqualOneProcessStepByStep() => AssertSameStepByStep("dcgan", lr: 2e-4, weightsUntilStep: 1);

    [Test]
    public void PerRankBatchNormIsToldApart()
    {
        // The negative control: batch norm over each rank's 32 images is another model of the data; from the same initial
        // state its first step must differ from the global batch's far beyond the tolerance.
        string one = Path.Combine(_root, "control-1"), local = Path.Combine(_root, "control-2-local");
        Train(0, Common("dcgan", 1, one));
        Train(2, Common("dcgan", 1, local));
        var (a, b) = (Metrics(one)[0], Metrics(local)[0]);
        double worst = Compared.Where(c => !double.IsNaN(a[c])).Max(c => Math.Abs(a[c] - b[c]) / (MetricAtol + MetricRtol * Math.Abs(a[c])));
        TestContext.Out.WriteLine($"per-rank batch norm: largest difference {worst:F1}× the tolerance");
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

    /// <summary>
    /// Runs 5 one-process steps with checkpoints, and each step k again as a 2-rank job resumed from the one-process state
    /// after step k − 1 (step 1: both from the seed); compares the step's metrics and the weights after it.
    /// </summary>
    private void AssertSameStepByStep(string model, double lr, int weightsUntilStep = 5)
    {
        string one = Path.Combine(_root, model + "-1");
        int steps = OpTable.FullChecks.Level >= 2 ? 5 : 2;
        for (int k = 1; k <= steps; k++)
        {
            string two = Path.Combine(_root, $"{model}-2-step{k}");
            if (k == 1)
            {
                Train(0, [.. Common(model, 1, one), "--sync-bn"]);   // saved in config.json (no effect in one process), so the 2-rank resumes sync
                Train(2, [.. Common(model, 1, two), "--sync-bn"]);
            }
            else
            {
                CopyFolder(one, two);
                Train(2, ["train", "--out", two, "--resume", "--steps", k.ToString(CultureInfo.InvariantCulture)]);
                Train(0, ["train", "--out", one, "--resume", "--steps", k.ToString(CultureInfo.InvariantCulture)]);
            }
            var (a, b) = (Metrics(one), Metrics(two));
            Assert.That(b, Has.Count.EqualTo(k), $"{model} step {k}: metrics rows");
            double worst = 0;
            foreach (var c in Compared)
            {
                double x = a[k - 1][c], y = b[k - 1][c];
                if (double.IsNaN(x)) { Assert.That(y, Is.NaN, $"{model} step {k} {c}"); continue; }
                worst = Math.Max(worst, Math.Abs(x - y) / (MetricAtol + Math.Abs(x)));
                Assert.That(Math.Abs(x - y), Is.LessThanOrEqualTo(MetricAtol + MetricRtol * Math.Abs(x)), $"{model} step {k} {c}: 1 process {x}, 2 ranks {y}");
            }

            if (k > weightsUntilStep)
            {
                TestContext.Out.WriteLine($"{model} step {k}: metrics within {worst:E2} relative");
                continue;
            }
            var (wa, wb) = (Checkpoint(one), Checkpoint(two));
            long total = 0, flipped = 0;
            double worstElement = 0;
            foreach (var (name, w1) in wa.Where(w => w.Key.StartsWith("G.", StringComparison.Ordinal) || w.Key.StartsWith("D.", StringComparison.Ordinal)))
            {
                var w2 = wb[name];
                for (int j = 0; j < w1.Length; j++)
                {
                    double d = Math.Abs(w2[j] - w1[j]);
                    total++;
                    if (d <= 1e-6 + 1e-4 * Math.Abs(w1[j])) continue;
                    Assert.That(d, Is.LessThanOrEqualTo(2 * lr * 1.001), $"{model} step {k}: {name}[{j}] is {w1[j]} in one process and {w2[j]} on 2 ranks, more than Adam's 2·lr apart");
                    flipped++;
                    worstElement = Math.Max(worstElement, d);
                }
            }
            TestContext.Out.WriteLine($"{model} step {k}: metrics within {worst:E2} relative; {flipped} of {total} weights apart by up to {worstElement:E2} (Adam's 2·lr = {2 * lr:E1})");
            Assert.That(flipped, Is.LessThanOrEqualTo(total / 10_000), $"{model} step {k}: {flipped} of {total} weights moved apart");
        }
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
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
