"""What the service measures and logs: the metrics of a server and the record of each stream.

Metrics (served at GET /metrics with `--metrics-port`, readable in-process as `server.metrics`):
  transduce_active_streams              gauge: sessions open in the engine (streaming and unary calls)
  transduce_streams_total               counter: StreamingRecognize calls started (refused ones included)
  transduce_errors_total{code=...}      counter: Recognizer calls (streaming and unary) ended with a status
                                        other than OK; calls refused by the bearer-token check included
  transduce_audio_seconds_total         counter: seconds of audio accepted (streaming and unary calls)
  transduce_processing_seconds_total    counter: seconds the model worker threads were busy (features,
                                        model steps); real-time factor = processing / audio seconds
  transduce_chunk_latency_seconds       histogram: for each audio message, the time from its arrival at
                                        the server to the first response sent on its stream after it
                                        (messages still unanswered when the stream ends are not counted)
Each StreamingRecognize call also logs one `stream end` event (service.logs) with its id, model, audio
seconds, results sent, status code and duration; each Recognize call a `recognize end` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
from transduce.service.logs import LOG
from transduce.service.metrics import Registry

__all__ = ["LATENCY_BUCKETS", "ServiceMetrics", "StreamRecord"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class StreamRecord:
    """One stream as the servicer sees it: filled while it runs, logged and counted when it ends."""

    stream_id: int
    metrics: ServiceMetrics
    model: str = ""
    audio_s: float = 0.0
    results: int = 0
    started: float = field(default_factory=time.monotonic)
    _waiting: list[float] = field(default_factory=list)  # arrival times of unanswered audio messages

    def add_audio(self, seconds: float) -> None:
        """`seconds` of audio were accepted."""
        self.audio_s += seconds
        self.metrics.audio_s.inc(seconds)

    def fed(self, seconds: float, arrived: float) -> None:
        """An audio message of `seconds` that arrived at monotonic time `arrived` was accepted."""
        self.add_audio(seconds)
        self._waiting.append(arrived)

    def answered(self, results: int) -> None:
        """A response with `results` results is being sent: it answers every audio message before it."""
        self.results += results
        now = time.monotonic()
        for arrived in self._waiting:
            self.metrics.latency.observe(now - arrived)
        self._waiting.clear()


class ServiceMetrics:
    """The metrics of one server (see the module docstring); `active` and `processing_s` are read from
    the engine when the page is rendered."""

    def __init__(self, active: Callable[[], float], processing_s: Callable[[], float]) -> None:
        self.registry = r = Registry()
        self.active_streams = r.gauge("transduce_active_streams", "Sessions open in the engine.", fn=active)
        self.streams = r.counter("transduce_streams_total", "StreamingRecognize calls started.")
        self.errors = r.counter("transduce_errors_total", "Recognizer calls ended with an error status, by "
                                "gRPC status code.", labels=("code",))
        self.audio_s = r.counter("transduce_audio_seconds_total", "Seconds of audio accepted.")
        self.processing_s = r.counter("transduce_processing_seconds_total", "Seconds the model worker "
                                      "threads were busy; real-time factor = this / audio seconds.",
                                      fn=processing_s)
        self.latency = r.histogram("transduce_chunk_latency_seconds", "Time from an audio message's "
                                   "arrival to the first response after it on its stream.", LATENCY_BUCKETS)
        self._ids = itertools.count(1)

    @contextlib.contextmanager
    def stream(self, context: grpc.aio.ServicerContext, unary: bool = False) -> Iterator[StreamRecord]:
        """Count a StreamingRecognize call (unary: a Recognize call, not in streams_total); at its end count
        its error code and log its record (event `stream end`, or `recognize end`)."""
        record = StreamRecord(next(self._ids), self)
        if not unary:
            self.streams.inc()
        code = "OK"
        try:
            yield record
        except grpc.aio.AbortError:
            code = _code_name(context.code())
            raise
        except (asyncio.CancelledError, GeneratorExit):  # the client cancelled, or its deadline passed
            remaining = context.time_remaining()
            code = "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
            raise
        except BaseException:
            code = "UNKNOWN"
            raise
        finally:
            if code != "OK":
                self.errors.inc(code=code)
            LOG.info("recognize end" if unary else "stream end", extra={"fields": {
                "stream_id": record.stream_id, "model": record.model, "audio_s": round(record.audio_s, 3),
                "results": record.results, "status": code,
                "duration_s": round(time.monotonic() - record.started, 3)}})


def _code_name(code: object) -> str:
    """A status code's name (grpc gives a StatusCode, or None when none was set)."""
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "UNKNOWN" if code is None else str(code)
