using Sd3Mesh.Runtime.Config;
using Sd3Mesh.Runtime.Placement;

namespace Sd3Mesh.Runtime.Grains;

/// <summary>
/// A grain's sessions could not be loaded (a damaged or missing model file, a device out of memory): the job fails
/// with this, naming the submodule, the grain and its silo, and ONNX Runtime's reason. The grain reports
/// <see cref="SessionState.Failed"/>; its next call tries to load again. The server answers FAILED_PRECONDITION.
/// </summary>
[GenerateSerializer]
public sealed class SubmoduleLoadException : Exception
{
    public SubmoduleLoadException(string message) : base(message) { }

    public SubmoduleLoadException(PlacedGrain grain, Exception reason)
        : base($"{grain.Submodule.Name()} ({grain.Key} on silo {grain.Silo}) could not load its session: {reason.GetType().Name}: {reason.Message}") { }
}
