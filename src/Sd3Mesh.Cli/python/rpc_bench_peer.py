"""grpcio's side of `sd3mesh bench rpc` (run with /usr/bin/python3: Debian's python3-grpcio and
python3-protobuf). Message classes come from the FileDescriptorSet the benchmark writes (no
protoc-generated code).

  rpc_bench_peer.py client DESCSET HOST:PORT CALLS STREAM_BYTES FRAME_BYTES
      calls sd3mesh.rpc.v1.RpcBenchmark and prints one JSON line: unary latency percentiles and
      stream throughput both ways
  rpc_bench_peer.py server DESCSET
      serves sd3mesh.rpc.v1.RpcBenchmark on 127.0.0.1:0, prints "PORT n", serves until stdin closes
"""
import json
import sys
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

LIMIT = 64 * 1024 * 1024
OPTIONS = [("grpc.max_receive_message_length", LIMIT), ("grpc.max_send_message_length", LIMIT)]
SERVICE = "/sd3mesh.rpc.v1.RpcBenchmark/"


def messages(descset):
    files = descriptor_pb2.FileDescriptorSet()
    with open(descset, "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    # protobuf >= 4.21 has GetMessageClass; older ones (Debian's 3.21) only MessageFactory.GetPrototype.
    make = getattr(message_factory, "GetMessageClass", None) or message_factory.MessageFactory(pool).GetPrototype
    get = lambda name: make(pool.FindMessageTypeByName("sd3mesh.rpc.v1." + name))
    return get("Payload"), get("DownloadRequest"), get("UploadSummary")


def pattern(length):
    """The first `length` bytes of the Download pattern: byte i = (i*31+7) mod 251."""
    period = bytes((i * 31 + 7) % 251 for i in range(251))
    return (period * (length // 251 + 1))[:length]


def serve(descset):
    Payload, Download, Summary = messages(descset)

    def echo(request, context):
        return request

    def download(request, context):
        # One frame plus a period holds every frame as a slice, as the C# service does.
        buffer = pattern(request.frame_bytes + 251)
        offset = 0
        while offset < request.total_bytes:
            n = min(request.frame_bytes, request.total_bytes - offset)
            start = offset % 251
            yield Payload(data=buffer[start:start + n])
            offset += n

    def upload(requests, context):
        summary = Summary()
        for payload in requests:
            summary.total_bytes += len(payload.data)
            summary.frames += 1
        return summary

    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, Payload.FromString, Payload.SerializeToString),
        "Download": grpc.unary_stream_rpc_method_handler(download, Download.FromString, Payload.SerializeToString),
        "Upload": grpc.stream_unary_rpc_method_handler(upload, Payload.FromString, Summary.SerializeToString),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=OPTIONS)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("sd3mesh.rpc.v1.RpcBenchmark", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    sys.stdin.read()
    server.stop(0)


def client(descset, address, calls, stream_bytes, frame_bytes):
    Payload, Download, Summary = messages(descset)
    channel = grpc.insecure_channel(address, options=OPTIONS)
    echo = channel.unary_unary(SERVICE + "Echo", request_serializer=Payload.SerializeToString, response_deserializer=Payload.FromString)
    download = channel.unary_stream(SERVICE + "Download", request_serializer=Download.SerializeToString, response_deserializer=Payload.FromString)
    upload = channel.stream_unary(SERVICE + "Upload", request_serializer=Payload.SerializeToString, response_deserializer=Summary.FromString)

    request = Payload(data=b"x" * 64)
    for _ in range(max(1, calls // 10)):
        echo(request, timeout=30)
    latencies = []
    for _ in range(calls):
        start = time.perf_counter()
        echo(request, timeout=30)
        latencies.append(time.perf_counter() - start)
    latencies.sort()

    def timed_download(total):
        start = time.perf_counter()
        received = 0
        for p in download(Download(total_bytes=total, frame_bytes=frame_bytes), timeout=600):
            received += len(p.data)
        if received != total:
            raise SystemExit("received %d of %d bytes" % (received, total))
        return time.perf_counter() - start

    frame = Payload(data=bytes(frame_bytes))

    def timed_upload(frames):
        start = time.perf_counter()
        summary = upload(iter([frame] * frames), timeout=600)
        if summary.total_bytes != frames * frame_bytes:
            raise SystemExit("the server counted %d bytes" % summary.total_bytes)
        return time.perf_counter() - start

    # A short untimed round of each stream first, as the C# side does.
    warmup = min(stream_bytes, max(frame_bytes, stream_bytes // 8))
    timed_download(warmup)
    timed_upload(warmup // frame_bytes)
    download_seconds = timed_download(stream_bytes)
    frames = stream_bytes // frame_bytes
    upload_seconds = timed_upload(frames)

    mb = 1024 * 1024
    print(json.dumps({
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6,
        "download_mbps": stream_bytes / mb / download_seconds,
        "upload_mbps": frames * frame_bytes / mb / upload_seconds,
    }), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2])
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
