namespace Sd3Mesh.Models;

/// <summary>
/// A model folder, config or weight file that Sd3Mesh cannot use: the message names the file, the field or
/// tensor, and what was expected. An <see cref="IOException"/>, so callers that handle unusable files
/// generally handle it too.
/// </summary>
public sealed class ModelFormatException(string message, Exception? inner = null) : IOException(message, inner);
