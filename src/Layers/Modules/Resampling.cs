// Padding and upsampling layers over the Tensor ops of the padding and upsampling families
// (src/Tensors/Ops/Padding, src/Tensors/Ops/Upsample). No parameters, so no state-dict entries,
// as in PyTorch (they still take an index in a Sequential, keeping the numbering of the others).
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>Pads (N, C, H, W) by mirroring without repeating the edge, PyTorch's nn.ReflectionPad2d.</summary>
public sealed class ReflectionPad2d(int left, int right, int top, int bottom) : Module
{
    /// <summary>The same padding on all four sides.</summary>
    public ReflectionPad2d(int padding) : this(padding, padding, padding, padding) { }

    /// <summary>(left, right, top, bottom).</summary>
    public (int Left, int Right, int Top, int Bottom) Padding { get; } = (left, right, top, bottom);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Pad2d(Padding.Left, Padding.Right, Padding.Top, Padding.Bottom, PadMode.Reflect);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"({Padding.Left}, {Padding.Right}, {Padding.Top}, {Padding.Bottom})";
}

/// <summary>Pads (N, C, H, W) by repeating the edge pixels, PyTorch's nn.ReplicationPad2d.</summary>
public sealed class ReplicationPad2d(int left, int right, int top, int bottom) : Module
{
    /// <summary>The same padding on all four sides.</summary>
    public ReplicationPad2d(int padding) : this(padding, padding, padding, padding) { }

    /// <summary>(left, right, top, bottom).</summary>
    public (int Left, int Right, int Top, int Bottom) Padding { get; } = (left, right, top, bottom);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Pad2d(Padding.Left, Padding.Right, Padding.Top, Padding.Bottom, PadMode.Replicate);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"({Padding.Left}, {Padding.Right}, {Padding.Top}, {Padding.Bottom})";
}

/// <summary>Pads (N, C, H, W) with zeros, PyTorch's nn.ZeroPad2d.</summary>
public sealed class ZeroPad2d(int left, int right, int top, int bottom) : Module
{
    /// <summary>The same padding on all four sides.</summary>
    public ZeroPad2d(int padding) : this(padding, padding, padding, padding) { }

    /// <summary>(left, right, top, bottom).</summary>
    public (int Left, int Right, int Top, int Bottom) Padding { get; } = (left, right, top, bottom);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Pad2d(Padding.Left, Padding.Right, Padding.Top, Padding.Bottom, PadMode.Zero);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"({Padding.Left}, {Padding.Right}, {Padding.Top}, {Padding.Bottom})";
}

/// <summary>Nearest-neighbour upsampling by integer factors, PyTorch's nn.Upsample(scale_factor, mode="nearest").</summary>
public sealed class UpsampleNearest(int scaleH, int scaleW) : Module
{
    /// <summary>The same factor on both axes.</summary>
    public UpsampleNearest(int scale) : this(scale, scale) { }

    /// <summary>(height, width) factors.</summary>
    public (int H, int W) Scale { get; } = scaleH >= 1 && scaleW >= 1 ? (scaleH, scaleW)
        : throw new ArgumentOutOfRangeException(nameof(scaleH), $"UpsampleNearest: factors {scaleH}x{scaleW} must be at least 1");

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.UpsampleNearest2d(Scale.H, Scale.W);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"scale_factor=({Scale.H}, {Scale.W}), mode='nearest'";
}
