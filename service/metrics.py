"""A tiny metrics registry in the Prometheus text exposition format (version 0.0.4), and its HTTP endpoint.

    registry = Registry()
    served = registry.counter("transduce_streams_total", "Streams started.")
    served.inc()
    errors = registry.counter("transduce_errors_total", "Calls ended with an error.", labels=("code",))
    errors.inc(code="NOT_FOUND")
    latency = registry.histogram("transduce_chunk_latency_seconds", "...", buckets=(0.01, 0.1, 1.0))
    latency.observe(0.03)
    print(registry.render())                     # what GET /metrics answers
    http = await start_metrics_http(registry, "127.0.0.1", 9100)

Counters and gauges may read their value from a function (`fn=`) instead of being set, so values that
live elsewhere (open sessions, the schedulers' busy time) are read when the page is rendered.
No dependency: prometheus_client is not needed to be scraped by Prometheus.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

__all__ = ["Counter", "Gauge", "Histogram", "Registry", "start_metrics_http", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_READ_S = 5.0  # how long the HTTP endpoint waits for a request's head
_MAX_HEAD_LINES = 100


def _number(value: float) -> str:
    """A sample value as the text format writes it (+Inf, -Inf, NaN, or a float)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


class _Metric:
    """A named metric: `kind` is counter, gauge or histogram; `samples()` gives (suffix, labels, value)."""

    kind = "untyped"

    def __init__(self, name: str, help: str) -> None:  # noqa: A002 - the format's own word
        if not name or not all(c.isalnum() or c in "_:" for c in name) or name[0].isdigit():
            raise ValueError(f"bad metric name {name!r}: use letters, digits, '_' and ':'")
        self.name, self.help = name, help

    def samples(self) -> Iterator[tuple[str, tuple[tuple[str, str], ...], float]]:
        raise NotImplementedError

    def render(self) -> str:
        """The HELP and TYPE lines and one line per sample."""
        lines = [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]
        lines += [f"{self.name}{suffix}{_labels(labels)} {_number(value)}"
                  for suffix, labels, value in self.samples()]
        return "\n".join(lines) + "\n"


class Counter(_Metric):
    """A value that only goes up, optionally per label values; or read from `fn` when rendered."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (),  # noqa: A002
                 fn: Callable[[], float] | None = None) -> None:
        super().__init__(name, help)
        if fn is not None and labels:
            raise ValueError(f"{name}: a counter read from a function has no labels")
        self.label_names, self._fn = tuple(labels), fn
        self._values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` (>= 0) to the series named by `labels` (exactly the counter's label names)."""
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot go down (inc by {amount})")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current value of one series (0 for a series never incremented)."""
        return float(self._fn()) if self._fn is not None else self._values.get(self._key(labels), 0.0)

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(labels[k]) for k in self.label_names)

    def samples(self) -> Iterator[tuple[str, tuple[tuple[str, str], ...], float]]:
        if self._fn is not None:
            yield "", (), float(self._fn())
            return
        for key, value in sorted(self._values.items()):
            yield "", tuple(zip(self.label_names, key)), value


class Gauge(_Metric):
    """A value that goes up and down: `set(v)`, or read from `fn` when rendered."""

    kind = "gauge"

    def __init__(self, name: str, help: str, fn: Callable[[], float] | None = None) -> None:  # noqa: A002
        super().__init__(name, help)
        self._fn, self._value = fn, 0.0

    def set(self, value: float) -> None:
        """Set the value (a gauge read from a function cannot be set)."""
        if self._fn is not None:
            raise ValueError(f"{self.name} is read from a function")
        self._value = float(value)

    def value(self) -> float:
        """The current value."""
        return float(self._fn()) if self._fn is not None else self._value

    def samples(self) -> Iterator[tuple[str, tuple[tuple[str, str], ...], float]]:
        yield "", (), self.value()


class Histogram(_Metric):
    """Observations counted in fixed buckets (upper bounds, inclusive: v <= le), plus their sum and count.

    Rendered cumulatively as the format requires: `_bucket{le="x"}` counts observations <= x, and the
    `+Inf` bucket equals `_count`.
    """

    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:  # noqa: A002
        super().__init__(name, help)
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or any(a >= b for a, b in zip(bounds, bounds[1:])):
            raise ValueError(f"{name}: buckets must be finite, increasing and not empty, got {buckets}")
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(bounds) + 1)  # per bucket (not cumulative); the last is (max, +Inf)
        self.sum, self.count = 0.0, 0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= it) per bucket, the last bound +Inf."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, math.inf), self._counts):
            total += n
            out.append((bound, total))
        return out

    def samples(self) -> Iterator[tuple[str, tuple[tuple[str, str], ...], float]]:
        for bound, n in self.cumulative():
            yield "_bucket", (("le", _number(bound)),), n
        yield "_sum", (), self.sum
        yield "_count", (), self.count


class Registry:
    """The metrics of one process, rendered together in the order they were made."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def _add(self, metric: _Metric) -> _Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name!r} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = (),  # noqa: A002
                fn: Callable[[], float] | None = None) -> Counter:
        """A new registered Counter."""
        return self._add(Counter(name, help, labels, fn))

    def gauge(self, name: str, help: str, fn: Callable[[], float] | None = None) -> Gauge:  # noqa: A002
        """A new registered Gauge."""
        return self._add(Gauge(name, help, fn))

    def histogram(self, name: str, help: str, buckets: Sequence[float]) -> Histogram:  # noqa: A002
        """A new registered Histogram."""
        return self._add(Histogram(name, help, buckets))

    def render(self) -> str:
        """The whole page in the text exposition format."""
        return "".join(m.render() for m in self._metrics.values())


async def start_metrics_http(registry: Registry, host: str, port: int) -> asyncio.Server:
    """Serve `GET /metrics` (the registry's page) over HTTP/1.0-style one-shot connections; other paths
    get 404, other methods 405. Port 0 picks a free port (see `server.sockets[0].getsockname()`)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(_read_head(reader), _READ_S)
            parts = head[0].split() if head else []
            method, path = (parts[0], parts[1].split("?")[0]) if len(parts) >= 2 else ("", "")
            if method not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", "only GET /metrics is served\n"
            elif path != "/metrics":
                status, body = "404 Not Found", f"no page {path!r}; metrics are at /metrics\n"
            else:
                status, body = "200 OK", registry.render()
            data = body.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {len(data)}"
                         f"\r\nConnection: close\r\n\r\n".encode() + (b"" if method == "HEAD" else data))
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)


async def _read_head(reader: asyncio.StreamReader) -> list[str]:
    """The request line and header lines, up to the blank line (bounded)."""
    lines: list[str] = []
    while len(lines) < _MAX_HEAD_LINES:
        line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            break
        lines.append(line)
    return lines
