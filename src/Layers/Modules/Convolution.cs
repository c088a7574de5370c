// Conv2d and ConvTranspose2d layers over the Tensor ops of the convolution family
// (src/Tensors/Ops/Conv). Weights as PyTorch: Conv2d (Cout, Cin, k, k); ConvTranspose2d
// (Cin, Cout, k, k). Square kernels, no groups.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>2-D convolution layer, PyTorch's nn.Conv2d (groups = 1).</summary>
public sealed class Conv2d : Module, IResettable
{
    /// <summary>A convolution from <paramref name="inChannels"/> to <paramref name="outChannels"/> with a square kernel; weights and bias initialised as PyTorch does, from <paramref name="gen"/>.</summary>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1,
        bool bias = true, RandomStream? gen = null, Device? device = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0 || dilation <= 0)
            throw new ArgumentOutOfRangeException(nameof(kernelSize), $"Conv2d({inChannels}, {outChannels}, k={kernelSize}, s={stride}, p={padding}, d={dilation}): invalid arguments");
        (InChannels, OutChannels, KernelSize, Stride, Padding, Dilation) = (inChannels, outChannels, kernelSize, stride, padding, dilation);
        RegisterParameter("weight", Tensor.Zeros(new Shape(outChannels, inChannels, kernelSize, kernelSize), device));
        RegisterParameter("bias", bias ? Tensor.Zeros(new Shape(outChannels), device) : null);
        ResetParameters(gen ?? Init.DefaultRandom);
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Side of the square kernel.</summary>
    public int KernelSize { get; }
    /// <summary>Stride on both axes.</summary>
    public int Stride { get; }
    /// <summary>Zero padding on every side.</summary>
    public int Padding { get; }
    /// <summary>Dilation on both axes.</summary>
    public int Dilation { get; }

    /// <summary>(Cout, Cin, k, k).</summary>
    public Tensor Weight => GetParameter("weight")!;
    /// <summary>(Cout) or null.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>PyTorch's default initialisation (Kaiming uniform with a = √5, bias uniform in ±1/√fan_in).</summary>
    public void ResetParameters(RandomStream gen) => Init.LinearDefault(Weight, Bias, gen);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Rank != 4 || input.Shape[1] != InChannels)
            throw new ShapeMismatchException($"Conv2d({InChannels}, {OutChannels}): expects (N, {InChannels}, H, W), got {input.Shape}");
        return input.Conv2d(Weight, Bias, Stride, Padding, Dilation);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr()
        => $"{InChannels}, {OutChannels}, kernel_size=({KernelSize}, {KernelSize}), stride=({Stride}, {Stride}), padding=({Padding}, {Padding}){(Bias is null ? ", bias=False" : "")}";
}

/// <summary>2-D transposed convolution layer, PyTorch's nn.ConvTranspose2d (groups = 1).</summary>
public sealed class ConvTranspose2d : Module, IResettable
{
    /// <summary>A transposed convolution from <paramref name="inChannels"/> to <paramref name="outChannels"/> with a square kernel; weights and bias initialised as PyTorch does, from <paramref name="gen"/>.</summary>
    public ConvTranspose2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int outputPadding = 0,
        int dilation = 1, bool bias = true, RandomStream? gen = null, Device? device = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0 || dilation <= 0
            || outputPadding < 0 || (outputPadding >= stride && outputPadding >= dilation))
            throw new ArgumentOutOfRangeException(nameof(kernelSize), $"ConvTranspose2d({inChannels}, {outChannels}, k={kernelSize}, s={stride}, p={padding}, op={outputPadding}, d={dilation}): invalid arguments (output padding must be smaller than stride or dilation)");
        (InChannels, OutChannels, KernelSize, Stride, Padding, OutputPadding, Dilation) = (inChannels, outChannels, kernelSize, stride, padding, outputPadding, dilation);
        RegisterParameter("weight", Tensor.Zeros(new Shape(inChannels, outChannels, kernelSize, kernelSize), device));
        RegisterParameter("bias", bias ? Tensor.Zeros(new Shape(outChannels), device) : null);
        ResetParameters(gen ?? Init.DefaultRandom);
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Side of the square kernel.</summary>
    public int KernelSize { get; }
    /// <summary>Stride on both axes.</summary>
    public int Stride { get; }
    /// <summary>Padding removed from every side of the output (PyTorch's padding).</summary>
    public int Padding { get; }
    /// <summary>Extra rows and columns added to one side of the output.</summary>
    public int OutputPadding { get; }
    /// <summary>Dilation on both axes.</summary>
    public int Dilation { get; }

    /// <summary>(Cin, Cout, k, k).</summary>
    public Tensor Weight => GetParameter("weight")!;
    /// <summary>(Cout) or null.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>PyTorch's default; note fan_in is taken from dimension 1 (Cout·k·k), as PyTorch does.</summary>
    public void ResetParameters(RandomStream gen) => Init.LinearDefault(Weight, Bias, gen);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Rank != 4 || input.Shape[1] != InChannels)
            throw new ShapeMismatchException($"ConvTranspose2d({InChannels}, {OutChannels}): expects (N, {InChannels}, H, W), got {input.Shape}");
        return input.ConvTranspose2d(Weight, Bias, Stride, Padding, OutputPadding, Dilation);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr()
        => $"{InChannels}, {OutChannels}, kernel_size=({KernelSize}, {KernelSize}), stride=({Stride}, {Stride}), padding=({Padding}, {Padding}){(Bias is null ? ", bias=False" : "")}";
}
