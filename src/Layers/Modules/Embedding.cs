// Embedding: row lookup as a differentiable product one_hot(labels) · W, with W (num, dim).
// A gather would need its own kernel and a scatter-add backward; the one-hot product reuses
// MatMul, whose rule gives the weight gradient one_hotᵀ·G (a scatter-add) and second order for
// free. The one-hot (B, num) is built on the device from two broadcast comparisons, so no host
// round trip. Fine for class-conditional GANs (num ≈ 10–1000); not meant for large vocabularies.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>Lookup table of <c>num</c> vectors of size <c>dim</c>, PyTorch's nn.Embedding.</summary>
public sealed class Embedding : Module, IResettable
{
    /// <summary>A table of <paramref name="numEmbeddings"/> vectors of <paramref name="embeddingDim"/>, drawn from N(0, 1) with <paramref name="gen"/>.</summary>
    public Embedding(int numEmbeddings, int embeddingDim, RandomStream? gen = null, Device? device = null)
    {
        if (numEmbeddings <= 0 || embeddingDim <= 0)
            throw new ArgumentOutOfRangeException(nameof(numEmbeddings), $"Embedding({numEmbeddings}, {embeddingDim}): sizes must be positive");
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        RegisterParameter("weight", Tensor.Zeros(new Shape(numEmbeddings, embeddingDim), device));
        ResetParameters(gen ?? Init.DefaultRandom);
    }

    /// <summary>Number of rows (labels).</summary>
    public int NumEmbeddings { get; }
    /// <summary>Size of each vector.</summary>
    public int EmbeddingDim { get; }

    /// <summary>(num, dim).</summary>
    public Tensor Weight => GetParameter("weight")!;

    /// <summary>PyTorch's default: N(0, 1).</summary>
    public void ResetParameters(RandomStream gen) => Init.Normal(Weight, gen);

    /// <summary>
    /// Rows for labels given as a float tensor of whole numbers, shape (B) or (B, 1). A label outside
    /// [0, num) selects nothing (a zero row): check labels on the host with <see cref="Forward(int[])"/>.
    /// </summary>
    public override Tensor Forward(Tensor labels)
    {
        if (labels.Rank > 2 || (labels.Rank == 2 && labels.Shape[1] != 1))
            throw new ShapeMismatchException($"Embedding: labels must be (B) or (B, 1), got {labels.Shape}");
        int b = labels.Size;
        var column = labels.Detach().Reshape(b, 1);             // (B, 1)
        var ids = Tensor.FromArray(Iota(NumEmbeddings), new Shape(1, NumEmbeddings), labels.Device); // (1, num)
        var oneHot = column.GreaterEqualMask(ids).Mul(ids.GreaterEqualMask(column)); // (B, num), 1 where label == id
        return oneHot.MatMul(Weight);                           // (B, dim)
    }

    /// <summary>Rows for integer labels (validated: each in [0, num)).</summary>
    public Tensor Forward(int[] labels)
    {
        var values = new float[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)NumEmbeddings)
                throw new ArgumentOutOfRangeException(nameof(labels), $"Embedding({NumEmbeddings}, {EmbeddingDim}): label {labels[i]} at index {i} is outside [0, {NumEmbeddings})");
            values[i] = labels[i];
        }
        return Forward(Tensor.FromArray(values, new Shape(labels.Length), Weight.Device));
    }

    private static float[] Iota(int n)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i;
        return v;
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{NumEmbeddings}, {EmbeddingDim}";
}
