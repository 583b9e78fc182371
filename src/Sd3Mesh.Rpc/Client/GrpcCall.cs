using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace Sd3Mesh.Rpc;

/// <summary>
/// The client side of one call: one HTTP/2 request whose body carries the request messages and whose
/// response carries headers, messages and the status in trailers (or trailers only). Every way a call
/// can end (status, deadline, cancellation, broken connection, malformed response) ends here as one
/// <see cref="Status"/>.
/// </summary>
internal sealed class GrpcCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly GrpcChannel _channel;
    private readonly Method<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    private readonly CancellationTokenSource _deadlineCts = new();
    private readonly CancellationTokenSource _disposeCts = new();
    private readonly CancellationTokenSource _callCts;
    private readonly TaskCompletionSource<Metadata> _headers = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly object _gate = new();
    private readonly CancellationTokenRegistration _callerRegistration;
    private CancellationTokenRegistration _abortRegistration;
    private StreamingRequestContent? _requestContent;
    private Task _responseReady = Task.CompletedTask;
    private HttpResponseMessage? _response;
    private PipeReader? _pipe;
    private MessageReader? _reader;
    private Status? _status;
    private Metadata _trailers = new();
    private bool _requestCompleted;

    public GrpcCall(GrpcChannel channel, Method<TRequest, TResponse> method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _options = options;
        // Linked to the call's own sources only. The caller's token (often long-lived) gets one registration,
        // removed when the call ends, instead of a linked source that would stay registered on it for good.
        _callCts = CancellationTokenSource.CreateLinkedTokenSource(_deadlineCts.Token, _disposeCts.Token);
        _callerRegistration = options.CancellationToken.UnsafeRegister(static call => ((GrpcCall<TRequest, TResponse>)call!)._disposeCts.Cancel(), this);
    }

    public Task<Metadata> ResponseHeadersAsync => _headers.Task;

    public Status GetStatus() => _status ?? throw new InvalidOperationException("the call has not ended yet");
    public Metadata GetTrailers() => _status is null ? throw new InvalidOperationException("the call has not ended yet") : _trailers;

    // --- starting --------------------------------------------------------------------------------

    /// <summary>Sends a single-message request (unary, server streaming).</summary>
    public void Start(TRequest request)
    {
        byte[] body;
        try
        {
            body = MessageFraming.Frame(request, RequestEncoding, _channel.Options.MaxSendMessageSize);
        }
        catch (RpcException e)
        {
            Finish(e.Status, null);
            _headers.TrySetException(e);
            _responseReady = Task.FromException(e);
            return;
        }
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", GrpcProtocol.ContentType);
        StartHttp(content);
    }

    /// <summary>Opens a request stream (client streaming, duplex); messages go through <see cref="WriteAsync"/>.</summary>
    public void StartStreaming()
    {
        _requestContent = new StreamingRequestContent();
        StartHttp(_requestContent);
    }

    private string? RequestEncoding => _options.Compression is null or MessageCompression.Identity ? null : _options.Compression;

    private void StartHttp(HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_channel.Address, _method.Path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        var headers = request.Headers;
        headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        headers.TryAddWithoutValidation("user-agent", GrpcChannel.UserAgent);
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, MessageCompression.AcceptEncoding);
        if (RequestEncoding is { } encoding)
        {
            if (!MessageCompression.IsSupported(encoding))
                throw new ArgumentException($"compression '{encoding}' is not supported (use gzip or deflate)", nameof(CallOptions.Compression));
            headers.TryAddWithoutValidation(GrpcProtocol.EncodingHeader, encoding);
        }
        if (_options.Deadline is { } deadline)
        {
            var remaining = deadline.ToUniversalTime() - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero) remaining = TimeSpan.Zero;
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(remaining));
            if (remaining < TimeSpan.FromDays(49)) _deadlineCts.CancelAfter(remaining);
        }
        if (_options.Headers is { } metadata)
            foreach (var (name, value) in metadata.ToWire())
                headers.TryAddWithoutValidation(name, value);

        // Whatever ends the call early (deadline, caller's token, Dispose) resets the HTTP/2 stream.
        _abortRegistration = _callCts.Token.Register(Abort);
        _responseReady = ReceiveResponseHeadersAsync(request);
    }

    private async Task ReceiveResponseHeadersAsync(HttpRequestMessage request)
    {
        HttpResponseMessage response;
        try
        {
            response = await _channel.Invoker.SendAsync(request, _callCts.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var error = FailFrom(e);
            _headers.TrySetException(error);
            throw error;
        }
        lock (_gate)
        {
            _response = response;
            if (_status is not null) { response.Dispose(); throw new RpcException(_status.Value, _trailers); }
        }

        var headerMetadata = new Metadata();
        foreach (var (name, values) in response.Headers.NonValidated)
            foreach (var value in values) headerMetadata.AddFromWire(name, value);

        string? grpcStatus = HeaderValue(response.Headers, GrpcProtocol.StatusHeader);
        if (response.StatusCode != HttpStatusCode.OK && grpcStatus is null)
        {
            var status = new Status(GrpcProtocol.StatusFromHttp((int)response.StatusCode),
                $"HTTP status {(int)response.StatusCode} ({response.ReasonPhrase}) with no grpc-status");
            throw FailLocally(status);
        }
        var contentType = response.Content.Headers.ContentType?.ToString();
        if (grpcStatus is null && !GrpcProtocol.IsAnyGrpcContentType(contentType))
            throw FailLocally(new Status(StatusCode.Unknown, $"the response has content-type '{contentType}', not {GrpcProtocol.ContentType}"));

        if (grpcStatus is not null)
        {
            // Trailers-only: the status came with the headers; there is no body.
            var trailers = new Metadata();
            foreach (var (name, values) in response.Headers.NonValidated)
                foreach (var value in values) trailers.AddFromWire(name, value, keepStatusDetails: true);
            _headers.TrySetResult(headerMetadata);
            Finish(ParseStatus(grpcStatus, HeaderValue(response.Headers, GrpcProtocol.MessageHeader)), trailers);
            Release();
            return;
        }

        string? encoding = HeaderValue(response.Headers, GrpcProtocol.EncodingHeader);
        if (encoding is not null && !MessageCompression.IsSupported(encoding))
            throw FailLocally(new Status(StatusCode.Internal, $"the server compressed with unsupported grpc-encoding '{encoding}'"));
        Stream body;
        try
        {
            body = await response.Content.ReadAsStreamAsync(_callCts.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var error = FailFrom(e);
            _headers.TrySetException(error);
            throw error;
        }
        _pipe = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        _reader = new MessageReader(_pipe, encoding, _channel.Options.MaxReceiveMessageSize);
        _headers.TrySetResult(headerMetadata);
    }

    // --- reading ---------------------------------------------------------------------------------

    /// <summary>The next response message; null once the call ended OK; throws RpcException for any other end.</summary>
    public async ValueTask<TResponse?> ReadNextAsync(CancellationToken cancellationToken)
    {
        await _responseReady.ConfigureAwait(false);
        if (_status is { } ended)
        {
            if (ended.Code != StatusCode.OK) throw new RpcException(ended, _trailers);
            return null;
        }

        TResponse? message;
        try
        {
            using var linked = new LinkedToken(cancellationToken, _callCts.Token);
            message = await _reader!.ReadAsync(_method.ResponseParser, linked.Token).ConfigureAwait(false);
        }
        catch (RpcException e) when (_status is null)
        {
            // A malformed or oversized response: the client decides the status and resets the stream.
            CompletePipe();
            throw FailLocally(e.Status);
        }
        catch (Exception e) when (e is not RpcException)
        {
            // HttpClient resets the stream when a read is cancelled, so a cancelled read ends the call.
            CompletePipe();
            throw FailFrom(e);
        }
        if (message is not null) return message;

        // End of the body: the status is in the trailers.
        var response = _response!;
        var trailers = new Metadata();
        foreach (var (name, values) in response.TrailingHeaders.NonValidated)
            foreach (var value in values) trailers.AddFromWire(name, value, keepStatusDetails: true);
        string? grpcStatus = HeaderValue(response.TrailingHeaders, GrpcProtocol.StatusHeader);
        var status = grpcStatus is null
            ? new Status(StatusCode.Unknown, "the response ended without a grpc-status")
            : ParseStatus(grpcStatus, HeaderValue(response.TrailingHeaders, GrpcProtocol.MessageHeader));
        Finish(status, trailers);
        Release();
        if (status.Code != StatusCode.OK) throw new RpcException(status, trailers);
        return null;
    }

    // --- writing ---------------------------------------------------------------------------------

    public async Task WriteAsync(TRequest message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_requestCompleted) throw new InvalidOperationException("the request stream is already complete");
            ThrowIfEnded();
            var frame = MessageFraming.Frame(message, RequestEncoding, _channel.Options.MaxSendMessageSize);
            using var linked = new LinkedToken(cancellationToken, _callCts.Token);
            var stream = await _requestContent!.GetStreamAsync(linked.Token).ConfigureAwait(false);
            await stream.WriteAsync(frame, linked.Token).ConfigureAwait(false);
            // HttpClient buffers request bodies: without a flush a message may sit unsent.
            await stream.FlushAsync(linked.Token).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted && _status is null)
        {
            throw FailLocally(e.Status);
        }
        catch (Exception e) when (e is not RpcException and not InvalidOperationException)
        {
            // A cancelled write resets the stream too. The server may have ended the call first: its
            // status then explains why the write failed.
            try { await _responseReady.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
            catch (Exception waited) when (waited is RpcException or TimeoutException) { }
            ThrowIfEnded();
            throw FailFrom(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task CompleteRequestAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            _requestCompleted = true;
            _requestContent?.Complete();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void ThrowIfEnded()
    {
        if (_status is { } status)
            throw new RpcException(status.Code == StatusCode.OK ? new Status(StatusCode.Cancelled, "the call has already ended") : status, _trailers);
    }

    // --- ending ----------------------------------------------------------------------------------

    private bool Finish(Status status, Metadata? trailers)
    {
        lock (_gate)
        {
            if (_status is not null) return false;
            _status = status;
            _trailers = trailers ?? new Metadata();
        }
        _callerRegistration.Unregister(); // not Dispose: that would wait for a callback running now
        _headers.TrySetException(new RpcException(status, _trailers));
        return true;
    }

    /// <summary>Ends the call with a status decided here (not by the server) and resets the stream.</summary>
    private RpcException FailLocally(Status status)
    {
        Finish(status, null);
        Abort();
        return new RpcException(_status!.Value, _trailers);
    }

    /// <summary>The status for an exception from the HTTP layer, with the call's own reasons first.</summary>
    private RpcException FailFrom(Exception e)
    {
        Status status;
        if (_deadlineCts.IsCancellationRequested) status = new Status(StatusCode.DeadlineExceeded, "deadline exceeded");
        else if (_options.CancellationToken.IsCancellationRequested) status = new Status(StatusCode.Cancelled, "cancelled by the caller");
        else if (_disposeCts.IsCancellationRequested) status = new Status(StatusCode.Cancelled, "the call was disposed");
        else status = StatusFromTransport(e);
        Finish(status, null);
        Abort();
        return new RpcException(_status!.Value, _trailers, e);
    }

    private Status StatusFromTransport(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
            if (inner is HttpProtocolException protocol)
                return new Status(GrpcProtocol.StatusFromHttp2Error(protocol.ErrorCode),
                    $"the stream was reset (HTTP/2 error 0x{protocol.ErrorCode:x}): {protocol.Message}");
        return e switch
        {
            HttpRequestException => new Status(StatusCode.Unavailable, $"cannot reach {_channel.Address}: {e.Message}"),
            IOException => new Status(StatusCode.Unavailable, $"the connection to {_channel.Address} failed: {e.Message}"),
            OperationCanceledException => new Status(StatusCode.Cancelled, "the call was cancelled"),
            _ => new Status(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}"),
        };
    }

    private static Status ParseStatus(string code, string? message)
    {
        var detail = message is null ? "" : PercentEncoding.Decode(message);
        return int.TryParse(code, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? new Status((StatusCode)value, detail)
            : new Status(StatusCode.Unknown, $"invalid grpc-status '{code}': {detail}");
    }

    private static string? HeaderValue(HttpHeaders headers, string name) =>
        headers.NonValidated.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>Resets the HTTP/2 stream (RST_STREAM CANCEL) if it is still open.</summary>
    private void Abort()
    {
        _requestContent?.Abort();
        HttpResponseMessage? response;
        lock (_gate) response = _response;
        response?.Dispose();
        if (!_callCts.IsCancellationRequested)
        {
            try { _disposeCts.Cancel(); } catch (ObjectDisposedException) { }
        }
    }

    /// <summary>After an orderly end: let go of the response (the stream is already closed).</summary>
    private void Release()
    {
        StopDeadlineTimer();
        _requestContent?.Complete();
        _abortRegistration.Dispose();
        lock (_gate) _response?.Dispose();
        CompletePipe();
    }

    /// <summary>Returns the response pipe's pooled buffers. Only from the reading path: never while a read is in flight.</summary>
    private void CompletePipe()
    {
        var pipe = Interlocked.Exchange(ref _pipe, null);
        try { pipe?.Complete(); } catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        if (Finish(new Status(StatusCode.Cancelled, "the call was disposed"), null))
        {
            try { _disposeCts.Cancel(); } catch (ObjectDisposedException) { }
            Abort();
        }
        StopDeadlineTimer();
        _abortRegistration.Dispose();
    }

    private void StopDeadlineTimer()
    {
        try { _deadlineCts.CancelAfter(Timeout.InfiniteTimeSpan); } catch (ObjectDisposedException) { }
    }
}
