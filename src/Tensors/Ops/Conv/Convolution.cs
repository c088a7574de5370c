// STUB: signatures agreed for the convolution family; the implementation lands with issue 3.
namespace GpuGan.Tensors;

public sealed partial class Tensor
{
    /// <summary>
    /// 2-D convolution (cross-correlation, as PyTorch). this: (N, Cin, H, W); weight: (Cout, Cin, kH, kW);
    /// bias: (Cout) or null. Output (N, Cout, Ho, Wo), Ho = (H + 2p − d(kH − 1) − 1)/s + 1.
    /// </summary>
    public Tensor Conv2d(Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1)
        => throw new NotImplementedException("Conv2d lands with issue 3");

    /// <summary>
    /// 2-D transposed convolution (PyTorch semantics). this: (N, Cin, H, W); weight: (Cin, Cout, kH, kW);
    /// bias: (Cout) or null. Output Ho = (H − 1)s − 2p + d(kH − 1) + outputPadding + 1.
    /// </summary>
    public Tensor ConvTranspose2d(Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int outputPadding = 0, int dilation = 1)
        => throw new NotImplementedException("ConvTranspose2d lands with issue 3");
}
