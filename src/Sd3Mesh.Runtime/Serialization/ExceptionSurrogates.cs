using Grpc.Core;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;

namespace Sd3Mesh.Runtime.Serialization;

// Exceptions a grain call can end with that Orleans cannot serialize by itself: without these, the caller on another
// silo (or the client) gets "Could not find a codec for type ..." instead of the error. Each keeps what its handlers
// read: an RpcException its status (a tensor fetch that failed: NOT_FOUND, DEADLINE_EXCEEDED, ...), a
// GenerationRequestException its errors per field, a DeviceUnavailableException its device and message.

[GenerateSerializer]
public struct RpcExceptionSurrogate
{
    [Id(0)] public StatusCode Code;
    [Id(1)] public string Detail;
}

[RegisterConverter]
public sealed class RpcExceptionConverter : IConverter<RpcException, RpcExceptionSurrogate>
{
    public RpcException ConvertFromSurrogate(in RpcExceptionSurrogate s) => new(new Status(s.Code, s.Detail));
    public RpcExceptionSurrogate ConvertToSurrogate(in RpcException e) => new() { Code = e.StatusCode, Detail = e.Status.Detail };
}

[GenerateSerializer]
public struct GenerationRequestExceptionSurrogate
{
    [Id(0)] public string[] Fields;
    [Id(1)] public string[] Messages;
}

[RegisterConverter]
public sealed class GenerationRequestExceptionConverter : IConverter<GenerationRequestException, GenerationRequestExceptionSurrogate>
{
    public GenerationRequestException ConvertFromSurrogate(in GenerationRequestExceptionSurrogate s) =>
        new([.. s.Fields.Zip(s.Messages, (field, message) => new ValidationError(field, message))]);

    public GenerationRequestExceptionSurrogate ConvertToSurrogate(in GenerationRequestException e) =>
        new() { Fields = [.. e.Errors.Select(x => x.Field)], Messages = [.. e.Errors.Select(x => x.Message)] };
}

[GenerateSerializer]
public struct DeviceUnavailableExceptionSurrogate
{
    [Id(0)] public string Device;
    [Id(1)] public string Message;
}

[RegisterConverter]
public sealed class DeviceUnavailableExceptionConverter : IConverter<DeviceUnavailableException, DeviceUnavailableExceptionSurrogate>
{
    public DeviceUnavailableException ConvertFromSurrogate(in DeviceUnavailableExceptionSurrogate s) => new(Device.Parse(s.Device), s.Message);
    public DeviceUnavailableExceptionSurrogate ConvertToSurrogate(in DeviceUnavailableException e) => new() { Device = e.Device.ToString(), Message = e.Message };
}
