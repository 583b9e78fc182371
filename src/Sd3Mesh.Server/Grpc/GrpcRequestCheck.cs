using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace Sd3Mesh.Server.Grpc;

/// <summary>
/// Reads the request message of a unary or server-streaming call before grpc-dotnet does, and answers the bytes that are
/// not a request with a status that says so. grpc-dotnet reads the request before any interceptor runs, so without this a
/// frame that claims 4 GB or bytes that do not parse as the method's message end as UNKNOWN ("Exception was thrown by
/// handler"): here they are RESOURCE_EXHAUSTED and INVALID_ARGUMENT, naming the message type and the limit. A request that
/// passes is handed on unchanged.
/// </summary>
public sealed class GrpcRequestCheck(RequestDelegate next, GrpcServerOptions options)
{
    private static readonly ConcurrentDictionary<Type, ServiceDescriptor?> Services = new();

    public async Task InvokeAsync(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>();
        if (metadata is not { Method.Type: MethodType.Unary or MethodType.ServerStreaming } || !GrpcStatusResponse.IsGrpc(context.Request)
            || Services.GetOrAdd(metadata.ServiceType, Describe)?.FindMethodByName(metadata.Method.Name)?.InputType is not { } input)
        {
            await next(context);
            return;
        }
        var (code, problem, body) = await ReadAsync(context, input);
        if (code != StatusCode.OK)
        {
            await GrpcStatusResponse.WriteAsync(context, code, problem!);
            return;
        }
        context.Request.Body = new MemoryStream(body!, writable: false);
        await next(context);
    }

    /// <summary>The call's one message frame, checked: (OK, null, the body as sent) or the status and why.</summary>
    private async Task<(StatusCode Code, string? Problem, byte[]? Body)> ReadAsync(HttpContext context, MessageDescriptor input)
    {
        var reader = context.Request.BodyReader;
        long limit = options.MaxReceiveMessageSize;
        long? declared = null;
        while (true)
        {
            var read = await reader.ReadAsync(context.RequestAborted);
            var buffer = read.Buffer;
            if (declared is null && buffer.Length >= 5)
            {
                Span<byte> header = stackalloc byte[5];
                buffer.Slice(0, 5).CopyTo(header);
                declared = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
                if (declared > limit)
                    return (StatusCode.ResourceExhausted, $"the {input.FullName} message is {declared} bytes; at most {limit} are accepted", null);
            }
            // Never more than the frame and one byte beyond it are held, whatever a client sends.
            if (declared is { } length && buffer.Length > 5 + length)
                return (StatusCode.InvalidArgument, $"the call takes one {input.FullName} message; more bytes followed it", null);
            if (!read.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }
            var body = buffer.ToArray();
            reader.AdvanceTo(buffer.End);
            if (declared is null)
                return (StatusCode.InvalidArgument, $"the request holds {body.Length} bytes, not a {input.FullName} message (a gRPC frame starts with 5 bytes of header)", null);
            if (body.Length - 5 < declared)
                return (StatusCode.InvalidArgument, $"the {input.FullName} message is cut short: its frame declares {declared} bytes, {body.Length - 5} came", null);
            return Parse(context, input, body, limit);
        }
    }

    private static (StatusCode Code, string? Problem, byte[]? Body) Parse(HttpContext context, MessageDescriptor input, byte[] body, long limit)
    {
        var payload = body.AsMemory(5);
        if (body[0] == 1)
        {
            // Compressed: grpc-dotnet accepts gzip (and answers UNIMPLEMENTED for what it does not know).
            if (!string.Equals(context.Request.Headers["grpc-encoding"], "gzip", StringComparison.OrdinalIgnoreCase)) return (StatusCode.OK, null, body);
            try
            {
                payload = Gunzip(payload, limit);
            }
            catch (InvalidDataException e)
            {
                return (StatusCode.InvalidArgument, $"the {input.FullName} message is not valid gzip: {e.Message}", null);
            }
            if (payload.Length > limit)
                return (StatusCode.ResourceExhausted, $"the {input.FullName} message is more than {limit} bytes uncompressed; at most {limit} are accepted", null);
        }
        try
        {
            input.Parser.ParseFrom(payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            return (StatusCode.InvalidArgument, $"the request is not a valid {input.FullName} message: {e.Message}", null);
        }
        return (StatusCode.OK, null, body);
    }

    /// <summary>At most <paramref name="limit"/> + 1 bytes of the inflated message (one more says it is too large).</summary>
    private static Memory<byte> Gunzip(ReadOnlyMemory<byte> compressed, long limit)
    {
        using var gzip = new GZipStream(new MemoryStream(compressed.ToArray()), CompressionMode.Decompress);
        var output = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = gzip.Read(chunk)) > 0 && output.Length <= limit) output.Write(chunk, 0, n);
        return output.GetBuffer().AsMemory(0, (int)output.Length);
    }

    /// <summary>The protobuf service a generated service base class serves (the class its BindServiceMethod attribute names).</summary>
    private static ServiceDescriptor? Describe(Type serviceType) =>
        serviceType.GetCustomAttribute<BindServiceMethodAttribute>(inherit: true)?.BindType
            .GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as ServiceDescriptor;
}

public static class GrpcRequestCheckExtensions
{
    /// <summary>Checks the request message of every unary and server-streaming call (<see cref="GrpcRequestCheck"/>).</summary>
    public static IApplicationBuilder UseGrpcRequestCheck(this IApplicationBuilder app) =>
        app.UseMiddleware<GrpcRequestCheck>(app.ApplicationServices.GetRequiredService<GrpcServerOptions>());
}
