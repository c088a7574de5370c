// Checkpoints: weights and training states round trip bit-exactly, training resumes identically,
// and bad files are refused with errors naming the file and the key.
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Layers;

[TestFixture, Category("cpu")]
public sealed class CheckpointTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "gpugan-ckpt-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static Sequential Mlp(int seed) => new(new Linear(2, 8, gen: new RandomStream(seed)), new LeakyReLU(0.2f), new Linear(8, 1, gen: new RandomStream(seed + 1)));

    [Test]
    public void ModuleWeightsRoundTripBitExactWithPyTorchNames()
    {
        var a = Mlp(1);
        var path = Path.Combine(_dir, "w.safetensors");
        Checkpoint.SaveModule(path, a);
        var file = SafeTensors.Read(path);
        Assert.That(file.Tensors.Keys, Is.EquivalentTo(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }));
        Assert.That(file.Tensors.Values.All(e => e.Dtype == SafeTensorDtype.F32), Is.True);
        Assert.That(file.Metadata["format_version"], Is.EqualTo(Checkpoint.FormatVersion));
        var b = Mlp(50);
        Checkpoint.LoadModule(path, b);
        foreach (var (k, t) in a.StateDict()) Assert.That(b.StateDict()[k].ToArray(), Is.EqualTo(t.ToArray()), k);
    }

    [Test]
    public void BatchNormBuffersAreSavedAndAnInt64CounterIsAccepted()
    {
        var net = new Sequential(new Linear(2, 3, gen: new RandomStream(0)), new BatchNorm2d(3));
        net.StateDict()["1.running_mean"].CopyFrom([1f, 2f, 3f]);
        var path = Path.Combine(_dir, "bn.safetensors");
        Checkpoint.SaveModule(path, net);
        // Rewrite num_batches_tracked as PyTorch stores it (I64 scalar).
        var entries = SafeTensors.Read(path).Tensors.Values.Where(e => e.Name != "1.num_batches_tracked").ToList();
        entries.Add(SafeTensorEntry.FromInt64("1.num_batches_tracked", [], [12]));
        SafeTensors.Write(path, entries);
        var fresh = new Sequential(new Linear(2, 3, gen: new RandomStream(9)), new BatchNorm2d(3));
        Checkpoint.LoadModule(path, fresh);
        Assert.That(fresh.StateDict()["1.running_mean"].ToArray(), Is.EqualTo(new[] { 1f, 2f, 3f }));
        Assert.That(((BatchNorm2d)fresh[1]).NumBatchesTracked, Is.EqualTo(12));
    }

    [Test]
    public void PyTorchFixtureLoadsAndGivesTheSameOutputs()
    {
        // What torch writes for nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 2)) via
        // safetensors.torch.save_file(model.state_dict()): keys 0.weight (4, 3), 0.bias (4), 2.weight (2, 4), 2.bias (2), F32, no metadata.
        float[] w0 = [0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f, -0.7f, 0.8f, 0.9f, 0.25f, -0.5f, 0.75f];
        float[] b0 = [0.01f, -0.02f, 0.03f, -0.04f];
        float[] w2 = [1f, -1f, 0.5f, -0.5f, 0.2f, 0.3f, -0.4f, 0.6f];
        float[] b2 = [0.1f, -0.1f];
        var path = Path.Combine(_dir, "torch.safetensors");
        SafeTensors.Write(path,
        [
            SafeTensorEntry.FromFloat32("0.weight", [4, 3], w0), SafeTensorEntry.FromFloat32("0.bias", [4], b0),
            SafeTensorEntry.FromFloat32("2.weight", [2, 4], w2), SafeTensorEntry.FromFloat32("2.bias", [2], b2),
        ]);
        var net = new Sequential(new Linear(3, 4, gen: new RandomStream(1)), new LeakyReLU(0.2f), new Linear(4, 2, gen: new RandomStream(2)));
        Checkpoint.LoadModule(path, net);
        float[] x = [1f, 2f, -1f, -0.5f, 0.25f, 3f];
        using var scope = TensorScope.Begin();
        var y = net.Forward(Tensor.FromArray(x, 2, 3)).ToArray();
        var h = LayerTests.LinearReference(x, 2, w0, b0, 3, 4).Select(v => (float)(v > 0 ? v : (double)0.2f * v)).ToArray();
        LayerTests.AssertClose(y, LayerTests.LinearReference(h, 2, w2, b2, 4, 2), 1e-5, 1e-5, "PyTorch fixture outputs");
    }

    [Test]
    public void WrongShapeIsRefusedNamingFileKeyAndShapes()
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        Checkpoint.SaveModule(path, new Sequential(new Linear(2, 9, gen: new RandomStream(0)), new LeakyReLU(), new Linear(9, 1, gen: new RandomStream(0))));
        var e = Assert.Throws<StateDictException>(() => Checkpoint.LoadModule(path, Mlp(1)));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("'0.weight'").And.Contain("(9, 2)").And.Contain("(8, 2)"));
    }

    [Test]
    public void MissingUnexpectedAndWrongDtypeAreRefused()
    {
        var path = Path.Combine(_dir, "keys.safetensors");
        var net = Mlp(1);
        var entries = net.StateDict().Where(kv => kv.Key != "2.bias")
            .Select(kv => SafeTensorEntry.FromFloat32(kv.Key, kv.Value.Shape.Dims, kv.Value.ToArray())).ToList();
        entries.Add(SafeTensorEntry.FromFloat32("3.weight", [1], [0f]));
        SafeTensors.Write(path, entries);
        var e = Assert.Throws<StateDictException>(() => Checkpoint.LoadModule(path, Mlp(2)));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("missing key '2.bias'").And.Contain("unexpected key '3.weight'"));

        SafeTensors.Write(path, net.StateDict().Select(kv => kv.Key == "0.bias"
            ? SafeTensorEntry.FromFloat64(kv.Key, kv.Value.Shape.Dims, kv.Value.ToArray().Select(v => (double)v).ToArray())
            : SafeTensorEntry.FromFloat32(kv.Key, kv.Value.Shape.Dims, kv.Value.ToArray())));
        e = Assert.Throws<StateDictException>(() => Checkpoint.LoadModule(path, Mlp(2)));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("'0.bias': dtype F64, expected F32"));
    }

    [Test]
    public void TruncatedOrCorruptFilesAreRefused()
    {
        var path = Path.Combine(_dir, "t.safetensors");
        var net = Mlp(1);
        Checkpoint.SaveModule(path, net);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.LoadModule(path, Mlp(2)));
        var corrupt = (byte[])bytes.Clone();
        corrupt[9] ^= 0x5A; // inside the JSON header
        File.WriteAllBytes(path, corrupt);
        Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.LoadModule(path, Mlp(2)));
        File.WriteAllBytes(path, bytes[..6]);
        var e = Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.Load(path, new TrainingState()));
        Assert.That(e!.Message, Does.Contain(path));
    }

    // ------------------------------------------------------------ training state

    /// <summary>A small regression run: data from a generator, Adam on an MLP; everything a resume must restore.</summary>
    private sealed class Run
    {
        // Every generator a run draws from must be in the training state, dropout's included.
        public readonly RandomStream DropoutGen = new(70);
        public readonly RandomStream Data = new(123);
        public readonly Sequential Model;
        public readonly Optimizer Opt;
        public readonly Sgd Sgd;
        public readonly Sequential Critic = new(new Linear(1, 4, gen: new RandomStream(9)));
        public long Steps;

        public Run()
        {
            Model = new(new Linear(2, 16, gen: new RandomStream(7)), new Tanh(), new Dropout(0.1f, DropoutGen), new Linear(16, 1, gen: new RandomStream(8)));
            Opt = new Adam(Model, lr: 0.01f, weightDecay: 1e-3);
            Sgd = new Sgd(Critic, lr: 0.1f, momentum: 0.9f);
        }

        public TrainingState State()
        {
            var s = new TrainingState { Step = Steps, Epoch = Steps / 5 };
            s.Modules.Add("G", Model);
            s.Modules.Add("D", Critic);
            s.Optimizers.Add("optG", Opt);
            s.Optimizers.Add("optD", Sgd);
            s.RandomStreams.Add("data", Data);
            s.RandomStreams.Add("dropout", DropoutGen);
            return s;
        }

        public void Train(int n)
        {
            for (int i = 0; i < n; i++, Steps++)
            {
                using var scope = TensorScope.Begin();
                var x = Tensor.RandN(new Shape(8, 2), Data);
                var target = x.Sum([1], keepDim: true).Sin2();
                Opt.ZeroGrad();
                Sgd.ZeroGrad();
                var loss = Model.Forward(x).Sub(target).Square().Mean().Add(Critic.Forward(target).Square().Mean());
                loss.Backward();
                Opt.Step();
                Sgd.Step();
            }
        }
    }

    [Test]
    public void ResumeFromCheckpointContinuesBitExactly()
    {
        // 20 straight steps vs 10 steps, save, load into fresh objects, 10 more: bit-identical weights
        // and optimiser state (CPU kernel set: fixed reduction order, so runs are deterministic).
        var straight = new Run();
        straight.Train(20);

        var first = new Run();
        first.Train(10);
        var path = Path.Combine(_dir, "train.safetensors");
        var st = first.State();
        Checkpoint.Save(path, st);

        var resumed = new Run();
        var rs = resumed.State();
        Checkpoint.Load(path, rs);
        Assert.That(rs.Step, Is.EqualTo(10));
        Assert.That(rs.Epoch, Is.EqualTo(2));
        Assert.That(resumed.Data.Offset, Is.EqualTo(first.Data.Offset));
        Assert.That(resumed.Opt.StepCount(), Is.EqualTo(10));
        resumed.Steps = rs.Step;
        // Optimiser state bit-exact after load.
        var a = first.Opt.StateDict();
        var b = resumed.Opt.StateDict();
        foreach (var (k, t) in a.Tensors) Assert.That(b.Tensors[k].ToArray(), Is.EqualTo(t.ToArray()), k);
        resumed.Train(10);

        foreach (var (k, t) in straight.Model.StateDict())
            Assert.That(resumed.Model.StateDict()[k].ToArray(), Is.EqualTo(t.ToArray()), $"G.{k} after 10 + 10 steps vs 20");
        foreach (var (k, t) in straight.Critic.StateDict())
            Assert.That(resumed.Critic.StateDict()[k].ToArray(), Is.EqualTo(t.ToArray()), $"D.{k}");
        var sa = straight.Opt.StateDict();
        var sb = resumed.Opt.StateDict();
        foreach (var (k, t) in sa.Tensors) Assert.That(sb.Tensors[k].ToArray(), Is.EqualTo(t.ToArray()), $"optG.{k}");
    }

    [Test]
    public void TrainingFileHasTheDocumentedLayout()
    {
        var run = new Run();
        run.Train(2);
        var path = Path.Combine(_dir, "layout.safetensors");
        Checkpoint.Save(path, run.State());
        var f = SafeTensors.Read(path);
        Assert.That(f.Tensors.ContainsKey("G.0.weight"), Is.True);
        Assert.That(f.Tensors.ContainsKey("D.0.bias"), Is.True);
        Assert.That(f.Tensors["optG.0.weight.exp_avg"].Dtype, Is.EqualTo(SafeTensorDtype.F32));
        Assert.That(f.Tensors["optG.0.weight.step"].ToInt64Array(), Is.EqualTo(new long[] { 2 }));
        Assert.That(f.Tensors.ContainsKey("optD.0.weight.momentum_buffer"), Is.True);
        Assert.That(f.Tensors["rng.data.offset"].Dtype, Is.EqualTo(SafeTensorDtype.I64));
        Assert.That(f.Tensors["train.step"].ToInt64Array(), Is.EqualTo(new long[] { 2 }));
        Assert.That(f.Metadata["optG.type"], Is.EqualTo("Adam"));
        Assert.That(f.Metadata["format"], Is.EqualTo(Checkpoint.TrainingFormat));
    }

    [Test]
    public void TrainingLoadRefusesMismatchesWithoutChangingAnything()
    {
        var run = new Run();
        run.Train(3);
        var path = Path.Combine(_dir, "mismatch.safetensors");
        Checkpoint.Save(path, run.State());

        // Different seed for a generator.
        var other = new Run();
        var st = other.State();
        st.RandomStreams["data"] = new RandomStream(999);
        var before = other.Model.StateDict()["0.weight"].ToArray();
        var e = Assert.Throws<StateDictException>(() => Checkpoint.Load(path, st));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("generator 'data' has seed 999"));
        Assert.That(other.Model.StateDict()["0.weight"].ToArray(), Is.EqualTo(before), "nothing applied on failure");

        // Wrong optimiser type.
        var st2 = new Run().State();
        st2.Optimizers["optG"] = new Sgd(new Run().Model, lr: 0.1f);
        e = Assert.Throws<StateDictException>(() => Checkpoint.Load(path, st2));
        Assert.That(e!.Message, Does.Contain("'optG' holds Adam state but the optimiser is Sgd"));

        // Missing module in the file → its keys are missing; extra module keys → unexpected.
        var st3 = new Run().State();
        st3.Modules.Remove("D");
        st3.Optimizers.Remove("optD");
        e = Assert.Throws<StateDictException>(() => Checkpoint.Load(path, st3));
        Assert.That(e!.Message, Does.Contain("unexpected key 'D.0.weight'"));

        // Optimiser state with a wrong shape.
        var entries = SafeTensors.Read(path).Tensors.Values
            .Select(x => x.Name == "optG.0.bias.exp_avg" ? SafeTensorEntry.FromFloat32(x.Name, [3], [0f, 0f, 0f]) : x).ToList();
        SafeTensors.Write(path, entries, SafeTensors.Read(path).Metadata);
        e = Assert.Throws<StateDictException>(() => Checkpoint.Load(path, new Run().State()));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("0.bias.exp_avg").And.Contain("(3)").And.Contain("(16)"));
    }
}

internal static class TensorTestOps
{
    /// <summary>A smooth bounded target: x / (1 + x²)·2 (only ops present on this branch).</summary>
    public static Tensor Sin2(this Tensor x) => x.Div(x.Square().AddScalar(1f)).MulScalar(2f);
}
