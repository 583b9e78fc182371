using System.Runtime.InteropServices;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed unsafe class OrtValueTests : IDisposable
{
    private readonly OrtEnvironment _env = OrtEnvironment.Create();
    public void Dispose() => _env.Dispose();

    [Fact]
    public void FromTensor_shares_the_managed_array_without_copying()
    {
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        using var value = OrtValue.FromTensor(Tensor.FromArray(data, 2, 3));
        Assert.Equal(DType.Float32, value.DType);
        Assert.Equal(new TensorShape(2, 3), value.Shape);
        Assert.Equal("cpu", value.Location);
        fixed (float* p = data) Assert.Equal((nint)p, (nint)Unsafe(value.GetSpan<float>()));
        data[4] = 42;
        Assert.Equal(42, value.GetSpan<float>()[4]); // same memory
        value.GetSpan<float>()[0] = -1;
        Assert.Equal(-1, data[0]);
    }

    [Fact]
    public void Outputs_are_read_in_place_and_copied_on_request()
    {
        using var session = InferenceSession.Create(_env, TestModels.MatMulAdd());
        var x = TestModels.Floats(8);
        using var input = OrtValue.FromTensor(Tensor.FromArray(x, 2, 4));
        var outputs = session.Run(["x"], [input], ["y"]);
        using var y = Assert.Single(outputs);
        Assert.Equal(new TensorShape(2, 3), y.Shape);
        Assert.Equal("cpu", y.Location);
        var span = y.GetSpan<float>();
        Assert.Equal((nint)Unsafe(span), (nint)Unsafe(y.GetSpan<float>())); // ONNX Runtime's buffer, not a copy
        TestModels.AssertClose(TestModels.MatMulAddReference(x, 2), span, 1e-5);

        var copy = y.ToTensor();
        span[0] = 1234;
        Assert.NotEqual(1234, copy.ToArray<float>()[0]);
    }

    [Fact]
    public void Preallocated_outputs_are_written_in_place()
    {
        using var session = InferenceSession.Create(_env, TestModels.MatMulAdd());
        var x = TestModels.Floats(4);
        var result = new float[3];
        using var input = OrtValue.FromTensor(Tensor.FromArray(x, 1, 4));
        using var output = OrtValue.FromTensor(Tensor.FromArray(result, 1, 3));
        session.RunInto(["x"], [input], ["y"], [output]);
        TestModels.AssertClose(TestModels.MatMulAddReference(x, 1), result, 1e-5);

        using var wrongType = OrtValue.Allocate(DType.Float16, new TensorShape(1, 3));
        var e = Assert.Throws<ArgumentException>(() => session.RunInto(["x"], [input], ["y"], [wrongType]));
        Assert.Equal("output 'y' is float32 [batch, 3], but the value given for it is float16 [1, 3]", e.Message);
    }

    [Fact]
    public void Allocate_and_native_buffers_hold_data_of_every_width()
    {
        using (var a = OrtValue.Allocate(DType.Int32, new TensorShape(2, 2)))
        {
            a.GetSpan<int>().Fill(7);
            Assert.Equal([7, 7, 7, 7], a.ToTensor().ToArray<int>());
        }

        var owner = new NativeBuffer(4 * sizeof(short));
        var value = OrtValue.FromNative(owner.Pointer, owner.Length, DType.Float16, new TensorShape(4), owner);
        value.GetSpan<Half>().Fill((Half)0.5f);
        Assert.Equal([0.5f, 0.5f, 0.5f, 0.5f], value.ToTensor().ToFloatArray());
        Assert.False(owner.Disposed);
        value.Dispose();
        Assert.True(owner.Disposed); // released after the OrtValue

        var e = Assert.Throws<ArgumentException>(() => OrtValue.FromNative(1, 4, DType.Float32, new TensorShape(2)));
        Assert.StartsWith("a float32 tensor of shape [2] needs 8 bytes, the buffer has 4", e.Message);
    }

    [Fact]
    public void Device_downloads_copy_through_an_identity_session()
    {
        // On a GPU host this path copies WebGPU values out; here it runs the same code on the CPU provider.
        var source = Tensor.FromArray(new[] { 1.5f, -2f, 3f, 4f, 5f, 6f }, 3, 2);
        using var value = OrtValue.FromTensor(source);
        var copy = Tensor.Zeros(DType.Float32, new TensorShape(3, 2));
        DeviceDownloads.CopyToCpu(value, Device.Cpu, copy);
        Assert.Equal(source.ToArray<float>(), copy.ToArray<float>());
    }

    [Fact]
    public void Empty_tensors_run_and_disposed_values_refuse_access()
    {
        using var session = InferenceSession.Create(_env, TestModels.MatMulAdd());
        var y = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(Array.Empty<float>(), 0, 4) })["y"];
        Assert.Equal(new TensorShape(0, 3), y.Shape);

        var value = OrtValue.FromTensor(Tensor.FromArray(new[] { 1f }, 1));
        value.Dispose();
        Assert.Throws<ObjectDisposedException>(() => value.GetSpan<float>());
        Assert.Throws<ObjectDisposedException>(() => value.SizeInBytes);
    }

    [Fact]
    public void GetSpan_with_the_wrong_type_is_refused()
    {
        using var value = OrtValue.FromTensor(Tensor.FromArray(new long[] { 1, 2 }, 2));
        var e = Assert.Throws<InvalidOperationException>(() => value.GetSpan<int>());
        Assert.Equal("value holds int64 elements, not int32", e.Message);
    }

    private static void* Unsafe<T>(Span<T> span) where T : unmanaged
    {
        fixed (T* p = span) return p;
    }

    private sealed class NativeBuffer(int length) : IDisposable
    {
        public nint Pointer { get; } = (nint)NativeMemory.AllocZeroed((nuint)length);
        public int Length => length;
        public bool Disposed { get; private set; }

        public void Dispose()
        {
            NativeMemory.Free((void*)Pointer);
            Disposed = true;
        }
    }
}
