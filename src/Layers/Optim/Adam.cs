// Adam with PyTorch's torch.optim.Adam semantics: the optimiser keeps the per-parameter state
// (exp_avg, exp_avg_sq, step) and calls the fused update op OptimizerUpdates.AdamStep
// (src/Tensors/Ops/Optim/OptimizerUpdates.cs: the math, its float64 reference and both kernel sets),
// for all parameters of a step at once (its multi-tensor form: one launch per 8 tensors on a GPU).
using GpuGan.Tensors;

namespace GpuGan.Layers.Optim;

/// <summary>Adam with PyTorch's semantics (L2 weight decay, per-parameter bias correction).</summary>
public sealed class Adam : Optimizer
{
    private static readonly string[] Keys = ["exp_avg", "exp_avg_sq"];

    /// <summary>Adam over the parameters of <paramref name="module"/> (PyTorch's torch.optim.Adam; weight decay is L2 added to the gradient).</summary>
    public Adam(Module module, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(module.NamedParameters(), lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>Adam over <paramref name="parameters"/>.</summary>
    public Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(Number(parameters), lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>Adam over named <paramref name="parameters"/> (the names key the state in checkpoints).</summary>
    public Adam(IEnumerable<(string Name, Tensor Parameter)> parameters, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, lr)
    {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(beta1), $"Adam: betas ({beta1}, {beta2}) must be in [0, 1)");
        if (!(eps >= 0) || !(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"Adam: eps {eps} and weight decay {weightDecay} must be ≥ 0");
        (Beta1, Beta2, Eps, WeightDecay) = (beta1, beta2, eps, weightDecay);
    }

    // Doubles, as PyTorch's Python floats: 1 − β2 is then 0.001 exactly before the cast to float,
    // where float β2 = 0.999f would make it 0.00099998713 (1.3e-5 relative error in every v update).
    /// <summary>Decay of the first-moment average.</summary>
    public double Beta1 { get; }
    /// <summary>Decay of the second-moment average.</summary>
    public double Beta2 { get; }
    /// <summary>ε added to the denominator.</summary>
    public double Eps { get; }
    /// <summary>L2 weight decay λ.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> StateKeys => Keys;

    /// <inheritdoc/>
    protected override IEnumerable<(string Name, double Value)> Hyperparameters()
        => [("beta1", Beta1), ("beta2", Beta2), ("eps", Eps), ("weight_decay", WeightDecay)];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IReadOnlyDictionary<string, Tensor> state, long step)
        => OptimizerUpdates.AdamStep(parameter, grad, state["exp_avg"], state["exp_avg_sq"], CurrentHyperparameters, step);

    /// <summary>All parameters in one multi-tensor update (one launch per 8 tensors on a GPU; the same bits as one update each).</summary>
    protected override void UpdateAll(IReadOnlyList<ParameterUpdate> updates)
        => OptimizerUpdates.AdamStep(updates.Select(u => new AdamTensors(u.Parameter, u.Grad, u.State["exp_avg"], u.State["exp_avg_sq"], u.Step)).ToArray(),
            CurrentHyperparameters);

    /// <summary>The hyperparameters as the update op takes them (the learning rate may change between steps).</summary>
    public AdamHyperparameters CurrentHyperparameters => new(LearningRate, Beta1, Beta2, Eps, WeightDecay);
}
