namespace Sd3Mesh.Onnx;

/// <summary>ONNX Runtime's logging severities (OrtLoggingLevel); numeric values match the C API.</summary>
public enum OrtLogLevel
{
    Verbose = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
    Fatal = 4,
}
