using Sd3Mesh.Tensors;

namespace Sd3Mesh.Onnx.Tests.Runtime;

/// <summary>Bad input is refused before ONNX Runtime runs, with messages that name the input and the expectation.</summary>
public sealed class ErrorTests : IDisposable
{
    private readonly OrtEnvironment _env = OrtEnvironment.Create();
    private readonly InferenceSession _matMulAdd;
    private readonly InferenceSession _twoInputs;

    public ErrorTests()
    {
        _matMulAdd = InferenceSession.Create(_env, TestModels.MatMulAdd());
        _twoInputs = InferenceSession.Create(_env, TestModels.TwoInputs());
    }

    public void Dispose()
    {
        _matMulAdd.Dispose();
        _twoInputs.Dispose();
        _env.Dispose();
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
    public void Zero_copy_run_checks_values_too()
    {
        using var wrong = OrtValue.Allocate(DType.Int64, new TensorShape(2, 4));
        var e = Assert.Throws<ArgumentException>(() => _matMulAdd.Run(["x"], [wrong], ["y"]));
        Assert.Equal("input 'x' expects float32 [batch, 4], got int64 [2, 4]", e.Message);
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
        var e = Assert.Throws<OrtException>(() => InferenceSession.Create(_env, [1, 2, 3, 4]));
        Assert.Equal(OrtErrorCode.InvalidProtobuf, e.Code);
        Assert.Equal("Failed to load model because protobuf parsing failed.", e.Message);

        var missing = Assert.Throws<FileNotFoundException>(() => InferenceSession.Create(_env, "/nonexistent/model.onnx"));
        Assert.Equal("model file not found: /nonexistent/model.onnx", missing.Message);
    }

    [Fact]
    public void Webgpu_1_is_refused_with_one_process_per_gpu_advice()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() =>
            InferenceSession.Create(_env, TestModels.MatMulAdd(), new SessionOptions { Device = Device.Parse("webgpu:1") }));
        Assert.Equal(
            "webgpu:1 cannot be selected inside this process: ONNX Runtime 1.30.0's WebGPU execution provider runs every session " +
            "of a process on the first GPU it finds (its deviceId option is a context id, and EP device selection is ignored). " +
            "Run one process per GPU instead: start the process for GPU N with only that GPU visible (on the GPU hosts: " +
            "pin-gpu.sh N ...) and use webgpu:0 in it.", e.Message);
        Assert.Equal(Device.Parse("webgpu:1"), e.Device);
    }

    [Fact]
    public void Webgpu_long_option_keys_are_refused_because_ORT_ignores_them()
    {
        var options = new SessionOptions { Device = Device.Parse("webgpu:0") };
        options.ProviderOptions["ep.webgpuexecutionprovider.dawnBackendType"] = "Vulkan";
        var e = Assert.Throws<ArgumentException>(() => InferenceSession.Create(_env, TestModels.MatMulAdd(), options));
        Assert.StartsWith("WebGPU option 'ep.webgpuexecutionprovider.dawnBackendType' would be silently ignored by ONNX Runtime 1.30.0: " +
            "use the short key 'dawnBackendType'", e.Message);
    }

    [Fact]
    public void Webgpu_without_a_gpu_says_no_adapter_was_found()
    {
        // This machine has no GPU (and no Vulkan loader); on a GPU host the session is created instead.
        try
        {
            using var s = InferenceSession.Create(_env, TestModels.MatMulAdd(), new SessionOptions { Device = Device.Parse("webgpu:0") });
        }
        catch (DeviceUnavailableException e)
        {
            Assert.StartsWith("webgpu:0: ONNX Runtime's WebGPU execution provider could not be added (no GPU was found through Vulkan", e.Message);
            Assert.IsType<OrtException>(e.InnerException);
        }
    }

    [Fact]
    public void Cuda_without_ORTs_cuda_provider_names_the_missing_library()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() =>
            InferenceSession.Create(_env, TestModels.MatMulAdd(), new SessionOptions { Device = Device.Parse("cuda:0") }));
        var ort = Assert.IsType<OrtException>(e.InnerException);
        string dir = Path.GetDirectoryName(OrtLibrary.Shared.Path)!;
        Assert.Contains($"Failed to load library {dir}/libonnxruntime_providers_shared.so", ort.Message);
        Assert.Equal(
            "cuda:0: ONNX Runtime could not load libonnxruntime_providers_shared.so, which its CUDA execution provider needs. " +
            "ONNX Runtime 1.30.0's CUDA provider package must be supplied: put libonnxruntime_providers_shared.so and " +
            $"libonnxruntime_providers_cuda.so (ORT 1.30.0, CUDA 12) in {dir}, with the CUDA 12 runtime and cuDNN 9 on the " +
            $"library path; on GPU hosts without them, use webgpu:0. (ONNX Runtime said: {ort.Message.TrimEnd()})", e.Message);
    }

    [Fact]
    public void Bad_session_settings_name_the_setting_and_limit()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            InferenceSession.Create(_env, TestModels.MatMulAdd(), new SessionOptions { IntraOpThreads = -1 }));
        Assert.StartsWith("IntraOpThreads must be >= 0 (0 = ONNX Runtime's default), got -1", e.Message);
        var options = new SessionOptions();
        options.FreeDimensionOverrides["batch"] = 0;
        e = Assert.Throws<ArgumentOutOfRangeException>(() => InferenceSession.Create(_env, TestModels.MatMulAdd(), options));
        Assert.StartsWith("free dimension override 'batch' must be >= 1, got 0", e.Message);
    }

    [Fact]
    public void Disposed_run_options_are_refused_not_passed_to_ONNX_Runtime()
    {
        var options = new RunOptions { LogTag = "gone" };
        options.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => _matMulAdd.Run(X(Tensor.Zeros(DType.Float32, new TensorShape(1, 4))), null, options));
        Assert.Equal(nameof(RunOptions), e.ObjectName);
        using var input = OrtValue.FromTensor(Tensor.Zeros(DType.Float32, new TensorShape(1, 4)));
        using var binding = _matMulAdd.CreateIoBinding();
        binding.BindInput("x", input);
        binding.BindOutput("y", Device.Cpu);
        e = Assert.Throws<ObjectDisposedException>(() => _matMulAdd.Run(binding, options));
        Assert.Equal(nameof(RunOptions), e.ObjectName);
        options.Terminate(); // after Dispose: nothing to stop, and no native call
        Assert.True(options.IsTerminateRequested);
    }

    [Fact]
    public void A_disposed_session_refuses_to_run()
    {
        var session = InferenceSession.Create(_env, TestModels.MatMulAdd());
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Run(X(Tensor.Zeros(DType.Float32, new TensorShape(1, 4)))));
    }
}
