"""A tiny random-weight model saved to disk (tests/streaming's), test audio as WAV/PCM16, a live server
and an offline oracle."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import grpc
import numpy as np
import soundfile as sf
import torch
from stream_helpers import offline_hypothesis, oracle_decoder, speechlike, tiny_model  # noqa: F401
from transduce.asr.audio import load_audio
from transduce.asr.checkpoint import load_model, save_model
from transduce.asr.decoding import DecodingResult, to_result
from transduce.asr.features import compute_fbank
from transduce.asr.models.asr_model import ASRModel
from transduce.service.protos import RecognizerStub, asr_pb2
from transduce.service.server import ServerConfig, serve

RATE = 16000
ENDPOINTING_OFF = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=-1,
                                            trailing_silence_no_speech_ms=-1, max_utterance_ms=-1)


def tiny_model_dir(directory: Path, seed: int = 0) -> Path:
    """Save the streaming tests' tiny random-weight TDT+CTC Conformer (float64, char tokenizer) with two
    look-aheads, as a model directory a server loads."""
    model = tiny_model("tdt", contexts=((6, 2), (6, 0)), seed=seed)
    save_model(model, directory, model.tokenizer)
    return directory


def wav_bytes(audio: np.ndarray, rate: int = RATE) -> bytes:
    """A PCM16 WAV file of float audio (N,)."""
    buf = io.BytesIO()
    sf.write(buf, audio, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def pcm16(audio: np.ndarray) -> bytes:
    """Raw little-endian PCM16 of float audio (N,) (the same rounding as a PCM16 WAV)."""
    return load_pcm16_samples(audio).astype("<i2").tobytes()


def load_pcm16_samples(audio: np.ndarray) -> np.ndarray:
    """The int16 samples soundfile writes for float audio (N,)."""
    data, _ = sf.read(io.BytesIO(wav_bytes(audio)), dtype="int16")
    return data


@torch.no_grad()
def offline_result(model: ASRModel, wav: bytes, lookahead: int = 0) -> DecodingResult:
    """Independent oracle: the whole file's features, one offline encoder forward under the same chunked
    mask, greedy decoding over all frames; text and word times (s) of the hypothesis."""
    hyp = offline_hypothesis(model, load_audio(wav, RATE), lookahead)
    return to_result(hyp, model.tokenizer, model.frame_shift_s)


@torch.no_grad()
def offline_hypotheses_nbest(model: ASRModel, wav: bytes, beam: int = 4, lookahead: int = 0) -> list[str]:
    """Offline oracle for n-best lists: one whole-utterance forward, beam search over all frames."""
    feats = compute_fbank(load_audio(wav, RATE), model.cfg.features)[None].to(torch.float64)
    enc, enc_lens = model.encode(feats, torch.tensor([feats.shape[1]]), lookahead)
    decoder = oracle_decoder(model, "beam", beam)
    x = model.ctc_head(enc) if model.joiner is None else enc
    state = decoder.decode_chunk(x, enc_lens, decoder.init_state(1))
    return [model.tokenizer.decode(h.tokens).strip() for h in decoder.nbest(state)[0]]


def offline_text(model: ASRModel, wav: bytes, lookahead: int = 0) -> str:
    """The oracle's transcript (see offline_result)."""
    return offline_result(model, wav, lookahead).text


def streaming_config(**kw) -> asr_pb2.StreamingRecognizeRequest:
    """A first request: LINEAR16 16 kHz, endpointing off unless given, interim results on."""
    ep = kw.pop("endpointing", ENDPOINTING_OFF)
    interim = kw.pop("interim_results", True)
    lookahead_ms = kw.pop("lookahead_ms", None)
    cfg = asr_pb2.RecognitionConfig(encoding=kw.pop("encoding", asr_pb2.LINEAR16),
                                    sample_rate_hertz=kw.pop("rate", RATE),
                                    enable_word_time_offsets=True, enable_word_confidence=True,
                                    endpointing=ep, **kw)
    return asr_pb2.StreamingRecognizeRequest(streaming_config=asr_pb2.StreamingRecognitionConfig(
        config=cfg, interim_results=interim, lookahead_ms=lookahead_ms))


def audio_requests(data: bytes, chunk: int = 3200) -> list[asr_pb2.StreamingRecognizeRequest]:
    """Audio requests of `chunk` bytes each."""
    return [asr_pb2.StreamingRecognizeRequest(audio_content=data[i:i + chunk])
            for i in range(0, len(data), chunk)]


async def stream_call(stub, requests, pause_s: float = 0.0, sent: list | None = None, metadata=None,
                      timeout: float | None = None):
    """Run one StreamingRecognize call, writing `requests` (pausing between them) while reading; yields
    (response, audio messages sent so far). Writes after the server has ended the call are dropped, so
    the call's own status (an AioRpcError) is what surfaces."""
    sent = sent if sent is not None else [0]
    call = stub.StreamingRecognize(metadata=metadata, timeout=timeout)

    async def write():
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            for r in requests:
                if call.done():
                    return
                await call.write(r)
                sent[0] += r.HasField("audio_content")
                await asyncio.sleep(pause_s)
            await call.done_writing()

    writer = asyncio.get_running_loop().create_task(write())
    try:
        async for response in call:
            yield response, sent[0]
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


async def status_at_deadline(stub, requests, timeout: float) -> grpc.StatusCode | None:
    """Write all `requests` at once, keep the stream open (no half-close) and read until the call ends
    at its deadline; its status (None: OK). No write is in flight at the deadline: a write that meets
    it can end the call as a client-side INTERNAL instead (a gRPC core race, see fuzz_cases)."""
    call = stub.StreamingRecognize(timeout=timeout)
    for request in requests:
        await call.write(request)
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as e:
        return e.code()
    return None


async def stream_in_two_halves(stub, requests, between=None):
    """Send the config and the first half of the audio, wait for the first response (it must come while
    the rest of the audio is unsent), await `between()` if given, send the rest and half-close.
    Returns (responses, how many arrived before the second half was sent)."""
    call = stub.StreamingRecognize()
    half = 1 + (len(requests) - 1) // 2
    for r in requests[:half]:
        await call.write(r)
    responses = [await asyncio.wait_for(call.read(), 30)]
    early = len(responses)
    if between is not None:
        await between()
    for r in requests[half:]:
        await call.write(r)
    await call.done_writing()
    while (response := await call.read()) is not grpc.aio.EOF:
        responses.append(response)
    return responses, early


@contextlib.asynccontextmanager
async def live_server(models: dict, text_models: dict | None = None, lms: dict | None = None, **cfg):
    """A real grpc.aio server on 127.0.0.1 (ephemeral port) and a stub connected to it (no warm-up unless
    asked: it costs each test server half a second); `lms`: speech model name -> language model."""
    cfg.setdefault("warm_up", False)
    server = await serve(models, ServerConfig(host="127.0.0.1", port=0, **cfg), text_models, lms)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield server, RecognizerStub(channel), channel
    finally:
        await channel.close()
        await server.stop(0)


async def until(predicate, timeout: float = 5.0) -> None:
    """Wait until predicate() is true (poll), or fail."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def load(directory: Path) -> ASRModel:
    """The model saved in `directory`, as a server would load it."""
    return load_model(directory)
