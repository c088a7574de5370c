using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Ops;

/// <summary>
/// Backend tests written once (STYLE 8): an abstract fixture per test family derives from this, and
/// each device gets a sealed subclass that names its kind. A device that cannot be opened here makes
/// every test of its subclass Assert.Ignore with the reason; nothing passes silently.
/// </summary>
public abstract class DeviceFixture
{
    private Device? _device;
    private string? _absent;

    /// <summary>The kind of device under test.</summary>
    protected abstract DeviceKind Kind { get; }

    /// <summary>The device under test; ignores the calling test when it is absent.</summary>
    protected Device Device
    {
        get
        {
            if (_device is null && _absent is null)
            {
                try { _device = Device.Open(Kind); }
                catch (DeviceUnavailableException e) { _absent = e.Message; }
            }
            if (_absent is not null) Assert.Ignore($"{Kind} is absent here: {_absent}");
            return _device!;
        }
    }

    /// <summary>Releases a GPU device opened for this fixture (the shared cpu and ilgpu-cpu devices live on).</summary>
    [OneTimeTearDown]
    public void ReleaseDevice() => _device?.Dispose();
}
