namespace GpuGan.Tensors;

/// <summary>
/// The rule that maps gradients of an op's outputs to gradients of its inputs. It is written
/// with differentiable tensor ops, so running it with recording on builds the graph of the
/// backward pass (second-order gradients). <paramref name="needsGrad"/>[i] says whether input i's
/// gradient is wanted; rules with costly branches (conv weight gradients) skip the others.
/// </summary>
internal delegate Tensor?[] BackwardRule(Tensor[] gradOutputs, bool[] needsGrad);

/// <summary>One recorded op on the tape: its inputs, its output shapes and its derivative rule.</summary>
internal sealed class GradNode(string opName, Tensor[] inputs, Shape[] outputShapes, Device device, BackwardRule rule)
{
    public string OpName { get; } = opName;
    public Tensor[] Inputs { get; private set; } = inputs;
    public Shape[] OutputShapes { get; } = outputShapes;
    public Device Device { get; } = device;
    public BackwardRule? Rule { get; private set; } = rule;

    /// <summary>Drops the saved tensors so their memory can go once nobody else holds them.</summary>
    public void Free()
    {
        Rule = null;
        Inputs = [];
    }
}

/// <summary>Reverse-mode automatic differentiation over the dynamic tape.</summary>
public static class Autograd
{
    [ThreadStatic] private static int t_noGradDepth;

    /// <summary>True when ops are being recorded on this thread.</summary>
    public static bool IsEnabled => t_noGradDepth == 0;

    /// <summary>Turns recording off until the returned scope is disposed.</summary>
    public static IDisposable NoGrad() => new NoGradScope();

    private sealed class NoGradScope : IDisposable
    {
        private bool _done;
        public NoGradScope() => t_noGradDepth++;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            t_noGradDepth--;
        }
    }

    /// <summary>Turns recording on until disposed, whatever the surrounding mode (rules that differentiate a composed recomputation).</summary>
    internal static IDisposable EnableGrad() => new EnableGradScope();

    private sealed class EnableGradScope : IDisposable
    {
        private readonly int _saved;
        public EnableGradScope() { _saved = t_noGradDepth; t_noGradDepth = 0; }
        public void Dispose() => t_noGradDepth = _saved;
    }

    internal static Tensor Record(Tensor output, string op, Tensor[] inputs, Func<Tensor[], Tensor?[]> rule)
        => Record(output, op, inputs, (g, _) => rule(g));

    internal static Tensor Record(Tensor output, string op, Tensor[] inputs, BackwardRule rule)
    {
        Record([output], op, inputs, rule);
        return output;
    }

    /// <summary>Attaches a node to the outputs when recording is on and any input needs a gradient.</summary>
    internal static void Record(Tensor[] outputs, string op, Tensor[] inputs, BackwardRule rule)
    {
        if (!IsEnabled) return;
        bool any = false;
        foreach (var t in inputs) any |= t.RequiresGrad;
        if (!any) return;
        rule = DerivativeSeam.Apply(op, rule);   // the rule itself unless a test planted a wrong one
        var node = new GradNode(op, inputs, outputs.Select(o => o.Shape).ToArray(), outputs[0].Device, rule);
        for (int i = 0; i < outputs.Length; i++)
        {
            outputs[i].GradFn = node;
            outputs[i].OutputIndex = i;
        }
    }

    /// <summary>
    /// Gradients of <paramref name="outputs"/> (weighted by <paramref name="gradOutputs"/>, ones for
    /// scalars when null) with respect to <paramref name="inputs"/>. With createGraph the backward
    /// pass is itself recorded, so the results can be differentiated again.
    /// Inputs that do not influence the outputs get a zero gradient when allowUnused, else an error.
    /// </summary>
    public static Tensor[] Grad(Tensor[] outputs, Tensor[] inputs, Tensor[]? gradOutputs = null,
        bool createGraph = false, bool? retainGraph = null, bool allowUnused = false)
    {
        var wanted = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].RequiresGrad)
                throw new InvalidOperationException($"Grad: input {i} {inputs[i].Describe()} does not require a gradient");
            wanted.TryAdd(inputs[i], i);
        }
        var result = Run(outputs, gradOutputs, wanted, createGraph, retainGraph ?? createGraph, consume: null)!;
        var grads = new Tensor[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            if (result.TryGetValue(inputs[i], out var g)) grads[i] = g;
            else if (allowUnused) grads[i] = Tensor.Zeros(inputs[i].Shape, inputs[i].Device);
            else throw new InvalidOperationException($"Grad: input {i} {inputs[i].Describe()} is not used by the outputs (pass allowUnused: true)");
        }
        return grads;
    }

    /// <summary>Accumulates d(this)/d(leaf) into every leaf's <see cref="Tensor.Grad"/>.</summary>
    internal static void Backward(Tensor output, Tensor? gradOutput, bool retainGraph)
    {
        // Leaf gradients are copied out before the backward's temporaries are released.
        Run([output], gradOutput is null ? null : [gradOutput], wanted: null, createGraph: false, retainGraph, consume: result =>
        {
            foreach (var (leaf, g) in result)
            {
                if (leaf.Grad is null || leaf.Grad.IsDisposed)
                {
                    var copy = Tensor.Empty(leaf.Shape, leaf.Device).KeepAlive();
                    g.CopyInto(copy);
                    leaf.Grad = copy;
                }
                else
                {
                    leaf.Grad.AddInPlace(g);
                }
            }
        });
    }

    /// <summary>
    /// The backward pass. Without createGraph every tensor it creates lives in a private scope:
    /// gradients are released as soon as the last node that needs them has run (reference counts
    /// below), and whatever is left goes when the pass ends, except the results (moved to the
    /// caller's scope, or handed to <paramref name="consume"/> first). With createGraph nothing is
    /// released early: the recorded backward graph may refer to any of it.
    /// </summary>
    private static Dictionary<Tensor, Tensor>? Run(Tensor[] outputs, Tensor[]? gradOutputs,
        Dictionary<Tensor, int>? wanted, bool createGraph, bool retainGraph, Action<Dictionary<Tensor, Tensor>>? consume)
    {
        if (gradOutputs is not null && gradOutputs.Length != outputs.Length)
            throw new ArgumentException($"Grad: {outputs.Length} outputs but {gradOutputs.Length} output gradients");

        // Topological order of the nodes reachable from the outputs (iterative DFS, post-order).
        var order = new List<GradNode>();
        var state = new Dictionary<GradNode, bool>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(GradNode Node, int Next)>();
        foreach (var o in outputs)
        {
            if (o.GradFn is null || state.ContainsKey(o.GradFn)) continue;
            stack.Push((o.GradFn, 0));
            state[o.GradFn] = false;
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (node.Rule is null)
                    throw new InvalidOperationException($"backward through {node.OpName} a second time: its graph was freed by an earlier backward (pass retainGraph: true the first time)");
                if (next < node.Inputs.Length)
                {
                    stack.Push((node, next + 1));
                    var input = node.Inputs[next];
                    // Stop at wanted tensors: their gradient is the answer, not a way further down.
                    if (input.GradFn is { } child && !state.ContainsKey(child) && (wanted is null || !wanted.ContainsKey(input)))
                    {
                        state[child] = false;
                        stack.Push((child, 0));
                    }
                }
                else
                {
                    order.Add(node);
                }
            }
        }

        // Which nodes lead to something we want a gradient for (a wanted tensor, or any leaf).
        var useful = new HashSet<GradNode>(ReferenceEqualityComparer.Instance);
        foreach (var node in order) // children come before parents in post-order
        {
            foreach (var input in node.Inputs)
            {
                bool target = wanted is null ? input.IsLeaf && input.RequiresGrad : wanted.ContainsKey(input);
                if (target || (input.GradFn is { } c && useful.Contains(c) && (wanted is null || !wanted.ContainsKey(input))))
                {
                    useful.Add(node);
                    break;
                }
            }
        }

        var nodeGrads = new Dictionary<GradNode, Tensor?[]>(ReferenceEqualityComparer.Instance);
        var found = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);

        using var mode = createGraph ? (IDisposable)new EnableGradScope() : NoGrad();
        var temporaries = createGraph ? null : TensorScope.Begin();
        try
        {
            var holds = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);

            void Hold(Tensor t) => holds[t] = holds.GetValueOrDefault(t) + 1;

            // Drops one reference; a temporary of this pass with none left is freed at once.
            void Release(Tensor t)
            {
                int left = holds.GetValueOrDefault(t) - 1;
                if (left > 0) { holds[t] = left; return; }
                holds.Remove(t);
                if (temporaries is not null && temporaries.Forget(t)) t.Dispose();
            }

            void Deliver(Tensor target, Tensor g, string fromOp)
            {
                if (g.Shape != target.Shape)
                    throw new InvalidOperationException($"derivative rule of {fromOp} returned a gradient of shape {g.Shape} for an input of shape {target.Shape}");
                bool isWanted = wanted is null ? target.IsLeaf : wanted.ContainsKey(target);
                if (isWanted)
                {
                    if (found.TryGetValue(target, out var prev))
                    {
                        found[target] = prev.Add(g);
                        Hold(found[target]);
                        Release(prev);
                    }
                    else
                    {
                        found[target] = g;
                        Hold(g);
                    }
                    return;
                }
                if (target.GradFn is { } node && useful.Contains(node))
                {
                    if (!nodeGrads.TryGetValue(node, out var slots)) nodeGrads[node] = slots = new Tensor?[node.OutputShapes.Length];
                    var prevSlot = slots[target.OutputIndex];
                    var next = prevSlot is null ? g : prevSlot.Add(g);
                    slots[target.OutputIndex] = next;
                    Hold(next);
                    if (prevSlot is not null) Release(prevSlot);
                }
            }

            for (int i = 0; i < outputs.Length; i++)
            {
                var o = outputs[i];
                Tensor g;
                if (gradOutputs?[i] is { } given)
                {
                    if (given.Shape != o.Shape)
                        throw new ShapeMismatchException($"Grad: output gradient {i} has shape {given.Shape}, output has {o.Shape}");
                    g = given;
                }
                else
                {
                    if (o.Size != 1)
                        throw new InvalidOperationException($"Grad: output {o.Describe()} is not a scalar; pass gradOutputs");
                    g = Tensor.Ones(o.Shape, o.Device);
                }
                if (!o.RequiresGrad)
                    throw new InvalidOperationException($"Grad: output {i} {o.Describe()} does not require a gradient (was it computed under NoGrad or from detached tensors?)");
                Hold(g);
                Deliver(o, g, "output");
                Release(g);
            }

            for (int n = order.Count - 1; n >= 0; n--)
            {
                var node = order[n];
                if (!useful.Contains(node) || !nodeGrads.TryGetValue(node, out var slots)) continue;
                var gradOut = new Tensor[slots.Length];
                for (int s = 0; s < slots.Length; s++)
                {
                    if (slots[s] is null) Hold(slots[s] = Tensor.Zeros(node.OutputShapes[s], node.Device));
                    gradOut[s] = slots[s]!;
                }
                var needs = new bool[node.Inputs.Length];
                for (int i = 0; i < needs.Length; i++)
                {
                    var input = node.Inputs[i];
                    needs[i] = input.RequiresGrad && (wanted is null ? (input.IsLeaf || useful.Contains(input.GradFn!)) :
                        wanted.ContainsKey(input) || (input.GradFn is { } c && useful.Contains(c)));
                }
                Tensor?[] inputGrads;
                using (node.Device.BeginBackward(node.OpName)) inputGrads = node.Rule!(gradOut, needs);
                if (inputGrads.Length != node.Inputs.Length)
                    throw new InvalidOperationException($"derivative rule of {node.OpName} returned {inputGrads.Length} gradients for {node.Inputs.Length} inputs");
                // Hold what the rule returned while delivering: a rule may return one tensor for two inputs.
                foreach (var gi in inputGrads) if (gi is not null) Hold(gi);
                for (int i = 0; i < inputGrads.Length; i++)
                    if (needs[i] && inputGrads[i] is { } gi) Deliver(node.Inputs[i], gi, node.OpName);
                foreach (var gi in inputGrads) if (gi is not null) Release(gi);
                foreach (var g in gradOut) Release(g);
                nodeGrads.Remove(node);
                if (!retainGraph) node.Free();
            }

            if (!retainGraph)
                foreach (var node in order) node.Free();
            if (temporaries is null) return found;
            if (consume is not null)
            {
                consume(found);
                return null;
            }
            foreach (var g in found.Values) temporaries.MoveToOuter(g, onlyIfOwned: true);
            return found;
        }
        finally
        {
            temporaries?.Dispose();
        }
    }
}

public sealed partial class Tensor
{
    /// <summary>Which output of its node this tensor is (multi-output ops such as batch norm's backward).</summary>
    internal int OutputIndex { get; set; }

    /// <summary>Backpropagates from this scalar into the <see cref="Grad"/> of every leaf that requires it.</summary>
    public void Backward(Tensor? gradOutput = null, bool retainGraph = false) => Autograd.Backward(this, gradOutput, retainGraph);
}
