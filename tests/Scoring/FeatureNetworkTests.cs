using GpuGan.Gan.Data;
using GpuGan.Gan.Scoring;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Scoring;

/// <summary>The feature network: its tasks, its cache, and the scorer's plumbing (tiny configurations).</summary>
[TestFixture, NonParallelizable]
public sealed class FeatureNetworkTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("gpugan-features-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    internal static FeatureNetworkOptions Tiny(int steps = 20) => new() { Width = 4, Steps = steps, Batch = 8, LearningRate = 1e-3f, Seed = 1 };

    /// <summary>An unlabelled view of a data set (the rotation task).</summary>
    private sealed class Unlabelled(IDataset inner) : IDataset
    {
        public int Count => inner.Count;
        public int Channels => inner.Channels;
        public int Height => inner.Height;
        public int Width => inner.Width;
        public int ClassCount => 0;
        public string Name => inner.Name + "-unlabelled";
        public void CopySample(int index, Span<float> destination) => inner.CopySample(index, destination);
        public int Label(int index) => -1;
    }

    [Test]
    public void FourQuarterTurnsAreTheIdentityAndOneTurnMovesPixels()
    {
        var img = new float[2 * 5 * 5];
        for (int i = 0; i < img.Length; i++) img[i] = i;
        var a = new float[img.Length];
        var b = new float[img.Length];
        FeatureNetwork.Rotate(img, a, 2, 5, 1);
        Assert.That(a, Is.Not.EqualTo(img));
        FeatureNetwork.Rotate(a, b, 2, 5, 3);
        Assert.That(b, Is.EqualTo(img));
        FeatureNetwork.Rotate(img, a, 2, 5, 2);
        FeatureNetwork.Rotate(a, b, 2, 5, 2);
        Assert.That(b, Is.EqualTo(img));
    }

    [Test]
    public void TheTaskFollowsTheLabels()
    {
        var petri = new PetriDataset(40, 16, seed: 1);
        Assert.That(FeatureNetwork.TaskOf(petri), Is.EqualTo(FeatureTask.Classes));
        Assert.That(FeatureNetwork.TaskOf(new Unlabelled(petri)), Is.EqualTo(FeatureTask.Rotation));
        Assert.Throws<ScoringNotSupportedException>(() => FeatureNetwork.TaskOf(new SinesDataset(40, 1)));
        Assert.Throws<ScoringNotSupportedException>(() => FeatureNetwork.TaskOf(new PetriDataset(10, 16, seed: 1)));
    }

    [Test]
    public void ANetworkIsTrainedOnceThenLoadedFromTheCacheWithTheSameFeatures()
    {
        var data = new PetriDataset(60, 16, seed: 2);
        var first = FeatureNetwork.LoadOrTrain(data, Tiny(), _root, Device.Cpu);
        Assert.That(first.LoadedFromCache, Is.False);
        Assert.That(File.Exists(first.CachePath), first.CachePath);
        Assert.That(first.TestAccuracy, Is.InRange(0.0, 1.0));
        Assert.That((first.TrainCount, first.TestCount), Is.EqualTo((54, 6)));
        var second = FeatureNetwork.LoadOrTrain(data, Tiny(), _root, Device.Cpu);
        Assert.That(second.LoadedFromCache, Is.True);
        Assert.That(second.CachePath, Is.EqualTo(first.CachePath));
        Assert.That(second.TestAccuracy, Is.EqualTo(first.TestAccuracy));
        var images = data.CopySamples(0, 5);
        Assert.That(second.Features(images, 5), Is.EqualTo(first.Features(images, 5)));
        Assert.That(first.FeatureSize, Is.EqualTo(16));
    }

    [Test]
    public void OtherDataOrAnotherConfigurationGetsItsOwnNetwork()
    {
        var a = FeatureNetwork.LoadOrTrain(new PetriDataset(40, 16, seed: 2), Tiny(), _root, Device.Cpu);
        var b = FeatureNetwork.LoadOrTrain(new PetriDataset(40, 16, seed: 3), Tiny(), _root, Device.Cpu);
        var c = FeatureNetwork.LoadOrTrain(new PetriDataset(40, 16, seed: 2), Tiny(steps: 21), _root, Device.Cpu);
        Assert.That(new[] { a.CachePath, b.CachePath, c.CachePath }, Is.Unique);
        Assert.That(b.LoadedFromCache || c.LoadedFromCache, Is.False);
    }

    [Test]
    public void ADamagedCacheFileIsRetrainedAndReplaced()
    {
        var data = new PetriDataset(40, 16, seed: 4);
        var first = FeatureNetwork.LoadOrTrain(data, Tiny(), _root, Device.Cpu);
        File.WriteAllBytes(first.CachePath, [1, 2, 3]);
        var second = FeatureNetwork.LoadOrTrain(data, Tiny(), _root, Device.Cpu);
        Assert.That(second.LoadedFromCache, Is.False);
        Assert.That(FeatureNetwork.LoadOrTrain(data, Tiny(), _root, Device.Cpu).LoadedFromCache, Is.True);
    }

    [Test]
    public void TheRotationTaskPredictsFourTurns()
    {
        var data = new Unlabelled(new PetriDataset(40, 16, seed: 5));
        var net = FeatureNetwork.LoadOrTrain(data, Tiny(), _root, Device.Cpu);
        Assert.That((net.Task, net.ClassCount), Is.EqualTo((FeatureTask.Rotation, 4)));
        Assert.That(net.Predict(data.CopySamples(0, 6), 6), Has.All.InRange(0, 3));
    }

    [Test]
    public void TheScorerReportsClassesAndTheAskedClassForLabelledData()
    {
        var data = new PetriDataset(80, 16, seed: 6);
        var scorer = Scorer.Create(data, Tiny(), _root, Device.Cpu);
        var (images, labels, n) = scorer.TrainingImages(30, seed: 2);
        var options = new ScoreOptions { RealCount = 40, K = 5, KidSubsets = 5, KidSubsetSize = 1000, Seed = 1 };
        var predicted = scorer.Network.Predict(images, n);
        var report = scorer.Score(images, n, predicted, options);
        Assert.That(report.ClassCounts!.Sum(), Is.EqualTo(n));
        Assert.That(report.AskedClassAccuracy, Is.EqualTo(1.0));           // asked = what the network sees
        Assert.That(report.ClassEntropyBits, Is.InRange(0.0, 1.0));
        Assert.That((report.SampleCount, report.RealCount, report.K), Is.EqualTo((30, 40, 5)));
        Assert.That(report.ToJson(), Does.Contain("\"frechet-distance\"").And.Contain("\"kid-std\""));
        Assert.Throws<GpuGan.Gan.InvalidOptionException>(() => scorer.Score(images.AsSpan(0, 5 * data.SampleLength()).ToArray(), 5, null, options));
    }

    [Test]
    public void TheHeldOutReferenceComparesWithTheHeldOutPartOnly()
    {
        var data = new PetriDataset(80, 16, seed: 6);
        var scorer = Scorer.Create(data, Tiny(), _root, Device.Cpu);
        var (held, n) = scorer.HeldOutImages(100);
        Assert.That(n, Is.EqualTo(8));
        var training = new ScoreOptions { RealCount = 100, K = 5, KidSubsets = 5, KidSubsetSize = 1000, Seed = 1 };
        var heldOut = training with { HeldOutReference = true };
        // The held-out images against themselves (all 8 of them, in another order): identical sets, distance 0, every ball
        // holds its own centre; against the 72 training images they are a different sample. (8 images in 16 features: the
        // covariances are singular, and the square roots of their rounding-level eigenvalues leave up to ~1e-7.)
        var own = scorer.Score(held, n, null, heldOut);
        Assert.That(own.RealCount, Is.EqualTo(8));
        Assert.That(own.FrechetDistance, Is.EqualTo(0).Within(1e-6));
        Assert.That((own.Precision, own.Recall, own.Coverage), Is.EqualTo((1.0, 1.0, 1.0)));
        var other = scorer.Score(held, n, null, training);
        Assert.That(other.RealCount, Is.EqualTo(72));
        Assert.That(other.FrechetDistance, Is.GreaterThan(1e-3));
    }
}
