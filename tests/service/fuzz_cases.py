"""Random request sequences for fuzzing a live Recognizer server (tests/service, benchmarks/service_fuzz.py).

Each case is one call: a unary Recognize, a StreamingRecognize with its whole request sequence, or raw
bytes that may not parse. The values are drawn to hit every bound of the request fields (service.bounds)
from both sides, the encodings against the bytes, config in the wrong place, early half-close, client
cancellation, tiny and huge messages. `run_case` returns how the call ended; `ALLOWED` are the statuses a
call may end with (INTERNAL, UNKNOWN or UNAVAILABLE mean the server failed).

One exception, on the client's side: when gRPC core itself refuses a streaming message over the server's
size limit while the asyncio client is still writing, the client's failed write replaces the server's
RESOURCE_EXHAUSTED with INTERNAL "Internal error from Core" (grpc/grpc#36066; the server's handler never
sees that message, so it cannot read the rest first as it does for its own refusals). The same happens
when the client's deadline passes while one of its writes is in flight. Such an outcome is marked
`client_race` and counted apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import time
from dataclasses import dataclass

import grpc
import numpy as np
import soundfile as sf
from transduce.service.protos import asr_pb2

__all__ = ["ALLOWED", "Outcome", "make_case", "run_case"]

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the server's default limit on one request
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED,
           grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass
class Outcome:
    """How one call ended: kind of case, status, message, seconds, responses received."""

    kind: str
    code: grpc.StatusCode
    details: str
    seconds: float
    responses: int
    client_race: bool = False

    @property
    def allowed(self) -> bool:
        """An allowed status, or the client-side race of an oversized streaming message (module docstring)."""
        return self.code in ALLOWED or self.client_race


def _text(rng: random.Random, long: bool) -> str:
    n = rng.choice([65, 101, 300, 20_000] if long else [1, 5, 12])
    alphabet = rng.choice(["abc xyz", "é漢😀\x00\n ", "0123456789"])
    return "".join(rng.choice(alphabet) for _ in range(n))


def _config(rng: random.Random, rate: int) -> asr_pb2.RecognitionConfig:
    """A config whose fields are each in bounds with one probability drawn per case (all good, a few
    bad, mostly bad), so refusals of every field and full recognitions both happen."""
    p_good = rng.choice([1.0, 0.9, 0.6, 0.2])

    def pick(good: list, bad: list) -> object:
        return rng.choice(good if rng.random() < p_good else bad)

    ep = asr_pb2.EndpointingConfig(**{k: pick([0, -1, 300, 600_000], [600_001, 2**31 - 1])
                                      for k in ("trailing_silence_after_speech_ms",
                                                "trailing_silence_no_speech_ms", "max_utterance_ms")})
    hotwords = [asr_pb2.Hotword(phrase=_text(rng, long=rng.random() > p_good),
                                boost=pick([0.0, 1.5, 20.0], [21.0, -1.0, float("nan"), float("inf")]))
                for _ in range(pick([0, 0, 0, 1, 3, 100], [101, 1000]))]
    return asr_pb2.RecognitionConfig(
        encoding=pick([1, 1, 0, 2, 4], [3, 99, -7]),
        sample_rate_hertz=pick([rate], [0, 1, 7999, 48001, 96000, 2**31 - 1, -16000]),
        audio_channel_count=pick([0, 1], [2, 8, 9, -1]),
        model=pick([""], ["x" * 100_000, "nope", "é漢"]),
        max_alternatives=pick([0, 1, 2, 10], [11, 2**31 - 1, -1]),
        enable_word_time_offsets=rng.random() < 0.5, enable_word_confidence=rng.random() < 0.5,
        decoding_method=pick([0, 1, 2], [3, 99]),
        beam_size=pick([0, 1, 4, 16], [17, 1000, 2**31 - 1, -3]),
        hotwords=hotwords, endpointing=ep, language_code=pick(["", "en-US"], ["x" * 65]))


def _audio(rng: random.Random, pcm: bytes, rate: int) -> bytes:
    """Audio bytes of some kind: PCM (cut anywhere), WAV, FLAC, long silent FLAC, junk, nothing."""
    kind = rng.choice(["pcm", "pcm", "pcm", "wav", "flac", "long_flac", "junk", "empty", "big"])
    if kind == "pcm":
        return pcm[:rng.randrange(len(pcm) + 1)]
    samples = np.frombuffer(pcm[:len(pcm) // 2 * 2], dtype="<i2")
    buf = io.BytesIO()
    if kind in ("wav", "flac"):
        sf.write(buf, samples, rate, format=kind.upper(), subtype="PCM_16")
        return buf.getvalue()
    if kind == "long_flac":  # 10 minutes of silence: a small message, a long recording
        sf.write(buf, np.zeros(600 * 8000, dtype=np.int16), 8000, format="FLAC", subtype="PCM_16")
        return buf.getvalue()
    if kind == "junk":
        return rng.choice([b"RIFF", b"fLaC", b"OggS", b""]) + rng.randbytes(rng.randrange(4000))
    if kind == "big":
        return rng.randbytes(rng.choice([1_000_000, 3_000_000])) if rng.random() < 0.5 else bytes(5_000_000)
    return b""


def make_case(rng: random.Random, pcm: bytes, rate: int = 16000) -> tuple[str, object]:
    """(kind, what to send) of one random call; pcm: 16-bit mono speech at `rate`."""
    kind = rng.choice(["unary", "unary", "stream", "stream", "stream", "raw"])
    if kind == "unary":
        return kind, asr_pb2.RecognizeRequest(config=_config(rng, rate), audio_content=_audio(rng, pcm, rate))
    if kind == "raw":
        method = rng.choice(["Recognize", "StreamingRecognize", "ListModels"])
        return kind, (method, rng.randbytes(rng.randrange(64)))
    sc = asr_pb2.StreamingRecognitionConfig(config=_config(rng, rate), interim_results=rng.random() < 0.7,
                                            single_utterance=rng.random() < 0.2)
    if rng.random() < 0.3:
        sc.lookahead_ms = rng.choice([0, 7, 120, -1, 2**31 - 1])
    first = asr_pb2.StreamingRecognizeRequest(streaming_config=sc)
    audio = _audio(rng, pcm, rate) if rng.random() < 0.3 else pcm * rng.choice([1, 1, 3])
    size = rng.choice([1, 2, 320, 3200, 32_000, 1_000_000])
    requests = [asr_pb2.StreamingRecognizeRequest(audio_content=audio[i:i + size])
                for i in range(0, min(len(audio), 400 * size), size)]
    order = rng.random()
    if order < 0.1:
        requests = requests + [first]  # config in the wrong place
    elif order < 0.15:
        requests = [first, first] + requests
    elif order > 0.1:
        requests = [first] + requests
    ending = rng.choice(["half_close", "half_close", "half_close", "early_close", "cancel", "deadline"])
    return kind, (requests, ending, rng.randrange(max(1, len(requests))))


async def run_case(channel: grpc.aio.Channel, kind: str, what: object, timeout_s: float = 60.0) -> Outcome:
    """Run one case on `channel`; the status it ended with (OK too) and the time it took."""
    start, responses = time.monotonic(), 0
    try:
        if kind == "unary":
            recognize = channel.unary_unary("/transduce.asr.v1.Recognizer/Recognize",
                                            request_serializer=asr_pb2.RecognizeRequest.SerializeToString,
                                            response_deserializer=asr_pb2.RecognizeResponse.FromString)
            await recognize(what, timeout=timeout_s)
        elif kind == "raw":
            method, data = what
            call = (channel.stream_stream if method == "StreamingRecognize" else channel.unary_unary)(
                f"/transduce.asr.v1.Recognizer/{method}")
            if method == "StreamingRecognize":
                async for _ in call(iter([data]), timeout=timeout_s):
                    responses += 1
            else:
                await call(data, timeout=timeout_s)
        else:
            responses, cancelled = await _stream(channel, *what, timeout_s)
            if cancelled:
                return Outcome(kind, grpc.StatusCode.CANCELLED, "", time.monotonic() - start, responses)
    except grpc.aio.AioRpcError as e:
        race = (kind == "stream" and e.code() == grpc.StatusCode.INTERNAL
                and e.details() == "Internal error from Core"
                and (max(r.ByteSize() for r in what[0]) > MAX_MESSAGE_BYTES or what[1] == "deadline"))
        return Outcome(kind, e.code(), e.details() or "", time.monotonic() - start, responses, race)
    return Outcome(kind, grpc.StatusCode.OK, "", time.monotonic() - start, responses)


async def _stream(channel: grpc.aio.Channel, requests: list, ending: str, stop_at: int,
                  timeout_s: float) -> tuple[int, bool]:
    """(responses read, whether the client cancelled) of one streaming call."""
    streaming = channel.stream_stream("/transduce.asr.v1.Recognizer/StreamingRecognize",
                                      request_serializer=asr_pb2.StreamingRecognizeRequest.SerializeToString,
                                      response_deserializer=asr_pb2.StreamingRecognizeResponse.FromString)
    call = streaming(timeout=0.5 if ending == "deadline" else timeout_s)
    cut = stop_at if ending in ("early_close", "cancel") else len(requests)

    async def write() -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            for r in requests[:cut]:
                if call.done():
                    return
                await call.write(r)
            if ending == "cancel":
                call.cancel()
            elif ending != "deadline":
                await call.done_writing()

    writer = asyncio.ensure_future(write())
    responses = 0
    try:
        async for _ in call:
            responses += 1
    except asyncio.CancelledError:
        if not call.cancelled():
            raise
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    return responses, call.cancelled()
