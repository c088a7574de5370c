namespace GpuGan.Tensors;

/// <summary>An immutable tensor shape of rank 0 to 4, in NCHW order for images.</summary>
public sealed class Shape : IEquatable<Shape>
{
    /// <summary>Largest rank a tensor may have.</summary>
    public const int MaxRank = 4;
    private readonly int[] _dims;

    /// <summary>A shape of <paramref name="dims"/> (each ≥ 0, at most <see cref="MaxRank"/> of them).</summary>
    public Shape(params int[] dims)
    {
        if (dims.Length > MaxRank)
            throw new ArgumentException($"rank {dims.Length} is not supported: tensors have at most {MaxRank} dimensions, got {Format(dims)}");
        long size = 1;
        foreach (int d in dims)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {Format(dims)}");
            size *= d;
            if (size > int.MaxValue) throw new ArgumentException($"shape {Format(dims)} holds more than {int.MaxValue} elements");
        }
        _dims = (int[])dims.Clone();
        Size = (int)size;
    }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _dims.Length;
    /// <summary>Number of elements.</summary>
    public int Size { get; }
    /// <summary>Extent of <paramref name="axis"/> (negative counts from the end).</summary>
    public int this[int axis] => _dims[axis < 0 ? axis + _dims.Length : axis];
    /// <summary>The extents.</summary>
    public ReadOnlySpan<int> Dims => _dims;
    /// <summary>A copy of the extents.</summary>
    public int[] ToArray() => (int[])_dims.Clone();

    /// <summary>Dimensions right-aligned into 4 slots, leading ones filled with 1.</summary>
    internal void To4(Span<int> dims4)
    {
        int pad = MaxRank - _dims.Length;
        for (int i = 0; i < MaxRank; i++) dims4[i] = i < pad ? 1 : _dims[i - pad];
    }

    /// <summary>True when both shapes have the same extents.</summary>
    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int d in _dims) h.Add(d);
        return h.ToHashCode();
    }
    /// <summary>Equal extents (or both null).</summary>
    public static bool operator ==(Shape? a, Shape? b) => a is null ? b is null : a.Equals(b);
    /// <summary>Different extents.</summary>
    public static bool operator !=(Shape? a, Shape? b) => !(a == b);
    /// <inheritdoc/>
    public override string ToString() => Format(_dims);
    /// <summary>A shape of <paramref name="dims"/>.</summary>
    public static implicit operator Shape(int[] dims) => new(dims);

    /// <summary>Formats dimensions as a shape is printed, e.g. "(2, 3)", for messages about shapes that are not (yet) a <see cref="Shape"/>.</summary>
    public static string Format(ReadOnlySpan<int> dims) => "(" + string.Join(", ", dims.ToArray()) + ")";

    /// <summary>NumPy broadcasting of two shapes; throws naming the op and both shapes.</summary>
    public static Shape Broadcast(Shape a, Shape b, string op)
    {
        if (a == b) return a;
        int rank = Math.Max(a.Rank, b.Rank);
        var dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Rank) >= 0 ? a._dims[i - (rank - a.Rank)] : 1;
            int db = i - (rank - b.Rank) >= 0 ? b._dims[i - (rank - b.Rank)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ShapeMismatchException($"{op}: shapes {a} and {b} cannot be broadcast together (dimension {i}: {da} vs {db})");
            dims[i] = Math.Max(da, db);
        }
        return new Shape(dims);
    }
}

/// <summary>Thrown when an op receives tensors whose shapes it cannot combine.</summary>
public sealed class ShapeMismatchException(string message) : ArgumentException(message);
