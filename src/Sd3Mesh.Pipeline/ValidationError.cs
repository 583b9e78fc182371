namespace Sd3Mesh.Pipeline;

/// <summary>
/// One invalid value of a request: <see cref="Field"/> is the request field in snake_case as the gRPC
/// API names it (the CLI maps it to its option name), <see cref="Message"/> says what is wrong and what
/// is allowed.
/// </summary>
public sealed record ValidationError(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>Thrown when a request is invalid; carries every error found, not just the first.</summary>
public sealed class GenerationRequestException(IReadOnlyList<ValidationError> errors)
    : ArgumentException("invalid generation request: " + string.Join("; ", errors))
{
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}
