// Parameter-free layers: activations, shape changes, dropout.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>max(x, 0), PyTorch's nn.ReLU.</summary>
public sealed class ReLU : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Relu();
}

/// <summary>x &gt; 0 ? x : slope·x (PyTorch default slope 0.01; DCGAN uses 0.2).</summary>
public sealed class LeakyReLU(float negativeSlope = 0.01f) : Module
{
    /// <summary>Slope for negative inputs.</summary>
    public float NegativeSlope { get; } = negativeSlope;
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.LeakyRelu(NegativeSlope);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"negative_slope={NegativeSlope}";
}

/// <summary>tanh(x), PyTorch's nn.Tanh.</summary>
public sealed class Tanh : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Tanh();
}

/// <summary>σ(x) = 1 / (1 + e^−x), PyTorch's nn.Sigmoid.</summary>
public sealed class Sigmoid : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Sigmoid();
}

/// <summary>(N, ...) → (N, rest), PyTorch's nn.Flatten() (start_dim 1).</summary>
public sealed class Flatten : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Rank == 0 ? input.Reshape(1) : input.Reshape(input.Shape[0], -1);
}

/// <summary>
/// (N, ...) → (N, dims...): reshapes each sample, keeping the batch dimension, like PyTorch's
/// nn.Unflatten(1, dims) after a Linear ("project and reshape" in DCGAN-style generators). One of
/// <c>dims</c> may be −1.
/// </summary>
public sealed class Reshape : Module
{
    private readonly int[] _dims;

    /// <summary>Reshapes each sample to <paramref name="dims"/> (one entry may be −1).</summary>
    public Reshape(params int[] dims)
    {
        if (dims.Length == 0 || dims.Length > Shape.MaxRank - 1)
            throw new ArgumentException($"Reshape: 1 to {Shape.MaxRank - 1} per-sample dimensions expected, got {dims.Length}");
        _dims = (int[])dims.Clone();
    }

    /// <summary>The per-sample dimensions.</summary>
    public IReadOnlyList<int> Dims => _dims;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Reshape([input.Shape[0], .. _dims]);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Join(", ", _dims);
}

/// <summary>
/// Zeroes each element with probability p and scales the rest by 1/(1 − p) in training mode;
/// identity in eval mode. The mask comes from the given seeded generator (on the input's device),
/// so runs are reproducible and resumable by saving the generator's offset.
/// </summary>
public sealed class Dropout : Module
{
    private readonly RandomStream _gen;

    /// <summary>Dropout with probability <paramref name="p"/>, masks drawn from <paramref name="gen"/> (a default stream when null).</summary>
    public Dropout(float p = 0.5f, RandomStream? gen = null)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1]");
        P = p;
        _gen = gen ?? Init.DefaultRandom;
    }

    /// <summary>Probability of zeroing an element.</summary>
    public float P { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (!IsTraining || P == 0f) return input;
        if (P == 1f) return input.MulScalar(0f);
        Tensor mask;
        using (Autograd.NoGrad())
        {
            // U[0, 1) > p keeps with probability 1 − p; the scale is folded into the mask.
            var u = Tensor.RandU(input.Shape, _gen, input.Device);
            mask = u.GreaterMask(P).MulScalar(1f / (1f - P));
            u.Dispose();
        }
        return input.Mul(mask);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"p={P}";
}

/// <summary>Runs its children in order; they are named "0", "1", … as in PyTorch's nn.Sequential.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = [];

    /// <summary>A stack of <paramref name="layers"/>, registered as "0", "1", … (PyTorch's names).</summary>
    public Sequential(params Module[] layers)
    {
        foreach (var l in layers) Add(l);
    }

    /// <summary>Appends a layer under the next index.</summary>
    public Sequential Add(Module layer)
    {
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count => _layers.Count;
    /// <summary>The layer at <paramref name="index"/>.</summary>
    public Module this[int index] => _layers[index];
    /// <summary>The layers in order.</summary>
    public IReadOnlyList<Module> Layers => _layers;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var x = input;
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }
}
