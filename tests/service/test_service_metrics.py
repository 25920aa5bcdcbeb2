"""Metrics and stream-end logs of a real server: after a good stream, a refused one (max streams), an unknown
model and a client cancel, GET /metrics over HTTP shows what the clients saw, counted on the client side."""

from __future__ import annotations

import asyncio
import io
import json

import grpc
import pytest
from grpc_helpers import (
    audio_requests,
    live_server,
    load,
    pcm16,
    speechlike,
    status_at_deadline,
    stream_call,
    stream_in_two_halves,
    streaming_config,
    tiny_model_dir,
    until,
)
from test_metrics_registry import parse
from transduce.service.logs import LOG, configure_logging
from transduce.service.observe import LATENCY_BUCKETS
from transduce.service.protos import asr_pb2


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load(tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny"))


async def _code(stub, requests) -> grpc.StatusCode:
    try:
        async for _ in stream_call(stub, requests):
            pass
    except grpc.aio.AioRpcError as e:
        return e.code()
    return grpc.StatusCode.OK


async def _scrape(port: int) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
    data = (await reader.read()).decode()
    writer.close()
    head, _, body = data.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    return parse(body)


def _run(model, pcm: bytes, log: io.StringIO):
    good = [streaming_config()] + audio_requests(pcm)
    cancelled = audio_requests(pcm16(speechlike(2.0, seed=5)))[:8]

    async def main():
        async with live_server({"tiny": model}, max_streams=1, metrics_port=0) as (server, stub, _):
            codes = []

            async def refused():  # while the good stream is open and half-way
                codes.append(await _code(stub, good))

            responses, _ = await stream_in_two_halves(stub, good, between=refused)
            codes.append(await _code(stub, [streaming_config(model="nope")] + audio_requests(pcm)))
            call = stub.StreamingRecognize()
            for r in [streaming_config()] + cancelled:
                await call.write(r)
            await call.read()
            sent_s = (len(pcm) + sum(len(r.audio_content) for r in cancelled)) / 2 / 16000
            await until(lambda: server.metrics.audio_s.value() >= sent_s - 1e-9)  # all 8 read: then cancel
            call.cancel()
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0)
            await until(lambda: server.metrics.streams.value() == 4 and len(log.getvalue().splitlines()) == 4)
            return codes, responses, await _scrape(server.metrics_port), len(good) - 1 + len(cancelled)

    return asyncio.run(main())


def test_metrics_and_stream_logs_after_good_refused_unknown_and_cancelled_streams(model):
    pcm = pcm16(speechlike(1.5, seed=7))
    log = io.StringIO()
    handler = configure_logging("json", stream=log)
    try:
        codes, responses, page, audio_messages = _run(model, pcm, log)
    finally:
        LOG.removeHandler(handler)
    assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.NOT_FOUND]
    one = frozenset()
    assert page["transduce_active_streams", one] == 0
    assert page["transduce_streams_total", one] == 4
    for code in ("RESOURCE_EXHAUSTED", "NOT_FOUND", "CANCELLED"):
        assert page["transduce_errors_total", frozenset({("code", code)})] == 1, code
    assert ("transduce_errors_total", frozenset({("code", "OK")})) not in page
    sent_s = (len(pcm) + 8 * 3200) / 2 / 16000  # the good stream and the cancelled one's 8 messages
    assert page["transduce_audio_seconds_total", one] == pytest.approx(sent_s, abs=1e-9)
    assert page["transduce_processing_seconds_total", one] > 0
    buckets = [page["transduce_chunk_latency_seconds_bucket", frozenset({("le", repr(b))})]
               for b in LATENCY_BUCKETS]
    count = page["transduce_chunk_latency_seconds_count", one]
    buckets.append(page["transduce_chunk_latency_seconds_bucket", frozenset({("le", "+Inf")})])
    assert all(a <= b for a, b in zip(buckets, buckets[1:])) and buckets[-1] == count
    assert 1 <= count <= audio_messages  # each audio message is answered at most once
    assert 0 <= page["transduce_chunk_latency_seconds_sum", one] <= count * 30

    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert all(line["event"] == "stream end" and line["logger"] == "transduce.service" for line in lines)
    by_status = {line["status"]: line for line in lines}
    assert sorted(by_status) == ["CANCELLED", "NOT_FOUND", "OK", "RESOURCE_EXHAUSTED"]
    assert len({line["stream_id"] for line in lines}) == 4
    ok = by_status["OK"]
    assert ok["model"] == "tiny" and ok["audio_s"] == round(len(pcm) / 2 / 16000, 3)
    assert ok["results"] == sum(len(r.results) for r in responses) and ok["duration_s"] > 0
    assert by_status["RESOURCE_EXHAUSTED"]["audio_s"] == 0 and by_status["NOT_FOUND"]["results"] == 0
    assert by_status["CANCELLED"]["audio_s"] == pytest.approx(8 * 3200 / 2 / 16000, abs=1e-3)


def test_text_log_format_and_bad_format():
    log = io.StringIO()
    handler = configure_logging("text", stream=log)
    try:
        LOG.info("stream end", extra={"fields": {"stream_id": 7, "status": "OK"}})
    finally:
        LOG.removeHandler(handler)
    assert log.getvalue().rstrip().endswith("INFO stream end stream_id=7 status=OK")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml")


def test_unary_calls_and_auth_refusals_are_counted(model):
    audio = speechlike(0.7, seed=3)
    config = asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=16000)
    auth = (("authorization", "Bearer s3cret"),)
    log = io.StringIO()
    handler = configure_logging("json", stream=log)

    async def main():
        async with live_server({"tiny": model}, token="s3cret") as (server, stub, _):
            ok = await stub.Recognize(asr_pb2.RecognizeRequest(config=config, audio_content=pcm16(audio)),
                                      metadata=auth)
            codes = []
            for metadata, name in ((auth, "nope"), (None, ""), ((("authorization", "Bearer x"),), "")):
                unknown = asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=16000,
                                                    model=name)
                try:
                    await stub.Recognize(asr_pb2.RecognizeRequest(config=unknown, audio_content=pcm16(audio)),
                                         metadata=metadata)
                except grpc.aio.AioRpcError as e:
                    codes.append(e.code())
            return ok, codes, parse(server.metrics.registry.render())

    try:
        ok, codes, page = asyncio.run(main())
    finally:
        LOG.removeHandler(handler)
    assert codes == [grpc.StatusCode.NOT_FOUND] + [grpc.StatusCode.UNAUTHENTICATED] * 2
    one = frozenset()
    assert page["transduce_errors_total", frozenset({("code", "UNAUTHENTICATED")})] == 2
    assert page["transduce_errors_total", frozenset({("code", "NOT_FOUND")})] == 1
    assert page["transduce_streams_total", one] == 0  # unary calls are not streams
    assert page["transduce_audio_seconds_total", one] == pytest.approx(len(audio) / 16000, abs=1e-9)
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(e["event"], e["status"]) for e in lines] == [("recognize end", "OK"),
                                                          ("recognize end", "NOT_FOUND")]
    assert lines[0]["results"] == len(ok.results) and lines[0]["model"] == "tiny"


def test_client_deadline_is_counted_as_deadline_exceeded(model):
    requests = [streaming_config()] + audio_requests(pcm16(speechlike(0.3, seed=4)))

    async def main():
        async with live_server({"tiny": model}) as (server, stub, _):
            code = await status_at_deadline(stub, requests, timeout=0.5)
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0)
            await until(lambda: server.metrics.errors.value(code="DEADLINE_EXCEEDED") == 1)
            return code, parse(server.metrics.registry.render())

    code, page = asyncio.run(main())
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert page["transduce_errors_total", frozenset({("code", "DEADLINE_EXCEEDED")})] == 1
    assert ("transduce_errors_total", frozenset({("code", "CANCELLED")})) not in page
    assert page["transduce_active_streams", frozenset()] == 0
