using System.Diagnostics;
using System.Globalization;
using System.Text;
using GpuGan.Gan.Training;
using GpuGan.Layers.Serialization;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

/// <summary>
/// Fault injection (issue 11): the real CLI (`dotnet gpugan.dll train`, a child process) trains a tiny model with a
/// checkpoint every step and is killed — SIGKILL or SIGTERM — at seeded points of the run. Then every file of the run
/// folder must parse (temporary files of a cut-off write aside, recognisable by name, only after SIGKILL), and
/// `--resume` must finish with the generator bytes and metrics rows of an uninterrupted run, leaving no temporary file.
///
/// The kill points come from one seeded stream, Random(BaseSeed): trial t waits until the child has appended k rows to metrics.csv
/// (observed on disk, so the trigger is progress, not time) and a further seeded 0–40 ms, so kills land in every phase
/// of a step: the step itself, the sample grid, the curves plot, the checkpoint and the generator file. What is asserted
/// does not depend on where the kill lands. 10 trials run in the suite; GPUGAN_FAULT_TRIALS=N runs N.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class FaultInjectionTests
{
    private const int BaseSeed = 11_2026, Steps = 12;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private static readonly string[] Flags = ["train", "--model", "gan", "--data", "sines", "--batch", "16", "--threads", "1", "--device", "cpu",
        "--seed", "3", "--sample-every", "3", "--checkpoint-every", "1", "--steps", Steps.ToString(CultureInfo.InvariantCulture)];

    private string _root = "";

    [SetUp]
    public void SetUp()
    {
        if (OperatingSystem.IsWindows()) Assert.Ignore("POSIX signals are sent with kill(1)");
        _root = Directory.CreateTempSubdirectory("gpugan-fault-").FullName;
    }

    [TearDown]
    public void TearDown()
    {
        if (_root.Length > 0) Directory.Delete(_root, recursive: true);
    }

    private static int Trials => int.TryParse(Environment.GetEnvironmentVariable("GPUGAN_FAULT_TRIALS"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 10;

    private static int MetricsRows(string run)
    {
        try
        {
            using var stream = new FileStream(Path.Combine(run, RunLayout.MetricsFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            int lines = 0, b;
            while ((b = stream.ReadByte()) >= 0) if (b == '\n') lines++;
            return Math.Max(0, lines - 1);   // the header
        }
        catch (IOException)
        {
            return 0;   // not there yet
        }
    }

    private static string[] RowsWithoutSpeed(string run) => File.ReadAllLines(Path.Combine(run, RunLayout.MetricsFile))
        .Select(l => string.Join(",", l.Split(',')[..^1])).ToArray();

    private static readonly EnumerationOptions Everything = new() { AttributesToSkip = 0, RecurseSubdirectories = true };

    /// <summary>Every file of <paramref name="run"/> parses; temporary files (ours by name) only where a kill may have left them.</summary>
    private static void AssertEveryFileParses(string run, bool killed, string trial)
    {
        foreach (var file in Directory.EnumerateFiles(run, "*", Everything))
        {
            string name = Path.GetFileName(file), relative = Path.GetRelativePath(run, file).Replace('\\', '/');
            if (AtomicFile.IsTemporaryFile(name, out _))
            {
                Assert.That(killed, Is.True, $"{trial}: {relative}: a temporary file after a clean stop");
                continue;
            }
            switch (relative)
            {
                case RunLayout.ConfigFile:
                    Assert.DoesNotThrow(() => TrainOptions.FromJson(File.ReadAllText(file), file).Validate(file), $"{trial}: {relative}");
                    break;
                case RunLayout.CheckpointFile or RunLayout.GeneratorFile:
                    Assert.DoesNotThrow(() => SafeTensors.Read(file), $"{trial}: {relative}");
                    break;
                case RunLayout.MetricsFile:
                    string text = File.ReadAllText(file);
                    var lines = text.Split('\n');
                    Assert.That(lines[0], Is.EqualTo(StepMetrics.Header), $"{trial}: {relative}");
                    // Whole rows; the last one may be torn by SIGKILL (resume drops it), never by SIGTERM.
                    int complete = lines.Length - 1;
                    for (int i = 1; i < complete; i++) Assert.DoesNotThrow(() => StepMetrics.Parse(lines[i], file, i + 1), $"{trial}: {relative}:{i + 1}");
                    if (!killed) Assert.That(text, Does.EndWith("\n"), $"{trial}: {relative} ends with a whole row");
                    break;
                case RunLayout.CurvesFile:
                case var sample when sample.StartsWith(RunLayout.SamplesFolder + "/step-", StringComparison.Ordinal) && sample.EndsWith(".png", StringComparison.Ordinal):
                    Assert.DoesNotThrow(() => SixLabors.ImageSharp.Image.Load(File.ReadAllBytes(file)).Dispose(), $"{trial}: {relative}");
                    break;
                default:
                    Assert.Fail($"{trial}: unexpected file {relative}");
                    break;
            }
        }
    }

    [Test]
    public void KilledAtSeededPointsEveryFileParsesAndResumeIsExact()
    {
        string straight = Path.Combine(_root, "straight");
        var (code, _, err) = TinyRuns.Cli([.. Flags, "--out", straight]);
        Assert.That(code, Is.EqualTo(0), err);
        byte[] generator = File.ReadAllBytes(Path.Combine(straight, RunLayout.GeneratorFile));
        string[] rows = RowsWithoutSpeed(straight);

        var summary = new StringBuilder();
        var random = new Random(BaseSeed);
        for (int t = 0; t < Trials; t++)
        {
            bool kill = t % 2 == 0;                 // SIGKILL and SIGTERM alternate
            int k = random.Next(1, Steps);          // rows of metrics.csv to wait for: 1 … Steps − 1
            int extraMs = random.Next(0, 41);
            string run = Path.Combine(_root, $"trial-{t}"), trial = $"trial {t} ({(kill ? "SIGKILL" : "SIGTERM")} after {k} rows + {extraMs} ms)";

            int exit;
            var output = new StringBuilder();
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add(Path.Combine(TestContext.CurrentContext.TestDirectory, "gpugan.dll"));
            foreach (var a in Flags.Append("--out").Append(run)) info.ArgumentList.Add(a);
            using (var child = Process.Start(info)!)
            {
                child.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
                child.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
                child.BeginOutputReadLine();
                child.BeginErrorReadLine();
                var deadline = DateTime.UtcNow + Patience;
                while (MetricsRows(run) < k && !child.HasExited)
                {
                    if (DateTime.UtcNow > deadline) Assert.Fail($"{trial}: no progress; output:\n{output}");
                    Thread.Sleep(2);
                }
                Thread.Sleep(extraMs);
                if (!child.HasExited)
                {
                    if (kill) child.Kill();
                    else
                    {
                        using var signal = Process.Start("kill", ["-TERM", child.Id.ToString(CultureInfo.InvariantCulture)]);
                        signal.WaitForExit();
                    }
                }
                Assert.That(child.WaitForExit(Patience), Is.True, $"{trial}: the child did not exit");
                child.WaitForExit();
                exit = child.ExitCode;
            }
            long checkpointStep = File.Exists(Path.Combine(run, RunLayout.CheckpointFile))
                ? SafeTensors.Read(Path.Combine(run, RunLayout.CheckpointFile)).Tensors["train.step"].ToInt64Array()[0] : 0;
            int temporary = Directory.EnumerateFiles(run, "*", Everything).Count(f => AtomicFile.IsTemporaryFile(Path.GetFileName(f), out _));
            summary.AppendLine($"{trial}: exit {exit}, checkpoint at step {checkpointStep}, {MetricsRows(run)} rows, {temporary} temporary file(s)");

            // SIGKILL: 137 (128 + 9), or 0 when the run had already finished. SIGTERM: the step finishes, a checkpoint is saved, exit 0.
            Assert.That(exit, kill ? Is.EqualTo(137).Or.EqualTo(0) : Is.EqualTo(0), $"{trial}; output:\n{output}");
            if (!kill) Assert.That(output.ToString(), Does.Contain("interrupted at step").Or.Contain("done: "), trial);
            AssertEveryFileParses(run, kill, trial);

            (code, _, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--device", "cpu", "--steps", Steps.ToString(CultureInfo.InvariantCulture));
            Assert.That(code, Is.EqualTo(0), $"{trial}: resume: {err}");
            Assert.That(File.ReadAllBytes(Path.Combine(run, RunLayout.GeneratorFile)), Is.EqualTo(generator), $"{trial}: resumed generator = uninterrupted generator");
            Assert.That(RowsWithoutSpeed(run), Is.EqualTo(rows), $"{trial}: metrics rows");
            AssertEveryFileParses(run, killed: false, trial + ", after resume");
        }
        TestContext.Out.Write(summary);
    }
}
