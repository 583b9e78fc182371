"""grpcio's side of `sd3mesh bench rpc` (run with /usr/bin/python3: Debian's python3-grpcio and
python3-protobuf). Calls sd3mesh.rpc.v1.RpcBenchmark on an sd3mesh server with message classes built
from the FileDescriptorSet the benchmark writes (no protoc-generated code), and prints one JSON line:
unary latency percentiles and stream throughput.

  rpc_bench_client.py DESCSET HOST:PORT CALLS STREAM_BYTES FRAME_BYTES
"""
import json
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def main(descset, address, calls, stream_bytes, frame_bytes):
    files = descriptor_pb2.FileDescriptorSet()
    with open(descset, "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    factory = message_factory.MessageFactory(pool)
    Payload = factory.GetPrototype(pool.FindMessageTypeByName("sd3mesh.rpc.v1.Payload"))
    Download = factory.GetPrototype(pool.FindMessageTypeByName("sd3mesh.rpc.v1.DownloadRequest"))
    Summary = factory.GetPrototype(pool.FindMessageTypeByName("sd3mesh.rpc.v1.UploadSummary"))

    limit = 64 * 1024 * 1024
    channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", limit),
                                                      ("grpc.max_send_message_length", limit)])
    service = "/sd3mesh.rpc.v1.RpcBenchmark/"
    echo = channel.unary_unary(service + "Echo", request_serializer=Payload.SerializeToString, response_deserializer=Payload.FromString)
    download = channel.unary_stream(service + "Download", request_serializer=Download.SerializeToString, response_deserializer=Payload.FromString)
    upload = channel.stream_unary(service + "Upload", request_serializer=Payload.SerializeToString, response_deserializer=Summary.FromString)

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
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
