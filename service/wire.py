"""The Recognizer servicer's registration, with request parsing that turns corrupt bytes into a value.

The generated `add_RecognizerServicer_to_server` parses requests with `FromString`; bytes that are not
a valid message then end the call with UNKNOWN ("Unexpected DecodeError") before the servicer sees
it. Registered here instead, such a request arrives as a `CorruptRequest`, which the servicer
answers with INVALID_ARGUMENT like any other bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError, Message
from transduce.service.protos import asr_pb2

__all__ = ["SERVICE_NAME", "CorruptRequest", "add_recognizer"]

SERVICE_NAME = asr_pb2.DESCRIPTOR.services_by_name["Recognizer"].full_name


@dataclass(frozen=True)
class CorruptRequest:
    """Request bytes that do not parse as the method's message; `message` says so."""

    message: str


def _parser(message_type: type[Message]) -> Callable[[bytes], Message | CorruptRequest]:
    name = message_type.DESCRIPTOR.full_name

    def parse(data: bytes) -> Message | CorruptRequest:
        try:
            return message_type.FromString(data)
        except DecodeError as e:
            return CorruptRequest(f"the request is not a valid {name} message ({len(data)} bytes): {e}")

    return parse


def add_recognizer(servicer: object, server: grpc.aio.Server) -> None:
    """Serve `servicer`'s StreamingRecognize, Recognize, ListModels and FormatText on `server`."""
    pb = asr_pb2
    handlers = {
        "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
            servicer.StreamingRecognize, request_deserializer=_parser(pb.StreamingRecognizeRequest),
            response_serializer=pb.StreamingRecognizeResponse.SerializeToString),
        "Recognize": grpc.unary_unary_rpc_method_handler(
            servicer.Recognize, request_deserializer=_parser(pb.RecognizeRequest),
            response_serializer=pb.RecognizeResponse.SerializeToString),
        "ListModels": grpc.unary_unary_rpc_method_handler(
            servicer.ListModels, request_deserializer=_parser(pb.ListModelsRequest),
            response_serializer=pb.ListModelsResponse.SerializeToString),
        "FormatText": grpc.unary_unary_rpc_method_handler(
            servicer.FormatText, request_deserializer=_parser(pb.FormatTextRequest),
            response_serializer=pb.FormatTextResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    if hasattr(server, "add_registered_method_handlers"):  # grpcio >= 1.62: a faster lookup
        server.add_registered_method_handlers(SERVICE_NAME, handlers)
