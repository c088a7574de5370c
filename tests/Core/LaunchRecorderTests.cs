using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Core;

/// <summary>
/// The launch recorder on ILGPU's CPU accelerator: exact counts of launches, copies,
/// synchronisations and read-backs for small known op sequences (the expected numbers are derived
/// in the comments, from what each op does), and SkipExecution mode.
/// The sequences use ops whose launches this test can count exactly (MatMul, Sum, uploads and
/// downloads); they avoid Fill and elementwise ops.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class LaunchRecorderTests
{
    private static Device Ilgpu => Device.IlgpuCpu;

    private static readonly float[] A = [1, 2, 3, 4, 5, 6];                       // (2, 3)
    private static readonly float[] B = [1, 0, -1, 2, 0.5f, 1, 1, 0, -2, 3, 0, 1]; // (3, 4)

    /// <summary>C = A·B by hand, (2, 4).</summary>
    private static float[] ExpectedC()
    {
        var c = new float[8];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++)
                for (int p = 0; p < 3; p++) c[i * 4 + j] += A[i * 3 + p] * B[p * 4 + j];
        return c;
    }

    [Test]
    public void CountsAKnownSequenceExactly()
    {
        var recorder = new LaunchRecorder();
        float item;
        float[] values;
        using (Ilgpu.Attach(recorder))
        {
            var a = Tensor.FromArray(A, new Shape(2, 3), Ilgpu);   // copy H2D 24 B, queued (an upload does not wait)
            var b = Tensor.FromArray(B, new Shape(3, 4), Ilgpu);   // copy H2D 48 B, queued
            var c = a.MatMul(b);                                    // launch GemmShortKKernel (k = 3): one group of 256
            var s = c.Sum();                                        // launch SumRowsKernel: 1 output, 1 lane walks its 8 elements
            item = s.Item();                                        // copy D2H 4 B + sync + scalar read-back
            values = c.ToArray();                                   // copy D2H 32 B + sync + array read-back of 8
            Ilgpu.Synchronize();                                    // explicit sync
        }

        Assert.That(recorder.Launches.Select(l => l.Kernel), Is.EqualTo(new[] { "MatMulKernels.GemmShortKKernel", "ReductionKernels.SumRowsKernel" }));
        Assert.That(recorder.Copies, Has.Count.EqualTo(4));
        Assert.That(recorder.Syncs, Has.Count.EqualTo(3));
        Assert.That(recorder.ReadBacks, Has.Count.EqualTo(2));
        Assert.That(recorder.BytesCopied(CopyDirection.HostToDevice), Is.EqualTo(72));
        Assert.That(recorder.BytesCopied(CopyDirection.DeviceToHost), Is.EqualTo(36));
        Assert.That(recorder.BytesCopied(CopyDirection.DeviceToDevice), Is.EqualTo(0));
        Assert.That(recorder.Copies.All(c => !c.Pinned), "every copy comes from pageable host memory");
        Assert.That(recorder.Syncs.Count(s => s.Reason == SyncReason.Explicit), Is.EqualTo(1));
        Assert.That(recorder.ReadBacks.Select(r => (r.Kind, r.Elements)), Is.EqualTo(new[] { (ReadBackKind.Scalar, 1L), (ReadBackKind.Array, 8L) }));

        var gemm = recorder.Launches[0];
        Assert.That((gemm.Op, gemm.AutoGrouped, gemm.Grid, gemm.Group, gemm.Extent), Is.EqualTo(("MatMul", false, new Dim3(1, 1, 1), new Dim3(256, 1, 1), 256L)));
        // m = 2, n = 4, k = 3, beta = 0: 2mnk + mn FLOPs, (mk + kn)·4 bytes in, mn·4 out, k per thread.
        Assert.That(gemm.Cost, Is.EqualTo(new LaunchCost(56, 72, 32, 3)));
        var sum = recorder.Launches[1];
        // One group of 256 threads (segments of one lane: 8 elements fit one lane's 16), no second pass.
        Assert.That((sum.Op, sum.AutoGrouped, sum.Extent, sum.Grid, sum.Group), Is.EqualTo(("Sum", false, 256L, new Dim3(1, 1, 1), new Dim3(256, 1, 1))));
        Assert.That(sum.Cost, Is.EqualTo(new LaunchCost(8, 32, 4, 8)));

        Assert.That(recorder.Copies.Select(c => c.Op), Is.EqualTo(new[] { "CopyFrom", "CopyFrom", "Item", "ToArray" }));
        var sequence = recorder.Launches.Select(l => l.Sequence).Concat(recorder.Copies.Select(c => c.Sequence))
            .Concat(recorder.Syncs.Select(s => s.Sequence)).Concat(recorder.ReadBacks.Select(r => r.Sequence)).Order();
        Assert.That(sequence, Is.EqualTo(Enumerable.Range(0, 11)), "one counter orders every record");

        // Recording does not change the results.
        Assert.That(values, Is.EqualTo(ExpectedC()));
        Assert.That(item, Is.EqualTo(ExpectedC().Sum()).Within(1e-5));
        Assert.That(Ilgpu.Recorder, Is.Null, "disposing the attachment detaches");
    }

    [Test]
    public void BackwardLaunchesAreTaggedWithTheirRule()
    {
        var x = Tensor.FromArray(A, new Shape(2, 3), Ilgpu);
        var w = Tensor.FromArray(B, new Shape(3, 4), Ilgpu);
        var u = Tensor.FromArray(new float[8], new Shape(2, 4), Ilgpu);
        x.RequiresGrad = w.RequiresGrad = true;
        var recorder = new LaunchRecorder();
        using (Ilgpu.Attach(recorder))
        {
            var y = x.MatMul(w);
            Autograd.Grad([y], [x, w], [u]);
        }
        // Forward: one GEMM. Backward of MatMul: dX = G·Wᵀ and dW = Xᵀ·G, two GEMMs inside the rule.
        Assert.That(recorder.Launches.Select(l => l.OpPath), Is.EqualTo(new[] { "MatMul", "MatMul.backward/MatMul", "MatMul.backward/MatMul" }));
        Assert.That(recorder.Launches.Select(l => l.Op), Is.EqualTo(new[] { "MatMul", "MatMul", "MatMul" }));
        Assert.That(recorder.Copies, Is.Empty);
    }

    [Test]
    public void SkipExecutionRecordsWithoutRunning()
    {
        var a = Tensor.FromArray(A, new Shape(2, 3), Ilgpu);
        var b = Tensor.FromArray(B, new Shape(3, 4), Ilgpu);
        var c = Tensor.FromArray(Enumerable.Repeat(7f, 8).ToArray(), new Shape(2, 4), Ilgpu);
        var scalar = Tensor.FromArray([5f], new Shape(), Ilgpu);
        var target = Tensor.FromArray([1f, 1f, 1f], new Shape(3), Ilgpu);

        var recorder = new LaunchRecorder(RecordingMode.SkipExecution);
        float item;
        float[] downloaded;
        Shape productShape;
        using (Ilgpu.Attach(recorder))
        {
            Tensor.Gemm(a, b, c, transA: false, transB: false);  // launch, skipped: c keeps its 7s
            productShape = a.MatMul(b).Shape;                     // launch, skipped; the buffer exists with its shape
            target.CopyFrom([9f, 9f, 9f]);                        // copy H2D 12 B (no wait), skipped
            item = scalar.Item();                                 // copy D2H 4 B + sync + read-back; returns 0
            downloaded = a.ToArray();                             // copy D2H 24 B + sync + read-back; zeros
            c.Clone();                                            // copy D2D 32 B, skipped
            c.Fill(3f);                                           // launch (the fill kernel), skipped
            Ilgpu.Synchronize();                                  // explicit sync, recorded
        }

        Assert.That(recorder.Launches, Has.Count.EqualTo(3));
        Assert.That(recorder.Launches.Take(2).All(l => l.Kernel == "MatMulKernels.GemmShortKKernel"));
        Assert.That(recorder.Launches[2].Op, Is.EqualTo("Fill"));
        Assert.That(recorder.Copies.Select(x => (x.Direction, x.Bytes)), Is.EqualTo(new[]
        {
            (CopyDirection.HostToDevice, 12L), (CopyDirection.DeviceToHost, 4L), (CopyDirection.DeviceToHost, 24L), (CopyDirection.DeviceToDevice, 32L),
        }));
        Assert.That(recorder.Syncs, Has.Count.EqualTo(3));
        Assert.That(recorder.ReadBacks, Has.Count.EqualTo(2));

        Assert.That(productShape, Is.EqualTo(new Shape(2, 4)));
        Assert.That(item, Is.EqualTo(0f), "Item() returns 0 when nothing runs");
        Assert.That(downloaded, Is.All.EqualTo(0f));
        // Detached again: the device state shows that nothing ran.
        Assert.That(c.ToArray(), Is.All.EqualTo(7f), "the skipped GEMM and fill left their output untouched");
        Assert.That(target.ToArray(), Is.All.EqualTo(1f), "the skipped upload left the buffer untouched");
        Assert.That(scalar.Item(), Is.EqualTo(5f));
        Tensor.Gemm(a, b, c, transA: false, transB: false);
        Assert.That(c.ToArray(), Is.EqualTo(ExpectedC()), "without the recorder the same launch runs");
    }

    [Test]
    public void OnlyTheAttachingThreadIsRecordedOrSkipped()
    {
        var a = Tensor.FromArray(A, new Shape(2, 3), Ilgpu);
        var b = Tensor.FromArray(B, new Shape(3, 4), Ilgpu);
        var recorder = new LaunchRecorder(RecordingMode.SkipExecution);
        float[]? other = null;
        using (Ilgpu.Attach(recorder))
        {
            var thread = new Thread(() => other = a.MatMul(b).ToArray());
            thread.Start();
            thread.Join();
        }
        Assert.That(other, Is.EqualTo(ExpectedC()), "another thread's work ran");
        Assert.That(recorder.Launches, Is.Empty);
        Assert.That(recorder.Copies, Is.Empty);
    }

    [Test]
    public void AttachRules()
    {
        Assert.Throws<ArgumentException>(() => Device.Cpu.Attach(new LaunchRecorder()), "the SIMD device launches no kernels");
        var first = new LaunchRecorder();
        using (Ilgpu.Attach(first))
        {
            Assert.That(Ilgpu.Recorder, Is.SameAs(first));
            Assert.Throws<InvalidOperationException>(() => Ilgpu.Attach(new LaunchRecorder()), "one recorder per device");
        }
        Assert.That(Ilgpu.Recorder, Is.Null);
        using (Ilgpu.Attach(first)) { } // a detached recorder can be attached again
    }

    [Test]
    public void OpScopesWithoutARecorderAllocateNothing()
    {
        var x = Tensor.FromArray(A, new Shape(2, 3));
        static void Scopes(Device d)
        {
            for (int i = 0; i < 1000; i++)
            {
                using var outer = d.BeginOp("Outer");
                using var inner = d.BeginOp("Inner");
            }
        }
        Scopes(Device.Cpu);
        Scopes(Ilgpu);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Scopes(Device.Cpu);
        Scopes(Ilgpu);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.EqualTo(0));
        Assert.That(x.Sum().Item(), Is.EqualTo(21f));
    }
}
