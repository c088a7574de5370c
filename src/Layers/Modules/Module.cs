// Module: a tree of named parameters, buffers and child modules, with PyTorch's naming so a
// state dictionary written here loads into torch.nn modules of the same structure and back.
//
// Names: a module's own parameters, then its own buffers, then each child's entries prefixed
// with "<child>." — the order of torch.nn.Module.state_dict(). Parameters and buffers are plain
// Tensors (Tensor is sealed, so there is no Parameter subclass): a parameter is a leaf with
// RequiresGrad, taken out of every TensorScope (KeepAlive) because it lives as long as the module.
using GpuGan.Tensors;

namespace GpuGan.Layers;

/// <summary>Creates parameter tensors: leaves with <see cref="Tensor.RequiresGrad"/>, outside any scope.</summary>
public static class Parameter
{
    /// <summary>Makes <paramref name="data"/> a parameter in place: kept alive, a leaf, requiring gradients.</summary>
    public static Tensor From(Tensor data, string? name = null)
    {
        if (!data.IsLeaf)
            throw new ArgumentException($"Parameter.From: {data} is the output of an op; pass data.Detach() (a parameter must be a leaf)");
        data.KeepAlive();
        data.RequiresGrad = true;
        if (name is not null) data.Name = name;
        return data;
    }

    /// <summary>A zero-filled parameter of the given shape.</summary>
    public static Tensor Zeros(Shape shape, Device? device = null, string? name = null)
        => From(Tensor.Zeros(shape, device), name);
}

/// <summary>Result of <see cref="Module.LoadStateDict(IReadOnlyDictionary{string, Tensor}, bool)"/> with strict: false.</summary>
public sealed record LoadStateDictResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>
/// Base of every layer and model: named parameters, buffers and children; train/eval mode;
/// state dictionaries with PyTorch names; device moves.
/// </summary>
public abstract class Module
{
    private readonly OrderedDictionary<string, Tensor?> _parameters = new();
    private readonly OrderedDictionary<string, Tensor?> _buffers = new();
    private readonly OrderedDictionary<string, Module> _children = new();

    /// <summary>True in training mode (dropout active, batch norm uses and updates batch statistics).</summary>
    public bool IsTraining { get; private set; } = true;

    /// <summary>Runs the module on a batch.</summary>
    public abstract Tensor Forward(Tensor input);

    /// <summary>Same as <see cref="Forward"/>.</summary>
    public Tensor Call(Tensor input) => Forward(input);

    // ------------------------------------------------------------ registration (for subclasses)

    /// <summary>Registers a parameter (made a kept-alive leaf requiring gradients); null registers an absent one (e.g. no bias).</summary>
    protected Tensor? RegisterParameter(string name, Tensor? value)
    {
        CheckName(name);
        if (value is not null) Parameter.From(value);
        _parameters[name] = value;
        return value;
    }

    /// <summary>Registers a persistent buffer (saved in the state dictionary, not trained).</summary>
    protected Tensor? RegisterBuffer(string name, Tensor? value)
    {
        CheckName(name);
        value?.KeepAlive();
        _buffers[name] = value;
        return value;
    }

    /// <summary>Registers a child module under <paramref name="name"/>.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        ArgumentNullException.ThrowIfNull(module);
        _children[name] = module;
        return module;
    }

    /// <summary>The current tensor of a registered parameter (it changes identity on <see cref="To"/>).</summary>
    protected Tensor? GetParameter(string name) => _parameters[name];

    /// <summary>The current tensor of a registered buffer.</summary>
    protected Tensor? GetBuffer(string name) => _buffers[name];

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{GetType().Name}: invalid member name '{name}' (non-empty, no '.')");
        if (_parameters.ContainsKey(name) || _buffers.ContainsKey(name) || _children.ContainsKey(name))
            throw new ArgumentException($"{GetType().Name}: '{name}' is already registered");
    }

    /// <summary>Called after <see cref="LoadStateDict(IReadOnlyDictionary{string, Tensor}, bool)"/> or <see cref="To"/> replaced values, so modules can refresh host-side mirrors.</summary>
    protected virtual void OnStateChanged() { }

    // ------------------------------------------------------------ traversal

    /// <summary>Direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren()
    {
        foreach (var (k, v) in _children) yield return (k, v);
    }

    /// <summary>This module and every descendant, depth first, with dotted names ("" for this one).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
            foreach (var m in child.NamedModules(prefix.Length == 0 ? name : $"{prefix}.{name}"))
                yield return m;
    }

    /// <summary>This module and every descendant, depth first.</summary>
    public IEnumerable<Module> Modules() => NamedModules().Select(m => m.Module);

    /// <summary>Every parameter, with PyTorch names ("main.0.weight").</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedParameters()
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var (k, v) in m._parameters)
                if (v is not null) yield return (Join(prefix, k), v);
    }

    /// <summary>Every parameter tensor.</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Value);

    /// <summary>Every buffer ("main.1.running_mean").</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedBuffers()
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var (k, v) in m._buffers)
                if (v is not null) yield return (Join(prefix, k), v);
    }

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Size);

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : $"{prefix}.{name}";

    /// <summary>The device of the first parameter or buffer (the host device when there is none).</summary>
    public Device Device => Parameters().Concat(NamedBuffers().Select(b => b.Value)).FirstOrDefault()?.Device ?? Device.Cpu;

    // ------------------------------------------------------------ modes

    /// <summary>Sets training mode on this module and all descendants.</summary>
    public Module Train(bool training = true)
    {
        foreach (var m in Modules()) m.IsTraining = training;
        return this;
    }

    /// <summary>Sets evaluation mode on this module and all descendants.</summary>
    public Module Eval() => Train(false);

    /// <summary>Drops the gradient of every parameter (PyTorch's set_to_none=True); the memory returns to the pool.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters())
        {
            p.Grad?.Dispose();
            p.Grad = null;
        }
    }

    // ------------------------------------------------------------ state

    /// <summary>
    /// Parameters then buffers of each module, children after their parent, under PyTorch names. The
    /// tensors are the module's own (not copies): read them, do not dispose them.
    /// </summary>
    public OrderedDictionary<string, Tensor> StateDict()
    {
        var result = new OrderedDictionary<string, Tensor>();
        foreach (var (prefix, m) in NamedModules())
        {
            foreach (var (k, v) in m._parameters) if (v is not null) result.Add(Join(prefix, k), v);
            foreach (var (k, v) in m._buffers) if (v is not null) result.Add(Join(prefix, k), v);
        }
        return result;
    }

    /// <summary>
    /// Copies values into this module's parameters and buffers (they keep their device). Shapes must
    /// match exactly (always checked); with <paramref name="strict"/>, missing and unexpected keys are errors too.
    /// Nothing is copied unless every check passes.
    /// </summary>
    /// <exception cref="StateDictException">Names the offending keys and both shapes.</exception>
    public LoadStateDictResult LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
        => LoadStateDict(state.ToDictionary(kv => kv.Key, kv => (kv.Value.Shape, (Func<float[]>)kv.Value.ToArray)), strict, "state dict");

    /// <summary>Shared by the tensor and file loaders: values as (shape, lazy host data).</summary>
    internal LoadStateDictResult LoadStateDict(IReadOnlyDictionary<string, (Shape Shape, Func<float[]> Data)> state, bool strict, string source, bool apply = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        // Problems in the module's own key order (the first one is the first layer that differs), unexpected keys last.
        var problems = new List<StateDictProblem>();
        foreach (var (key, target) in own)
        {
            if (state.TryGetValue(key, out var src))
            {
                if (src.Shape != target.Shape)
                    problems.Add(new StateDictProblem(StateDictProblemKind.ShapeMismatch, key, target.Shape.Dims.ToArray(), src.Shape.Dims.ToArray(),
                        $"size mismatch for '{key}': {source} has shape {src.Shape}, the module ({GetType().Name}) has {target.Shape}"));
            }
            else if (strict)
            {
                problems.Add(new StateDictProblem(StateDictProblemKind.MissingKey, key, target.Shape.Dims.ToArray(), null,
                    $"missing key '{key}' (the module has it with shape {target.Shape}, {source} does not)"));
            }
        }
        if (strict)
            foreach (var k in unexpected)
                problems.Add(new StateDictProblem(StateDictProblemKind.UnexpectedKey, k, null, state[k].Shape.Dims.ToArray(),
                    $"unexpected key '{k}' with shape {state[k].Shape} in {source} (the module has no such entry)"));
        if (problems.Count > 0)
            throw new StateDictException(null, $"cannot load {source} into {GetType().Name}", problems);
        if (!apply) return new LoadStateDictResult(missing, unexpected);
        foreach (var (key, target) in own)
            if (state.TryGetValue(key, out var src)) target.CopyFrom(src.Data());
        foreach (var m in Modules()) m.OnStateChanged();
        return new LoadStateDictResult(missing, unexpected);
    }

    /// <summary>
    /// Moves every parameter and buffer to <paramref name="device"/> (an explicit copy; gradients are dropped).
    /// Parameter tensors are replaced, so create optimisers after moving.
    /// </summary>
    public Module To(Device device)
    {
        foreach (var m in Modules())
        {
            foreach (var key in m._parameters.Keys.ToList())
                if (m._parameters[key] is { } p && p.Device != device)
                    m._parameters[key] = Move(p, device, parameter: true);
            foreach (var key in m._buffers.Keys.ToList())
                if (m._buffers[key] is { } b && b.Device != device)
                    m._buffers[key] = Move(b, device, parameter: false);
            m.OnStateChanged();
        }
        return this;
    }

    private static Tensor Move(Tensor t, Device device, bool parameter)
    {
        var moved = Tensor.FromArray(t.ToArray(), t.Shape, device).KeepAlive();
        moved.Name = t.Name;
        if (parameter) moved.RequiresGrad = true;
        t.Grad?.Dispose();
        t.Grad = null;
        t.Dispose();
        return moved;
    }

    /// <summary>A one-line description, PyTorch style: "Linear(in_features=4, out_features=2, bias=True)".</summary>
    public override string ToString()
    {
        if (_children.Count == 0) return $"{GetType().Name}({ExtraRepr()})";
        var lines = _children.Select(c => $"  ({c.Key}): " + c.Value.ToString().Replace("\n", "\n  "));
        return $"{GetType().Name}(\n{string.Join("\n", lines)}\n)";
    }

    /// <summary>The arguments shown in <see cref="ToString"/>.</summary>
    protected virtual string ExtraRepr() => "";
}
