// The guides' code cannot rot: docs/samples/*.cs are compiled into this project and run here, and
// every ```csharp block of the guides (docs/*.md) and of the package READMEs (src/*/README.md)
// must be a verbatim snippet of those files (indentation aside).
using System.Text.RegularExpressions;
using GpuGan.Samples;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Docs;

[TestFixture, NonParallelizable]
public sealed partial class DocSampleTests
{
    private string _folder = "";

    [SetUp]
    public void SetUp() => _folder = Directory.CreateTempSubdirectory("gpugan-docs-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void TheGanSampleTrainsSavesAndLoads()
    {
        var (dLoss, gLoss) = LibraryGuideSample.TrainGan(_folder, steps: 10);
        Assert.That(float.IsFinite(dLoss) && float.IsFinite(gLoss), $"losses {dLoss}, {gLoss}");
        Assert.That(dLoss, Is.GreaterThan(0f));
        var g = LibraryGuideSample.LoadGenerator(_folder);
        Assert.That(g.ParameterCount(), Is.EqualTo(8 * 64 + 64 + 64 * 16 + 16));
        using var scope = TensorScope.Begin();
        var y = g.Forward(Tensor.RandN(new Shape(4, 8), new RandomStream(3))).ToArray();
        Assert.That(y.All(v => v is > -1f and < 1f) && y.Distinct().Count() > 1, "Tanh outputs that vary");
    }

    [Test]
    public void TheAutogradSampleGivesFirstAndSecondDerivatives()
    {
        var (first, second) = LibraryGuideSample.HigherOrder([0.5f, -1f, 2f]);
        Assert.That(first, Is.EqualTo(new[] { 0.75f, 3f, 12f }).Within(1e-6f));
        Assert.That(second, Is.EqualTo(new[] { 3f, -6f, 12f }).Within(1e-6f));
    }

    [Test]
    public void TheTrainerSampleTrainsAndExports()
    {
        string onnx = LibraryGuideSample.TrainWithTrainer(Path.Combine(_folder, "run"), steps: 2);
        Assert.That(new FileInfo(onnx).Length, Is.GreaterThan(1000));
    }

    [Test]
    public void EveryCodeBlockOfTheGuidesIsACompiledSnippet()
    {
        string root = RepositoryRoot();
        string samples = string.Join("\n", Directory.GetFiles(Path.Combine(root, "docs", "samples"), "*.cs").Order(StringComparer.Ordinal)
            .Select(f => Normalise(File.ReadAllText(f))));
        var documents = Directory.GetFiles(Path.Combine(root, "docs"), "*.md")
            .Concat(Directory.GetFiles(Path.Combine(root, "src"), "README.md", SearchOption.AllDirectories)).ToList();
        Assert.That(documents, Has.Count.GreaterThanOrEqualTo(5));
        int blocks = 0;
        foreach (var doc in documents)
            foreach (Match m in CSharpBlock().Matches(File.ReadAllText(doc)))
            {
                blocks++;
                Assert.That(samples, Does.Contain(Normalise(m.Groups[1].Value)),
                    $"{Path.GetRelativePath(root, doc)}: a ```csharp block is not a verbatim snippet of docs/samples/*.cs:\n{m.Groups[1].Value}");
            }
        Assert.That(blocks, Is.GreaterThanOrEqualTo(4));
    }

    /// <summary>Lines trimmed, empty lines dropped: indentation may differ between a file and a guide.</summary>
    private static string Normalise(string code) => string.Join("\n", code.Replace("\r", "").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuGan.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("the repository root (GpuGan.sln) is not above the test folder");
    }
}
