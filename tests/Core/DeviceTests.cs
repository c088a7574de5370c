using GpuGan.Tensors;
using NUnit.Framework;

namespace GpuGan.Tests.Core;

/// <summary>Opening devices by kind, their options, and the typed error for an absent GPU.</summary>
[TestFixture]
public sealed class DeviceTests
{
    [Test]
    public void OpenReturnsTheSharedDevicesWithoutOptions()
    {
        Assert.That(Device.Open(DeviceKind.Cpu), Is.SameAs(Device.Cpu));
        Assert.That(Device.Open(DeviceKind.IlgpuCpu), Is.SameAs(Device.IlgpuCpu));
        Assert.That(Device.Cpu.CpuOptions.Threads, Is.EqualTo(Environment.ProcessorCount));
    }

    [Test]
    public void OpenWithOptionsCreatesAPrivateDevice()
    {
        using var cpu = Device.Open(DeviceKind.Cpu, new CpuKernelOptions { Threads = 1 });
        Assert.That(cpu, Is.Not.SameAs(Device.Cpu));
        Assert.That((cpu.Kind, cpu.CpuOptions.Threads), Is.EqualTo((DeviceKind.Cpu, 1)));
        var lowering = new ConvLoweringOptions { ColumnTarget = 64 };
        using var sim = Device.Open(DeviceKind.IlgpuCpu, gpu: new GpuKernelOptions { Conv = lowering });
        Assert.That(sim, Is.Not.SameAs(Device.IlgpuCpu));
        Assert.That(sim.GpuOptions.Conv, Is.EqualTo(lowering));
        // Tensors work on both, and they are different devices.
        var x = Tensor.FromArray([1f, 2f, 3f], new Shape(3), cpu);
        Assert.That(x.To(sim).Sum().Item(), Is.EqualTo(6f));
        Assert.Throws<DeviceMismatchException>(() => x.Add(Tensor.Zeros(new Shape(3))));
    }

    [Test]
    public void AutoFallsBackToTheHost()
    {
        var d = Device.Open(null);
        if (d.Kind is DeviceKind.Cuda or DeviceKind.OpenCL) { d.Dispose(); Assert.Ignore($"a GPU is present ({d})"); }
        Assert.That(d, Is.SameAs(Device.Cpu));
        using var withOptions = Device.Open(null, new CpuKernelOptions { Threads = 1 });
        Assert.That(withOptions.CpuOptions.Threads, Is.EqualTo(1));
    }

    [TestCase(DeviceKind.Cuda)]
    [TestCase(DeviceKind.OpenCL)]
    public void AnAbsentGpuThrowsATypedException(DeviceKind kind)
    {
        if (Device.List().Any(d => d.Kind == kind && d.Problem is null)) Assert.Ignore($"a {kind} device is present");
        var ex = Assert.Throws<DeviceUnavailableException>(() => Device.Open(kind))!;
        Assert.That(ex.Kind, Is.EqualTo(kind));
        Assert.That(ex.Message, Does.Not.Contain("--"), "the library names no command-line flag");
    }

    [Test]
    public void ListStartsWithBothCpuKernelSets()
    {
        var list = Device.List();
        Assert.That(list.Take(2).Select(d => d.Kind), Is.EqualTo(new[] { DeviceKind.Cpu, DeviceKind.IlgpuCpu }));
        Assert.That(list.All(d => d.Problem is not null || d.Description.Length > 0));
    }

    [Test]
    public void OptionsRejectNonsense()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new CpuKernelOptions { Threads = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new ConvLoweringOptions { ColumnTarget = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new ConvLoweringOptions { WorkspaceBudget = 0 });
    }
}
