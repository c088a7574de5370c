namespace GpuGan.Tensors;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost scope and disposes
/// them when the scope ends, so a training step releases its temporaries deterministically.
/// Tensors that must survive (parameters, results) call <see cref="Tensor.KeepAlive"/> or
/// <see cref="MoveToOuter(Tensor)"/>.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? t_current;
    private readonly TensorScope? _outer;
    private readonly HashSet<Tensor> _tensors = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    private TensorScope()
    {
        _outer = t_current;
        t_current = this;
    }

    /// <summary>Opens a scope; use with `using`.</summary>
    public static TensorScope Begin() => new();

    internal static TensorScope? Current => t_current;

    internal static void Register(Tensor t) => t_current?._tensors.Add(t);

    internal static void Unregister(Tensor t)
    {
        for (var s = t_current; s is not null; s = s._outer)
            if (s._tensors.Remove(t)) return;
    }

    /// <summary>Hands a tensor to the enclosing scope (or to nobody at top level).</summary>
    public Tensor MoveToOuter(Tensor t) => MoveToOuter(t, onlyIfOwned: false);

    internal Tensor MoveToOuter(Tensor t, bool onlyIfOwned)
    {
        if (!_tensors.Remove(t) && onlyIfOwned) return t;
        _outer?._tensors.Add(t);
        return t;
    }

    /// <summary>Stops tracking a tensor this scope owns (the caller disposes it); false if not owned.</summary>
    internal bool Forget(Tensor t) => _tensors.Remove(t);

    /// <summary>Tensors registered with this scope.</summary>
    public int Count => _tensors.Count;

    /// <summary>Disposes every registered tensor and makes the outer scope current again.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (t_current != this)
            throw new InvalidOperationException("TensorScope disposed out of order: inner scopes must end first");
        t_current = _outer;
        foreach (var t in _tensors) t.Dispose();
        _tensors.Clear();
    }
}
