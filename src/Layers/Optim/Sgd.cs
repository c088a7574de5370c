// SGD with optional (Nesterov) momentum, PyTorch's torch.optim.SGD semantics: the optimiser keeps
// the momentum buffer and the step count and calls the fused update op OptimizerUpdates.SgdStep
// (src/Tensors/Ops/Optim/OptimizerUpdates.cs: the math, its float64 reference and both kernel sets).
using GpuGan.Tensors;

namespace GpuGan.Layers.Optim;

/// <summary>Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's semantics.</summary>
public sealed class Sgd : Optimizer
{
    private static readonly string[] MomentumKeys = ["momentum_buffer"];

    /// <summary>SGD over the parameters of <paramref name="module"/> (PyTorch's torch.optim.SGD).</summary>
    public Sgd(Module module, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : this(module.NamedParameters(), lr, momentum, dampening, weightDecay, nesterov) { }

    /// <summary>SGD over <paramref name="parameters"/>.</summary>
    public Sgd(IEnumerable<Tensor> parameters, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : this(Number(parameters), lr, momentum, dampening, weightDecay, nesterov) { }

    /// <summary>SGD over named <paramref name="parameters"/> (the names key the state in checkpoints).</summary>
    public Sgd(IEnumerable<(string Name, Tensor Parameter)> parameters, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr)
    {
        if (!(momentum >= 0) || !(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(momentum), $"SGD: momentum {momentum} and weight decay {weightDecay} must be ≥ 0");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("SGD: Nesterov momentum requires a momentum > 0 and zero dampening (as PyTorch)");
        (Momentum, Dampening, WeightDecay, Nesterov) = (momentum, dampening, weightDecay, nesterov);
    }

    /// <summary>Momentum μ (0: none).</summary>
    public float Momentum { get; }
    /// <summary>Dampening τ of the momentum buffer.</summary>
    public float Dampening { get; }
    /// <summary>L2 weight decay λ.</summary>
    public float WeightDecay { get; }
    /// <summary>True: Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> StateKeys => Momentum != 0 ? MomentumKeys : [];

    /// <inheritdoc/>
    protected override IEnumerable<(string Name, double Value)> Hyperparameters()
        => [("momentum", Momentum), ("dampening", Dampening), ("weight_decay", WeightDecay), ("nesterov", Nesterov ? 1 : 0)];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step)
        => OptimizerUpdates.SgdStep(parameter, grad, Momentum != 0 ? state["momentum_buffer"] : null, CurrentHyperparameters, firstStep: step == 1);

    /// <summary>All parameters in one multi-tensor update (one launch per 8 tensors on a GPU; the same bits as one update each).</summary>
    protected override void UpdateAll(IReadOnlyList<ParameterUpdate> updates)
        => OptimizerUpdates.SgdStep(updates.Select(u => new SgdTensors(u.Parameter, u.Grad, Momentum != 0 ? u.State["momentum_buffer"] : null, u.Step == 1)).ToArray(),
            CurrentHyperparameters);

    /// <summary>The hyperparameters as the update op takes them (the learning rate may change between steps).</summary>
    public SgdHyperparameters CurrentHyperparameters => new(LearningRate, Momentum, Dampening, WeightDecay, Nesterov);
}
