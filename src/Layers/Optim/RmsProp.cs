// RMSprop, PyTorch's torch.optim.RMSprop semantics (defaults lr 0.01, α 0.99, ε 1e-8, not centered):
// the optimiser keeps square_avg (and grad_avg when centered, momentum_buffer with a momentum) and
// calls the fused update op OptimizerUpdates.RmsPropStep (src/Tensors/Ops/Optim/OptimizerUpdates.cs:
// the math, its float64 reference and both kernel sets).
using GpuGan.Tensors;

namespace GpuGan.Layers.Optim;

/// <summary>RMSprop with PyTorch's semantics and defaults.</summary>
public sealed class RmsProp : Optimizer
{
    /// <summary>RMSprop over the parameters of <paramref name="module"/> (PyTorch's torch.optim.RMSprop).</summary>
    public RmsProp(Module module, float lr = 1e-2f, double alpha = 0.99, float eps = 1e-8f, float weightDecay = 0f, float momentum = 0f, bool centered = false)
        : this(module.NamedParameters(), lr, alpha, eps, weightDecay, momentum, centered) { }

    /// <summary>RMSprop over <paramref name="parameters"/>.</summary>
    public RmsProp(IEnumerable<Tensor> parameters, float lr = 1e-2f, double alpha = 0.99, float eps = 1e-8f, float weightDecay = 0f, float momentum = 0f, bool centered = false)
        : this(Number(parameters), lr, alpha, eps, weightDecay, momentum, centered) { }

    /// <summary>RMSprop over named <paramref name="parameters"/> (the names key the state in checkpoints).</summary>
    public RmsProp(IEnumerable<(string Name, Tensor Parameter)> parameters, float lr = 1e-2f, double alpha = 0.99, float eps = 1e-8f, float weightDecay = 0f, float momentum = 0f, bool centered = false)
        : base(parameters, lr)
    {
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "RMSprop: alpha must be in [0, 1]");
        if (!(eps >= 0) || !(weightDecay >= 0) || !(momentum >= 0))
            throw new ArgumentOutOfRangeException(nameof(eps), $"RMSprop: eps {eps}, weight decay {weightDecay} and momentum {momentum} must be ≥ 0");
        (Alpha, Eps, WeightDecay, Momentum, Centered) = (alpha, eps, weightDecay, momentum, centered);
        var keys = new List<string> { "square_avg" };
        if (momentum > 0) keys.Add("momentum_buffer");
        if (centered) keys.Add("grad_avg");
        _keys = keys;
    }

    private readonly IReadOnlyList<string> _keys;

    /// <summary>Double as PyTorch's Python float, so 1 − α is exact before the cast.</summary>
    public double Alpha { get; }
    /// <summary>ε added outside the square root.</summary>
    public float Eps { get; }
    /// <summary>L2 weight decay λ.</summary>
    public float WeightDecay { get; }
    /// <summary>Momentum μ (0: none).</summary>
    public float Momentum { get; }
    /// <summary>True: divide by the centred second moment (s − a²).</summary>
    public bool Centered { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> StateKeys => _keys;

    /// <inheritdoc/>
    protected override IEnumerable<(string Name, double Value)> Hyperparameters()
        => [("alpha", Alpha), ("eps", Eps), ("weight_decay", WeightDecay), ("momentum", Momentum), ("centered", Centered ? 1 : 0)];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step)
        => OptimizerUpdates.RmsPropStep(parameter, grad, state["square_avg"], Centered ? state["grad_avg"] : null, Momentum > 0 ? state["momentum_buffer"] : null, CurrentHyperparameters);

    /// <summary>All parameters in one multi-tensor update (one launch per 8 tensors on a GPU; the same bits as one update each).</summary>
    protected override void UpdateAll(IReadOnlyList<ParameterUpdate> updates)
        => OptimizerUpdates.RmsPropStep(updates.Select(u => new RmsPropTensors(u.Parameter, u.Grad, u.State["square_avg"],
            Centered ? u.State["grad_avg"] : null, Momentum > 0 ? u.State["momentum_buffer"] : null)).ToArray(), CurrentHyperparameters);

    /// <summary>The hyperparameters as the update op takes them (the learning rate may change between steps).</summary>
    public RmsPropHyperparameters CurrentHyperparameters => new(LearningRate, Alpha, Eps, WeightDecay, Momentum);
}
