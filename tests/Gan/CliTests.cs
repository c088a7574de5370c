using GpuGan.Cli;
using GpuGan.Gan.Training;
using NUnit.Framework;

namespace GpuGan.Tests.Gan;

[TestFixture]
public sealed class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = GpuGanCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [TestCase(new[] { "train", "--bogus" }, "--bogus")]
    [TestCase(new[] { "train", "--image-size", "48", "--out", "/tmp/gpugan-cli-never" }, "--image-size")]
    [TestCase(new[] { "train", "--model", "vae", "--out", "/tmp/gpugan-cli-never" }, "vae")]
    [TestCase(new[] { "train", "--batch", "abc" }, "abc")]
    [TestCase(new[] { "train", "--device", "tpu", "--out", "/tmp/gpugan-cli-never" }, "tpu")]
    [TestCase(new[] { "train", "--steps", "5", "--epochs", "2", "--out", "/tmp/gpugan-cli-never" }, "--epochs")]
    [TestCase(new[] { "train", "--data", "/nonexistent/folder", "--out", "/tmp/gpugan-cli-never" }, "/nonexistent/folder")]
    [TestCase(new[] { "sample", "--out", "/tmp/x" }, "--run")]
    [TestCase(new[] { "frobnicate" }, "frobnicate")]
    public void BadInputGivesOneLineAndNonZeroExit(string[] args, string mentioned)
    {
        var (code, _, err) = Run(args);
        Assert.That(code, Is.Not.EqualTo(0));
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), $"one line expected, got:\n{err}");
        Assert.That(err, Does.Contain(mentioned));
        Assert.That(err, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(Directory.Exists("/tmp/gpugan-cli-never"), Is.False, "nothing is created for a refused command");
    }

    [Test]
    public void CorruptIdxFileIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("gpugan-cli-idx-").FullName;
        File.WriteAllBytes(Path.Combine(dir, "train-images-idx3-ubyte"), [0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]);
        File.WriteAllBytes(Path.Combine(dir, "train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
        var (code, _, err) = Run("train", "--data", dir, "--out", Path.Combine(dir, "run"), "--steps", "1");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("train-images-idx3-ubyte").And.Contain("truncated"));
        Assert.That(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1));
    }

    [Test]
    public void DevicesListsBothCpuKernelSets()
    {
        var (code, output, _) = Run("devices");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(output, Does.Contain("cpu").And.Contain("ilgpu-cpu"));
    }

    [Test]
    public void TrainThenSampleWritesImages()
    {
        var dir = Directory.CreateTempSubdirectory("gpugan-cli-run-").FullName;
        string run = Path.Combine(dir, "run");
        var (code, output, err) = Run("train", "--image-size", "32", "--batch", "8", "--steps", "2", "--out", run, "--device", "cpu", "--seed", "3");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain("done: 2 steps"));
        foreach (var f in new[] { "config.json", "metrics.csv", "curves.png", "generator.safetensors", "checkpoints/last.safetensors", "samples/step-000002.png" })
            Assert.That(File.Exists(Path.Combine(run, f)), f);
        var (c2, o2, e2) = Run("sample", "--run", run, "--count", "5", "--out", Path.Combine(dir, "png"));
        Assert.That(c2, Is.EqualTo(0), e2);
        Assert.That(Directory.GetFiles(Path.Combine(dir, "png"), "*.png"), Has.Length.EqualTo(5));
        var (c3, _, e3) = Run("sample", "--checkpoint", Path.Combine(run, "checkpoints/last.safetensors"), "--count", "9", "--grid", "--out", Path.Combine(dir, "grid"));
        Assert.That(c3, Is.EqualTo(0), e3);
        Assert.That(File.Exists(Path.Combine(dir, "grid", "grid.png")));
        // A truncated checkpoint is refused with its name.
        var bytes = File.ReadAllBytes(Path.Combine(run, "generator.safetensors"));
        File.WriteAllBytes(Path.Combine(dir, "cut.safetensors"), bytes[..(bytes.Length / 2)]);
        File.Copy(Path.Combine(run, "config.json"), Path.Combine(dir, "config.json"));
        var (c4, _, e4) = Run("sample", "--checkpoint", Path.Combine(dir, "cut.safetensors"), "--out", Path.Combine(dir, "cut"));
        Assert.That(c4, Is.Not.EqualTo(0));
        Assert.That(e4, Does.Contain("cut.safetensors"));
    }

    /// <summary>An observer that fails on the first step, the way a bug deep in the library would.</summary>
    private sealed class FailingObserver(ITrainingObserver inner) : ITrainingObserver
    {
        public void Started(TrainingStarted started) => inner.Started(started);
        public void Step(StepMetrics metrics, long totalSteps) => throw new InvalidOperationException("injected failure for the test");
        public void Notice(TrainingNotice notice) => inner.Notice(notice);
    }

    [Test]
    public void InternalErrorExits70AndNamesALogInTheRunFolder()
    {
        var dir = Directory.CreateTempSubdirectory("gpugan-cli-internal-").FullName;
        try
        {
            string run = Path.Combine(dir, "run");
            var hooks = new CliHooks(WrapObserver: o => new FailingObserver(o));
            var (code, _, err) = TinyRuns.Cli(hooks, "train", "--image-size", "28", "--batch", "4", "--steps", "2", "--out", run, "--device", "cpu", "--threads", "1");
            Assert.That(code, Is.EqualTo(ExitCodes.Internal));
            var lines = TinyRuns.Lines(err);
            Assert.That(lines, Has.Length.EqualTo(1), err);
            Assert.That(err, Does.Contain("internal error").And.Contain("InvalidOperationException").And.Contain("injected failure"));
            Assert.That(err, Does.Not.Contain("   at "), "the stack trace goes to the log, not the terminal");
            var log = System.Text.RegularExpressions.Regex.Match(err, @"the stack trace is in (\S+\.log)").Groups[1].Value;
            Assert.That(log, Does.StartWith(Path.GetFullPath(run)), "the log is written into the run folder");
            Assert.That(File.Exists(log), log);
            Assert.That(File.ReadAllText(log), Does.Contain("injected failure").And.Contain("   at ").And.Contain("--steps 2"));
        }
        finally
        {
                Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void InternalErrorWithoutARunFolderLogsToTheTempFolder()
    {
        var hooks = new CliHooks(BeforeCommand: name => throw new NullReferenceException($"injected in {name}"));
        var (code, output, err) = TinyRuns.Cli(hooks, "devices");
        Assert.That(code, Is.EqualTo(ExitCodes.Internal));
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        var log = System.Text.RegularExpressions.Regex.Match(err, @"the stack trace is in (\S+\.log)").Groups[1].Value;
        Assert.That(Path.GetDirectoryName(log), Is.EqualTo(Path.TrimEndingDirectorySeparator(Path.GetTempPath())));
        Assert.That(File.ReadAllText(log), Does.Contain("injected in devices").And.Contain("   at "));
        File.Delete(log);
    }

    /// <summary>Exit codes: 2 for a bad command line, 1 for bad files and data, one line each, never 70.</summary>
    [TestCase(new[] { "train", "--batch", "0", "--out", "/tmp/gpugan-cli-never" }, ExitCodes.Usage, "--batch")]
    [TestCase(new[] { "train", "--steps", "1e9", "--out", "/tmp/gpugan-cli-never" }, ExitCodes.Usage, "not an integer")]
    [TestCase(new[] { "train", "--threads", "-1", "--out", "/tmp/gpugan-cli-never" }, ExitCodes.Usage, "--threads")]
    [TestCase(new[] { "train", "--resume" }, ExitCodes.Usage, "--out")]
    [TestCase(new[] { "train", "--resume", "--out", "/tmp/gpugan-cli-never" }, ExitCodes.Usage, "not a run folder")]
    [TestCase(new[] { "train", "--model", "cdcgan", "--data", "sines", "--out", "/tmp/gpugan-cli-never" }, ExitCodes.Usage, "labelled data")]
    [TestCase(new[] { "train", "--model", "dcgan", "--data", "sines", "--out", "/tmp/gpugan-cli-never" }, ExitCodes.Usage, "square images")]
    [TestCase(new[] { "sample", "--checkpoint", "/nonexistent/g.safetensors", "--out", "/tmp/gpugan-cli-never" }, ExitCodes.Failure, "/nonexistent/g.safetensors")]
    public void UserErrorsKeepTheirExitCodeAndOneLine(string[] args, int expected, string mentioned)
    {
        var (code, _, err) = TinyRuns.Cli(args);
        Assert.That(code, Is.EqualTo(expected), err);
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.Contain(mentioned));
        Assert.That(err, Does.Not.Contain("internal error"));
        Assert.That(Directory.Exists("/tmp/gpugan-cli-never"), Is.False, "nothing is created for a refused command");
    }

    [Test]
    public void ResumeSaysWhichFlagsItIgnores()
    {
        var dir = Directory.CreateTempSubdirectory("gpugan-cli-resume-").FullName;
        try
        {
            string run = Path.Combine(dir, "run");
            TinyRuns.Train(TinyRuns.Options(GpuGan.Gan.Models.ModelFamily.Dcgan, GpuGan.Gan.Data.DataSource.Petri(16), run, 1));
            var (code, output, err) = TinyRuns.Cli("train", "--out", run, "--resume", "--steps", "2", "--batch", "8", "--model", "wgan", "--checkpoint-every", "5");
            Assert.That(code, Is.EqualTo(0), err);
            Assert.That(err, Does.Contain("warning: --model, --batch are ignored with --resume"));
            Assert.That(output, Does.Contain("resumed").And.Contain("done: 2 steps"));
        }
        finally
        {
                Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// --winograd is saved in config.json and a resume runs on the same kernels: 1 step + resume to 2 gives the 2-step run's
    /// generator bit for bit, and the direct convolution gives a different one (so the flag reaches the device).
    /// </summary>
    [Test]
    public void WinogradIsSavedAndResumedBitExactly()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.Ignore("no AVX-512: the Winograd kernels are not used on this CPU");
        var dir = Directory.CreateTempSubdirectory("gpugan-cli-winograd-").FullName;
        try
        {
            string[] Common(string run, int steps) =>
                ["train", "--image-size", "32", "--batch", "8", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", run,
                 "--device", "cpu", "--seed", "3", "--checkpoint-every", "1", "--sample-every", "100"];
            string whole = Path.Combine(dir, "whole"), resumed = Path.Combine(dir, "resumed"), direct = Path.Combine(dir, "direct");
            var (c1, _, e1) = TinyRuns.Cli([.. Common(whole, 2), "--winograd"]);
            Assert.That(c1, Is.EqualTo(0), e1);
            Assert.That(File.ReadAllText(Path.Combine(whole, "config.json")), Does.Contain("\"winograd\": true"));
            var (c2, _, e2) = TinyRuns.Cli([.. Common(resumed, 1), "--winograd"]);
            Assert.That(c2, Is.EqualTo(0), e2);
            var (c3, _, e3) = TinyRuns.Cli("train", "--out", resumed, "--resume", "--steps", "2");
            Assert.That(c3, Is.EqualTo(0), e3);
            var (c4, _, e4) = TinyRuns.Cli(Common(direct, 2));
            Assert.That(c4, Is.EqualTo(0), e4);
            byte[] Generator(string run) => File.ReadAllBytes(Path.Combine(run, "generator.safetensors"));
            Assert.That(Generator(resumed).SequenceEqual(Generator(whole)), Is.True, "1 step + resume with the saved --winograd = 2 steps");
            Assert.That(Generator(direct).SequenceEqual(Generator(whole)), Is.False, "the direct convolution gives other bits");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void AnAbsentGpuIsAOneLineFailure()
    {
        if (GpuGan.Tensors.Device.List().Any(d => d.Kind == GpuGan.Tensors.DeviceKind.Cuda && d.Problem is null))
            Assert.Ignore("a CUDA device is present here");
        var (code, _, err) = TinyRuns.Cli("train", "--device", "cuda", "--steps", "1", "--out", "/tmp/gpugan-cli-never");
        Assert.That(code, Is.EqualTo(ExitCodes.Failure), err);
        Assert.That(TinyRuns.Lines(err), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.Contain("--device cuda").And.Not.Contain("internal error"));
        Assert.That(Directory.Exists("/tmp/gpugan-cli-never"), Is.False);
    }
}
