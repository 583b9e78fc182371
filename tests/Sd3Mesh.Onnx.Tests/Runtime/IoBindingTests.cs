using System.Buffers;
using System.Runtime.InteropServices;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

public sealed class IoBindingTests
{
    /// <summary>One "denoising step": x' = x . M + c, with x [1, 4]. A MatMul reads all of x for every element
    /// of x', so an output written over its own input (a reused buffer) would give wrong values.</summary>
    private static readonly float[] M = [0.5f, 0.25f, 0f, -0.5f, 0.125f, 0.5f, 0.25f, 0f, 0f, -0.25f, 0.5f, 0.25f, 0.25f, 0f, 0.125f, 0.5f];
    private static readonly float[] C = [1f, -2f, 0.25f, 8f];

    private static OnnxSession Step()
    {
        var g = new GraphBuilder("step");
        var x = g.Input("x", DType.Float32, 1, 4);
        g.Output(g.Add(g.MatMul(x, g.Initializer("m", Tensor.FromArray(M, 4, 4))), g.Initializer("c", Tensor.FromArray(C, 4))),
            "y", DType.Float32, 1, 4);
        return OnnxSession.Create(g.Build().ToBytes());
    }

    private static double[] StepReference(double[] x) =>
        Enumerable.Range(0, 4).Select(j => C[j] + Enumerable.Range(0, 4).Sum(k => x[k] * M[k * 4 + j])).ToArray();

    [Fact]
    public void An_output_bound_to_the_device_feeds_the_next_run()
    {
        using var session = Step();
        using var binding = session.CreateBinding();
        var x0 = new[] { 4f, -4f, 16f, 0f };
        binding.BindInput("x", Tensor.FromArray(x0, 1, 4));
        binding.BindOutput("y", session.Device); // the session's device: the value stays in its memory
        Assert.Equal(["y"], binding.OutputNames);

        double[] expected = Array.ConvertAll(x0, v => (double)v);
        var kept = new List<(Microsoft.ML.OnnxRuntime.OrtValue Value, double[] Expected)>();
        for (int step = 0; step < 4; step++)
        {
            session.Run(binding);
            var y = binding.GetOutputs()["y"];
            expected = StepReference(expected);
            TestModels.AssertClose(expected, DeviceCopies.ToHost(y, session.Device).ToArray<float>(), 1e-6);
            binding.BindInput("x", y); // the output becomes the next input, no copy
            kept.Add((y, expected));
        }
        var e = Assert.Throws<InvalidOperationException>(() => binding.GetOutputs());
        Assert.Equal("output 'y' has no value: run the session first (each run's device outputs can be taken once)", e.Message);

        // Every step's output kept its own buffer: later runs did not write over earlier outputs.
        foreach (var (value, values) in kept)
        {
            TestModels.AssertClose(values, TensorValues.ToTensor(value).ToArray<float>(), 1e-6);
            value.Dispose(); // safe even while bound: the binding holds its own reference
        }
    }

    [Fact]
    public void An_output_bound_to_a_preallocated_value_is_written_there()
    {
        using var session = Step();
        using var binding = session.CreateBinding();
        var result = new float[4];
        using var output = PinnedTensorValue.Wrap(Tensor.FromArray(result, 1, 4));
        binding.BindInput("x", Tensor.FromArray(new[] { 2f, 2f, 2f, 2f }, 1, 4));
        binding.BindOutput("y", output.Value);
        session.Run(binding);
        TestModels.AssertClose(StepReference([2, 2, 2, 2]), result, 1e-6);
        session.Run(binding); // written in place again: the fixed buffers a CUDA graph replays into
        TestModels.AssertClose(StepReference([2, 2, 2, 2]), result, 1e-6);

        using var wrong = PinnedTensorValue.Wrap(Tensor.Zeros(DType.Float16, new TensorShape(1, 4)));
        var e = Assert.Throws<ArgumentException>(() => binding.BindOutput("y", wrong.Value));
        Assert.Equal("output 'y' is float32 [1, 4], but the value given for it is float16 [1, 4]", e.Message);
    }

    [Fact]
    public void A_tensor_bound_as_input_is_unpinned_as_soon_as_it_is_unbound()
    {
        using var session = Step();
        var binding = session.CreateBinding();
        var memory = new PinCountingMemory(4 * sizeof(float));
        var tensor = new Tensor(DType.Float32, new TensorShape(1, 4), memory.Memory);

        binding.BindInput("x", tensor);
        Assert.Equal(1, memory.Pins);
        binding.ClearInputs();
        Assert.Equal(0, memory.Pins);

        binding.BindInput("x", tensor);
        using var other = TensorValues.CopyToCpuValue(Tensor.Zeros(DType.Float32, new TensorShape(1, 4)));
        binding.BindInput("x", other); // the name now holds another value
        Assert.Equal(0, memory.Pins);

        binding.BindInput("x", tensor);
        binding.BindOutput("y", Device.Cpu);
        session.Run(binding);
        using (var y = binding.GetOutputs()["y"]) TestModels.AssertClose(StepReference([0, 0, 0, 0]), TensorValues.ToTensor(y).ToArray<float>(), 1e-6);
        binding.Dispose();
        Assert.Equal(0, memory.Pins);
    }

    /// <summary>Managed memory that counts its live pins.</summary>
    private sealed unsafe class PinCountingMemory(int length) : MemoryManager<byte>
    {
        private readonly byte[] _bytes = new byte[length];
        public int Pins { get; private set; }
        public override Span<byte> GetSpan() => _bytes;
        public override MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = GCHandle.Alloc(_bytes, GCHandleType.Pinned);
            Pins++;
            return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle, this);
        }
        public override void Unpin() => Pins--;
        protected override void Dispose(bool disposing) { }
    }

    [Fact]
    public void Unbound_inputs_and_foreign_devices_are_refused()
    {
        using var session = Step();
        using var binding = session.CreateBinding();
        binding.BindOutput("y", Device.Cpu);
        var e = Assert.Throws<ArgumentException>(() => session.Run(binding));
        Assert.Equal("missing input 'x' (float32 [1, 4]): the model's inputs are x (float32 [1, 4])", e.Message);
        e = Assert.Throws<ArgumentException>(() => binding.BindOutput("y", Device.Cuda(1)));
        Assert.Equal("output 'y' can be bound to cpu or to the session's device cpu:0, not cuda:1", e.Message);
        e = Assert.Throws<ArgumentException>(() => binding.BindInput("x", Tensor.Zeros(DType.Float32, new TensorShape(2, 4))));
        Assert.Equal("input 'x' expects float32 [1, 4], got float32 [2, 4]", e.Message);
    }
}
