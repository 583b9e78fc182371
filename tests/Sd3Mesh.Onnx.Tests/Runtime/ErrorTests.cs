using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

/// <summary>Bad input is refused before ONNX Runtime runs, with messages that name the input and the expectation.</summary>
public sealed class ErrorTests : IDisposable
{
    private readonly OnnxSession _matMulAdd = OnnxSession.Create(TestModels.MatMulAdd());
    private readonly OnnxSession _twoInputs = OnnxSession.Create(TestModels.TwoInputs());

    public void Dispose()
    {
        _matMulAdd.Dispose();
        _twoInputs.Dispose();
    }

    private static Dictionary<string, Tensor> X(Tensor t) => new() { ["x"] = t };

    [Fact]
    public void Wrong_element_type_names_input_expectation_and_value()
    {
        var e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(X(Tensor.Zeros(DType.Float16, new TensorShape(2, 4)))));
        Assert.Equal("input 'x' expects float32 [batch, 4], got float16 [2, 4]", e.Message);
    }

    [Fact]
    public void Wrong_fixed_dimension_or_rank_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(X(Tensor.Zeros(DType.Float32, new TensorShape(2, 3)))));
        Assert.Equal("input 'x' expects float32 [batch, 4], got float32 [2, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(X(Tensor.Zeros(DType.Float32, new TensorShape(1, 2, 4)))));
        Assert.Equal("input 'x' expects float32 [batch, 4], got float32 [1, 2, 4]", e.Message);
    }

    [Fact]
    public void Runs_on_values_are_checked_too()
    {
        using var wrong = TensorValues.CopyToCpuValue(Tensor.Zeros(DType.Int64, new TensorShape(2, 4)));
        var e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(["x"], [wrong], ["y"]));
        Assert.Equal("input 'x' expects float32 [batch, 4], got int64 [2, 4]", e.Message);
        using var x = TensorValues.CopyToCpuValue(Tensor.Zeros(DType.Float32, new TensorShape(2, 4)));
        e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(["x", "x"], [x, x], ["y"]));
        Assert.Equal("input 'x' is given twice", e.Message);
        e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(["x"], [x], []));
        Assert.Equal("no outputs requested", e.Message);
    }

    [Fact]
    public void Missing_input_lists_the_model_inputs()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            _twoInputs.Run(new Dictionary<string, Tensor> { ["a"] = Tensor.Zeros(DType.Float32, new TensorShape(1, 4)) }));
        Assert.Equal("missing input 'b' (float32 [4]): the model's inputs are a (float32 [batch, 4]), b (float32 [4])", e.Message);
    }

    [Fact]
    public void Unknown_input_and_output_names_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.Zeros(DType.Float32, new TensorShape(1, 4)),
            ["z"] = Tensor.Zeros(DType.Float32, new TensorShape(1, 4)),
        }));
        Assert.Equal("unknown input 'z': the model's inputs are x (float32 [batch, 4])", e.Message);

        e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(X(Tensor.Zeros(DType.Float32, new TensorShape(1, 4))), ["logits"]));
        Assert.Equal("unknown output 'logits': the model's outputs are y (float32 [batch, 3])", e.Message);
    }

    [Fact]
    public void ONNX_Runtime_errors_carry_its_code_and_message()
    {
        var e = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.Create([1, 2, 3, 4]));
        Assert.Equal("[ErrorCode:InvalidProtobuf] Failed to load model because protobuf parsing failed.", e.Message);

        var missing = Assert.Throws<FileNotFoundException>(() => OnnxSession.Create("/nonexistent/model.onnx"));
        Assert.Equal("model file not found: /nonexistent/model.onnx", missing.Message);
    }

    [Fact]
    public void Bad_session_settings_name_the_setting_and_limit()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => OnnxSession.Create(TestModels.MatMulAdd(), new SessionSettings { IntraOpThreads = -1 }));
        Assert.StartsWith("IntraOpThreads must be >= 0 (0 = ONNX Runtime's default), got -1", e.Message);
        var settings = new SessionSettings();
        settings.FreeDimensionOverrides["batch"] = 0;
        e = Assert.Throws<ArgumentOutOfRangeException>(() => OnnxSession.Create(TestModels.MatMulAdd(), settings));
        Assert.StartsWith("free dimension override 'batch' must be >= 1, got 0", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => OnnxSession.Create(TestModels.MatMulAdd(),
            new SessionSettings { GraphOptimizationLevel = (GraphOptimizationLevel)5 }));
        Assert.StartsWith("GraphOptimizationLevel must be one of ORT_DISABLE_ALL, ORT_ENABLE_BASIC, ORT_ENABLE_EXTENDED, ORT_ENABLE_LAYOUT, ORT_ENABLE_ALL", e.Message);
    }

    [Fact]
    public void A_disposed_session_refuses_to_run_and_to_bind()
    {
        var session = OnnxSession.Create(TestModels.MatMulAdd());
        session.Dispose();
        session.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => session.Run(X(Tensor.Zeros(DType.Float32, new TensorShape(1, 4)))));
        Assert.Throws<ObjectDisposedException>(() => session.CreateBinding());
    }

    [Fact]
    public async Task Disposing_a_session_while_runs_are_in_flight_lets_them_finish()
    {
        var session = OnnxSession.Create(TestModels.LongChain(256, 400), new SessionSettings { IntraOpThreads = 1 });
        var x = Tensor.FromArray(TestModels.Floats(256 * 256), 256, 256);
        var run = Task.Run(() => session.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"]);
        await Task.Delay(50);
        session.Dispose(); // the native session goes when the run ends
        var y = await run;
        Assert.Equal(x.ToArray<float>(), y.ToArray<float>()); // identity chain: values stay put
    }
}
