// Reference fixtures from PyTorch's own float32 kernels (through TorchSharp) for the convolution and
// normalisation op families: inputs, parameters, outputs, first-order gradients of <y, u> and
// second-order gradients of <d<y,u>/dx, v> (create_graph), one safetensors file per case under
// tests/fixtures/torch/. Read by tests/Ops/TorchFixtureTests.cs, which has no TorchSharp reference.
//
// Not in GpuGan.sln and not built by CI (TorchSharp + libtorch is a ~300 MB download). Regenerate:
//   dotnet run -c Release --project tests/TorchFixtures [-- OUTPUT_DIR]
// The later fixtures (single ops with second order w.r.t. x and u, randomized conv_transpose2d, the WGAN-GP
// penalty on the shipped critics) come from torch_fixtures.py next to this file, which runs on Debian's
// python3-torch without a download; they live in tests/fixtures/pytorch.
//
// Tensor names: x input, w weight (gamma for norms), b bias (beta), u upstream gradient of y,
// v upstream gradient of dx; y output; dx dw db = grad of <y,u>; ddx ddw = grad of <dx, v> w.r.t.
// x and w (written as zeros where PyTorch's graph does not depend on that input, e.g. conv's ddx).
// Batch norm adds running_mean/running_var (before) and running_mean_out/running_var_out (after).
// Metadata strings give op parameters.
using GpuGan.Layers.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

string outDir = args.Length > 0 ? args[0] : Path.Combine(FindRepoRoot(), "tests", "fixtures", "torch");
Directory.CreateDirectory(outDir);
set_num_threads(1);

long total = 0;
void Emit(string name, Func<Case> build)
{
    Case c = build();
    string path = Path.Combine(outDir, name + ".safetensors");
    var meta = new Dictionary<string, string>(c.Meta)
    {
        ["case"] = name,
        ["generator"] = "tests/TorchFixtures (TorchSharp " + typeof(torch).Assembly.GetName().Version + ", libtorch float32 CPU kernels)",
    };
    SafeTensors.Write(path, c.Tensors.Select(kv => SafeTensorEntry.FromFloat32(kv.Key, kv.Value.Shape, kv.Value.Data)), meta);
    long size = new FileInfo(path).Length;
    total += size;
    Console.WriteLine($"{name,-32} {size,8} bytes  {string.Join(" ", c.Tensors.Select(kv => kv.Key + "[" + string.Join(",", kv.Value.Shape) + "]"))}");
}

Emit("conv2d_k4s2p1", () => Conv(seed: 101, x: [2, 3, 8, 8], w: [4, 3, 4, 4], bias: false, stride: 2, pad: 1, dil: 1));
Emit("conv2d_k3s1p1_bias", () => Conv(seed: 102, x: [2, 3, 7, 7], w: [5, 3, 3, 3], bias: true, stride: 1, pad: 1, dil: 1));
Emit("conv2d_k3s1p2_dilation2_bias", () => Conv(seed: 103, x: [2, 3, 9, 9], w: [4, 3, 3, 3], bias: true, stride: 1, pad: 2, dil: 2));
Emit("conv_transpose2d_k4s2p1", () => ConvT(seed: 201, x: [2, 4, 4, 4], w: [4, 3, 4, 4], bias: false, stride: 2, pad: 1, outPad: 0, dil: 1));
Emit("conv_transpose2d_k3s2p1_outpad1_bias", () => ConvT(seed: 202, x: [2, 4, 4, 5], w: [4, 3, 3, 3], bias: true, stride: 2, pad: 1, outPad: 1, dil: 1));
Emit("batch_norm2d_train", () => BatchNorm(seed: 301, x: [4, 3, 5, 5], training: true));
Emit("batch_norm2d_eval", () => BatchNorm(seed: 302, x: [4, 3, 5, 5], training: false));
Emit("layer_norm_chw", () => LayerNorm(seed: 401, x: [3, 4, 5, 5]));
Console.WriteLine($"total {total} bytes in {outDir}");
return 0;

static Case Conv(int seed, long[] x, long[] w, bool bias, int stride, int pad, int dil)
{
    manual_seed(seed);
    var xt = randn(x).requires_grad_();
    var wt = (randn(w) * 0.3).detach().requires_grad_();
    var bt = bias ? randn(w[0]).requires_grad_() : null;
    var y = F.conv2d(xt, wt, bt, strides: [stride, stride], padding: [pad, pad], dilation: [dil, dil]);
    var meta = new Dictionary<string, string>
    {
        ["op"] = "conv2d", ["stride"] = $"{stride}", ["padding"] = $"{pad}", ["dilation"] = $"{dil}",
        ["bias"] = bias ? "true" : "false",
    };
    return Differentiate(meta, y, xt, wt, bt);
}

static Case ConvT(int seed, long[] x, long[] w, bool bias, int stride, int pad, int outPad, int dil)
{
    manual_seed(seed);
    var xt = randn(x).requires_grad_();
    var wt = (randn(w) * 0.3).detach().requires_grad_();
    var bt = bias ? randn(w[1]).requires_grad_() : null;
    var y = F.conv_transpose2d(xt, wt, bt, strides: [stride, stride], padding: [pad, pad],
        output_padding: [outPad, outPad], dilation: [dil, dil]);
    var meta = new Dictionary<string, string>
    {
        ["op"] = "conv_transpose2d", ["stride"] = $"{stride}", ["padding"] = $"{pad}",
        ["output_padding"] = $"{outPad}", ["dilation"] = $"{dil}", ["bias"] = bias ? "true" : "false",
    };
    return Differentiate(meta, y, xt, wt, bt);
}

static Case BatchNorm(int seed, long[] x, bool training)
{
    const double momentum = 0.1, eps = 1e-5;
    manual_seed(seed);
    long c = x[1];
    // Non-zero mean and non-unit scale so normalisation is not a near no-op.
    var xt = (randn(x) * 1.7 + 0.6).detach().requires_grad_();
    var wt = (rand(c) + 0.5).detach().requires_grad_();
    var bt = randn(c).requires_grad_();
    var runningMean = randn(c) * 0.2;
    var runningVar = rand(c) + 0.5;
    var rmBefore = runningMean.clone();
    var rvBefore = runningVar.clone();
    var y = F.batch_norm(xt, runningMean, runningVar, wt, bt, training, momentum, eps);
    var meta = new Dictionary<string, string>
    {
        ["op"] = "batch_norm2d", ["training"] = training ? "true" : "false",
        ["momentum"] = "0.1", ["eps"] = "1e-05",
    };
    Case result = Differentiate(meta, y, xt, wt, bt);
    result.Add("running_mean", rmBefore);
    result.Add("running_var", rvBefore);
    result.Add("running_mean_out", runningMean);
    result.Add("running_var_out", runningVar);
    return result;
}

static Case LayerNorm(int seed, long[] x)
{
    const double eps = 1e-5;
    manual_seed(seed);
    long[] normalized = x[1..];
    var xt = (randn(x) * 1.3 - 0.4).detach().requires_grad_();
    var wt = (rand(normalized) + 0.5).detach().requires_grad_();
    var bt = randn(normalized).requires_grad_();
    var y = F.layer_norm(xt, normalized, wt, bt, eps);
    var meta = new Dictionary<string, string>
    {
        ["op"] = "layer_norm", ["normalized_shape"] = string.Join(",", normalized), ["eps"] = "1e-05",
    };
    return Differentiate(meta, y, xt, wt, bt);
}

// First order: grads of <y, u> w.r.t. x, w, b. Second order: grads of <dx, v> w.r.t. x and w.
static Case Differentiate(Dictionary<string, string> meta, Tensor y, Tensor x, Tensor w, Tensor? b)
{
    var u = randn(y.shape);
    var v = randn(x.shape);
    var inputs = b is null ? new[] { x, w } : new[] { x, w, b };
    var first = autograd.grad([y], inputs, [u], retain_graph: true, create_graph: true);
    var second = autograd.grad([(first[0] * v).sum()], [x, w], retain_graph: false, create_graph: false, allow_unused: true);

    var c = new Case(meta);
    c.Add("x", x); c.Add("w", w);
    if (b is not null) c.Add("b", b);
    c.Add("u", u); c.Add("v", v); c.Add("y", y);
    c.Add("dx", first[0]); c.Add("dw", first[1]);
    if (b is not null) c.Add("db", first[2]);
    c.Add("ddx", second[0] is { IsInvalid: false } ddx ? ddx : zeros_like(x));
    c.Add("ddw", second[1] is { IsInvalid: false } ddw ? ddw : zeros_like(w));
    meta["first_order"] = "dx, dw, db = grad(<y, u>, (x, w, b))";
    meta["second_order"] = "ddx, ddw = grad(<dx, v>, (x, w)), dx from create_graph=True; zeros where unused";
    return c;
}

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "GpuGan.sln")))
            return dir.FullName;
    throw new DirectoryNotFoundException("GpuGan.sln not found above " + AppContext.BaseDirectory + "; pass the output folder as the first argument");
}

sealed class Case(Dictionary<string, string> meta)
{
    public Dictionary<string, string> Meta { get; } = meta;
    public List<KeyValuePair<string, (int[] Shape, float[] Data)>> Tensors { get; } = [];

    public void Add(string name, Tensor t)
    {
        var c = t.detach().contiguous().to_type(ScalarType.Float32);
        Tensors.Add(new(name, (c.shape.Select(d => checked((int)d)).ToArray(), c.data<float>().ToArray())));
    }
}
