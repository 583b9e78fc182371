using BenchmarkDotNet.Attributes;
using Sd3Mesh.Onnx;
using Sd3Mesh.Onnx.Native;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Benchmarks;

/// <summary>
/// What the binding costs over ONNX Runtime itself, on a model so small (y = 2x + b, x [1, 16]) that the
/// run is almost all overhead. The floors call OrtApi::Run through its function pointer with everything
/// made beforehand (names, values); each binding path does the same work through the public API.
/// See docs/benchmarks.md for how to run it and the recorded figures.
/// </summary>
[MemoryDiagnoser]
public unsafe class OrtRunOverheadBenchmarks
{
    private OrtEnvironment _environment = null!;
    private InferenceSession _session = null!;
    private OrtValue _input = null!, _output = null!;
    private Dictionary<string, Tensor> _tensors = null!;
    private IoBinding _binding = null!;
    private readonly string[] _inputNames = ["x"], _outputNames = ["y"];
    private OrtValue[] _inputs = null!, _outputs = null!;
    private nint _nativeSession, _inputValue, _outputValue;
    private byte* _x, _y;

    [GlobalSetup]
    public void Setup()
    {
        var g = new GraphBuilder("tiny");
        var x = g.Input("x", DType.Float32, 1, 16);
        g.Output(g.Add(g.Mul(x, g.Scalar(2)), g.Initializer("b", Tensor.FromArray(Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), 16))),
            "y", DType.Float32, 1, 16);
        _environment = OrtEnvironment.Create();
        _session = InferenceSession.Create(_environment, g.Build().ToBytes(), new SessionOptions { IntraOpThreads = 1 });
        var input = Tensor.FromArray(new float[16], 1, 16);
        _tensors = new Dictionary<string, Tensor> { ["x"] = input };
        _input = OrtValue.FromTensor(input);
        _output = OrtValue.Allocate(DType.Float32, new TensorShape(1, 16));
        _inputs = [_input];
        _outputs = [_output];
        _binding = _session.CreateIoBinding();
        _binding.BindInput("x", _input);
        _binding.BindOutput("y", _output);

        _nativeSession = _session.Handle.DangerousGetHandle();
        _inputValue = _input.Handle.DangerousGetHandle();
        _outputValue = _output.Handle.DangerousGetHandle();
        _x = (byte*)System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("x");
        _y = (byte*)System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("y");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        System.Runtime.InteropServices.Marshal.FreeCoTaskMem((nint)_x);
        System.Runtime.InteropServices.Marshal.FreeCoTaskMem((nint)_y);
        _binding.Dispose();
        _input.Dispose();
        _output.Dispose();
        _session.Dispose();
        _environment.Dispose();
    }

    /// <summary>Floor: OrtApi::Run, ONNX Runtime allocates the output, which is then released.</summary>
    [Benchmark(Baseline = true)]
    public void BareRun()
    {
        nint input = _inputValue, output = 0;
        byte* x = _x, y = _y;
        OrtStatus.Check(OrtApi.Run(_nativeSession, 0, &x, &input, 1, &y, 1, &output));
        OrtApi.ReleaseValue(output);
    }

    /// <summary>Floor: OrtApi::Run into a pre-allocated output.</summary>
    [Benchmark]
    public void BareRunInto()
    {
        nint input = _inputValue, output = _outputValue;
        byte* x = _x, y = _y;
        OrtStatus.Check(OrtApi.Run(_nativeSession, 0, &x, &input, 1, &y, 1, &output));
    }

    /// <summary>InferenceSession.Run over OrtValues: checks, then ONNX Runtime allocates the output (wrapped, disposed).</summary>
    [Benchmark]
    public void ZeroCopyRun() => _session.Run(_inputNames, _inputs, _outputNames)[0].Dispose();

    /// <summary>InferenceSession.RunInto: checks, output written in place.</summary>
    [Benchmark]
    public void ZeroCopyRunInto() => _session.RunInto(_inputNames, _inputs, _outputNames, _outputs);

    /// <summary>Run on a bound IoBinding.</summary>
    [Benchmark]
    public void IoBindingRun() => _session.Run(_binding);

    /// <summary>The convenience Run: pins the managed input, copies the output into a new managed tensor.</summary>
    [Benchmark]
    public Tensor ConvenienceRun() => _session.Run(_tensors)["y"];
}
