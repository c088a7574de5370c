using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>
/// A float32 tensor of rank 0–4, contiguous on one <see cref="Device"/>. Ops are methods on this
/// class, one op family per file under Ops/. Disposal is deterministic: the memory goes back to
/// the device pool when the last tensor sharing it is disposed (see <see cref="TensorScope"/>).
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private Storage? _storage;
    private bool _requiresGrad;

    internal Tensor(Storage storage, Shape shape)
    {
        if (shape.Size > storage.Length)
            throw new ArgumentException($"shape {shape} needs {shape.Size} elements, storage holds {storage.Length}");
        _storage = storage;
        Shape = shape;
        TensorScope.Register(this);
    }

    /// <summary>An uninitialised tensor (contents are whatever the pool held).</summary>
    internal static Tensor Empty(Shape shape, Device device) => new(new Storage(device, shape.Size), shape);

    /// <summary>The shape.</summary>
    public Shape Shape { get; }
    /// <summary>The device the values live on.</summary>
    public Device Device => Storage.Device;
    /// <summary>Number of elements.</summary>
    public int Size => Shape.Size;
    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Rank;
    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => _storage is null;

    /// <summary>Optional label used in error messages and state dictionaries.</summary>
    public string? Name { get; set; }

    internal Storage Storage => _storage ?? throw new ObjectDisposedException(nameof(Tensor), $"tensor {Describe()} was used after it was disposed");

    internal Span<float> HostSpan => Storage.Span;
    internal ArrayView<float> View => Storage.View;

    // ---------------------------------------------------------------- autograd state

    /// <summary>The node that produced this tensor; null for leaves.</summary>
    internal GradNode? GradFn { get; set; }

    /// <summary>True when no recorded op produced this tensor (inputs and parameters).</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>Whether gradients flow to or through this tensor. Only leaves may be set.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad || GradFn is not null;
        set
        {
            if (GradFn is not null && !value)
                throw new InvalidOperationException($"{Describe()} is the output of {GradFn.OpName}; use Detach() instead of clearing RequiresGrad");
            _requiresGrad = value;
        }
    }

    /// <summary>Gradient accumulated by <see cref="Backward"/> into a leaf; not scoped.</summary>
    public Tensor? Grad { get; set; }

    // ---------------------------------------------------------------- creation

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(Shape shape, Device? device = null) => Full(shape, 0f, device);
    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(Shape shape, Device? device = null) => Full(shape, 1f, device);

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(Shape shape, float value, Device? device = null)
    {
        var t = Empty(shape, device ?? Device.Cpu);
        t.Fill(value);
        return t;
    }

    /// <summary>A rank-0 tensor holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(float value, Device? device = null) => Full(new Shape(), value, device);

    /// <summary>Copies host data into a new tensor on the device (an explicit upload).</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, Shape shape, Device? device = null)
    {
        if (data.Length != shape.Size)
            throw new ShapeMismatchException($"FromArray: {data.Length} values do not fill shape {shape} ({shape.Size} elements)");
        var t = Empty(shape, device ?? Device.Cpu);
        t.CopyFrom(data);
        return t;
    }

    /// <summary>A host tensor of <paramref name="shape"/> holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(float[] data, params int[] shape) => FromArray(data, new Shape(shape));

    /// <summary>Overwrites the contents from host memory, in place (not recorded by autograd).</summary>
    public void CopyFrom(ReadOnlySpan<float> data)
    {
        if (data.Length != Size) throw new ShapeMismatchException($"CopyFrom: {data.Length} values for tensor {Describe()}");
        if (Device.IsHost) data.CopyTo(HostSpan);
        else if (Size > 0)
        {
            using var _ = Device.BeginOp("CopyFrom");
            Device.Upload(data, View);
        }
    }

    /// <summary>Copies the contents into host memory of exactly <see cref="Size"/> values (an explicit download, no allocation).</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length != Size) throw new ShapeMismatchException($"CopyTo: {destination.Length} values for tensor {Describe()}");
        if (Device.IsHost) HostSpan.CopyTo(destination);
        else if (Size > 0)
        {
            using var _ = Device.BeginOp("CopyTo");
            Device.Download(View, destination, ReadBackKind.Array);
        }
    }

    /// <summary>Copies the contents into a new host array (an explicit download).</summary>
    public float[] ToArray()
    {
        var result = new float[Size];
        if (Device.IsHost) HostSpan.CopyTo(result);
        else if (Size > 0)
        {
            using var _ = Device.BeginOp("ToArray");
            Device.Download(View, result, ReadBackKind.Array);
        }
        return result;
    }

    /// <summary>The value of a one-element tensor (on an ILGPU device: a read-back that waits for the device).</summary>
    public float Item()
    {
        if (Size != 1) throw new ShapeMismatchException($"Item: tensor {Describe()} has {Size} elements, expected 1");
        if (Device.IsHost) return HostSpan[0];
        using var _ = Device.BeginOp("Item");
        Span<float> value = stackalloc float[1];
        Device.Download(View, value, ReadBackKind.Scalar);
        return value[0];
    }

    /// <summary>Copy to another device; differentiable (the gradient is copied back).</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        using var _ = Device.BeginOp("To");
        var result = FromArray(ToArray(), Shape, device);
        var source = this;
        return Autograd.Record(result, "To", [this], g => [g[0].To(source.Device)]);
    }

    /// <summary>A copy on the host (<see cref="Device.Cpu"/>).</summary>
    public Tensor ToHost() => To(Device.Cpu);

    /// <summary>A new tensor sharing no memory and no history with this one.</summary>
    public Tensor Clone()
    {
        using var _ = Device.BeginOp("Clone");
        var t = Empty(Shape, Device);
        CopyInto(t);
        return Autograd.Record(t, "Clone", [this], g => [g[0]]);
    }

    /// <summary>
    /// Overwrites this tensor's values with <paramref name="source"/>'s (same size, same device), in place and not recorded by
    /// autograd: one device copy (for keeping a second copy of weights, such as a moving average, without reallocating).
    /// </summary>
    public void CopyFrom(Tensor source)
    {
        ArgumentNullException.ThrowIfNull(source);
        source.CopyInto(this);
    }

    internal void CopyInto(Tensor destination)
    {
        if (destination.Shape.Size != Size) throw new ShapeMismatchException($"copy: {Describe()} into {destination.Describe()}");
        if (Device != destination.Device) throw new DeviceMismatchException($"copy from {Device} to {destination.Device}: use To(device)");
        if (Device.IsHost) HostSpan.CopyTo(destination.HostSpan);
        else if (Size > 0) Device.CopyWithin(Storage.View1D, destination.Storage.View1D, Size);
    }

    /// <summary>Sets every element, in place (not recorded by autograd).</summary>
    public void Fill(float value)
    {
        if (Device.IsHost) HostSpan.Fill(value);
        else if (Size > 0)
        {
            using var _ = Device.BeginOp("Fill");
            ElementwiseKernels.FillIlgpu(Device, View, Size, value);
        }
    }

    // ---------------------------------------------------------------- views

    /// <summary>Same memory, new shape; one dimension may be -1.</summary>
    public Tensor Reshape(params int[] dims)
    {
        int infer = Array.IndexOf(dims, -1);
        if (infer >= 0)
        {
            long known = 1;
            for (int i = 0; i < dims.Length; i++) if (i != infer) known *= dims[i];
            dims = (int[])dims.Clone();
            dims[infer] = known == 0 ? 0 : (int)(Size / known);
        }
        var shape = new Shape(dims);
        if (shape.Size != Size)
            throw new ShapeMismatchException($"Reshape: cannot view {Describe()} ({Size} elements) as {shape}");
        if (shape == Shape) return this;
        Storage.AddRef();
        var view = new Tensor(Storage, shape);
        var from = Shape;
        return Autograd.Record(view, "Reshape", [this], g => [g[0].Reshape(from.ToArray())]);
    }

    /// <summary>(N, ...) → (N, rest).</summary>
    public Tensor Flatten() => Rank <= 2 ? this : Reshape(Shape[0], -1);

    /// <summary>Shares memory but has no history: gradients stop here.</summary>
    public Tensor Detach()
    {
        Storage.AddRef();
        return new Tensor(Storage, Shape);
    }

    // ---------------------------------------------------------------- lifetime

    /// <summary>Takes this tensor out of the current <see cref="TensorScope"/> so it outlives it.</summary>
    public Tensor KeepAlive()
    {
        TensorScope.Unregister(this);
        return this;
    }

    /// <summary>Returns the storage to the pool; the tensor cannot be used afterwards.</summary>
    public void Dispose()
    {
        var s = _storage;
        if (s is null) return;
        _storage = null;
        GradFn = null;
        s.Release();
    }

    internal string Describe() => Name is null ? $"{Shape}" : $"'{Name}' {Shape}";

    /// <inheritdoc/>
    public override string ToString()
    {
        if (IsDisposed) return $"Tensor{Shape} (disposed)";
        var values = Size <= 8 ? ToArray() : ToArray()[..8];
        return $"Tensor{Shape} on {Device.Kind} [{string.Join(", ", values.Select(v => v.ToString("G4")))}{(Size > 8 ? ", …" : "")}]";
    }

    internal void CheckSameDevice(Tensor other, string op)
    {
        if (other.Device != Device)
            throw new DeviceMismatchException($"{op}: tensors on different devices ({Device.Kind} and {other.Device.Kind}); move one with To(device)");
    }
}

/// <summary>Thrown when an op mixes tensors from different devices.</summary>
public sealed class DeviceMismatchException(string message) : InvalidOperationException(message);
