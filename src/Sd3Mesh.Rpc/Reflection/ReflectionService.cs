using Google.Protobuf.Reflection;
using Grpc.Reflection.V1Alpha;

namespace Sd3Mesh.Rpc.Reflection;

/// <summary>
/// grpc.reflection.v1alpha.ServerReflection: lists the server's services and serves the .proto files
/// behind them (as FileDescriptorProtos, with their imports), which is how grpcurl and grpc_cli learn
/// to call a server they have no .proto for.
/// </summary>
public sealed class ReflectionService(Func<IReadOnlyList<ServiceDescriptor>> services)
{
    private DescriptorIndex? _index;

    public async Task ServerReflectionInfo(IAsyncEnumerable<ServerReflectionRequest> requests,
        IServerStreamWriter<ServerReflectionResponse> responses, ServerCallContext context)
    {
        var list = services();
        var index = _index ??= new DescriptorIndex(list);
        await foreach (var request in requests.WithCancellation(context.CancellationToken))
        {
            var response = new ServerReflectionResponse { ValidHost = request.Host, OriginalRequest = request };
            switch (request.MessageRequestCase)
            {
                case ServerReflectionRequest.MessageRequestOneofCase.ListServices:
                    var listed = new ListServiceResponse();
                    listed.Service.AddRange(list.Select(s => new ServiceResponse { Name = s.FullName }));
                    response.ListServicesResponse = listed;
                    break;
                case ServerReflectionRequest.MessageRequestOneofCase.FileByFilename:
                    SetFile(response, index.FindFile(request.FileByFilename), $"file '{request.FileByFilename}' not found");
                    break;
                case ServerReflectionRequest.MessageRequestOneofCase.FileContainingSymbol:
                    SetFile(response, index.FindFileContainingSymbol(request.FileContainingSymbol),
                        $"symbol '{request.FileContainingSymbol}' not found");
                    break;
                case ServerReflectionRequest.MessageRequestOneofCase.FileContainingExtension:
                    SetError(response, StatusCode.NotFound,
                        $"no extension {request.FileContainingExtension.ExtensionNumber} of '{request.FileContainingExtension.ContainingType}'");
                    break;
                case ServerReflectionRequest.MessageRequestOneofCase.AllExtensionNumbersOfType:
                    if (index.FindFileContainingSymbol(request.AllExtensionNumbersOfType) is null)
                        SetError(response, StatusCode.NotFound, $"type '{request.AllExtensionNumbersOfType}' not found");
                    else
                        response.AllExtensionNumbersResponse = new ExtensionNumberResponse { BaseTypeName = request.AllExtensionNumbersOfType };
                    break;
                default:
                    SetError(response, StatusCode.InvalidArgument, "the request sets none of the message_request fields");
                    break;
            }
            await responses.WriteAsync(response, context.CancellationToken);
        }
    }

    private static void SetFile(ServerReflectionResponse response, FileDescriptor? file, string notFound)
    {
        if (file is null)
        {
            SetError(response, StatusCode.NotFound, notFound);
            return;
        }
        var files = new FileDescriptorResponse();
        files.FileDescriptorProto.AddRange(DescriptorIndex.WithDependencies(file).Select(f => f.SerializedData));
        response.FileDescriptorResponse = files;
    }

    private static void SetError(ServerReflectionResponse response, StatusCode code, string message) =>
        response.ErrorResponse = new ErrorResponse { ErrorCode = (int)code, ErrorMessage = message };
}
