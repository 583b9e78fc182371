using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Sd3Mesh.Protos.V1;
using E = Sd3Mesh.Protos.V1.JobEvent.EventOneofCase;

namespace Sd3Mesh.Server.Tests;

/// <summary>A one-silo cluster on the tiny models of its own, for a test that checks every job the server ever recorded.</summary>
public sealed class BadInputFixture : IAsyncLifetime
{
    public TinyServingFixture Tiny { get; } = new();
    public Task InitializeAsync() => Tiny.InitializeAsync();
    public Task DisposeAsync() => Tiny.DisposeAsync();
}

/// <summary>
/// Bad input against a running server (`serve`: a one-silo cluster on the tiny models), one row per case: each is answered
/// with its status and a message naming the field (or the message type, for bytes that are no request), none stops the
/// silo or leaves a job behind: a good job runs after them all and is the only job the server lists.
/// </summary>
public sealed class BadInputTests(BadInputFixture fixture) : IClassFixture<BadInputFixture>
{
    private TestSilo Silo => fixture.Tiny.Silo;
    private static readonly byte[] Png64 = TestPng.Encode(64, 64, (x, y) => ((byte)x, (byte)y, 7));

    private static GenerateRequest Good() => new() { Prompt = "a lighthouse at dusk", Width = 64, Height = 64, Steps = 2, Seed = 3 };

    private static GenerateRequest Bad(Action<GenerateRequest> breakIt)
    {
        var request = Good();
        breakIt(request);
        return request;
    }

    /// <summary>A case: what is sent, the status it gets, and how its message starts.</summary>
    public sealed record Case(string Name, Func<TestSilo, Task> Call, StatusCode Code, string Message);

    private const string Invalid = "invalid GenerateRequest: ";

    /// <summary>A GenerateRequest broken one way, through Submit and through Generate.</summary>
    private static IEnumerable<Case> Requests(string name, Action<GenerateRequest> breakIt, string message)
    {
        yield return new Case(name + " (Submit)", s => s.Client.SubmitAsync(Bad(breakIt)), StatusCode.InvalidArgument, Invalid + message);
        yield return new Case(name + " (Generate)", s => s.GenerateAsync(Bad(breakIt)), StatusCode.InvalidArgument, Invalid + message);
    }

    public static IEnumerable<Case> Cases() =>
    [
        .. Requests("empty prompt", r => r.Prompt = "", "prompt: is empty"),
        .. Requests("prompt over 64 KiB", r => r.Prompt = new string('x', 64 * 1024 + 1), "prompt: is 65537 characters long; at most 10000 are allowed"),
        .. Requests("negative prompt of 80 KB", r => r.NegativePrompt = new string('é', 40_000), "negative_prompt: is 40000 characters long; at most 10000"),
        .. Requests("width not a multiple of 16", r => r.Width = 72, "width: 72 is not a multiple of 16 (vae_scale_factor x patch_size); use 64 or 80"),
        .. Requests("height beyond the model", r => r.Height = 1040,
            "height: 1040 is outside the allowed range 16..1024 (a multiple of 16); this model's pos_embed_max_size 64 x 16 allows no more"),
        .. Requests("steps 0", r => r.Steps = 0, "steps: 0 is outside the allowed range 1..1000"),
        .. Requests("steps 1001", r => r.Steps = 1001, "steps: 1001 is outside the allowed range 1..1000"),
        .. Requests("guidance NaN", r => r.GuidanceScale = float.NaN, "guidance_scale: NaN is outside the allowed range 0..100"),
        .. Requests("guidance negative", r => r.GuidanceScale = -1, "guidance_scale: -1 is outside the allowed range 0..100"),
        .. Requests("count 0", r => r.Count = 0, "count: 0 is outside the allowed range 1..16"),
        .. Requests("count 17", r => r.Count = 17, "count: 17 is outside the allowed range 1..16"),
        .. Requests("sequence length 513", r => r.MaxSequenceLength = 513, "max_sequence_length: 513 is outside the allowed range 1..512"),
        .. Requests("init image not a PNG", r => r.InitImage = ByteString.CopyFrom([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, (byte)'J', (byte)'F']),
            "init_image: a JPEG file, not a PNG"),
        .. Requests("init image truncated", r => r.InitImage = ByteString.CopyFrom(Png64.AsSpan(0, Png64.Length / 2)), "init_image: "),
        .. Requests("strength 0", r => { r.InitImage = ByteString.CopyFrom(Png64); r.Strength = 0; }, "strength: 0 is outside the allowed range (0, 1]"),
        .. Requests("strength 1.5", r => { r.InitImage = ByteString.CopyFrom(Png64); r.Strength = 1.5f; }, "strength: 1.5 is outside the allowed range (0, 1]"),
        .. Requests("strength NaN", r => { r.InitImage = ByteString.CopyFrom(Png64); r.Strength = float.NaN; }, "strength: NaN is outside the allowed range (0, 1]"),
        // Calls about jobs that are not there.
        new("GetJob of an unknown id", s => s.Client.GetJobAsync("0123456789abcdef"), StatusCode.NotFound, "job_id: no job '0123456789abcdef'"),
        new("Cancel of an unknown id", s => s.Client.CancelAsync("0123456789abcdef"), StatusCode.NotFound, "job_id: no job '0123456789abcdef'"),
        new("Watch of an unknown id", s => s.WatchAsync("nope"), StatusCode.NotFound, "job_id: no job 'nope'"),
        new("GetJob without an id", s => s.Client.GetJobAsync(""), StatusCode.InvalidArgument, "job_id is required"),
        new("GetImage of an unknown image", s => s.Client.DownloadImageAsync("0123456789abcdef_0"), StatusCode.NotFound, "image_id: no image '0123456789abcdef_0'"),
        new("ListJobs page_size 501", s => s.Client.ListJobsAsync(new ListJobsRequest { PageSize = 501 }), StatusCode.InvalidArgument, "page_size must be in [0, 500]"),
        // What the wire can carry besides a request.
        new("garbage protobuf", s => Raw(s, Frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), StatusCode.InvalidArgument,
            "the request is not a valid sd3mesh.v1.GenerateRequest message: "),
        new("a message claiming 4 GB", s => Raw(s, Frame(new byte[16], claimedLength: uint.MaxValue)), StatusCode.ResourceExhausted,
            "the sd3mesh.v1.GenerateRequest message is 4294967295 bytes; at most 67108864 are accepted"),
        new("a message cut short", s => Raw(s, Frame(Good().ToByteArray(), claimedLength: 1000)), StatusCode.InvalidArgument,
            "the sd3mesh.v1.GenerateRequest message is cut short: its frame declares 1000 bytes, 30 came"),
        new("a gzip-compressed GetJob of an unknown id", s => s.Client.Api.GetJobAsync(new GetJobRequest { JobId = "0123456789abcdef" },
                new Metadata { { "grpc-internal-encoding-request", "gzip" } }).ResponseAsync, StatusCode.NotFound, "job_id: no job '0123456789abcdef'"),
        new("a compressed message that is not gzip", s => Raw(s, [1, .. Frame([1, 2, 3, 4, 5, 6, 7, 8])[1..]], gzip: true), StatusCode.InvalidArgument,
            "the sd3mesh.v1.GenerateRequest message is not valid gzip: "),
        new("two messages on a unary call", s => Raw(s, [.. Frame(Good().ToByteArray()), .. Frame(Good().ToByteArray())]), StatusCode.InvalidArgument,
            "the call takes one sd3mesh.v1.GenerateRequest message; more bytes followed it"),
    ];

    [Fact]
    public async Task Every_bad_input_gets_its_status_and_a_message_naming_the_field_and_the_server_still_serves_with_no_stray_job()
    {
        var wrong = new List<string>();
        foreach (var c in Cases())
        {
            try
            {
                await c.Call(Silo);
                wrong.Add($"{c.Name}: succeeded");
            }
            catch (RpcException e) when (e.StatusCode == c.Code && e.Status.Detail.StartsWith(c.Message, StringComparison.Ordinal))
            {
            }
            catch (RpcException e)
            {
                wrong.Add($"{c.Name}: {e.StatusCode}: {e.Status.Detail}");
            }
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));

        // A flood of headers: 1000 of 100 bytes, 100 KB of header block where Kestrel takes 32 KiB. Well-behaved clients refuse
        // to send it (.NET's keeps to the server's SETTINGS_MAX_HEADER_LIST_SIZE), so it goes raw; Kestrel ends the connection
        // with GOAWAY (RFC 9113: a header block it will not decode is a connection error) before any service sees the call.
        IEnumerable<(string, string)> flood = [(":method", "POST"), (":scheme", "http"), (":path", "/sd3mesh.v1.Generation/Submit"),
            (":authority", Silo.Host.Address.Authority), ("content-type", "application/grpc"), ("te", "trailers"),
            .. Enumerable.Range(0, 1000).Select(i => ($"x-flood-{i}", new string('h', 100)))];
        Assert.Equal(("GOAWAY", 1u), await RawHttp2.SendHeadersAsync(Silo.Host.Address, flood)); // PROTOCOL_ERROR

        // Cancelling a job that has finished is no error (generation.proto: Cancel is idempotent): it changes nothing.
        var events = await Silo.GenerateAsync(Good());
        Assert.Equal(E.Finished, events[^1].EventCase);
        var jobs = (await Silo.Client.ListJobsAsync(new ListJobsRequest())).Jobs;
        var job = Assert.Single(jobs); // no refused request left a job behind
        var cancel = await Silo.Client.CancelAsync(job.Id);
        Assert.Equal((false, JobState.Succeeded), (cancel.Cancelled, cancel.State));
        Assert.Equal(JobState.Succeeded, (await Silo.Client.GetJobAsync(job.Id)).State);
        Assert.Equal(Good().Prompt, job.Request.Prompt);
    }

    private static byte[] Frame(byte[] payload, uint? claimedLength = null)
    {
        var frame = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), claimedLength ?? (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>Bytes posted as a Submit call over HTTP/2, as any client could; the gRPC status it got (as an RpcException, like a client's).</summary>
    private static async Task Raw(TestSilo silo, byte[] body, bool gzip = false)
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(silo.Host.Address, "/sd3mesh.v1.Generation/Submit"))
        {
            Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        if (gzip) request.Headers.Add("grpc-encoding", "gzip");
        using var response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        string Header(string name) =>
            response.TrailingHeaders.TryGetValues(name, out var t) ? t.Single() : response.Headers.TryGetValues(name, out var h) ? h.Single() : "";
        var code = (StatusCode)int.Parse(Header("grpc-status"));
        if (code != StatusCode.OK) throw new RpcException(new Status(code, Uri.UnescapeDataString(Header("grpc-message"))));
    }

}
