namespace Sd3Mesh.Onnx;

/// <summary>
/// ONNX Runtime's native library could not be found or used. The message lists every place that was
/// tried, why each failed, and how to fix it.
/// </summary>
public sealed class OrtLibraryException(string message) : Exception(message);
