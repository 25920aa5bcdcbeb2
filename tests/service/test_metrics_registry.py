"""service.metrics: the text exposition format checked by an independent parser, histogram buckets against
brute-force counting, and the HTTP endpoint (200 on /metrics, 404 elsewhere)."""

from __future__ import annotations

import asyncio
import math
import re

import numpy as np
import pytest
from transduce.service.metrics import Registry, start_metrics_http

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Independent parser of the exposition format: (name, labels) -> value; checks TYPE lines too."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = _LINE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        value = {"+Inf": math.inf, "-Inf": -math.inf}.get(m.group(4)) or float(m.group(4))
        assert any(m.group(1) == t or m.group(1).startswith(t + "_") for t in typed), line
        out[m.group(1), labels] = value
    return out


def test_counters_gauges_and_labels_render_and_parse():
    rng = np.random.default_rng(0)
    reg = Registry()
    streams = reg.counter("t_streams_total", "Streams.")
    errors = reg.counter("t_errors_total", "Errors by code.", labels=("code",))
    active = reg.gauge("t_active", "Open.")
    outside = [3.5]
    reg.counter("t_read_total", "Read from elsewhere.", fn=lambda: outside[0])
    expected: dict[str, float] = {}
    n = 0
    for _ in range(200):
        code = str(rng.choice(["OK", "NOT_FOUND", 'we"ird\\code']))
        errors.inc(code=code)
        expected[code] = expected.get(code, 0) + 1
        n += 1
        streams.inc()
    active.set(7)
    outside[0] = 9.25
    page = parse(reg.render())
    assert page["t_streams_total", frozenset()] == n
    assert page["t_active", frozenset()] == 7
    assert page["t_read_total", frozenset()] == 9.25
    for code, count in expected.items():
        escaped = code.replace("\\", "\\\\").replace('"', '\\"')
        assert page["t_errors_total", frozenset({("code", escaped)})] == count
        assert errors.value(code=code) == count
    with pytest.raises(ValueError, match="cannot go down"):
        streams.inc(-1)
    with pytest.raises(ValueError, match="takes labels"):
        errors.inc(reason="x")
    with pytest.raises(ValueError, match="already registered"):
        reg.gauge("t_active", "again")


@pytest.mark.parametrize("seed", range(3))
def test_histogram_buckets_match_brute_force_counts(seed):
    rng = np.random.default_rng(seed)
    bounds = np.sort(rng.choice(np.arange(1, 50), size=6, replace=False)) / 10.0
    values = np.concatenate([rng.exponential(1.5, size=300), rng.choice(bounds, size=20)])  # some on a bound
    reg = Registry()
    h = reg.histogram("t_latency_seconds", "Latency.", buckets=bounds.tolist())
    for v in values:
        h.observe(float(v))
    page = parse(reg.render())
    for b in bounds:
        assert page["t_latency_seconds_bucket", frozenset({("le", repr(float(b)))})] == np.sum(values <= b)
    inf_bucket = page["t_latency_seconds_bucket", frozenset({("le", "+Inf")})]
    assert inf_bucket == page["t_latency_seconds_count", frozenset()] == len(values)
    assert page["t_latency_seconds_sum", frozenset()] == pytest.approx(float(np.sum(values)))
    per_bucket = np.diff([0] + [n for _, n in h.cumulative()])
    assert (per_bucket >= 0).all() and per_bucket.sum() == h.count


async def _get(port: int, request: bytes) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = (await reader.read()).decode()
    writer.close()
    head, _, body = data.partition("\r\n\r\n")
    return head.splitlines()[0], body


def test_http_endpoint_serves_metrics_and_404s_other_paths():
    async def main():
        reg = Registry()
        c = reg.counter("t_hits_total", "Hits.")
        server = await start_metrics_http(reg, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            c.inc(4)
            status, body = await _get(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == "HTTP/1.1 200 OK" and parse(body)["t_hits_total", frozenset()] == 4
            status, body = await _get(port, b"GET /other HTTP/1.1\r\n\r\n")
            assert status == "HTTP/1.1 404 Not Found" and "/metrics" in body
            status, _ = await _get(port, b"POST /metrics HTTP/1.1\r\n\r\n")
            assert status == "HTTP/1.1 405 Method Not Allowed"
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())
