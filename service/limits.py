"""Service limits: a counter of concurrent streams and the bearer-token check (a server interceptor)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from transduce.service._drain import drain
from transduce.service.errors import RequestError

__all__ = ["RECOGNIZE_S", "IdleTimeoutError", "StreamLimits", "StreamSlots", "TokenAuth"]

_OPEN_METHODS = ("/grpc.health.v1.Health/",)  # load balancers probe health without a token


class IdleTimeoutError(RequestError):
    """The client sent nothing for the idle timeout."""


RECOGNIZE_S = 480.0  # the longest audio of one Recognize request when no max_stream_s is set


@dataclass(frozen=True)
class StreamLimits:
    """Per-stream limits: max_stream_s of audio (past it OUT_OF_RANGE), idle_timeout_s without a message
    from the client (past it DEADLINE_EXCEEDED); None: no limit. A Recognize request's audio is
    limited too (`recognize_s`): a unary call holds all its results until it ends."""

    max_stream_s: float | None = None
    idle_timeout_s: float | None = None

    @property
    def recognize_s(self) -> float:
        """The longest audio of one Recognize request: max_stream_s, or RECOGNIZE_S when that is None."""
        return RECOGNIZE_S if self.max_stream_s is None else self.max_stream_s

    def __post_init__(self) -> None:
        for name in ("max_stream_s", "idle_timeout_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value}")

    def idle_error(self) -> IdleTimeoutError:
        """The error of a stream that sent nothing for idle_timeout_s."""
        return IdleTimeoutError(f"no message from the client for {self.idle_timeout_s:g} s (idle timeout)",
                                grpc.StatusCode.DEADLINE_EXCEEDED)


class StreamSlots:
    """At most `limit` calls (streaming or unary) at once (None: no limit); take() raises
    RESOURCE_EXHAUSTED past it."""

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"max streams must be >= 1 or None, got {limit}")
        self.limit, self.active = limit, 0

    def take(self) -> None:
        """Count one more stream, or refuse it."""
        if self.limit is not None and self.active >= self.limit:
            raise RequestError(f"the server is at its limit of {self.limit} concurrent streams; retry later",
                               grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.active += 1

    def give(self) -> None:
        """A stream has ended."""
        self.active -= 1


def _refuse(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that answers UNAUTHENTICATED."""

    async def abort(request: object, context: grpc.aio.ServicerContext) -> None:
        if handler.request_streaming:
            await drain(request)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kind = {(False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler}
    return kind[handler.request_streaming, handler.response_streaming](
        abort, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)


class TokenAuth(grpc.aio.ServerInterceptor):
    """Refuses every call without metadata `authorization: Bearer <token>` (health checks excepted);
    `on_refuse()` is called for each refusal (metrics)."""

    def __init__(self, token: str, on_refuse: Callable[[], None] | None = None) -> None:
        if not token:
            raise ValueError("the auth token must not be empty")
        self._expected = f"Bearer {token}".encode()
        self._on_refuse = on_refuse

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        """Pass authorised calls on; answer the others UNAUTHENTICATED."""
        if details.method.startswith(_OPEN_METHODS):
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        sent = dict(details.invocation_metadata or ()).get("authorization")
        sent = sent.encode() if isinstance(sent, str) else sent
        if sent is not None and hmac.compare_digest(sent, self._expected):
            return handler
        if self._on_refuse is not None:
            self._on_refuse()
        missing = "missing metadata 'authorization: Bearer <token>'"
        return _refuse(handler, missing if sent is None else "wrong bearer token")
