using Sd3Mesh.Onnx.Native;

namespace Sd3Mesh.Onnx;

/// <summary>Appends the execution provider that a <see cref="Device"/> names to native session options.</summary>
internal static unsafe class ExecutionProviders
{
    public const string WebGpuEpName = "WebGPU";
    private const string WebGpuLongKeyPrefix = "ep.webgpuexecutionprovider.";

    /// <summary>Options the WebGPU EP gets unless the caller sets them.</summary>
    private static readonly KeyValuePair<string, string>[] WebGpuDefaults = [new("dawnBackendType", "Vulkan")];

    public static void Append(SessionOptionsHandle options, Device device, IDictionary<string, string> providerOptions)
    {
        switch (device.Kind)
        {
            case DeviceKind.Cpu:
                return; // the CPU EP is always there; cpu:N is a logical device on the same EP
            case DeviceKind.WebGpu:
                AppendWebGpu(options, device, providerOptions);
                return;
            case DeviceKind.Cuda:
                AppendCuda(options, device, providerOptions);
                return;
            default:
                throw new ArgumentOutOfRangeException(nameof(device), device, $"unknown device kind; expected {Device.AcceptedForms}");
        }
    }

    /// <summary>Refuses what ONNX Runtime 1.30 cannot do in one process, before any native call.</summary>
    public static void CheckSelectable(Device device)
    {
        if (device.Kind == DeviceKind.WebGpu && device.Index > 0)
            throw new DeviceUnavailableException(device,
                $"{device} cannot be selected inside this process: ONNX Runtime {OrtLibrary.RequiredVersion}'s WebGPU " +
                "execution provider runs every session of a process on the first GPU it finds (its deviceId option is a " +
                "context id, and EP device selection is ignored). Run one process per GPU instead: start the process for " +
                "GPU N with only that GPU visible (on the GPU hosts: pin-gpu.sh N ...) and use webgpu:0 in it.");
    }

    private static void AppendWebGpu(SessionOptionsHandle options, Device device, IDictionary<string, string> providerOptions)
    {
        CheckSelectable(device);
        foreach (var key in providerOptions.Keys)
            if (key.StartsWith(WebGpuLongKeyPrefix, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException(
                    $"WebGPU option '{key}' would be silently ignored by ONNX Runtime {OrtLibrary.RequiredVersion}: " +
                    $"use the short key '{key[WebGpuLongKeyPrefix.Length..]}'", nameof(providerOptions));

        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in WebGpuDefaults) merged[k] = v;
        foreach (var (k, v) in providerOptions) merged[k] = v;
        try
        {
            using var name = new Utf8(WebGpuEpName);
            using var pairs = new Utf8Pairs(merged);
            OrtStatus.Check(OrtApi.SessionOptionsAppendExecutionProvider(
                options.DangerousGetHandle(), name.Pointer, pairs.Keys, pairs.Values, pairs.Count));
        }
        catch (OrtException e)
        {
            string hint = e.Message.Contains("adapter", StringComparison.OrdinalIgnoreCase)
                ? " (no GPU was found through Vulkan: the WebGPU execution provider needs a GPU driver with Vulkan and " +
                  "libvulkan.so.1; on the GPU hosts, source .device/prelude.sh first)"
                : "";
            throw new DeviceUnavailableException(device,
                $"{device}: ONNX Runtime's WebGPU execution provider could not be added{hint}: {e.Message}", e);
        }
    }

    private static void AppendCuda(SessionOptionsHandle options, Device device, IDictionary<string, string> providerOptions)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in providerOptions) merged[k] = v;
        merged["device_id"] = device.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            nint cudaOptions;
            OrtStatus.Check(OrtApi.CreateCUDAProviderOptions(&cudaOptions));
            using var handle = new CudaProviderOptionsHandle(cudaOptions);
            using (var pairs = new Utf8Pairs(merged))
                OrtStatus.Check(OrtApi.UpdateCUDAProviderOptions(cudaOptions, pairs.Keys, pairs.Values, pairs.Count));
            OrtStatus.Check(OrtApi.SessionOptionsAppendExecutionProvider_CUDA_V2(options.DangerousGetHandle(), cudaOptions));
        }
        catch (OrtException e)
        {
            throw new DeviceUnavailableException(device, CudaFailureMessage(device, e.Message), e);
        }
    }

    /// <summary>Names the provider library ONNX Runtime failed to load, and what must be supplied.</summary>
    internal static string CudaFailureMessage(Device device, string ortMessage)
    {
        string? missing = MissingLibrary(ortMessage);
        if (missing is null)
            return $"{device}: ONNX Runtime's CUDA execution provider could not be added: {ortMessage}";
        string dir = Path.GetDirectoryName(OrtLibrary.Shared.Path) ?? ".";
        return $"{device}: ONNX Runtime could not load {missing}, which its CUDA execution provider needs. " +
               $"ONNX Runtime {OrtLibrary.RequiredVersion}'s CUDA provider package must be supplied: put " +
               $"libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so (ORT {OrtLibrary.RequiredVersion}, " +
               $"CUDA 12) in {dir}, with the CUDA 12 runtime and cuDNN 9 on the library path; " +
               $"on GPU hosts without them, use webgpu:0. (ONNX Runtime said: {ortMessage.TrimEnd()})";
    }

    /// <summary>The file name of the shared library an ORT load error is about, if it names one.</summary>
    internal static string? MissingLibrary(string ortMessage)
    {
        foreach (var token in ortMessage.Split([' ', '\'', '"', '[', ']', '(', ')', ',', ':', '\n'], StringSplitOptions.RemoveEmptyEntries))
            if (token.Contains(".so", StringComparison.Ordinal) && token.Contains("providers", StringComparison.Ordinal))
                return Path.GetFileName(token);
        return ortMessage.Contains("Failed to load", StringComparison.OrdinalIgnoreCase) ? "libonnxruntime_providers_cuda.so" : null;
    }
}

/// <summary>Parallel native arrays of UTF-8 keys and values, for the C API's key/value option lists.</summary>
internal sealed unsafe class Utf8Pairs : IDisposable
{
    private readonly Utf8[] _keys, _values;
    private readonly byte** _keyPtrs, _valuePtrs;

    public Utf8Pairs(IReadOnlyCollection<KeyValuePair<string, string>> pairs)
    {
        _keys = new Utf8[pairs.Count];
        _values = new Utf8[pairs.Count];
        _keyPtrs = (byte**)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)Math.Max(1, pairs.Count), (nuint)sizeof(nint));
        _valuePtrs = (byte**)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)Math.Max(1, pairs.Count), (nuint)sizeof(nint));
        int i = 0;
        foreach (var (k, v) in pairs)
        {
            _keys[i] = new Utf8(k);
            _values[i] = new Utf8(v);
            _keyPtrs[i] = _keys[i].Pointer;
            _valuePtrs[i] = _values[i].Pointer;
            i++;
        }
    }

    public byte** Keys => _keyPtrs;
    public byte** Values => _valuePtrs;
    public nuint Count => (nuint)_keys.Length;

    public void Dispose()
    {
        foreach (var k in _keys) k.Dispose();
        foreach (var v in _values) v.Dispose();
        System.Runtime.InteropServices.NativeMemory.Free(_keyPtrs);
        System.Runtime.InteropServices.NativeMemory.Free(_valuePtrs);
    }
}
