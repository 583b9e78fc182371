"""A grpcio client of sd3mesh.v1.Generation for the interop test (run with /usr/bin/python3: Debian's
python3-grpcio and python3-protobuf). Message classes come from the FileDescriptorSet the C# test writes,
through the helpers of the Rpc tests' echo_peer.py (copied beside this script).

  generation_client.py DESCSET HOST:PORT PROMPT WIDTH HEIGHT STEPS SEED

Calls Generate and prints one JSON line: the events in order ("queued", "stage_started:STAGE_ENCODE",
"step:1/4", ..., "finished") and, from the finished event, each image's seed, size, media type and bytes
(base64).
"""
import base64
import json
import sys

import grpc

from echo_peer import load_pool, message_class


def describe(pool, event):
    kind = event.WhichOneof("event")
    if kind == "stage_started":
        stage = pool.FindEnumTypeByName("sd3mesh.v1.Stage").values_by_number[event.stage_started.stage].name
        return "stage_started:" + stage
    if kind == "step":
        return "step:%d/%d" % (event.step.step, event.step.total_steps)
    return kind


def main(descset, address, prompt, width, height, steps, seed):
    pool = load_pool(descset)
    Request = message_class(pool, "sd3mesh.v1.GenerateRequest")
    Event = message_class(pool, "sd3mesh.v1.JobEvent")
    channel = grpc.insecure_channel(address)
    generate = channel.unary_stream("/sd3mesh.v1.Generation/Generate", request_serializer=Request.SerializeToString,
                                    response_deserializer=Event.FromString)
    request = Request(prompt=prompt, width=int(width), height=int(height), steps=int(steps), seed=int(seed))
    events, images = [], []
    for event in generate(request, timeout=120):
        events.append(describe(pool, event))
        if event.WhichOneof("event") == "finished":
            images = [{"seed": i.seed, "width": i.width, "height": i.height, "media_type": i.media_type,
                       "data": base64.b64encode(i.data).decode("ascii")} for i in event.finished.images]
    print(json.dumps({"events": events, "images": images}))


if __name__ == "__main__":
    main(*sys.argv[1:8])
