// SGD with optional (Nesterov) momentum, PyTorch's torch.optim.SGD semantics: the optimiser keeps
// the momentum buffer and the step count and calls the fused update op OptimizerUpdates.SgdStep
// (src/Tensors/Ops/Optim/OptimizerUpdates.cs: the math, its float64 reference and both kernel sets).
using GpuGan.Tensors;

namespace GpuGan.Layers.Optim;

/// <summary>Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's semantics.</summary>
public sealed class Sgd : Optimizer
{
    private static readonly string[] MomentumKeys = ["momentum_buffer"];

    public Sgd(Module module, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : this(module.NamedParameters(), lr, momentum, dampening, weightDecay, nesterov) { }

    public Sgd(IEnumerable<Tensor> parameters, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : this(Number(parameters), lr, momentum, dampening, weightDecay, nesterov) { }

    public Sgd(IEnumerable<(string Name, Tensor Parameter)> parameters, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr)
    {
        if (!(momentum >= 0) || !(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(momentum), $"SGD: momentum {momentum} and weight decay {weightDecay} must be ≥ 0");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("SGD: Nesterov momentum requires a momentum > 0 and zero dampening (as PyTorch)");
        (Momentum, Dampening, WeightDecay, Nesterov) = (momentum, dampening, weightDecay, nesterov);
    }

    public float Momentum { get; }
    public float Dampening { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }

    protected override IReadOnlyList<string> StateKeys => Momentum != 0 ? MomentumKeys : [];

    protected override IEnumerable<(string Name, double Value)> Hyperparameters()
        => [("momentum", Momentum), ("dampening", Dampening), ("weight_decay", WeightDecay), ("nesterov", Nesterov ? 1 : 0)];

    protected override void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step)
        => OptimizerUpdates.SgdStep(parameter, grad, Momentum != 0 ? state["momentum_buffer"] : null, CurrentHyperparameters, firstStep: step == 1);

    /// <summary>The hyperparameters as the update op takes them (the learning rate may change between steps).</summary>
    public SgdHyperparameters CurrentHyperparameters => new(LearningRate, Momentum, Dampening, WeightDecay, Nesterov);
}
