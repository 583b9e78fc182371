namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class DeviceTests
{
    [Theory]
    [InlineData("cpu", DeviceKind.Cpu, 0, "cpu:0")]
    [InlineData("cpu:3", DeviceKind.Cpu, 3, "cpu:3")]
    [InlineData(" CPU:1 ", DeviceKind.Cpu, 1, "cpu:1")]
    [InlineData("cuda", DeviceKind.Cuda, 0, "cuda:0")]
    [InlineData("cuda:2", DeviceKind.Cuda, 2, "cuda:2")]
    public void Parses_and_prints_device_strings(string text, DeviceKind kind, int index, string printed)
    {
        var device = Device.Parse(text);
        Assert.Equal(new Device(kind, index), device);
        Assert.Equal(printed, device.ToString());
        Assert.Equal(device, Device.Parse(device.ToString()));
        Assert.Equal(kind == DeviceKind.Cuda, device.IsCuda);
        Assert.Equal(kind == DeviceKind.Cpu, device.IsCpu);
    }

    [Theory]
    [InlineData("tpu:0")]
    [InlineData("webgpu:0")] // retired with the hand-written binding: the official package has no WebGPU provider
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("gpu")]
    [InlineData("")]
    public void Unknown_device_strings_name_the_value_and_the_accepted_forms(string text)
    {
        var e = Assert.Throws<FormatException>(() => Device.Parse(text));
        Assert.Equal($"unknown device '{text}': expected cpu, cpu:N or cuda:N (N = 0, 1, 2, ...)", e.Message);
        Assert.False(Device.TryParse(text, out _));
    }
}
