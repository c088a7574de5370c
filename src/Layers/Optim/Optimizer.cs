// Optimiser base: a named parameter list, per-parameter state tensors created on first use on
// the parameter's device, a per-parameter step counter (PyTorch keeps "step" per parameter too),
// and save/restore of that state as named tensors "<param>.<state>" plus counters "<param>.step".
// Each subclass runs ONE fused update op per parameter per step: OptimizerUpdates.AdamStep,
// SgdStep, RmsPropStep (src/Tensors/Ops/Optim/OptimizerUpdates.cs: reference, ILGPU kernel, SIMD
// kernel and launcher in one file); Adam runs its multi-tensor form over all parameters at once
// (UpdateAll: one launch per 8 tensors on a GPU).
using GpuGan.Tensors;

namespace GpuGan.Layers.Optim;

/// <summary>An optimiser's saved state: named tensors and named integer counters.</summary>
public sealed class OptimizerState
{
    /// <summary>"&lt;param&gt;.&lt;state&gt;" → tensor, e.g. "main.0.weight.exp_avg".</summary>
    public OrderedDictionary<string, Tensor> Tensors { get; } = new();

    /// <summary>"&lt;param&gt;.step" → completed steps of that parameter.</summary>
    public OrderedDictionary<string, long> Counters { get; } = new();

    /// <summary>Hyperparameters at save time ("lr", "beta1", …); informational except "lr", which load restores.</summary>
    public OrderedDictionary<string, double> Hyperparameters { get; } = new();
}

/// <summary>One parameter's update in a step: the parameter, its gradient, its state tensors and its new step count (1 on the first step).</summary>
/// <param name="Parameter">The parameter, updated in place.</param>
/// <param name="Grad">Its gradient.</param>
/// <param name="State">Its state tensors by key ("exp_avg", …), updated in place.</param>
/// <param name="Step">Its step count including this step.</param>
public readonly record struct ParameterUpdate(Tensor Parameter, Tensor Grad, IReadOnlyDictionary<string, Tensor> State, long Step);

/// <summary>Base of the optimisers: <see cref="Step"/>, <see cref="ZeroGrad"/>, state save and restore.</summary>
public abstract class Optimizer
{
    private readonly (string Name, Tensor Parameter)[] _params;
    private readonly Dictionary<string, Tensor>[] _state;
    private readonly long[] _steps;

    /// <summary>An optimiser over named <paramref name="parameters"/> with <paramref name="learningRate"/>.</summary>
    protected Optimizer(IEnumerable<(string Name, Tensor Parameter)> parameters, float learningRate)
    {
        _params = parameters.ToArray();
        if (_params.Length == 0) throw new ArgumentException($"{GetType().Name}: empty parameter list");
        var seen = new HashSet<string>();
        foreach (var (name, p) in _params)
        {
            if (!seen.Add(name)) throw new ArgumentException($"{GetType().Name}: parameter name '{name}' appears twice");
            if (!p.IsLeaf || !p.RequiresGrad)
                throw new ArgumentException($"{GetType().Name}: '{name}' {p.Shape} is not a leaf that requires gradients");
        }
        if (!(learningRate >= 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learning rate must be ≥ 0");
        LearningRate = learningRate;
        _state = _params.Select(_ => new Dictionary<string, Tensor>()).ToArray();
        _steps = new long[_params.Length];
    }

    /// <summary>Names "0", "1", … for a plain list of tensors (PyTorch's numbering).</summary>
    protected static IEnumerable<(string, Tensor)> Number(IEnumerable<Tensor> parameters) => parameters.Select((p, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), p));

    /// <summary>The learning rate (may be changed between steps).</summary>
    public float LearningRate { get; set; }

    /// <summary>The parameters, with their names.</summary>
    public IReadOnlyList<(string Name, Tensor Parameter)> Parameters => _params;

    /// <summary>PyTorch's state keys this configuration keeps per parameter ("exp_avg", "exp_avg_sq").</summary>
    protected abstract IReadOnlyList<string> StateKeys { get; }

    /// <summary>The hyperparameters, saved with the state.</summary>
    protected abstract IEnumerable<(string Name, double Value)> Hyperparameters();

    /// <summary>Applies one fused update to one parameter; <paramref name="step"/> is its new step count (1 on the first step).</summary>
    protected abstract void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step);

    /// <summary>
    /// Applies the updates of one step, all parameters at once; by default one <see cref="Update"/> each. An optimiser
    /// with a multi-tensor update op overrides it to launch once for all parameters (Adam).
    /// </summary>
    protected virtual void UpdateAll(IReadOnlyList<ParameterUpdate> updates)
    {
        foreach (var u in updates) Update(u.Parameter, u.Grad, u.State, u.Step);
    }

    /// <summary>Updates every parameter that has a gradient (parameters without one are skipped, as PyTorch does).</summary>
    /// <remarks>Every parameter is checked before any is updated.</remarks>
    public void Step()
    {
        using var noGrad = Autograd.NoGrad();
        var updates = new List<ParameterUpdate>(_params.Length);
        var updated = new List<int>(_params.Length);
        for (int i = 0; i < _params.Length; i++)
        {
            var (name, p) = _params[i];
            if (p.IsDisposed)
                throw new ObjectDisposedException(name, $"{GetType().Name}: parameter '{name}' was disposed (was the module moved with To(device) after the optimiser was created? create optimisers after moving)");
            if (p.Grad is not { IsDisposed: false } g) continue;
            if (g.Shape != p.Shape || g.Device != p.Device)
                throw new InvalidOperationException($"{GetType().Name}: gradient of '{name}' is {g.Shape} on {g.Device.Kind}, parameter is {p.Shape} on {p.Device.Kind}");
            var st = _state[i];
            foreach (var key in StateKeys)
            {
                if (!st.TryGetValue(key, out var s)) st[key] = s = Tensor.Zeros(p.Shape, p.Device).KeepAlive();
                else if (s.Device != p.Device)
                    throw new DeviceMismatchException($"{GetType().Name}: state '{name}.{key}' is on {s.Device.Kind}, parameter on {p.Device.Kind}");
            }
            updates.Add(new ParameterUpdate(p, g, st, _steps[i] + 1));
            updated.Add(i);
        }
        foreach (int i in updated) _steps[i]++;
        UpdateAll(updates);
    }

    /// <summary>Drops every parameter's gradient (PyTorch's set_to_none=True); the memory returns to the pool.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in _params)
        {
            p.Grad?.Dispose();
            p.Grad = null;
        }
    }

    /// <summary>Completed steps of parameter <paramref name="index"/>.</summary>
    public long StepCount(int index = 0) => _steps[index];

    /// <summary>A copy of the state: tensors on the host, counters, hyperparameters.</summary>
    public OptimizerState StateDict()
    {
        var result = new OptimizerState();
        for (int i = 0; i < _params.Length; i++)
        {
            if (_steps[i] == 0) continue;
            var name = _params[i].Name;
            foreach (var key in StateKeys)
                result.Tensors.Add($"{name}.{key}", Tensor.FromArray(_state[i][key].ToArray(), _params[i].Parameter.Shape).KeepAlive());
            result.Counters.Add($"{name}.step", _steps[i]);
        }
        result.Hyperparameters.Add("lr", LearningRate);
        foreach (var (k, v) in Hyperparameters()) if (k != "lr") result.Hyperparameters.Add(k, v);
        return result;
    }

    /// <summary>
    /// Restores state saved by <see cref="StateDict"/> (from any device). Every key must belong to a
    /// parameter of this optimiser with this configuration, shapes must match, and a parameter with a
    /// step count must have all its state tensors. The learning rate is restored when saved.
    /// </summary>
    /// <exception cref="StateDictException">Names the key and the problem.</exception>
    public void LoadStateDict(OptimizerState state, string source = "optimizer state") => LoadStateDict(state, source, apply: true);

    /// <summary>Validates (and with <paramref name="apply"/> restores) a state; checkpoints validate everything before applying anything.</summary>
    internal void LoadStateDict(OptimizerState state, string source, bool apply)
    {
        var used = new HashSet<string>();
        var errors = new List<string>();
        var pending = new List<(int Index, long Step, Dictionary<string, Tensor> Values)>();
        for (int i = 0; i < _params.Length; i++)
        {
            var (name, p) = _params[i];
            bool hasStep = state.Counters.TryGetValue($"{name}.step", out long step);
            if (hasStep) used.Add($"{name}.step");
            var values = new Dictionary<string, Tensor>();
            foreach (var key in StateKeys)
            {
                var full = $"{name}.{key}";
                if (!state.Tensors.TryGetValue(full, out var t)) continue;
                used.Add(full);
                if (t.Shape != p.Shape) errors.Add($"size mismatch for '{full}': {source} has shape {t.Shape}, parameter '{name}' has {p.Shape}");
                values[key] = t;
            }
            if (!hasStep && values.Count > 0) errors.Add($"'{name}' has state tensors but no '{name}.step' in {source}");
            if (hasStep)
            {
                if (step <= 0) errors.Add($"'{name}.step' is {step} in {source}; must be positive");
                foreach (var key in StateKeys)
                    if (!values.ContainsKey(key)) errors.Add($"missing key '{name}.{key}' in {source} ({GetType().Name} with this configuration keeps it)");
                pending.Add((i, step, values));
            }
        }
        foreach (var k in state.Tensors.Keys.Concat(state.Counters.Keys))
            if (!used.Contains(k)) errors.Add($"unexpected key '{k}' in {source} (no such parameter or state in this {GetType().Name})");
        if (errors.Count > 0) throw new StateDictException($"cannot load {source} into {GetType().Name}:\n  " + string.Join("\n  ", errors));
        if (!apply) return;

        for (int i = 0; i < _params.Length; i++)
        {
            foreach (var s in _state[i].Values) s.Dispose();
            _state[i].Clear();
            _steps[i] = 0;
        }
        foreach (var (i, step, values) in pending)
        {
            var p = _params[i].Parameter;
            foreach (var (key, t) in values) _state[i][key] = Tensor.FromArray(t.ToArray(), p.Shape, p.Device).KeepAlive();
            _steps[i] = step;
        }
        if (state.Hyperparameters.TryGetValue("lr", out double lr)) LearningRate = (float)lr;
    }

    /// <summary>Hyperparameters as name → value, for logs and checkpoints.</summary>
    public IReadOnlyList<(string Name, double Value)> HyperparameterList() => [("lr", LearningRate), .. Hyperparameters().Where(h => h.Name != "lr")];
}
