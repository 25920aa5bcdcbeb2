"""The error a request is refused with, and how client input is quoted in status messages.

A status message travels in gRPC metadata, which has a hard size limit (16 KiB by default; past it the
client sees RESOURCE_EXHAUSTED instead of the real status), so a message quotes at most `ECHO_CHARS`
characters of what the client sent (`echo`) and is cut to `MESSAGE_BYTES` bytes in all (`short`).
"""

from __future__ import annotations

import grpc

__all__ = ["ECHO_CHARS", "MESSAGE_BYTES", "RequestError", "echo", "short"]

ECHO_CHARS = 64
MESSAGE_BYTES = 512


class RequestError(ValueError):
    """A request the service refuses; `code` is the gRPC status to answer with."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.code = code


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """repr(value) cut to `limit` characters (its full length said), for quoting client input."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, (str, bytes)) else ""
    return f"{text[:limit]}...{size}"


def short(message: str, limit: int = MESSAGE_BYTES) -> str:
    """`message` cut to at most `limit` UTF-8 bytes."""
    data = message.encode("utf-8", "replace")
    if len(data) <= limit:
        return message
    return data[:limit - 3].decode("utf-8", "ignore") + "..."
