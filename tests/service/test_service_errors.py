"""Bad input, auth, limits and cancellation on a real server: each case gets its status and message,
and a healthy stream running at the same time on the same server still gets the offline transcript."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_helpers import (
    audio_requests,
    live_server,
    load,
    offline_text,
    pcm16,
    speechlike,
    status_at_deadline,
    stream_call,
    stream_in_two_halves,
    streaming_config,
    tiny_model_dir,
    until,
    wav_bytes,
)
from transduce.service.protos import asr_pb2


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load(tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny"))


async def _status(stub, requests, metadata=None):
    """(code, details, responses) of a streaming call."""
    responses = []
    try:
        async for response, _ in stream_call(stub, requests, metadata=metadata):
            responses.append(response)
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details(), responses
    return grpc.StatusCode.OK, "", responses


def _final_text(responses):
    return " ".join(r.alternatives[0].transcript for resp in responses for r in resp.results if r.is_final)


def _bad_streams():
    """(name, requests, expected code, a word the message must hold)."""
    rng = np.random.default_rng(3)
    ok = pcm16(speechlike(0.3, seed=9))
    cfg = streaming_config()
    wav8k = wav_bytes(speechlike(0.3, seed=9, rate=8000), rate=8000)
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    return [
        ("no config first", audio_requests(ok), invalid, "first message must carry streaming_config"),
        ("config twice", [cfg, cfg] + audio_requests(ok), invalid, "streaming_config"),
        ("odd byte count", [cfg] + audio_requests(ok + b"\x01"), invalid, "odd number of bytes"),
        ("garbage", [cfg, asr_pb2.StreamingRecognizeRequest(audio_content=b"RIFF" + rng.bytes(101))]
         + audio_requests(ok), invalid, "WAV"),
        ("rate mismatch", [cfg] + audio_requests(wav8k), invalid, "8000 Hz"),
        ("bad lookahead", [streaming_config(lookahead_ms=7)] + audio_requests(ok), invalid, "lookahead_ms 7"),
        ("unknown model", [streaming_config(model="nope")] + audio_requests(ok), grpc.StatusCode.NOT_FOUND,
         "tiny"),
        ("oversized", [cfg, asr_pb2.StreamingRecognizeRequest(audio_content=bytes(70_000))],
         grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
    ]


def test_each_bad_stream_gets_its_status_while_a_healthy_stream_finishes(model):
    audio = speechlike(2.0, seed=4)
    expected = offline_text(model, wav_bytes(audio))
    bad = _bad_streams()

    async def main():
        async with live_server({"tiny": model}, max_message_bytes=64 * 1024) as (server, stub, _):
            good_requests = [streaming_config()] + audio_requests(pcm16(audio))
            healthy = asyncio.ensure_future(_status_paced(stub, good_requests))
            outcomes = await asyncio.gather(*(_status(stub, reqs) for _, reqs, _, _ in bad))
            garbage_unary = await _unary_status(stub, asr_pb2.RecognizeRequest(
                config=asr_pb2.RecognitionConfig(encoding=asr_pb2.WAV), audio_content=b"RIFF" + bytes(50)))
            mismatch_unary = await _unary_status(stub, asr_pb2.RecognizeRequest(
                config=asr_pb2.RecognitionConfig(encoding=asr_pb2.WAV, sample_rate_hertz=16000),
                audio_content=wav_bytes(speechlike(0.3, rate=8000), rate=8000)))
            good = await healthy
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0)
            return outcomes, garbage_unary, mismatch_unary, good

    outcomes, garbage_unary, mismatch_unary, good = asyncio.run(main())
    for (name, _, code, word), (got, details, _) in zip(bad, outcomes):
        assert got == code, (name, got, details)
        assert word in details, (name, details)
    assert garbage_unary[0] == grpc.StatusCode.INVALID_ARGUMENT and "not a readable WAV" in garbage_unary[1]
    assert mismatch_unary[0] == grpc.StatusCode.INVALID_ARGUMENT and "8000 Hz" in mismatch_unary[1]
    assert good[0] == grpc.StatusCode.OK and _final_text(good[2]) == expected


async def _status_paced(stub, requests):
    responses = [r async for r, _ in stream_call(stub, requests, pause_s=0.01)]
    return grpc.StatusCode.OK, "", responses


async def _unary_status(stub, request, metadata=None):
    try:
        await stub.Recognize(request, metadata=metadata)
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def test_bearer_token(model):
    audio = speechlike(0.8, seed=6)
    expected = offline_text(model, wav_bytes(audio))
    requests = [streaming_config()] + audio_requests(pcm16(audio))

    async def main():
        async with live_server({"tiny": model}, token="s3cret") as (_server, stub, channel):
            missing = await _status(stub, requests)
            wrong = await _status(stub, requests, metadata=(("authorization", "Bearer nope"),))
            no_bearer = (("authorization", "s3cret"),)
            unary = await _unary_status(stub, asr_pb2.RecognizeRequest(), metadata=no_bearer)
            right = await _status(stub, requests, metadata=(("authorization", "Bearer s3cret"),))
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            return missing, wrong, unary, right, health

    missing, wrong, unary, right, health = asyncio.run(main())
    assert missing[0] == grpc.StatusCode.UNAUTHENTICATED and "authorization" in missing[1]
    assert wrong[0] == grpc.StatusCode.UNAUTHENTICATED and "wrong bearer token" in wrong[1]
    assert unary[0] == grpc.StatusCode.UNAUTHENTICATED
    assert right[0] == grpc.StatusCode.OK and _final_text(right[2]) == expected
    assert health.status == health_pb2.HealthCheckResponse.SERVING  # probes need no token


def test_max_streams_refuses_the_extra_stream_and_the_open_one_continues(model):
    audio = speechlike(1.5, seed=7)
    expected = offline_text(model, wav_bytes(audio))
    requests = [streaming_config()] + audio_requests(pcm16(audio))

    async def main():
        async with live_server({"tiny": model}, max_streams=1) as (server, stub, _):
            refused = []

            async def try_another():  # while the first stream is open and half-way
                assert server.slots.active == 1
                refused.append(await _status(stub, requests))

            responses, _ = await stream_in_two_halves(stub, requests, between=try_another)
            again = await _status(stub, requests)
            return refused[0], (grpc.StatusCode.OK, "", responses), again

    refused, done, again = asyncio.run(main())
    assert refused[0] == grpc.StatusCode.RESOURCE_EXHAUSTED and "1 concurrent streams" in refused[1]
    assert _final_text(done[2]) == expected
    assert again[0] == grpc.StatusCode.OK and _final_text(again[2]) == expected


def test_client_cancel_frees_the_session(model):
    audio = pcm16(speechlike(3.0, seed=8))

    async def main():
        async with live_server({"tiny": model}) as (server, stub, _):
            call = stub.StreamingRecognize()
            await call.write(streaming_config())
            for r in audio_requests(audio)[:10]:
                await call.write(r)
            first = await call.read()  # an interim: the session is open and has decoded
            opened = (server.engine.active_streams, server.slots.active)
            call.cancel()
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0)
            return first, opened

    first, opened = asyncio.run(main())
    assert not first.results[0].is_final
    assert opened == (1, 1)


def test_stream_duration_limit_and_client_deadline_free_their_sessions(model):
    short = speechlike(0.8, seed=10)
    expected = offline_text(model, wav_bytes(short))

    async def main():
        async with live_server({"tiny": model}, max_stream_s=1.0) as (server, stub, _):
            long_audio = pcm16(speechlike(1.6, seed=2))
            too_long = await _status(stub, [streaming_config()] + audio_requests(long_audio))
            fits = await _status(stub, [streaming_config()] + audio_requests(pcm16(short)))
            requests = [streaming_config()] + audio_requests(pcm16(speechlike(0.3, seed=3)))
            late = await status_at_deadline(stub, requests, timeout=0.5)
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0)
            return too_long, fits, late

    too_long, fits, late = asyncio.run(main())
    assert too_long[0] == grpc.StatusCode.OUT_OF_RANGE and "limit of 1 s" in too_long[1]
    accepted = speechlike(1.6, seed=2)[:16000]  # the messages (0.1 s each) that fit in the limit
    assert _final_text(too_long[2]) == offline_text(model, wav_bytes(accepted))  # nothing accepted is lost
    assert fits[0] == grpc.StatusCode.OK and _final_text(fits[2]) == expected
    assert late == grpc.StatusCode.DEADLINE_EXCEEDED


def test_idle_stream_gets_deadline_exceeded_and_is_freed(model):
    async def main():
        async with live_server({"tiny": model}, idle_timeout_s=0.3) as (server, stub, _):
            call = stub.StreamingRecognize()
            await call.write(streaming_config())
            for r in audio_requests(pcm16(speechlike(0.5, seed=14))):
                await call.write(r)
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(grpc.aio.AioRpcError) as error:
                async for _ in call:  # interims, then the idle timeout
                    pass
            waited = loop.time() - start
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0)
            return error.value, waited

    error, waited = asyncio.run(main())
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "idle timeout" in error.details()
    assert 0.25 <= waited < 3.0  # the timeout, not the end of some longer wait
