namespace GpuGan.Layers.Serialization;

/// <summary>
/// Element types of the safetensors format that have a whole number of bytes per element.
/// Declared in the reference implementation's order of increasing alignment; the writer sorts
/// tensors by this order (descending) before name, exactly as the reference does, so the numeric
/// values of the members matter and must not be reordered.
/// </summary>
/// <remarks>
/// Not supported: the sub-byte types (<c>F4</c>, <c>F6_E2M3</c>, <c>F6_E3M2</c>) and complex
/// types; a file that uses them is refused as having an unknown dtype.
/// </remarks>
public enum SafeTensorDtype
{
    /// <summary><c>BOOL</c>, one byte per element.</summary>
    Bool,
    /// <summary><c>U8</c>, unsigned 8-bit integer.</summary>
    U8,
    /// <summary><c>I8</c>, signed 8-bit integer.</summary>
    I8,
    /// <summary><c>F8_E5M2</c>, 8-bit float.</summary>
    F8E5M2,
    /// <summary><c>F8_E4M3</c>, 8-bit float.</summary>
    F8E4M3,
    /// <summary><c>F8_E8M0</c>, 8-bit exponent-only scale.</summary>
    F8E8M0,
    /// <summary><c>I16</c>, signed 16-bit integer.</summary>
    I16,
    /// <summary><c>U16</c>, unsigned 16-bit integer.</summary>
    U16,
    /// <summary><c>F16</c>, IEEE half precision.</summary>
    F16,
    /// <summary><c>BF16</c>, bfloat16.</summary>
    BF16,
    /// <summary><c>I32</c>, signed 32-bit integer.</summary>
    I32,
    /// <summary><c>U32</c>, unsigned 32-bit integer.</summary>
    U32,
    /// <summary><c>F32</c>, IEEE single precision.</summary>
    F32,
    /// <summary><c>F64</c>, IEEE double precision.</summary>
    F64,
    /// <summary><c>I64</c>, signed 64-bit integer.</summary>
    I64,
    /// <summary><c>U64</c>, unsigned 64-bit integer.</summary>
    U64,
}

/// <summary>Element sizes and header spellings of <see cref="SafeTensorDtype"/>.</summary>
public static class SafeTensorDtypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this SafeTensorDtype dtype) => dtype switch
    {
        SafeTensorDtype.Bool or SafeTensorDtype.U8 or SafeTensorDtype.I8
            or SafeTensorDtype.F8E5M2 or SafeTensorDtype.F8E4M3 or SafeTensorDtype.F8E8M0 => 1,
        SafeTensorDtype.I16 or SafeTensorDtype.U16 or SafeTensorDtype.F16 or SafeTensorDtype.BF16 => 2,
        SafeTensorDtype.I32 or SafeTensorDtype.U32 or SafeTensorDtype.F32 => 4,
        SafeTensorDtype.F64 or SafeTensorDtype.I64 or SafeTensorDtype.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype"),
    };

    /// <summary>The spelling used in the JSON header (<c>"F32"</c>, <c>"F8_E4M3"</c>, …).</summary>
    public static string WireName(this SafeTensorDtype dtype) => dtype switch
    {
        SafeTensorDtype.Bool => "BOOL",
        SafeTensorDtype.U8 => "U8",
        SafeTensorDtype.I8 => "I8",
        SafeTensorDtype.F8E5M2 => "F8_E5M2",
        SafeTensorDtype.F8E4M3 => "F8_E4M3",
        SafeTensorDtype.F8E8M0 => "F8_E8M0",
        SafeTensorDtype.I16 => "I16",
        SafeTensorDtype.U16 => "U16",
        SafeTensorDtype.F16 => "F16",
        SafeTensorDtype.BF16 => "BF16",
        SafeTensorDtype.I32 => "I32",
        SafeTensorDtype.U32 => "U32",
        SafeTensorDtype.F32 => "F32",
        SafeTensorDtype.F64 => "F64",
        SafeTensorDtype.I64 => "I64",
        SafeTensorDtype.U64 => "U64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype"),
    };

    /// <summary>Parses a header spelling (case-sensitive, as the reference implementation).</summary>
    public static bool TryParseWireName(string wireName, out SafeTensorDtype dtype)
    {
        ArgumentNullException.ThrowIfNull(wireName);
        foreach (SafeTensorDtype candidate in Enum.GetValues<SafeTensorDtype>())
        {
            if (string.Equals(candidate.WireName(), wireName, StringComparison.Ordinal))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }
}
