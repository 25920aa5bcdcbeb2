"""The findings of an outside fuzz run (issue 21), each against a live server while a healthy stream runs:
every request gets INVALID_ARGUMENT / NOT_FOUND / OUT_OF_RANGE with a short message, nothing is left
open, and the healthy stream still gets its offline transcript. Also: corrupt request bytes, slow
readers (partials coalesce, finals arrive), and a fixed-seed random fuzz over all of these classes."""

from __future__ import annotations

import asyncio
import io
import random

import grpc
import numpy as np
import pytest
import soundfile as sf
from fuzz_cases import make_case, run_case
from grpc_helpers import (
    audio_requests,
    live_server,
    load,
    offline_text,
    pcm16,
    speechlike,
    stream_call,
    streaming_config,
    tiny_model_dir,
    until,
    wav_bytes,
)
from transduce.service.protos import RecognizerStub, asr_pb2
from transduce.streaming import SchedulerConfig

INVALID, NOT_FOUND, OUT_OF_RANGE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                                    grpc.StatusCode.OUT_OF_RANGE)
L16 = asr_pb2.LINEAR16


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load(tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny"))


def _unary(config: asr_pb2.RecognitionConfig, audio: bytes) -> asr_pb2.RecognizeRequest:
    return asr_pb2.RecognizeRequest(config=config, audio_content=audio)


def _flac(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _unary_cases(pcm: bytes, wav: bytes) -> list:
    """(finding, request, code, words the message must hold)."""
    huge = dict(decoding_method=asr_pb2.BEAM, beam_size=2**31 - 1, max_alternatives=2**31 - 1)
    long_silence = _flac(np.zeros(600 * 8000, dtype=np.int16), 8000)  # 10 min in a small message
    return [
        ("1 huge beam", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=16000, **huge), pcm),
         INVALID, "max_alternatives must be 0..10"),
        ("1 beam 1000", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=16000,
                                                         decoding_method=asr_pb2.BEAM, beam_size=1000), pcm),
         INVALID, "beam_size must be 0..16"),
        ("1 hotwords", _unary(asr_pb2.RecognitionConfig(
            encoding=L16, sample_rate_hertz=16000, hotwords=[asr_pb2.Hotword(phrase="ab")] * 101), pcm),
         INVALID, "at most 100 hotwords"),
        ("1 endpointing", _unary(asr_pb2.RecognitionConfig(
            encoding=L16, sample_rate_hertz=16000,
            endpointing=asr_pb2.EndpointingConfig(max_utterance_ms=2**31 - 1)), pcm),
         INVALID, "max_utterance_ms"),
        ("1 channels", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=16000,
                                                        audio_channel_count=1000), pcm),
         INVALID, "audio_channel_count"),
        ("2 encoding 99", _unary(asr_pb2.RecognitionConfig(encoding=99, sample_rate_hertz=16000), pcm),
         INVALID, "encoding 99"),
        ("2 decoding 99", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=16000,
                                                           decoding_method=99), pcm),
         INVALID, "decoding_method 99"),
        ("3 long model", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=16000,
                                                          model="x" * 100_000), pcm),
         NOT_FOUND, "100000 characters"),
        ("3 long hotword", _unary(asr_pb2.RecognitionConfig(
            encoding=L16, sample_rate_hertz=16000, hotwords=[asr_pb2.Hotword(phrase="é" * 100_000)]), pcm),
         INVALID, "hotwords[0].phrase"),
        ("4 rate 1", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=1), pcm),
         INVALID, "8000..48000"),
        ("4 too long", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=8000), pcm * 3),
         OUT_OF_RANGE, "at most 1.5 s"),
        ("4 long FLAC", _unary(asr_pb2.RecognitionConfig(encoding=asr_pb2.FLAC), long_silence),
         OUT_OF_RANGE, "600.0 s"),
        ("7 WAV as FLAC", _unary(asr_pb2.RecognitionConfig(encoding=asr_pb2.FLAC), wav),
         INVALID, "WAV container but the config says encoding FLAC"),
        ("7 FLAC as WAV", _unary(asr_pb2.RecognitionConfig(encoding=asr_pb2.WAV), long_silence),
         INVALID, "FLAC container but the config says encoding WAV"),
        ("7 FLAC as PCM", _unary(asr_pb2.RecognitionConfig(encoding=L16, sample_rate_hertz=8000),
                                 long_silence), INVALID, "FLAC container"),
    ]


def _stream_cases(pcm: bytes) -> list:
    flac = _flac(np.frombuffer(pcm, dtype="<i2"), 16000)
    return [
        ("1 huge beam", [streaming_config(decoding_method=asr_pb2.BEAM, beam_size=2**31 - 1)], INVALID,
         "beam_size"),
        ("2 encoding 99", [streaming_config(encoding=99)], INVALID, "encoding 99"),
        ("3 long model", [streaming_config(model="x" * 100_000)], NOT_FOUND, "100000 characters"),
        ("4 rate 1", [streaming_config(rate=1)], INVALID, "8000..48000"),
        ("7 FLAC bytes", [streaming_config()] + audio_requests(flac), INVALID, "FLAC container"),
    ]


async def _status(coro):
    try:
        await coro
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


async def _stream_status(stub, requests):
    async def run():
        async for _ in stream_call(stub, requests + audio_requests(bytes(3200))):
            pass
    return await _status(run())


def test_each_finding_gets_a_short_status_and_a_healthy_stream_its_transcript(model):
    audio = speechlike(1.0, seed=4)
    pcm, wav = pcm16(audio), wav_bytes(audio)
    expected = offline_text(model, wav)

    async def main():
        async with live_server({"tiny": model}, max_stream_s=1.5) as (server, stub, _):
            healthy = [streaming_config()] + audio_requests(pcm)
            paced = asyncio.ensure_future(_paced_text(stub, healthy))
            unary = [await _status(stub.Recognize(r, timeout=10)) for _, r, _, _ in _unary_cases(pcm, wav)]
            streams = [await _stream_status(stub, r) for _, r, _, _ in _stream_cases(pcm)]
            text = await paced
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0)
            return unary, streams, text

    unary, streams, text = asyncio.run(main())
    for (name, _, code, words), (got, details) in zip(_unary_cases(pcm, wav) + _stream_cases(pcm),
                                                      unary + streams):
        assert got == code and words in details, (name, got, details)
        assert len(details.encode()) < 1000, (name, len(details))
    assert text == expected


async def _paced_text(stub, requests):
    responses = [r async for r, _ in stream_call(stub, requests, pause_s=0.02)]
    return " ".join(r.alternatives[0].transcript for resp in responses for r in resp.results if r.is_final)


def test_corrupt_request_bytes_are_invalid_argument(model):
    async def main():
        async with live_server({"tiny": model}) as (_server, _stub, channel):
            out = []
            for method in ("Recognize", "ListModels"):
                out.append(await _status(channel.unary_unary(f"/transduce.asr.v1.Recognizer/{method}")(
                    b"\xff\xff\xff", timeout=5)))
            stream = channel.stream_stream("/transduce.asr.v1.Recognizer/StreamingRecognize")

            async def read():
                async for _ in stream(iter([b"\x0a\x05\x08"]), timeout=5):
                    pass
            out.append(await _status(read()))
            return out

    for code, details in asyncio.run(main()):
        assert code == INVALID and "is not a valid transduce.asr.v1." in details, details


def test_a_client_that_does_not_read_gets_every_final_and_few_partials(model):
    """A client with a small HTTP/2 receive window sends 6 s of audio as fast as it can with interim
    results on and reads nothing until it has half-closed: the server goes on decoding (once the window
    and result_queue_size results are unread, newer partials replace unread ones, and the client's
    writes complete), then the client reads the final, equal to the offline transcript."""
    audio = speechlike(6.0, seed=11)
    expected = offline_text(model, wav_bytes(audio))

    async def main():
        queue = SchedulerConfig(result_queue_size=3)
        async with live_server({"tiny": model}, scheduler=queue) as (server, *_):
            small_window = [("grpc.http2.lookahead_bytes", 1024), ("grpc.http2.bdp_probe", 0)]
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=small_window)
            call = RecognizerStub(channel).StreamingRecognize()
            for r in [streaming_config()] + audio_requests(pcm16(audio), chunk=1280):
                await asyncio.wait_for(call.write(r), 10)
            await call.done_writing()
            await until(lambda: server.engine.active_streams == 0, timeout=30)
            responses = [r async for r in call]
            await channel.close()
            stats = server.engine.schedulers["tiny"].stats
            return responses, stats.coalesced

    responses, coalesced = asyncio.run(main())
    finals = [r.alternatives[0].transcript for resp in responses for r in resp.results if r.is_final]
    assert " ".join(finals) == expected
    assert coalesced >= len(responses)  # more partials were replaced than sent


def test_random_requests_get_documented_statuses_and_leave_nothing_open(model):
    """60 random calls (tests/service/fuzz_cases.py, seed 0), 8 at a time, beside a healthy stream."""
    audio = speechlike(1.0, seed=4)
    pcm, expected = pcm16(audio), offline_text(model, wav_bytes(audio))
    rng = random.Random(0)
    cases = [make_case(rng, pcm) for _ in range(60)]

    async def main():
        async with live_server({"tiny": model}, max_stream_s=30.0) as (server, stub, channel):
            paced = asyncio.ensure_future(_paced_text(stub, [streaming_config()] + audio_requests(pcm)))
            gate = asyncio.Semaphore(8)

            async def one(kind, what):
                async with gate:
                    return await run_case(channel, kind, what, timeout_s=30)

            outcomes = await asyncio.gather(*(one(k, w) for k, w in cases))
            text = await paced
            await until(lambda: server.engine.active_streams == 0 and server.slots.active == 0, timeout=10)
            return outcomes, text

    outcomes, text = asyncio.run(main())
    assert all(o.allowed for o in outcomes), [(o.kind, o.code, o.details) for o in outcomes if not o.allowed]
    assert all(len(o.details.encode()) < 1000 and "metadata" not in o.details for o in outcomes)
    kinds = {(o.kind, o.code) for o in outcomes}
    assert {("unary", grpc.StatusCode.OK), ("unary", INVALID), ("stream", INVALID),
            ("raw", INVALID)} <= kinds, kinds
    assert text == expected
