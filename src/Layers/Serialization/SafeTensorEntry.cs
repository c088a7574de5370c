using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace GpuGan.Layers.Serialization;

/// <summary>
/// One named tensor of a safetensors file: dtype, shape (row-major, C order) and its raw
/// little-endian bytes. Independent of <c>Tensor</c>; the byte length always equals
/// product(shape) × element size.
/// </summary>
public sealed class SafeTensorEntry
{
    private readonly int[] _shape;

    /// <summary>Creates an entry over <paramref name="data"/> without copying it.</summary>
    /// <param name="name">Tensor name; any string except <c>"__metadata__"</c>, which the format reserves.</param>
    /// <param name="dtype">Element type.</param>
    /// <param name="shape">Dimensions, each ≥ 0; empty for a scalar.</param>
    /// <param name="data">Packed little-endian elements; the entry keeps a reference, so do not mutate it afterwards.</param>
    /// <exception cref="ArgumentException">The name is reserved or not valid UTF-16, a dimension is negative, or the byte length does not match the shape.</exception>
    public SafeTensorEntry(string name, SafeTensorDtype dtype, ReadOnlySpan<int> shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == SafeTensors.MetadataKey)
            throw new ArgumentException($"'{SafeTensors.MetadataKey}' is reserved for the header metadata and cannot name a tensor", nameof(name));
        if (!IsValidUtf16(name))
            throw new ArgumentException("tensor name contains an unpaired surrogate and cannot be encoded as UTF-8", nameof(name));
        if (!Enum.IsDefined(dtype))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype");

        long count = 1;
        foreach (int dim in shape)
        {
            if (dim < 0)
                throw new ArgumentException($"tensor '{name}': negative dimension {dim} in shape [{string.Join(",", shape.ToArray())}]", nameof(shape));
            count = dim == 0 || count == 0 ? 0 : checked(count * dim);
        }
        long expected = count * dtype.ElementSize();
        if (data.Length != expected)
            throw new ArgumentException(
                $"tensor '{name}': {data.Length} bytes given, but shape [{string.Join(",", shape.ToArray())}] of {dtype.WireName()} needs {expected}",
                nameof(data));

        Name = name;
        Dtype = dtype;
        _shape = shape.ToArray();
        Shape = Array.AsReadOnly(_shape);
        ElementCount = count;
        Data = data;
    }

    /// <summary>Tensor name (the JSON key).</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public SafeTensorDtype Dtype { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>Packed little-endian element bytes.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>A copy of the shape as an array.</summary>
    public int[] ShapeToArray() => (int[])_shape.Clone();

    /// <summary>Creates an <see cref="SafeTensorDtype.F32"/> entry (bit-exact, NaN payloads kept).</summary>
    public static SafeTensorEntry FromFloat32(string name, ReadOnlySpan<int> shape, ReadOnlySpan<float> values) =>
        new(name, SafeTensorDtype.F32, shape, ToLittleEndianBytes(values));

    /// <summary>Creates an <see cref="SafeTensorDtype.F64"/> entry (bit-exact, NaN payloads kept).</summary>
    public static SafeTensorEntry FromFloat64(string name, ReadOnlySpan<int> shape, ReadOnlySpan<double> values) =>
        new(name, SafeTensorDtype.F64, shape, ToLittleEndianBytes(values));

    /// <summary>Creates an <see cref="SafeTensorDtype.I64"/> entry.</summary>
    public static SafeTensorEntry FromInt64(string name, ReadOnlySpan<int> shape, ReadOnlySpan<long> values) =>
        new(name, SafeTensorDtype.I64, shape, ToLittleEndianBytes(values));

    /// <summary>Creates an <see cref="SafeTensorDtype.I32"/> entry.</summary>
    public static SafeTensorEntry FromInt32(string name, ReadOnlySpan<int> shape, ReadOnlySpan<int> values) =>
        new(name, SafeTensorDtype.I32, shape, ToLittleEndianBytes(values));

    /// <summary>The elements of an <see cref="SafeTensorDtype.F32"/> entry.</summary>
    /// <exception cref="InvalidOperationException">The entry has another dtype (no conversion is done).</exception>
    public float[] ToFloat32Array() => FromLittleEndianBytes<float>(SafeTensorDtype.F32);

    /// <summary>The elements of an <see cref="SafeTensorDtype.F64"/> entry.</summary>
    /// <exception cref="InvalidOperationException">The entry has another dtype (no conversion is done).</exception>
    public double[] ToFloat64Array() => FromLittleEndianBytes<double>(SafeTensorDtype.F64);

    /// <summary>The elements of an <see cref="SafeTensorDtype.I64"/> entry.</summary>
    /// <exception cref="InvalidOperationException">The entry has another dtype (no conversion is done).</exception>
    public long[] ToInt64Array() => FromLittleEndianBytes<long>(SafeTensorDtype.I64);

    /// <summary>The elements of an <see cref="SafeTensorDtype.I32"/> entry.</summary>
    /// <exception cref="InvalidOperationException">The entry has another dtype (no conversion is done).</exception>
    public int[] ToInt32Array() => FromLittleEndianBytes<int>(SafeTensorDtype.I32);

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {Dtype.WireName()} [{string.Join(",", _shape)}]";

    private static byte[] ToLittleEndianBytes<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        byte[] bytes = MemoryMarshal.AsBytes(values).ToArray();
        if (!BitConverter.IsLittleEndian) ReverseEachElement(bytes, Unsafe.SizeOf<T>());
        return bytes;
    }

    private T[] FromLittleEndianBytes<T>(SafeTensorDtype expected) where T : unmanaged
    {
        if (Dtype != expected)
            throw new InvalidOperationException($"tensor '{Name}' is {Dtype.WireName()}, not {expected.WireName()}");
        var result = new T[Data.Length / Unsafe.SizeOf<T>()];
        Span<byte> target = MemoryMarshal.AsBytes(result.AsSpan());
        Data.Span.CopyTo(target);
        if (!BitConverter.IsLittleEndian) ReverseEachElement(target, Unsafe.SizeOf<T>());
        return result;
    }

    private static void ReverseEachElement(Span<byte> bytes, int size)
    {
        for (int i = 0; i < bytes.Length; i += size) bytes.Slice(i, size).Reverse();
    }

    internal static bool IsValidUtf16(string s)
    {
        // Rune enumeration yields ReplacementChar for an unpaired surrogate; compare against the source.
        int i = 0;
        foreach (Rune rune in s.EnumerateRunes())
        {
            if (rune == Rune.ReplacementChar && s[i] != '\uFFFD') return false;
            i += rune.Utf16SequenceLength;
        }
        return true;
    }
}
