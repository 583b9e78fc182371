"""A grpcio peer for the interop tests (run with /usr/bin/python3: Debian's python3-grpcio 1.51 and
python3-protobuf).

No protoc-generated Python: message classes come from a FileDescriptorSet that the C# test writes
(our generated descriptors), and calls go through grpcio's generic API (channel.unary_unary(path, ...),
grpc.method_handlers_generic_handler).

  echo_peer.py server DESCSET            serve sd3mesh.rpc.test.Echo and RpcBenchmark on 127.0.0.1:0;
                                         prints "PORT n", then "CANCELLED method" when a handler sees
                                         its call cancelled
  echo_peer.py client DESCSET ADDRESS SCENARIO [ARGS...]
                                         run one scenario against a server; prints one JSON line
"""
import json
import sys
import threading
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

MIB = 1024 * 1024


def load_pool(path):
    files = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool


def message_class(pool, full_name):
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName(full_name))


def pattern(offset, length):
    """Bytes [offset, offset+length) of RpcBenchmark's pattern: byte i = (i*31+7) mod 251, period 251."""
    period = bytes((i * 31 + 7) % 251 for i in range(251))
    start = offset % 251
    reps = (start + length) // 251 + 1
    return (period * reps)[start:start + length]


class GrpcCancelled(Exception):
    """Ends a handler whose call is gone (nothing can be sent any more)."""


def status_code(value):
    return next(c for c in grpc.StatusCode if c.value[0] == value)


# --- server ------------------------------------------------------------------------------------------

def serve(descset):
    pool = load_pool(descset)
    Req = message_class(pool, "sd3mesh.rpc.test.EchoRequest")
    Rep = message_class(pool, "sd3mesh.rpc.test.EchoReply")
    Payload = message_class(pool, "sd3mesh.rpc.v1.Payload")
    Download = message_class(pool, "sd3mesh.rpc.v1.DownloadRequest")
    out_lock = threading.Lock()

    def report(line):
        with out_lock:
            print(line, flush=True)

    def echo_metadata(context):
        echoed = tuple((k, v) for k, v in context.invocation_metadata() if k.startswith("x-"))
        if echoed:
            context.send_initial_metadata(echoed)
            context.set_trailing_metadata(echoed)
        if any(k == "x-respond-gzip" for k, _ in context.invocation_metadata()):
            context.set_compression(grpc.Compression.Gzip)

    def delay(request, context, method):
        end = time.monotonic() + request.delay_ms / 1000.0
        while time.monotonic() < end:
            if not context.is_active():
                report("CANCELLED " + method)
                raise GrpcCancelled()
            time.sleep(0.005)

    def fail(request, context):
        if request.fail_code:
            context.abort(status_code(request.fail_code), request.fail_message)

    def say(request, context):
        echo_metadata(context)
        delay(request, context, "Say")
        fail(request, context)
        return Rep(text=request.text, payload=request.payload)

    def repeat(request, context):
        echo_metadata(context)
        try:
            for i in range(request.count):
                delay(request, context, "Repeat")
                yield Rep(text=request.text, index=i, payload=request.payload)
        except GeneratorExit:
            # grpcio closes the generator when sending fails because the client cancelled.
            report("CANCELLED Repeat")
            raise
        fail(request, context)

    def collect(requests, context):
        echo_metadata(context)
        texts, payload = [], b""
        for r in requests:
            texts.append(r.text)
            payload += r.payload
            delay(r, context, "Collect")
            fail(r, context)
        return Rep(text=",".join(texts), index=len(texts), payload=payload)

    def chat(requests, context):
        echo_metadata(context)
        for i, r in enumerate(requests):
            delay(r, context, "Chat")
            fail(r, context)
            yield Rep(text=r.text, index=i, payload=r.payload)

    def download(request, context):
        offset = 0
        while offset < request.total_bytes:
            n = min(request.frame_bytes, request.total_bytes - offset)
            yield Payload(data=pattern(offset, n))
            offset += n

    def handlers(table):
        return {name: kind(fn, request_deserializer=req.FromString, response_serializer=rep.SerializeToString)
                for name, (kind, fn, req, rep) in table.items()}

    echo = handlers({
        "Say": (grpc.unary_unary_rpc_method_handler, say, Req, Rep),
        "Repeat": (grpc.unary_stream_rpc_method_handler, repeat, Req, Rep),
        "Collect": (grpc.stream_unary_rpc_method_handler, collect, Req, Rep),
        "Chat": (grpc.stream_stream_rpc_method_handler, chat, Req, Rep),
    })
    bench = handlers({"Download": (grpc.unary_stream_rpc_method_handler, download, Download, Payload)})

    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
        ("grpc.max_receive_message_length", 64 * MIB), ("grpc.max_send_message_length", 64 * MIB)])
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("sd3mesh.rpc.test.Echo", echo),
        grpc.method_handlers_generic_handler("sd3mesh.rpc.v1.RpcBenchmark", bench),
    ))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    report("PORT %d" % port)
    # Serve until the test closes stdin (or kills us).
    sys.stdin.read()
    server.stop(0)


# --- client ------------------------------------------------------------------------------------------

def run_client(descset, address, scenario, args):
    pool = load_pool(descset)
    Req = message_class(pool, "sd3mesh.rpc.test.EchoRequest")
    Rep = message_class(pool, "sd3mesh.rpc.test.EchoReply")
    options = [("grpc.max_receive_message_length", 64 * MIB), ("grpc.max_send_message_length", 64 * MIB)]
    compression = grpc.Compression.Gzip if scenario == "gzip" else None
    if scenario == "tls":
        with open(args[0], "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(address, creds, options + [("grpc.ssl_target_name_override", "localhost")])
    else:
        channel = grpc.insecure_channel(address, options=options, compression=compression)

    def method(kind, name, req=Req, rep=Rep, service="sd3mesh.rpc.test.Echo"):
        return getattr(channel, kind)("/%s/%s" % (service, name), request_serializer=req.SerializeToString,
                                      response_deserializer=rep.FromString)

    def error(e):
        return {"code": e.code().name, "details": e.details()}

    result = {}
    try:
        if scenario in ("unary", "tls", "gzip"):
            payload = (b"compressible " * 10000) if scenario == "gzip" else b"\x00\x01\xff"
            reply = method("unary_unary", "Say")(Req(text=args[-1] if args else "hi", payload=payload), timeout=10)
            result = {"text": reply.text, "payload_ok": reply.payload == payload}
        elif scenario == "server_stream":
            replies = list(method("unary_stream", "Repeat")(Req(text="r", count=int(args[0])), timeout=10))
            result = {"indices": [r.index for r in replies], "texts": sorted(set(r.text for r in replies))}
        elif scenario == "client_stream":
            reply = method("stream_unary", "Collect")(iter([Req(text=t, payload=t.encode()) for t in args]), timeout=10)
            result = {"text": reply.text, "index": reply.index, "payload": reply.payload.decode()}
        elif scenario == "bidi":
            # Ping-pong: the next request is sent only after the reply to the previous one arrived,
            # which proves messages flow both ways while the call is open.
            import queue
            q = queue.Queue()

            def requests():
                for t in args:
                    yield Req(text=t)
                    q.get(timeout=10)

            replies = []
            for r in method("stream_stream", "Chat")(requests(), timeout=10):
                replies.append([r.index, r.text])
                q.put(None)
            result = {"replies": replies}
        elif scenario == "big_stream":
            Payload = message_class(pool, "sd3mesh.rpc.v1.Payload")
            Download = message_class(pool, "sd3mesh.rpc.v1.DownloadRequest")
            total, frame = int(args[0]), int(args[1])
            call = method("unary_stream", "Download", Download, Payload, "sd3mesh.rpc.v1.RpcBenchmark")
            offset, frames, start = 0, 0, time.monotonic()
            for p in call(Download(total_bytes=total, frame_bytes=frame), timeout=120):
                if p.data != pattern(offset, len(p.data)):
                    raise SystemExit("mismatch in the frame at offset %d" % offset)
                offset += len(p.data)
                frames += 1
            result = {"bytes": offset, "frames": frames, "seconds": time.monotonic() - start}
        elif scenario == "deadline":
            start = time.monotonic()
            try:
                method("unary_unary", "Say")(Req(text="slow", delay_ms=10000), timeout=float(args[0]))
                result = {"code": "OK"}
            except grpc.RpcError as e:
                result = error(e)
            result["seconds"] = time.monotonic() - start
        elif scenario == "cancel":
            call = method("unary_stream", "Repeat")(Req(text="c", count=100000, delay_ms=20), timeout=30)
            received = 0
            try:
                for _ in call:
                    received += 1
                    if received == 3:
                        call.cancel()
            except grpc.RpcError as e:
                result = error(e)
            result["received"] = received
        elif scenario == "oversize":
            try:
                method("unary_unary", "Say")(Req(payload=b"x" * int(args[0])), timeout=10)
                result = {"code": "OK"}
            except grpc.RpcError as e:
                result = error(e)
        elif scenario == "unknown_method":
            try:
                method("unary_unary", "NoSuchMethod")(Req(), timeout=10)
                result = {"code": "OK"}
            except grpc.RpcError as e:
                result = error(e)
        elif scenario == "error":
            try:
                method("unary_unary", "Say")(Req(fail_code=int(args[0]), fail_message=args[1]), timeout=10)
                result = {"code": "OK"}
            except grpc.RpcError as e:
                result = error(e)
                result["trailers"] = [[k, v if isinstance(v, str) else v.hex()] for k, v in e.trailing_metadata()]
        elif scenario == "metadata":
            call = method("unary_unary", "Say")
            reply, info = call.with_call(Req(text="m"), timeout=10, metadata=(
                ("x-text", "plain value"), ("x-blob-bin", b"\x00\x01\xfe\xff"), ("x-other-bin", b"a")))
            show = lambda md: sorted([k, v if isinstance(v, str) else v.hex()] for k, v in md if k.startswith("x-"))
            result = {"initial": show(info.initial_metadata()), "trailing": show(info.trailing_metadata())}
        elif scenario == "health":
            HReq = message_class(pool, "grpc.health.v1.HealthCheckRequest")
            HRep = message_class(pool, "grpc.health.v1.HealthCheckResponse")
            check = method("unary_unary", "Check", HReq, HRep, "grpc.health.v1.Health")
            statuses = {}
            for name in args:
                try:
                    statuses[name] = HRep.ServingStatus.Name(check(HReq(service=name), timeout=10).status)
                except grpc.RpcError as e:
                    statuses[name] = e.code().name
            result = {"statuses": statuses}
        elif scenario == "reflection":
            result = reflect_and_call(channel, pool)
        else:
            raise SystemExit("unknown scenario " + scenario)
    except grpc.RpcError as e:
        result = error(e)
    print(json.dumps(result), flush=True)


def reflect_and_call(channel, pool):
    """What grpcurl does: list services over reflection, fetch the .proto of one, build its message
    classes from the returned descriptors alone, and call it."""
    RReq = message_class(pool, "grpc.reflection.v1alpha.ServerReflectionRequest")
    RRep = message_class(pool, "grpc.reflection.v1alpha.ServerReflectionResponse")
    info = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                 request_serializer=RReq.SerializeToString, response_deserializer=RRep.FromString)
    requests = [RReq(list_services=""), RReq(file_containing_symbol="sd3mesh.rpc.test.Echo"),
                RReq(file_by_filename="no/such.proto")]
    responses = list(info(iter(requests), timeout=10))
    services = [s.name for s in responses[0].list_services_response.service]
    files = responses[1].file_descriptor_response.file_descriptor_proto

    fresh = descriptor_pool.DescriptorPool()
    pending = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in files]
    added = set()
    while pending:  # add imports before importers
        for f in list(pending):
            if all(d in added for d in f.dependency):
                fresh.Add(f)
                added.add(f.name)
                pending.remove(f)
    service = fresh.FindServiceByName("sd3mesh.rpc.test.Echo")
    say = service.FindMethodByName("Say")
    Req = message_factory.MessageFactory(fresh).GetPrototype(say.input_type)
    Rep = message_factory.MessageFactory(fresh).GetPrototype(say.output_type)
    reply = channel.unary_unary("/sd3mesh.rpc.test.Echo/Say", request_serializer=Req.SerializeToString,
                                response_deserializer=Rep.FromString)(Req(text="via reflection"), timeout=10)
    return {"services": services, "files": sorted(added), "methods": [m.name for m in service.methods],
            "reply": reply.text, "missing_file_error": responses[2].error_response.error_code}


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2])
    else:
        run_client(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
