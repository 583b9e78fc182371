using System.IO.Pipelines;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Sd3Mesh.Rpc;

/// <summary>
/// The server side of one call on one HTTP/2 stream: reads request messages, writes response headers,
/// messages and the status, enforces the deadline. Writes and completion are serialized by a lock so
/// that the deadline can end the call (DEADLINE_EXCEEDED) while a handler is still running.
/// </summary>
internal sealed class ServerCall : IAsyncDisposable
{
    private readonly HttpContext _http;
    private readonly ServerCallEnvironment _env;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _callCts;
    private CancellationTokenSource? _deadlineCts;
    private CancellationTokenSource? _deadlineLinkedCts;
    private CancellationTokenRegistration _deadlineRegistration;
    private Task? _deadlineCompletion;
    private MessageReader? _reader;
    private Metadata? _pendingResponseHeaders;
    private string? _requestEncoding;
    private bool _headersPrepared;
    private bool _completed;
    private volatile bool _deadlineExceeded;

    public ServerCall(HttpContext http, string path, ServerCallEnvironment env)
    {
        _http = http;
        _env = env;
        Path = path;
        _callCts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, env.Stopping);
    }

    public string Path { get; }
    public ServerCallContext Context { get; private set; } = null!;
    public string? ResponseCompressionRequest { get; set; }
    private bool ClientGone => _http.RequestAborted.IsCancellationRequested;

    /// <summary>Reads the call's headers. Returns an error status for a call that cannot proceed.</summary>
    public Status? Initialize()
    {
        var request = _http.Request;
        // A gRPC stream may be long-lived and large: no body size limit, no minimum data rate.
        if (_http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
            bodySize.MaxRequestBodySize = null;
        if (_http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minRequestRate)
            minRequestRate.MinDataRate = null;
        if (_http.Features.Get<IHttpMinResponseDataRateFeature>() is { } minResponseRate)
            minResponseRate.MinDataRate = null;

        var headers = new Metadata();
        foreach (var (name, values) in request.Headers)
            foreach (var value in values)
                if (value is not null) headers.AddFromWire(name, value);

        DateTime? deadline = null;
        string? timeoutText = request.Headers[GrpcProtocol.TimeoutHeader];
        if (timeoutText is not null)
        {
            if (!GrpcTimeout.TryParse(timeoutText, out var timeout))
                return new Status(StatusCode.Internal, $"malformed grpc-timeout '{timeoutText}'");
            // Beyond ~49 days a CancellationTokenSource cannot time out: treat as no deadline.
            if (timeout < TimeSpan.FromDays(49))
            {
                deadline = DateTime.UtcNow + timeout;
                _deadlineCts = new CancellationTokenSource(timeout);
            }
        }

        CancellationToken token = _callCts.Token;
        if (_deadlineCts is not null)
        {
            _deadlineLinkedCts = CancellationTokenSource.CreateLinkedTokenSource(_callCts.Token, _deadlineCts.Token);
            token = _deadlineLinkedCts.Token;
            // Registered after the link: callbacks run newest first, so the flag is set before the
            // handler's token fires, and the client gets DEADLINE_EXCEEDED even from a handler that
            // never looks at its token.
            _deadlineRegistration = _deadlineCts.Token.Register(() =>
            {
                _deadlineExceeded = true;
                _deadlineCompletion = CompleteAsync(new Status(StatusCode.DeadlineExceeded, "deadline exceeded"), null);
            });
        }

        Context = new ServerCallContext(this, _http, Path, deadline, headers, token);

        _requestEncoding = request.Headers[GrpcProtocol.EncodingHeader];
        if (_requestEncoding is not null && !MessageCompression.IsSupported(_requestEncoding))
            return new Status(StatusCode.Unimplemented,
                $"grpc-encoding '{_requestEncoding}' is not supported (supported: {MessageCompression.AcceptEncoding})");

        _reader = new MessageReader(request.BodyReader, _requestEncoding, _env.Options.MaxReceiveMessageSize);
        return null;
    }

    // --- reading ---------------------------------------------------------------------------------

    public async ValueTask<T?> ReadMessageAsync<T>(MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        try
        {
            return await _reader!.ReadAsync(parser, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException and not OperationCanceledException)
        {
            if (ClientGone || Context.CancellationToken.IsCancellationRequested)
                throw new OperationCanceledException("the call was cancelled while reading a request", e, Context.CancellationToken);
            throw new RpcException(StatusCode.Internal, $"reading the request failed: {e.Message}");
        }
    }

    /// <summary>The request of a unary or server-streaming call: exactly one message, then the end of the stream.</summary>
    public async ValueTask<T> ReadSingleRequestAsync<T>(MessageParser<T> parser) where T : class, IMessage<T>
    {
        var request = await ReadMessageAsync(parser, Context.CancellationToken).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, "the request stream ended without a message");
        if (await ReadMessageAsync(parser, Context.CancellationToken).ConfigureAwait(false) is not null)
            throw new RpcException(StatusCode.Internal, "more than one request message for a single-request method");
        return request;
    }

    // --- writing ---------------------------------------------------------------------------------

    public async Task WriteResponseHeadersAsync(Metadata headers)
    {
        await _writeLock.WaitAsync(Context.CancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfCompleted();
            if (_headersPrepared || _http.Response.HasStarted)
                throw new InvalidOperationException("response headers have already been sent");
            _pendingResponseHeaders = headers;
            PrepareHeaders();
            await _http.Response.StartAsync(Context.CancellationToken).ConfigureAwait(false);
            await _http.Response.BodyWriter.FlushAsync(Context.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task WriteMessageAsync(IMessage message, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfCompleted();
            PrepareHeaders();
            var writer = _http.Response.BodyWriter;
            MessageFraming.Write(writer, message, ResponseEncoding, _env.Options.MaxSendMessageSize);
            FlushResult flushed;
            using (var linked = new LinkedToken(cancellationToken, Context.CancellationToken))
                flushed = await writer.FlushAsync(linked.Token).ConfigureAwait(false);
            if (flushed.IsCanceled || flushed.IsCompleted || ClientGone)
                throw new OperationCanceledException("the client is gone", Context.CancellationToken);
        }
        catch (Exception e) when (e is not RpcException and not OperationCanceledException && (ClientGone || Context.CancellationToken.IsCancellationRequested))
        {
            throw new OperationCanceledException("the call was cancelled while writing a response", e, Context.CancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void ThrowIfCompleted()
    {
        if (_completed)
            throw _deadlineExceeded
                ? new RpcException(StatusCode.DeadlineExceeded, "deadline exceeded")
                : new RpcException(StatusCode.Cancelled, "the call has already completed");
    }

    private string? _responseEncoding;
    private bool _responseEncodingChosen;

    /// <summary>The response compression: the requested one if the client's grpc-accept-encoding lists it.</summary>
    private string? ResponseEncoding
    {
        get
        {
            if (_responseEncodingChosen) return _responseEncoding;
            _responseEncodingChosen = true;
            var wanted = ResponseCompressionRequest ?? _env.Options.ResponseCompression;
            if (wanted is not null and not MessageCompression.Identity && MessageCompression.IsSupported(wanted)
                && MessageCompression.Accepts(_http.Request.Headers[GrpcProtocol.AcceptEncodingHeader], wanted))
                _responseEncoding = wanted;
            return _responseEncoding;
        }
    }

    private void PrepareHeaders()
    {
        if (_headersPrepared) return;
        _headersPrepared = true;
        var response = _http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        if (ResponseEncoding is { } encoding) response.Headers[GrpcProtocol.EncodingHeader] = encoding;
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = MessageCompression.AcceptEncoding;
        if (_pendingResponseHeaders is not null)
            foreach (var (name, value) in _pendingResponseHeaders.ToWire())
                response.Headers.Append(name, value);
    }

    // --- completion ------------------------------------------------------------------------------

    /// <summary>Ends the call with a status (trailers, or trailers-only when nothing was sent). Idempotent.</summary>
    public async Task CompleteAsync(Status status, Metadata? trailers)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_completed) return;
            _completed = true;
            if (ClientGone) return;

            var response = _http.Response;
            var allTrailers = new List<KeyValuePair<string, string>>
            {
                new(GrpcProtocol.StatusHeader, ((int)status.Code).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            };
            if (status.Detail.Length > 0)
                allTrailers.Add(new(GrpcProtocol.MessageHeader, PercentEncoding.Encode(status.Detail)));
            if (Context is not null) allTrailers.AddRange(Context.ResponseTrailers.ToWire(allowStatusDetails: true));
            if (trailers is not null) allTrailers.AddRange(trailers.ToWire(allowStatusDetails: true));

            if (!response.HasStarted)
            {
                // Trailers-only: one HEADERS frame with END_STREAM carrying the status.
                PrepareHeaders();
                foreach (var (name, value) in allTrailers) response.Headers.Append(name, value);
            }
            else
            {
                foreach (var (name, value) in allTrailers) response.AppendTrailer(name, value);
            }
            await response.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
            _env.Logger.LogDebug(e, "{Path}: could not send status {Status}", Path, status);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Ends the call after a handler threw: the status the exception maps to.</summary>
    public Task CompleteWithErrorAsync(Exception exception)
    {
        if (_deadlineExceeded)
            return CompleteAsync(new Status(StatusCode.DeadlineExceeded, "deadline exceeded"), null);
        if (ClientGone)
        {
            _env.Logger.LogDebug("{Path}: cancelled by the client", Path);
            return CompleteAsync(new Status(StatusCode.Cancelled, "cancelled by the client"), null);
        }
        if (exception is OperationCanceledException && _env.Stopping.IsCancellationRequested)
            return CompleteAsync(new Status(StatusCode.Unavailable, "the server is shutting down"), null);
        if (exception is RpcException rpc)
            return CompleteAsync(rpc.Status, rpc.Trailers);

        var status = StatusMapping.FromException(exception, _env.Options.IncludeExceptionDetails, out bool unexpected);
        if (unexpected)
            _env.Logger.LogError(exception, "{Path} failed ({Status})", Path, status);
        return CompleteAsync(status, null);
    }

    public async ValueTask DisposeAsync()
    {
        await _deadlineRegistration.DisposeAsync().ConfigureAwait(false);
        if (_deadlineCompletion is not null) await _deadlineCompletion.ConfigureAwait(false);
        _deadlineLinkedCts?.Dispose();
        _deadlineCts?.Dispose();
        _callCts.Dispose();
    }
}

/// <summary>What every call of one server shares.</summary>
internal sealed record ServerCallEnvironment(GrpcServerOptions Options, ILogger Logger, CancellationToken Stopping);
