// Weight initialisers, PyTorch's torch.nn.init semantics, all drawn from a seeded RandomStream.
// Values are filled in place on the tensor's device by the counter-based generator, so the
// same seed gives the same weights on the SIMD set and on any ILGPU device.
//
// Fans follow torch.nn.init._calculate_fan_in_and_fan_out: for a weight of shape
// (d0, d1, k...), fan_in = d1·prod(k) and fan_out = d0·prod(k). For ConvTranspose2d's
// (Cin, Cout, kH, kW) that makes fan_in = Cout·kH·kW — PyTorch's behaviour, kept on purpose
// so that default-initialised models match PyTorch's statistics.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>Non-linearities known to <see cref="Init.CalculateGain"/>.</summary>
public enum Nonlinearity
{
    /// <summary>The identity (gain 1).</summary>
    Linear,
    /// <summary>σ (gain 1).</summary>
    Sigmoid,
    /// <summary>tanh (gain 5/3).</summary>
    Tanh,
    /// <summary>ReLU (gain √2).</summary>
    Relu,
    /// <summary>Leaky ReLU (gain √(2 / (1 + slope²))).</summary>
    LeakyRelu,
}

/// <summary>Which fan Kaiming initialisation preserves.</summary>
public enum FanMode
{
    /// <summary>Inputs per output: keeps the variance of activations in the forward pass.</summary>
    FanIn,
    /// <summary>Outputs per input: keeps the variance of gradients in the backward pass.</summary>
    FanOut,
}

/// <summary>Initialisers; each fills a tensor in place and returns it.</summary>
public static class Init
{
    /// <summary>
    /// The generator used by layer constructors when none is given (seed 0), so that construction
    /// order alone decides the weights. Pass your own generator for anything reproducible across code changes.
    /// </summary>
    public static RandomStream DefaultRandom { get; set; } = new(0);

    /// <summary>N(mean, std²).</summary>
    public static Tensor Normal(Tensor t, RandomStream gen, float mean = 0f, float std = 1f)
    {
        t.FillNormal(gen, mean, std);
        return t;
    }

    /// <summary>U[low, high).</summary>
    public static Tensor Uniform(Tensor t, RandomStream gen, float low = 0f, float high = 1f)
    {
        t.FillUniform(gen, low, high);
        return t;
    }

    /// <summary>Fills <paramref name="t"/> with <paramref name="value"/>; returns it.</summary>
    public static Tensor Constant(Tensor t, float value)
    {
        t.Fill(value);
        return t;
    }

    /// <summary>Fills <paramref name="t"/> with zeros; returns it.</summary>
    public static Tensor Zeros(Tensor t) => Constant(t, 0f);
    /// <summary>Fills <paramref name="t"/> with ones; returns it.</summary>
    public static Tensor Ones(Tensor t) => Constant(t, 1f);

    /// <summary>(fan_in, fan_out) of a weight, as PyTorch computes them (rank ≥ 2).</summary>
    public static (int FanIn, int FanOut) Fans(Shape shape)
    {
        if (shape.Rank < 2)
            throw new ArgumentException($"fan in and fan out need a weight of rank ≥ 2, got shape {shape}");
        int receptive = 1;
        for (int i = 2; i < shape.Rank; i++) receptive *= shape[i];
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>torch.nn.init.calculate_gain: 1, 1, 5/3, √2, √(2/(1+slope²)).</summary>
    public static float CalculateGain(Nonlinearity nonlinearity, float negativeSlope = 0.01f) => nonlinearity switch
    {
        Nonlinearity.Linear or Nonlinearity.Sigmoid => 1f,
        Nonlinearity.Tanh => 5f / 3f,
        Nonlinearity.Relu => MathF.Sqrt(2f),
        Nonlinearity.LeakyRelu => (float)Math.Sqrt(2.0 / (1 + (double)negativeSlope * negativeSlope)),
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity)),
    };

    /// <summary>U(±gain·√(6/(fan_in + fan_out))).</summary>
    public static Tensor XavierUniform(Tensor t, RandomStream gen, float gain = 1f)
    {
        var (fanIn, fanOut) = Fans(t.Shape);
        float a = (float)(gain * Math.Sqrt(6.0 / (fanIn + fanOut)));
        return Uniform(t, gen, -a, a);
    }

    /// <summary>N(0, (gain·√(2/(fan_in + fan_out)))²).</summary>
    public static Tensor XavierNormal(Tensor t, RandomStream gen, float gain = 1f)
    {
        var (fanIn, fanOut) = Fans(t.Shape);
        return Normal(t, gen, 0f, (float)(gain * Math.Sqrt(2.0 / (fanIn + fanOut))));
    }

    /// <summary>U(±gain·√(3/fan)), gain = CalculateGain(nonlinearity, a) (a: the leaky slope).</summary>
    public static Tensor KaimingUniform(Tensor t, RandomStream gen, float a = 0f, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu)
    {
        float bound = (float)(Math.Sqrt(3.0) * KaimingStd(t.Shape, a, mode, nonlinearity));
        return Uniform(t, gen, -bound, bound);
    }

    /// <summary>N(0, (gain/√fan)²).</summary>
    public static Tensor KaimingNormal(Tensor t, RandomStream gen, float a = 0f, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu)
        => Normal(t, gen, 0f, (float)KaimingStd(t.Shape, a, mode, nonlinearity));

    private static double KaimingStd(Shape shape, float a, FanMode mode, Nonlinearity nonlinearity)
    {
        var (fanIn, fanOut) = Fans(shape);
        int fan = mode == FanMode.FanIn ? fanIn : fanOut;
        if (fan == 0) throw new ArgumentException($"Kaiming initialisation of a weight with zero fan, shape {shape}");
        double gain = nonlinearity == Nonlinearity.LeakyRelu ? Math.Sqrt(2.0 / (1 + (double)a * a)) : CalculateGain(nonlinearity, a);
        return gain / Math.Sqrt(fan);
    }

    /// <summary>
    /// PyTorch's default for Linear, Conv2d and ConvTranspose2d: weight kaiming_uniform(a = √5), i.e.
    /// U(±1/√fan_in), and bias U(±1/√fan_in).
    /// </summary>
    public static void LinearDefault(Tensor weight, Tensor? bias, RandomStream gen)
    {
        KaimingUniform(weight, gen, a: MathF.Sqrt(5f));
        if (bias is not null)
        {
            int fanIn = Fans(weight.Shape).FanIn;
            float bound = fanIn > 0 ? (float)(1.0 / Math.Sqrt(fanIn)) : 0f;
            Uniform(bias, gen, -bound, bound);
        }
    }

    /// <summary>Re-initialises every layer of <paramref name="module"/> with PyTorch's defaults, in module order.</summary>
    public static void PytorchDefault(Module module, RandomStream gen)
    {
        foreach (var m in module.Modules())
            if (m is IResettable r) r.ResetParameters(gen);
    }

    /// <summary>
    /// The DCGAN rule (Radford et al. 2015, as in the PyTorch DCGAN example's weights_init): Conv2d and
    /// ConvTranspose2d weights N(0, 0.02²); BatchNorm2d γ N(1, 0.02²) and β 0. Biases (if any) and
    /// other layers are left as they are.
    /// </summary>
    public static void Dcgan(Module module, RandomStream gen)
    {
        foreach (var m in module.Modules())
        {
            switch (m)
            {
                case Conv2d c: Normal(c.Weight, gen, 0f, 0.02f); break;
                case ConvTranspose2d c: Normal(c.Weight, gen, 0f, 0.02f); break;
                case BatchNorm2d bn:
                    if (bn.Weight is not null) Normal(bn.Weight, gen, 1f, 0.02f);
                    if (bn.Bias is not null) Zeros(bn.Bias);
                    break;
            }
        }
    }
}

/// <summary>A layer that can re-draw its parameters with PyTorch's default initialisation.</summary>
public interface IResettable
{
    /// <summary>Re-initialises the parameters with PyTorch's default for the layer, drawing from <paramref name="gen"/>.</summary>
    void ResetParameters(RandomStream gen);
}
