using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Sd3Mesh.Rpc;

public enum MethodType
{
    Unary,
    ServerStreaming,
    ClientStreaming,
    DuplexStreaming,
}

/// <summary>
/// A gRPC method bound to its message types, made from protoc's descriptors: the path
/// "/package.Service/Method", the call type, and the parsers. Shared by server handlers and client calls.
/// </summary>
public sealed class Method<TRequest, TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private static readonly ConcurrentDictionary<MethodDescriptor, Method<TRequest, TResponse>> Cache = new();

    private Method(MethodDescriptor descriptor)
    {
        Descriptor = descriptor;
        Path = Methods.PathOf(descriptor);
        Type = Methods.TypeOf(descriptor);
        RequestParser = (MessageParser<TRequest>)descriptor.InputType.Parser;
        ResponseParser = (MessageParser<TResponse>)descriptor.OutputType.Parser;
    }

    public MethodDescriptor Descriptor { get; }
    public string Path { get; }
    public MethodType Type { get; }
    public string ServiceName => Descriptor.Service.FullName;
    public string Name => Descriptor.Name;
    public MessageParser<TRequest> RequestParser { get; }
    public MessageParser<TResponse> ResponseParser { get; }

    /// <summary>The method for a descriptor; checks that the CLR types are its generated message types.</summary>
    public static Method<TRequest, TResponse> From(MethodDescriptor descriptor)
    {
        if (Cache.TryGetValue(descriptor, out var cached)) return cached;
        if (descriptor.InputType.ClrType != typeof(TRequest) || descriptor.OutputType.ClrType != typeof(TResponse))
            throw new ArgumentException(
                $"{descriptor.FullName} takes {descriptor.InputType.ClrType?.Name} and returns {descriptor.OutputType.ClrType?.Name}, " +
                $"not {typeof(TRequest).Name} -> {typeof(TResponse).Name}", nameof(descriptor));
        return Cache.GetOrAdd(descriptor, d => new Method<TRequest, TResponse>(d));
    }

    /// <summary>The method <paramref name="name"/> of <paramref name="service"/> (see <see cref="From(MethodDescriptor)"/>).</summary>
    public static Method<TRequest, TResponse> From(ServiceDescriptor service, string name) =>
        From(service.FindMethodByName(name)
            ?? throw new ArgumentException($"service {service.FullName} has no method {name}", nameof(name)));

    public override string ToString() => Path;
}

public static class Methods
{
    public static string PathOf(MethodDescriptor method) => $"/{method.Service.FullName}/{method.Name}";

    public static MethodType TypeOf(MethodDescriptor method) => (method.IsClientStreaming, method.IsServerStreaming) switch
    {
        (false, false) => MethodType.Unary,
        (false, true) => MethodType.ServerStreaming,
        (true, false) => MethodType.ClientStreaming,
        (true, true) => MethodType.DuplexStreaming,
    };
}
