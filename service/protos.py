"""The protobuf messages of transduce.asr.v1 and a client stub for its Recognizer service.

The messages are generated from proto/ when the package is built or installed (setup.py) into
`service/_proto`; no gRPC service module is generated. `RecognizerStub` calls the service from its
descriptor, as `transduce.service.wire` registers it, so the installed grpcio need not match the
grpcio-tools that built the package. Only `service/` imports these.
"""

from __future__ import annotations

from pathlib import Path

import grpc

try:
    from transduce.service._proto import asr_pb2
except ImportError as e:  # a source tree that was never installed
    raise ImportError("protobuf messages are missing under service/_proto: they are generated at install "
                      "time; reinstall the package (pip install -e . or make setup)") from e

__all__ = ["PROTO_FILE", "RecognizerStub", "asr_pb2"]

PROTO_FILE = Path(asr_pb2.__file__).with_name("asr.proto")
RECOGNIZER = asr_pb2.DESCRIPTOR.services_by_name["Recognizer"]


class RecognizerStub:
    """Client of transduce.asr.v1.Recognizer on a grpc or grpc.aio channel: one attribute per method
    (StreamingRecognize, Recognize, ListModels), called like a generated stub's."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        for method in RECOGNIZER.methods:
            client = "stream" if method.client_streaming else "unary"
            server = "stream" if method.server_streaming else "unary"
            call = getattr(channel, f"{client}_{server}")(
                f"/{RECOGNIZER.full_name}/{method.name}",
                request_serializer=getattr(asr_pb2, method.input_type.name).SerializeToString,
                response_deserializer=getattr(asr_pb2, method.output_type.name).FromString)
            setattr(self, method.name, call)
