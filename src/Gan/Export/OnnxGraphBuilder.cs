// Builds an ONNX graph from GpuGan modules: one method per layer type, each appending ONNX nodes
// that compute exactly what the layer's Forward computes in evaluation mode (opset 17):
//   Linear          → Gemm(x, W, b, transB = 1)                 W (out, in), as PyTorch and ONNX store it
//   Conv2d          → Conv(x, W, b; strides, pads, dilations)    W (Cout, Cin, k, k)
//   ConvTranspose2d → ConvTranspose(…; output_padding)          W (Cin, Cout, k, k): the same layout in both
//   BatchNorm2d     → BatchNormalization(x, γ, β, μ_running, σ²_running; epsilon), inference mode:
//                     y = (x − μ) / √(σ² + ε) · γ + β, the formula of our eval forward. It is kept as its
//                     own node rather than folded into the preceding convolution: folding scales the
//                     weights before the sum and so changes the rounding, and ONNX Runtime fuses the pair
//                     itself when it loads the graph.
//   InstanceNorm2d  → InstanceNormalization (scale 1, bias 0 without affine parameters: both inputs are required)
//   LayerNorm       → LayerNormalization over the non-batch axes (axis 1)
//   ReLU, Tanh, Sigmoid, LeakyReLU(α) → themselves; Dropout (eval: the identity) → nothing
//   ReflectionPad2d / ReplicationPad2d / ZeroPad2d → Pad (reflect / edge / constant 0); pads as [0, 0, top, left, 0, 0, bottom, right]
//   UpsampleNearest → Resize(nearest, asymmetric coordinates, floor): out[i] = in[⌊i / s⌋]
//   Flatten → Flatten(axis 1); Reshape(dims) → Reshape to [−1, dims…] (−1 keeps any batch size)
//   Sequential → its children in order; UnetSkipConnectionBlock → Concat(x, model(x), axis 1) (the outermost: model(x));
//   ResnetBlock → Add(x, conv_block(x))
// A module of any other type is refused by name, never skipped. Initializers keep the state-dict
// names ("main.0.weight"), so the graph's weights read like the safetensors file's.
using System.Runtime.InteropServices;
using Google.Protobuf;
using GpuGan.Gan.Export.Onnx;
using GpuGan.Gan.Models;
using GpuGan.Layers;
using GpuGan.Tensors;

namespace GpuGan.Gan.Export;

/// <summary>Accumulates the nodes, initializers and inputs of one ONNX graph.</summary>
internal sealed class OnnxGraphBuilder
{
    private readonly GraphProto _graph = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    public OnnxGraphBuilder(string name) => _graph.Name = name;

    public GraphProto Graph => _graph;

    // ------------------------------------------------------------ graph inputs, outputs, constants

    /// <summary>A graph input of <paramref name="elementType"/> and shape <paramref name="dims"/> (null entries: the symbolic batch size "N").</summary>
    public string AddInput(string name, TensorProto.Types.DataType elementType, params long?[] dims)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, elementType, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> a graph output named <paramref name="name"/> (an Identity node renames it).</summary>
    public void AddOutput(string value, string name, params long?[] dims)
    {
        Claim(name);
        Node("Identity", [value], name, name);
        _graph.Output.Add(ValueInfo(name, TensorProto.Types.DataType.Float, dims));
    }

    /// <summary>A float initializer holding <paramref name="tensor"/>'s values.</summary>
    public string Initializer(string name, Tensor tensor) => Initializer(name, tensor.ToArray(), tensor.Shape.ToArray().Select(d => (long)d).ToArray());

    /// <summary>A float initializer of <paramref name="dims"/>.</summary>
    public string Initializer(string name, float[] values, long[] dims) => AddFloats(Claim(name), values, dims);

    /// <summary>A float constant of the exporter's own (no state-dict entry), named <paramref name="name"/> or a numbered variant.</summary>
    public string Constant(string name, float[] values, long[] dims) => AddFloats(Unique(name), values, dims);

    private string AddFloats(string name, float[] values, long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian");
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A 1-D int64 initializer (shapes, pads).</summary>
    public string Int64Initializer(string name, params long[] values)
    {
        name = Unique(name);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Appends a node; returns its (single) output's name.</summary>
    public string Node(string opType, IEnumerable<string> inputs, string name, string? output = null, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Unique(name + "/" + opType) };
        node.Input.AddRange(inputs);
        output ??= Unique(name + "/" + opType + ":0");
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return output;
    }

    // ------------------------------------------------------------ modules

    /// <summary>Appends the nodes of <paramref name="module"/> (state-dict prefix <paramref name="prefix"/>) applied to <paramref name="x"/>.</summary>
    public string Module(Module module, string prefix, string x)
    {
        string P(string member) => prefix.Length == 0 ? member : prefix + "." + member;
        string name = prefix.Length == 0 ? module.GetType().Name : prefix;
        switch (module)
        {
            case Sequential s:
                foreach (var (child, m) in s.NamedChildren()) x = Module(m, P(child), x);
                return x;
            case Linear l:
                return Node("Gemm", l.Bias is { } lb ? [x, Initializer(P("weight"), l.Weight), Initializer(P("bias"), lb)] : [x, Initializer(P("weight"), l.Weight)],
                    name, null, Int("transB", 1));
            case Conv2d c:
                return Node("Conv", WithBias(x, P, c.Weight, c.Bias), name, null,
                    Ints("kernel_shape", c.KernelSize, c.KernelSize), Ints("strides", c.Stride, c.Stride),
                    Ints("pads", c.Padding, c.Padding, c.Padding, c.Padding), Ints("dilations", c.Dilation, c.Dilation));
            case ConvTranspose2d t:
                return Node("ConvTranspose", WithBias(x, P, t.Weight, t.Bias), name, null,
                    Ints("kernel_shape", t.KernelSize, t.KernelSize), Ints("strides", t.Stride, t.Stride),
                    Ints("pads", t.Padding, t.Padding, t.Padding, t.Padding), Ints("dilations", t.Dilation, t.Dilation),
                    Ints("output_padding", t.OutputPadding, t.OutputPadding));
            case BatchNorm2d bn:
                if (bn.IsTraining || bn.RunningMean is null || bn.RunningVar is null)
                    throw new NotSupportedException($"{name}: batch norm is exported in evaluation mode with running statistics (call Eval(); a layer without running statistics normalises with batch statistics)");
                return Node("BatchNormalization",
                    [x, Affine(P("weight"), bn.Weight, 1f, bn.NumFeatures), Affine(P("bias"), bn.Bias, 0f, bn.NumFeatures),
                     Initializer(P("running_mean"), bn.RunningMean), Initializer(P("running_var"), bn.RunningVar)],
                    name, null, Float("epsilon", bn.Eps));
            case InstanceNorm2d inorm:
                return Node("InstanceNormalization",
                    [x, Affine(P("weight"), inorm.Weight, 1f, inorm.NumFeatures), Affine(P("bias"), inorm.Bias, 0f, inorm.NumFeatures)],
                    name, null, Float("epsilon", inorm.Eps));
            case LayerNorm ln:
            {
                int n = ln.NormalizedShape.Aggregate(1, (a, d) => a * d);
                long[] dims = ln.NormalizedShape.Select(d => (long)d).ToArray();
                string w = ln.Weight is { } lw ? Initializer(P("weight"), lw) : Constant(P("weight"), Filled(n, 1f), dims);
                string b = ln.Bias is { } lbias ? Initializer(P("bias"), lbias) : Constant(P("bias"), Filled(n, 0f), dims);
                return Node("LayerNormalization", [x, w, b], name, null, Int("axis", 1), Float("epsilon", ln.Eps));
            }
            case ReLU: return Node("Relu", [x], name);
            case Tanh: return Node("Tanh", [x], name);
            case Sigmoid: return Node("Sigmoid", [x], name);
            case LeakyReLU lr: return Node("LeakyRelu", [x], name, null, Float("alpha", lr.NegativeSlope));
            case Dropout:
                if (module.IsTraining) throw new NotSupportedException($"{name}: dropout is exported in evaluation mode (the identity); call Eval()");
                return x;
            case ReflectionPad2d rp: return Pad(x, name, "reflect", rp.Padding);
            case ReplicationPad2d ep: return Pad(x, name, "edge", ep.Padding);
            case ZeroPad2d zp: return Pad(x, name, "constant", zp.Padding);
            case UpsampleNearest up:
            {
                string scales = Constant(name + "/scales", [1f, 1f, up.Scale.H, up.Scale.W], [4]);
                return Node("Resize", [x, "", scales], name, null,
                    Str("mode", "nearest"), Str("coordinate_transformation_mode", "asymmetric"), Str("nearest_mode", "floor"));
            }
            case Flatten: return Node("Flatten", [x], name, null, Int("axis", 1));
            case GpuGan.Layers.Reshape r: return Node("Reshape", [x, Int64Initializer(name + "/shape", [-1, .. r.Dims.Select(d => (long)d)])], name);
            case UnetSkipConnectionBlock u:
            {
                string y = Module(u.Model, P("model"), x);
                return u.Outermost ? y : Node("Concat", [x, y], name, null, Int("axis", 1));
            }
            case ResnetBlock rb:
                return Node("Add", [x, Module(rb.ConvBlock, P("conv_block"), x)], name);
            case UnetGenerator ug:
                return Module(ug.Model, P("model"), x);
            case ResnetGenerator rg:
                return Module(rg.Model, P("model"), x);
            default:
                throw new NotSupportedException($"{name}: ONNX export does not know the layer type {module.GetType().Name}");
        }
    }

    private string[] WithBias(string x, Func<string, string> p, Tensor weight, Tensor? bias) =>
        bias is null ? [x, Initializer(p("weight"), weight)] : [x, Initializer(p("weight"), weight), Initializer(p("bias"), bias)];

    /// <summary>The affine parameter, or a constant of <paramref name="fill"/> where the layer has none (ONNX requires the input).</summary>
    private string Affine(string name, Tensor? value, float fill, int features) =>
        value is not null ? Initializer(name, value) : Constant(name + (fill == 1f ? "/ones" : "/zeros"), Filled(features, fill), [features]);

    private string Pad(string x, string name, string mode, (int Left, int Right, int Top, int Bottom) p)
    {
        string pads = Int64Initializer(name + "/pads", 0, 0, p.Top, p.Left, 0, 0, p.Bottom, p.Right);
        return Node("Pad", [x, pads], name, null, Str("mode", mode));
    }

    // ------------------------------------------------------------ helpers

    private static float[] Filled(int n, float v)
    {
        var a = new float[n];
        Array.Fill(a, v);
        return a;
    }

    private string Claim(string name) =>
        _names.Add(name) ? name : throw new InvalidOperationException($"ONNX graph: the name '{name}' is used twice");

    private string Unique(string name)
    {
        string candidate = name;
        while (!_names.Add(candidate)) candidate = $"{name}_{++_counter}";
        return candidate;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType elementType, long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is { } v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elementType, Shape = shape } },
        };
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Str(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}
