"""The gRPC server: the Recognizer servicer on grpc.aio, with health checking, reflection and limits.

    server = await serve({"demo": model}, ServerConfig(port=0))   # port 0: an ephemeral port
    server = await serve({"demo": model}, cfg, text_models={"format": load_model("format")})
    print(server.port); ...; await server.stop()

`run_until_signal` serves until SIGTERM/SIGINT, then shuts down gracefully: new calls are refused,
open streams get `grace_s` to finish (and send their finals), then the engine stops.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.text.models import TextLM, TextSeq2Seq
from transduce.service.bounds import RequestBounds
from transduce.service.engine import Engine
from transduce.service.limits import StreamLimits, StreamSlots, TokenAuth
from transduce.service.metrics import start_metrics_http
from transduce.service.observe import ServiceMetrics
from transduce.service.servicer import RecognizerServicer
from transduce.service.text_models import TextModels
from transduce.service.wire import SERVICE_NAME, add_recognizer
from transduce.streaming import SchedulerConfig, SessionConfigError, lookahead_index
from transduce.streaming.heap import limit_arenas

__all__ = ["ServerConfig", "Server", "serve", "run_until_signal"]


@dataclass(frozen=True)
class ServerConfig:
    """host/port to bind (port 0: ephemeral); max_streams: concurrent Recognizer calls, streaming and
    unary (None: no limit); max_stream_s / idle_timeout_s: see service.limits.StreamLimits; token:
    bearer token required in metadata (None: no auth); max_message_bytes: largest request; grace_s: how
    long open calls may run on after a shutdown starts; scheduler: batching settings; metrics_port: serve
    GET /metrics there over HTTP on `host` (None: not served; 0: a free port); tls_cert / tls_key: PEM
    files of the server's certificate chain and private key (both or neither; neither: plaintext);
    bounds: the accepted range of each request field (service.bounds); warm_up: run a second of
    noise through each model before serving (Engine.warm_up); default_lookahead_ms: the look-ahead of
    calls that do not choose one (None: each model's default; else one every model has); lm_weight: the
    language-model weight of requests that set none (models served with an LM, beam decoding)."""

    host: str = "127.0.0.1"
    port: int = 50051
    max_streams: int | None = None
    max_stream_s: float | None = None
    idle_timeout_s: float | None = None
    token: str | None = None
    max_message_bytes: int = 4 * 1024 * 1024
    grace_s: float = 10.0
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    metrics_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    bounds: RequestBounds = field(default_factory=RequestBounds)
    warm_up: bool = True
    default_lookahead_ms: int | None = None
    lm_weight: float = 0.3

    def __post_init__(self) -> None:
        StreamLimits(self.max_stream_s, self.idle_timeout_s)  # checks them
        for name in ("port", "metrics_port"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name} must be 0..65535, got {getattr(self, name)}")
        if self.max_streams is not None and self.max_streams < 1:
            raise ValueError(f"max_streams must be >= 1 or None, got {self.max_streams}")
        if self.max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be >= 1024, got {self.max_message_bytes}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and a private key file (--tls-cert, --tls-key)")
        if self.grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {self.grace_s}")
        if not 0 <= self.lm_weight <= self.bounds.max_lm_weight:
            raise ValueError(f"lm_weight must be 0..{self.bounds.max_lm_weight:g}, got {self.lm_weight}")


@dataclass
class Server:
    """A running server: the bound port, its engine (schedulers), the stream slots, the grpc server, its
    metrics (service.observe) and their HTTP endpoint (None unless cfg.metrics_port is set)."""

    grpc_server: grpc.aio.Server
    port: int
    engine: Engine
    slots: StreamSlots
    health: health.aio.HealthServicer
    cfg: ServerConfig
    metrics: ServiceMetrics
    metrics_http: asyncio.Server | None = None
    text: TextModels | None = None

    @property
    def metrics_port(self) -> int | None:
        """The port GET /metrics is served on, if it is."""
        return None if self.metrics_http is None else self.metrics_http.sockets[0].getsockname()[1]

    async def stop(self, grace_s: float | None = None) -> None:
        """Refuse new calls, give open ones `grace_s` (default cfg.grace_s) to finish, stop the engine."""
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.grpc_server.stop(self.cfg.grace_s if grace_s is None else grace_s)
        await self.engine.stop()
        if self.text is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.text.close)
        if self.metrics_http is not None:
            self.metrics_http.close()
            await self.metrics_http.wait_closed()


async def serve(models: Mapping[str, ASRModel], cfg: ServerConfig | None = None,
                text_models: Mapping[str, TextSeq2Seq] | None = None,
                lms: Mapping[str, TextLM] | None = None) -> Server:
    """Start serving `models` (name -> speech model; the first is the default) and `text_models`
    (name -> text model; the first formats finals, service.text_models) on the running event loop;
    `lms`: speech model name -> the language model that re-ranks its finals (streaming.lm)."""
    cfg = cfg or ServerConfig()
    clash = set(models) & set(text_models or {})
    if clash:
        raise ValueError(f"a speech model and a text model share the name {sorted(clash)[0]!r}")
    if set(lms or {}) - set(models):
        raise ValueError(f"language models for models not served: {sorted(set(lms or {}) - set(models))}")
    credentials = _tls_credentials(cfg)
    for name, model in models.items():
        try:
            lookahead_index(model, cfg.default_lookahead_ms)
        except SessionConfigError as e:
            raise ValueError(f"default look-ahead: model {name!r}: {e}") from None
    limit_arenas()  # before gRPC's threads start (streaming.heap: memory comes back after streams)
    engine = Engine(models, cfg.scheduler)
    text = TextModels(text_models or {}, cfg.bounds.max_format_chars, lms, cfg.lm_weight)
    await engine.start()
    if cfg.warm_up:
        await engine.warm_up()
        for name in text.rewriters:
            await text.rewrite(name, ["warm up the model at ten thirty"])
    metrics = ServiceMetrics(lambda: engine.active_streams, lambda: engine.busy_s)
    refused = lambda: metrics.errors.inc(code="UNAUTHENTICATED")  # noqa: E731 - a one-line hook
    size = cfg.max_message_bytes
    server = grpc.aio.server(interceptors=[TokenAuth(cfg.token, refused)] if cfg.token else None,
                             options=[("grpc.max_receive_message_length", size),
                                      ("grpc.max_send_message_length", size),
                                      ("grpc.so_reuseport", 0)])  # a port in use is an error
    slots = StreamSlots(cfg.max_streams)
    limits = StreamLimits(cfg.max_stream_s, cfg.idle_timeout_s)
    add_recognizer(RecognizerServicer(engine, slots, limits, metrics, cfg.bounds, cfg.default_lookahead_ms,
                                      text), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        address = f"{cfg.host}:{cfg.port}"
        port = (server.add_insecure_port(address) if credentials is None
                else server.add_secure_port(address, credentials))
        await server.start()
        where = f"{cfg.host}:{cfg.metrics_port} (metrics)"
        http = None if cfg.metrics_port is None else await start_metrics_http(metrics.registry, cfg.host,
                                                                                cfg.metrics_port)
    except (RuntimeError, OSError) as e:
        await server.stop(0)
        await engine.stop()
        text.close()
        where = f"{cfg.host}:{cfg.port}" if isinstance(e, RuntimeError) else where
        raise OSError(f"cannot listen on {where}: {e}") from None
    return Server(server, port, engine, slots, health_servicer, cfg, metrics, http, text)


def _tls_credentials(cfg: ServerConfig) -> grpc.ServerCredentials | None:
    """Server credentials from cfg's PEM files (None without TLS); OSError names an unreadable file."""
    if cfg.tls_cert is None or cfg.tls_key is None:
        return None
    pem = {}
    for what, path in (("certificate", cfg.tls_cert), ("private key", cfg.tls_key)):
        try:
            pem[what] = Path(path).read_bytes()
        except OSError as e:
            raise OSError(f"cannot read the TLS {what} {path}: {e.strerror}") from None
        if b"-----BEGIN" not in pem[what]:
            raise ValueError(f"the TLS {what} {path} is not a PEM file")
    return grpc.ssl_server_credentials([(pem["private key"], pem["certificate"])])


async def run_until_signal(models: Mapping[str, ASRModel], cfg: ServerConfig | None = None,
                           on_start: Callable[[Server], None] | None = None,
                           text_models: Mapping[str, TextSeq2Seq] | None = None,
                           lms: Mapping[str, TextLM] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (see the module docstring)."""
    server = await serve(models, cfg, text_models, lms)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    if on_start is not None:
        on_start(server)
    await stopping.wait()
    await server.stop()
