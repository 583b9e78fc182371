using System.Collections;
using System.Reflection;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Serialization.Cloning;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline;
using Sd3Mesh.Pipeline.Imaging;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Runtime.Tests;

/// <summary>
/// A GenerationRequest crosses silos through GenerationRequestSurrogate. Every settable property is given a value
/// unlike its default (chosen by its type), so a property added to the request without a field in the surrogate
/// comes back as its default and fails here; one of a type this test has no sample for fails too.
/// </summary>
public sealed class SurrogateTests
{
    private static readonly PropertyInfo[] Settable =
        [.. typeof(GenerationRequest).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is not null)];

    [Fact]
    public void A_generation_request_keeps_every_property_through_orleans_serialization_and_copying()
    {
        var request = EveryPropertySet();
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var copier = services.GetRequiredService<DeepCopier>();

        var serialized = serializer.Deserialize<GenerationRequest>(serializer.SerializeToArray(request));
        var copied = copier.Copy(request);
        foreach (var p in Settable)
        {
            Assert.True(Same(p.GetValue(request), p.GetValue(serialized)), $"{p.Name}: {Show(p.GetValue(serialized))} after serialization, {Show(p.GetValue(request))} before");
            Assert.True(Same(p.GetValue(request), p.GetValue(copied)), $"{p.Name}: {Show(p.GetValue(copied))} after copying, {Show(p.GetValue(request))} before");
        }
        Assert.True(Settable.Length >= 22, $"only {Settable.Length} settable properties found");
    }

    /// <summary>
    /// The exceptions a stage grain can end with reach the caller on another silo as themselves, with what their
    /// handlers read: an RpcException's status code and detail, a DeviceUnavailableException's device, a
    /// GenerationRequestException's errors per field (the server's status mapping turns each into its gRPC status).
    /// </summary>
    [Fact]
    public void Stage_exceptions_keep_their_type_and_what_handlers_read_through_orleans_serialization_and_copying()
    {
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var copier = services.GetRequiredService<DeepCopier>();
        T[] Both<T>(T e) where T : Exception => [Assert.IsType<T>(serializer.Deserialize<Exception>(serializer.SerializeToArray<Exception>(e))), copier.Copy(e)];

        foreach (var rpc in Both(new RpcException(new Status(StatusCode.DeadlineExceeded, "tensor 's1/7' not received within 30s"))))
            Assert.Equal((StatusCode.DeadlineExceeded, "tensor 's1/7' not received within 30s"), (rpc.StatusCode, rpc.Status.Detail));
        foreach (var device in Both(new DeviceUnavailableException(Device.Parse("cuda:3"), "no CUDA device 3 (2 found)")))
            Assert.Equal(("cuda:3", "no CUDA device 3 (2 found)"), (device.Device.ToString(), device.Message));
        ValidationError[] errors = [new("width", "must be a multiple of 16, got 100"), new("steps", "must be 1..1000, got 0")];
        foreach (var request in Both(new GenerationRequestException(errors)))
        {
            Assert.Equal(errors, request.Errors);
            Assert.Equal("invalid generation request: " + string.Join("; ", errors), request.Message);
        }
    }

    private static GenerationRequest EveryPropertySet()
    {
        var defaults = new GenerationRequest { Prompt = "" };
        object request = new GenerationRequest { Prompt = "" };
        int n = 0;
        foreach (var p in Settable)
        {
            var value = Sample(p, p.PropertyType, p.GetValue(defaults), ++n);
            Assert.False(Same(value, p.GetValue(defaults)), $"{p.Name}: the sample {Show(value)} is its default");
            p.SetValue(request, value);
        }
        return (GenerationRequest)request;
    }

    /// <summary>A value of <paramref name="type"/> unlike <paramref name="unlike"/> (the property's default).</summary>
    private static object Sample(PropertyInfo p, Type type, object? unlike, int n)
    {
        var inner = Nullable.GetUnderlyingType(type) ?? type;
        if (inner == typeof(string)) return $"{p.Name} {n}";
        if (inner == typeof(int)) return 1000 + n;
        if (inner == typeof(double)) return 0.25 + n;
        if (inner == typeof(bool)) return unlike is not true;
        if (inner.IsEnum) return Enum.GetValues(inner).Cast<object>().First(v => !v.Equals(unlike));
        if (inner == typeof(IReadOnlyList<ulong>)) return new ulong[] { (ulong)n, ulong.MaxValue - (ulong)n };
        if (inner == typeof(IReadOnlyList<float>)) return new[] { 0.75f, 0.5f, 0.125f };
        if (inner == typeof(RgbImage)) return new RgbImage(2, 1, [1, 2, 3, 4, 5, 6]);
        if (inner == typeof(Tensor)) return Tensor.FromArray(new[] { 1.5f, -2f, 3.25f, 0f, 5f, -6f }, 1, 2, 3);
        if (inner == typeof(DenoisingCheckpoint)) return new DenoisingCheckpoint(n, Tensor.FromArray(new[] { 0.5f, -1f }, 1, 2));
        throw new Xunit.Sdk.XunitException($"GenerationRequest.{p.Name} is a {type.Name}, which this test has no sample value for: " +
                                           "add one here, and a field for the property in GenerationRequestSurrogate");
    }

    private static bool Same(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (null, _) or (_, null) => false,
        (RgbImage x, RgbImage y) => x.Width == y.Width && x.Height == y.Height && x.Pixels.SequenceEqual(y.Pixels),
        (Tensor x, Tensor y) => x.DType == y.DType && x.Shape == y.Shape && x.Data.Span.SequenceEqual(y.Data.Span),
        (DenoisingCheckpoint x, DenoisingCheckpoint y) => x.Step == y.Step && Same(x.Latents, y.Latents),
        (string x, string y) => x == y,
        (IEnumerable x, IEnumerable y) => x.Cast<object>().SequenceEqual(y.Cast<object>()),
        _ => a.Equals(b),
    };

    private static string Show(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        IEnumerable e => $"[{string.Join(", ", e.Cast<object>())}]",
        _ => value.ToString() ?? "",
    };
}
