// Linear: y = x·Wᵀ + b with W (out, in) as PyTorch stores it. The transpose is read in place by
// MatMul(transB: true); inputs of rank > 2 are viewed as (rows, in) and back.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>Fully connected layer, PyTorch's nn.Linear.</summary>
public sealed class Linear : Module, IResettable
{
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

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>(out, in).</summary>
    public Tensor Weight => GetParameter("weight")!;

    /// <summary>(out) or null.</summary>
    public Tensor? Bias => GetParameter("bias");

    public void ResetParameters(RandomStream gen) => Init.LinearDefault(Weight, Bias, gen);

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

    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is not null ? "True" : "False")}";
}
