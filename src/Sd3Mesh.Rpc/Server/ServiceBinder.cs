using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Sd3Mesh.Rpc;

/// <summary>
/// Binds a service implementation to a protoc <see cref="ServiceDescriptor"/> by convention: for each
/// method of the service, a public instance method with the method's name and the shape of its call
/// type (see <see cref="ExpectedSignature"/>). A method the implementation lacks answers UNIMPLEMENTED;
/// a method with the right name but the wrong shape is a programming error reported at bind time.
/// Adding an rpc to a .proto therefore needs only a method on the implementation, no plumbing.
/// </summary>
internal static class ServiceBinder
{
    public static IEnumerable<ServerCallHandler> Bind(ServiceDescriptor service, object implementation)
    {
        var type = implementation.GetType();
        foreach (var method in service.Methods)
        {
            var delegateType = DelegateTypeOf(method);
            var invoke = delegateType.GetMethod("Invoke")!;
            var parameters = invoke.GetParameters().Select(p => p.ParameterType).ToArray();
            var target = type.GetMethod(method.Name, BindingFlags.Public | BindingFlags.Instance, parameters);
            if (target is null || target.ReturnType != invoke.ReturnType)
            {
                if (type.GetMethods(BindingFlags.Public | BindingFlags.Instance).Any(m => m.Name == method.Name))
                    throw new ArgumentException(
                        $"{type.Name}.{method.Name} does not have the shape of {method.FullName} " +
                        $"({Methods.TypeOf(method)}): expected {ExpectedSignature(method)}", nameof(implementation));
                yield return new UnimplementedServerCallHandler(method, type.Name);
                continue;
            }
            var handler = Delegate.CreateDelegate(delegateType, implementation, target);
            yield return CreateForClrTypes(method, handler);
        }
    }

    public static ServerCallHandler Create<TRequest, TResponse>(MethodDescriptor method, Delegate handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        var bound = Method<TRequest, TResponse>.From(method);
        return (bound.Type, handler) switch
        {
            (MethodType.Unary, UnaryHandler<TRequest, TResponse> h) => new UnaryServerCallHandler<TRequest, TResponse>(bound, h),
            (MethodType.ServerStreaming, ServerStreamingHandler<TRequest, TResponse> h) => new ServerStreamingServerCallHandler<TRequest, TResponse>(bound, h),
            (MethodType.ClientStreaming, ClientStreamingHandler<TRequest, TResponse> h) => new ClientStreamingServerCallHandler<TRequest, TResponse>(bound, h),
            (MethodType.DuplexStreaming, DuplexStreamingHandler<TRequest, TResponse> h) => new DuplexStreamingServerCallHandler<TRequest, TResponse>(bound, h),
            _ => throw new ArgumentException(
                $"{method.FullName} is {bound.Type}: a {handler.GetType().Name.Split('`')[0]} does not fit it; expected {ExpectedSignature(method)}",
                nameof(handler)),
        };
    }

    /// <summary><see cref="Create{TRequest,TResponse}"/> with the generated message types of <paramref name="method"/>.</summary>
    private static ServerCallHandler CreateForClrTypes(MethodDescriptor method, Delegate handler)
    {
        var create = typeof(ServiceBinder).GetMethod(nameof(Create), 2, [typeof(MethodDescriptor), typeof(Delegate)])!
            .MakeGenericMethod(method.InputType.ClrType, method.OutputType.ClrType);
        try
        {
            return (ServerCallHandler)create.Invoke(null, [method, handler])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private static Type DelegateTypeOf(MethodDescriptor method)
    {
        var open = Methods.TypeOf(method) switch
        {
            MethodType.Unary => typeof(UnaryHandler<,>),
            MethodType.ServerStreaming => typeof(ServerStreamingHandler<,>),
            MethodType.ClientStreaming => typeof(ClientStreamingHandler<,>),
            _ => typeof(DuplexStreamingHandler<,>),
        };
        return open.MakeGenericType(method.InputType.ClrType, method.OutputType.ClrType);
    }

    /// <summary>The C# signature an implementation method needs for <paramref name="method"/>.</summary>
    public static string ExpectedSignature(MethodDescriptor method)
    {
        string req = method.InputType.ClrType.Name, resp = method.OutputType.ClrType.Name, name = method.Name;
        return Methods.TypeOf(method) switch
        {
            MethodType.Unary => $"Task<{resp}> {name}({req} request, ServerCallContext context)",
            MethodType.ServerStreaming => $"Task {name}({req} request, IServerStreamWriter<{resp}> responses, ServerCallContext context)",
            MethodType.ClientStreaming => $"Task<{resp}> {name}(IAsyncEnumerable<{req}> requests, ServerCallContext context)",
            _ => $"Task {name}(IAsyncEnumerable<{req}> requests, IServerStreamWriter<{resp}> responses, ServerCallContext context)",
        };
    }
}
