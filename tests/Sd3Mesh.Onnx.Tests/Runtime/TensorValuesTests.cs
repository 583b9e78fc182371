using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed unsafe class TensorValuesTests
{
    [Fact]
    public void A_wrapped_tensor_shares_the_managed_array_without_copying()
    {
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        using var wrapped = PinnedTensorValue.Wrap(Tensor.FromArray(data, 2, 3));
        var value = wrapped.Value;
        Assert.Equal(DType.Float32, TensorValues.DTypeOf(value));
        Assert.Equal(new TensorShape(2, 3), TensorValues.ShapeOf(value));
        Assert.True(TensorValues.IsOnCpu(value));
        Assert.Equal("float32 [2, 3]", TensorValues.Describe(value));
        fixed (float* p = data) Assert.Equal((nint)p, (nint)Address(value.GetTensorMutableDataAsSpan<float>()));
        data[4] = 42;
        Assert.Equal(42, value.GetTensorDataAsSpan<float>()[4]); // same memory
    }

    [Fact]
    public void Outputs_come_back_as_new_values_and_copies_are_independent()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd());
        var x = TestModels.Floats(8);
        using var input = PinnedTensorValue.Wrap(Tensor.FromArray(x, 2, 4));
        var outputs = session.Run(["x"], [input.Value], ["y"]);
        using var y = Assert.Single(outputs);
        Assert.Equal(new TensorShape(2, 3), TensorValues.ShapeOf(y));
        TestModels.AssertClose(TestModels.MatMulAddReference(x, 2), y.GetTensorDataAsSpan<float>(), 1e-5);

        var copy = TensorValues.ToTensor(y);
        y.GetTensorMutableDataAsSpan<float>()[0] = 1234;
        Assert.NotEqual(1234, copy.ToArray<float>()[0]);
    }

    [Fact]
    public void Preallocated_outputs_are_written_in_place_and_checked()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd());
        var x = TestModels.Floats(4);
        var result = new float[3];
        using var input = PinnedTensorValue.Wrap(Tensor.FromArray(x, 1, 4));
        using var output = PinnedTensorValue.Wrap(Tensor.FromArray(result, 1, 3));
        session.RunInto(["x"], [input.Value], ["y"], [output.Value]);
        TestModels.AssertClose(TestModels.MatMulAddReference(x, 1), result, 1e-5);

        using var wrongType = TensorValues.CopyToCpuValue(Tensor.Zeros(DType.Float16, new TensorShape(1, 3)));
        var e = Assert.Throws<ArgumentException>(() => session.RunInto(["x"], [input.Value], ["y"], [wrongType]));
        Assert.Equal("output 'y' is float32 [batch, 3], but the value given for it is float16 [1, 3]", e.Message);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Int64)]
    [InlineData(DType.Int32)]
    [InlineData(DType.Bool)]
    public void Every_element_type_maps_to_ONNX_Runtime_and_back(DType dtype)
    {
        var tensor = Tensor.Zeros(dtype, new TensorShape(2, 2));
        var bytes = tensor.Data.Span;
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i % 2); // valid for bool too
        using var value = TensorValues.CopyToCpuValue(tensor);
        Assert.Equal(dtype, TensorValues.DTypeOf(value));
        Assert.Equal(tensor.Data.ToArray(), TensorValues.ToTensor(value).Data.ToArray());
        Assert.Equal((int)dtype, (int)TensorValues.ElementType(dtype));
    }

    [Fact]
    public void Device_copies_go_through_an_identity_session_on_the_device()
    {
        // On a GPU host these copy to and from CUDA memory; here the same code runs on the CPU provider.
        var source = Tensor.FromArray(new[] { 1.5f, -2f, 3f, 4f, 5f, 6f }, 3, 2);
        using var onDevice = DeviceCopies.ToDevice(source, Device.Parse("cpu:1"));
        Assert.Equal(new TensorShape(3, 2), TensorValues.ShapeOf(onDevice));
        source.AsSpan<float>()[0] = 99; // a copy, not a view
        Assert.Equal([1.5f, -2f, 3f, 4f, 5f, 6f], DeviceCopies.ToHost(onDevice, Device.Parse("cpu:1")).ToArray<float>());
    }

    [Fact]
    public void Empty_tensors_run()
    {
        using var session = OnnxSession.Create(TestModels.MatMulAdd());
        var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(Array.Empty<float>(), 0, 4) })["y"];
        Assert.Equal(new TensorShape(0, 3), y.Shape);
    }

    [Fact]
    public void A_tensor_type_Sd3Mesh_does_not_handle_is_named()
    {
        using var value = OrtValue.CreateTensorValueFromMemory(new ushort[] { 1, 2 }, [2]);
        var e = Assert.Throws<NotSupportedException>(() => TensorValues.DTypeOf(value));
        Assert.Equal("ONNX element type UInt16 is not one Sd3Mesh handles", e.Message);
    }

    private static void* Address<T>(Span<T> span) where T : unmanaged
    {
        fixed (T* p = span) return p;
    }
}
