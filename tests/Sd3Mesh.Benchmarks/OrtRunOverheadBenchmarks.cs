using System.Reflection;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Onnx;
using Sd3Mesh.Onnx.Writer;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Benchmarks;

/// <summary>
/// What a Run costs over ONNX Runtime itself, on a model so small (y = 2x + b, x [1, 16]) that the run is almost
/// all overhead: the floors call OrtApi::Run through the C function table with everything made beforehand (as the
/// previous hand-written binding's benchmark did); then the official managed API (InferenceSession), and Sd3Mesh's
/// OnnxSession over it (input checks, the run guard, tensors in and out). See docs/benchmarks.md.
/// </summary>
[MemoryDiagnoser]
public unsafe partial class OrtRunOverheadBenchmarks
{
    private OnnxSession _session = null!;
    private InferenceSession _official = null!;
    private RunOptions _runOptions = null!;
    private PinnedTensorValue _input = null!;
    private OrtValue _output = null!;
    private Dictionary<string, Tensor> _tensors = null!;
    private OnnxBinding _binding = null!;
    private readonly string[] _inputNames = ["x"], _outputNames = ["y"];
    private OrtValue[] _inputs = null!, _outputs = null!;
    private delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint> _bareRun;
    private delegate* unmanaged<nint, void> _releaseValue;
    private nint _nativeSession, _inputValue, _outputValue;
    private byte* _x, _y;

    [LibraryImport("onnxruntime")]
    private static partial nint OrtGetApiBase();

    [GlobalSetup]
    public void Setup()
    {
        var g = new GraphBuilder("tiny");
        var x = g.Input("x", DType.Float32, 1, 16);
        g.Output(g.Add(g.Mul(x, g.Scalar(2)), g.Initializer("b", Tensor.FromArray(Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), 16))),
            "y", DType.Float32, 1, 16);
        _session = OnnxSession.Create(g.Build().ToBytes(), new SessionSettings { IntraOpThreads = 1 });
        _official = _session.Native;
        _runOptions = new RunOptions();
        var input = Tensor.FromArray(new float[16], 1, 16);
        _tensors = new Dictionary<string, Tensor> { ["x"] = input };
        _input = PinnedTensorValue.Wrap(input);
        _output = TensorValues.CopyToCpuValue(Tensor.Zeros(DType.Float32, new TensorShape(1, 16)));
        _inputs = [_input.Value];
        _outputs = [_output];
        _binding = _session.CreateBinding();
        _binding.BindInput("x", _input.Value);
        _binding.BindOutput("y", _output);

        // The C function table (OrtApiBase::GetApi), Run = entry 9, ReleaseValue = entry 96 of struct OrtApi.
        var apiBase = (nint*)OrtGetApiBase();
        var table = (nint*)((delegate* unmanaged<uint, nint>)apiBase[0])(1);
        _bareRun = (delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)table[9];
        _releaseValue = (delegate* unmanaged<nint, void>)table[96];
        _nativeSession = Handle(_official);
        _inputValue = Handle(_input.Value);
        _outputValue = Handle(_output);
        _x = (byte*)Marshal.StringToCoTaskMemUTF8("x");
        _y = (byte*)Marshal.StringToCoTaskMemUTF8("y");
    }

    /// <summary>The native handle behind an official API object (internal there; the benchmark's floor needs it).</summary>
    private static nint Handle(object o) =>
        (nint)o.GetType().GetProperty("Handle", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(o)!;

    [GlobalCleanup]
    public void Cleanup()
    {
        Marshal.FreeCoTaskMem((nint)_x);
        Marshal.FreeCoTaskMem((nint)_y);
        _binding.Dispose();
        _input.Dispose();
        _output.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }

    /// <summary>Floor: OrtApi::Run, ONNX Runtime allocates the output, which is then released.</summary>
    [Benchmark(Baseline = true)]
    public void BareRun()
    {
        nint input = _inputValue, output = 0;
        byte* x = _x, y = _y;
        if (_bareRun(_nativeSession, 0, &x, &input, 1, &y, 1, &output) != 0) throw new InvalidOperationException("OrtApi::Run failed");
        _releaseValue(output);
    }

    /// <summary>Floor: OrtApi::Run into a pre-allocated output.</summary>
    [Benchmark]
    public void BareRunInto()
    {
        nint input = _inputValue, output = _outputValue;
        byte* x = _x, y = _y;
        if (_bareRun(_nativeSession, 0, &x, &input, 1, &y, 1, &output) != 0) throw new InvalidOperationException("OrtApi::Run failed");
    }

    /// <summary>The official managed API: InferenceSession.Run over OrtValues, ONNX Runtime allocates the output.</summary>
    [Benchmark]
    public void OfficialRun()
    {
        using var outputs = _official.Run(_runOptions, _inputNames, _inputs, _outputNames);
    }

    /// <summary>The official managed API into a pre-allocated output.</summary>
    [Benchmark]
    public void OfficialRunInto() => _official.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);

    /// <summary>Sd3Mesh's OnnxSession.Run over OrtValues: checks, the run guard, then the official Run.</summary>
    [Benchmark]
    public void ZeroCopyRun() => _session.Run(_inputNames, _inputs, _outputNames)[0].Dispose();

    /// <summary>OnnxSession.RunInto: checks, output written in place.</summary>
    [Benchmark]
    public void ZeroCopyRunInto() => _session.RunInto(_inputNames, _inputs, _outputNames, _outputs);

    /// <summary>Run on a bound OnnxBinding (RunWithBinding).</summary>
    [Benchmark]
    public void IoBindingRun() => _session.Run(_binding);

    /// <summary>The convenience Run: pins the managed input, copies the output into a new managed tensor.</summary>
    [Benchmark]
    public Tensor ConvenienceRun() => _session.Run(_tensors)["y"];
}
