namespace Sd3Mesh.Rpc;

// The four shapes a service implementation's methods take, one per call type (grpc-dotnet's shapes,
// with IAsyncEnumerable for request streams). ServiceBinder binds methods of these shapes by name.

public delegate Task<TResponse> UnaryHandler<TRequest, TResponse>(TRequest request, ServerCallContext context);

public delegate Task ServerStreamingHandler<TRequest, TResponse>(
    TRequest request, IServerStreamWriter<TResponse> responses, ServerCallContext context);

public delegate Task<TResponse> ClientStreamingHandler<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requests, ServerCallContext context);

public delegate Task DuplexStreamingHandler<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requests, IServerStreamWriter<TResponse> responses, ServerCallContext context);
