// The code of docs/library-guide.md. Every ```csharp block of the guide is a snippet of this file,
// verbatim (tests/Docs/DocSampleTests.cs checks it), and this file is compiled and run by those
// tests and by .ci/run's package consumer (a project outside the repository that references the
// packed NuGet packages), so the guide cannot rot.
using GpuGan.Gan.Data;
using GpuGan.Gan.Export;
using GpuGan.Gan.Models;
using GpuGan.Gan.Training;
using GpuGan.Layers;
using GpuGan.Layers.Optim;
using GpuGan.Layers.Serialization;
using GpuGan.Tensors;

namespace GpuGan.Samples;

/// <summary>The library guide's samples.</summary>
public static class LibraryGuideSample
{
    /// <summary>Trains a small GAN on sine curves for <paramref name="steps"/> steps and saves its generator in <paramref name="folder"/>; returns the last losses.</summary>
    public static (float DLoss, float GLoss) TrainGan(string folder, int steps)
    {
        // <snippet:gan>
        var device = Device.Cpu;                  // Device.Open(null): CUDA, then OpenCL, then the CPU
        var rng = new RandomStream(1);
        const int nz = 8, points = 16, batch = 32;
        var g = new Sequential(new Linear(nz, 64, gen: rng), new LeakyReLU(0.2f), new Linear(64, points, gen: rng), new Tanh());
        var d = new Sequential(new Linear(points, 64, gen: rng), new LeakyReLU(0.2f), new Linear(64, 1, gen: rng));
        g.To(device);
        d.To(device);                             // move before creating the optimisers
        var optG = new Adam(g, lr: 2e-4f, beta1: 0.5);
        var optD = new Adam(d, lr: 2e-4f, beta1: 0.5);
        float dLoss = 0, gLoss = 0;
        for (int step = 0; step < steps; step++)
        {
            using var scope = TensorScope.Begin(); // releases the step's temporaries
            var real = Tensor.FromArray(SineCurves(batch, points, seed: step), new Shape(batch, points), device);
            var fake = g.Forward(Tensor.RandN(new Shape(batch, nz), rng, device));
            // D: real → 1, fake → 0; the fake is detached, so no gradient reaches G.
            var lossD = Losses.BceWithLogits(d.Forward(real), 1f).Add(Losses.BceWithLogits(d.Forward(fake.Detach()), 0f));
            d.ZeroGrad();
            lossD.Backward();
            optD.Step();
            // G: the non-saturating loss, D should call the fakes real.
            var lossG = Losses.BceWithLogits(d.Forward(fake), 1f);
            g.ZeroGrad();
            lossG.Backward();
            optG.Step();
            (dLoss, gLoss) = (lossD.Item(), lossG.Item());
        }
        Checkpoint.SaveModule(Path.Combine(folder, "generator.safetensors"), g);
        // </snippet:gan>
        return (dLoss, gLoss);
    }

    /// <summary>First and second derivative of Σ x³ at <paramref name="values"/>: 3x² and 6x.</summary>
    public static (float[] First, float[] Second) HigherOrder(float[] values)
    {
        // <snippet:autograd>
        var x = Tensor.FromArray(values, new Shape(values.Length));
        x.RequiresGrad = true;
        var y = x.Mul(x).Mul(x).Sum();                               // Σ x³
        var dy = Autograd.Grad([y], [x], createGraph: true)[0];      // 3x², itself on the tape
        var d2y = Autograd.Grad([dy.Sum()], [x])[0];                 // 6x
        // </snippet:autograd>
        return (dy.ToArray(), d2y.ToArray());
    }

    /// <summary>Loads the generator saved by <see cref="TrainGan"/> into a new network of the same shape.</summary>
    public static Module LoadGenerator(string folder)
    {
        // <snippet:load>
        var g = new Sequential(new Linear(8, 64), new LeakyReLU(0.2f), new Linear(64, 16), new Tanh());
        Checkpoint.LoadModule(Path.Combine(folder, "generator.safetensors"), g);   // names and shapes are checked
        g.Eval();
        // </snippet:load>
        return g;
    }

    /// <summary>Trains the library's own MLP GAN on the built-in sines for <paramref name="steps"/> steps into <paramref name="folder"/> and exports it to ONNX.</summary>
    public static string TrainWithTrainer(string folder, int steps)
    {
        // <snippet:trainer>
        var options = new TrainOptions
        {
            Model = ModelFamily.Gan, Data = DataSource.Sines(256), Steps = steps, Batch = 32, Seed = 1,
            LatentDim = 16, Width = 64, Device = DeviceKind.Cpu, Out = folder,
        };
        using (var trainer = Trainer.Start(options))
            trainer.Run();                        // generator.safetensors, checkpoints/, metrics.csv, samples/
        string onnx = Path.Combine(folder, "generator.onnx");
        ModelExport.Export(Path.Combine(folder, "generator.safetensors"), onnx, ExportFormat.Onnx);
        // </snippet:trainer>
        return onnx;
    }

    // Sine curves y = sin(b·x + c) on [0, 2π], b in [1, 2), c in [0, 2π): the training data.
    private static float[] SineCurves(int count, int points, int seed)
    {
        var random = new Random(seed);
        var values = new float[count * points];
        for (int i = 0; i < count; i++)
        {
            double b = 1 + random.NextDouble(), c = 2 * Math.PI * random.NextDouble();
            for (int j = 0; j < points; j++) values[i * points + j] = (float)Math.Sin(b * 2 * Math.PI * j / (points - 1) + c);
        }
        return values;
    }
}
