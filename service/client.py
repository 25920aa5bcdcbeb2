"""A small Python client of the Recognizer service: stream an audio file, get the responses back.

    async for response in stream_file("127.0.0.1:50051", "talk.wav", StreamOptions(interim=True)):
        for result in response.results: print(result.is_final, result.alternatives[0].transcript)

The file is sent as LINEAR16 at its own sample rate and channel count (the server resamples), in
chunks of `chunk_ms`, as fast as the server takes them or, with `realtime`, at the pace of the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import soundfile as sf
from transduce.service.protos import RecognizerStub, asr_pb2

Response = asr_pb2.StreamingRecognizeResponse

__all__ = ["StreamOptions", "open_channel", "read_pcm16", "stream_file", "stream_pcm16"]


@dataclass(frozen=True)
class StreamOptions:
    """interim: ask for partial results; realtime: send at the audio's pace; chunk_ms: audio per message;
    model: server model name ("" = its default); lookahead_ms: None = the model's default; token:
    bearer token sent as `authorization` metadata; endpointing: the server's rules when None; tls_ca:
    PEM file of the CA (or self-signed certificate) to trust for a TLS server (None: plaintext)."""

    interim: bool = False
    realtime: bool = False
    chunk_ms: int = 100
    model: str = ""
    lookahead_ms: int | None = None
    token: str | None = None
    word_times: bool = True
    endpointing: asr_pb2.EndpointingConfig | None = None
    tls_ca: str | None = None

    def __post_init__(self) -> None:
        if self.chunk_ms < 1:
            raise ValueError(f"chunk_ms must be >= 1, got {self.chunk_ms}")


def read_pcm16(path: str | Path) -> tuple[bytes, int, int]:
    """(little-endian PCM16 bytes, sample rate, channels) of an audio file (WAV/FLAC/OGG)."""
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    return data.astype("<i2").tobytes(), int(rate), int(data.shape[1])


def _requests(pcm: bytes, rate: int, channels: int, opts: StreamOptions) -> list:
    cfg = asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=rate,
                                    audio_channel_count=channels, model=opts.model,
                                    enable_word_time_offsets=opts.word_times,
                                    enable_word_confidence=opts.word_times,
                                    endpointing=opts.endpointing)
    streaming = asr_pb2.StreamingRecognitionConfig(config=cfg, interim_results=opts.interim)
    if opts.lookahead_ms is not None:
        streaming.lookahead_ms = opts.lookahead_ms
    step = max(1, rate * opts.chunk_ms // 1000) * 2 * channels
    return [asr_pb2.StreamingRecognizeRequest(streaming_config=streaming)] + [
        asr_pb2.StreamingRecognizeRequest(audio_content=pcm[i:i + step]) for i in range(0, len(pcm), step)]


async def stream_pcm16(target: str, pcm: bytes, rate: int, channels: int = 1,
                       opts: StreamOptions | None = None) -> AsyncIterator[Response]:
    """Stream PCM16 bytes to the server at `target` (HOST:PORT); yields its responses as they come.

    Raises grpc.aio.AioRpcError with the server's status when it refuses the stream.
    """
    opts = opts or StreamOptions()
    metadata = (("authorization", f"Bearer {opts.token}"),) if opts.token else None
    async with open_channel(target, opts.tls_ca) as channel:
        call = RecognizerStub(channel).StreamingRecognize(metadata=metadata)
        pause_s = opts.chunk_ms / 1000 if opts.realtime else 0.0
        requests = _requests(pcm, rate, channels, opts)
        writer = asyncio.get_running_loop().create_task(_write(call, requests, pause_s))
        try:
            async for response in call:
                yield response
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer


def open_channel(target: str, tls_ca: str | Path | None = None) -> grpc.aio.Channel:
    """A channel to `target` (HOST:PORT): TLS trusting the PEM certificate(s) in `tls_ca`, or plaintext."""
    if tls_ca is None:
        return grpc.aio.insecure_channel(target)
    try:
        root = Path(tls_ca).read_bytes()
    except OSError as e:
        raise OSError(f"cannot read the TLS CA file {tls_ca}: {e.strerror}") from None
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root))


async def _write(call: grpc.aio.StreamStreamCall, requests: Sequence, pause_s: float) -> None:
    """Write the requests (pausing after each audio message), then half-close; stop when the call ends."""
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
        for request in requests:
            if call.done():
                return
            await call.write(request)
            if pause_s and request.HasField("audio_content"):
                await asyncio.sleep(pause_s)
        await call.done_writing()


async def stream_file(target: str, path: str | Path,
                      opts: StreamOptions | None = None) -> AsyncIterator[Response]:
    """Stream the audio file at `path` to `target` (HOST:PORT); yields the server's responses."""
    pcm, rate, channels = read_pcm16(path)
    async for response in stream_pcm16(target, pcm, rate, channels, opts):
        yield response
