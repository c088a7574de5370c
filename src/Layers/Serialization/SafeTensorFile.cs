namespace GpuGan.Layers.Serialization;

/// <summary>The parsed contents of a safetensors file.</summary>
public sealed class SafeTensorFile
{
    internal SafeTensorFile(IReadOnlyDictionary<string, SafeTensorEntry> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Tensors by name, enumerated in the order of their data in the file.</summary>
    public IReadOnlyDictionary<string, SafeTensorEntry> Tensors { get; }

    /// <summary>The header's <c>"__metadata__"</c> map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
}
