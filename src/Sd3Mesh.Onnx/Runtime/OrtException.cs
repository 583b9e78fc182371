namespace Sd3Mesh.Onnx;

/// <summary>ONNX Runtime's error codes (OrtErrorCode in onnxruntime_c_api.h).</summary>
public enum OrtErrorCode
{
    Ok = 0,
    Fail = 1,
    InvalidArgument = 2,
    NoSuchFile = 3,
    NoModel = 4,
    EngineError = 5,
    RuntimeException = 6,
    InvalidProtobuf = 7,
    ModelLoaded = 8,
    NotImplemented = 9,
    InvalidGraph = 10,
    EpFail = 11,
    ModelLoadCanceled = 12,
    ModelRequiresCompilation = 13,
    NotFound = 14,
}

/// <summary>An OrtStatus returned by ONNX Runtime: its error code and its message, unchanged.</summary>
public class OrtException(OrtErrorCode code, string message) : Exception(message)
{
    public OrtErrorCode Code { get; } = code;

    public override string ToString() => $"{GetType().FullName} ({Code}): {base.ToString()}";
}
