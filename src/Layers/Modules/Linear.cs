// Linear: y = x·Wᵀ + b with W (out, in) as PyTorch stores it. The transpose is read in place by
// MatMul(transB: true); inputs of rank > 2 are viewed as (rows, in) and back.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>Fully connected layer, PyTorch's nn.Linear.</summary>
public sealed class Linear : Module, IResettable
{
    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/>; weights and bias initialised as PyTorch does, from <paramref name="gen"/>.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, RandomStream? gen = null, Device? device = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentOutOfRangeException(nameof(inFeatures), $"Linear({inFeatures}, {outFeatures}): feature counts must be positive");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        RegisterParameter("weight", Tensor.Zeros(new Shape(outFeatures, inFeatures), device));
        RegisterParameter("bias", bias ? Tensor.Zeros(new Shape(outFeatures), device) : null);
        ResetParameters(gen ?? Init.DefaultRandom);
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }
    /// <summary>Output features.</summary>
    public int OutFeatures { get; }

    /// <summary>(out, in).</summary>
    public Tensor Weight => GetParameter("weight")!;

    /// <summary>(out) or null.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>PyTorch's default initialisation (Kaiming uniform with a = √5, bias uniform in ±1/√fan_in).</summary>
    public void ResetParameters(RandomStream gen) => Init.LinearDefault(Weight, Bias, gen);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Rank == 0 || input.Shape[-1] != InFeatures)
            throw new ShapeMismatchException($"Linear({InFeatures}, {OutFeatures}): input {input.Shape} does not end in {InFeatures}");
        var dims = input.Shape.ToArray();
        var x = input.Rank == 2 ? input : input.Reshape(-1, InFeatures); // (rows, in)
        var y = x.MatMul(Weight, transB: true);                           // (rows, out)
        if (Bias is { } b) y = y.Add(b);
        if (input.Rank == 2) return y;
        dims[^1] = OutFeatures;
        return y.Reshape(dims);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is not null ? "True" : "False")}";
}
