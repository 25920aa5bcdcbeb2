"""Proto <-> domain translation for the Recognizer service: configs in, results out, errors to codes.

Nothing here runs a model: a RecognitionConfig becomes a `streaming.SessionConfig`, a
`streaming.StreamResult` becomes a StreamingRecognitionResult, and the typed errors of the lower
layers become gRPC status codes. Times on the wire are integer milliseconds from the stream start.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import grpc
import soundfile as sf

from asr.audio import AudioDecodeError, AudioError
from asr.models.asr_model import ASRModel
from service.protos import asr_pb2
from streaming import (
    END_OF_STREAM,
    EndpointConfig,
    SessionConfig,
    SessionError,
    SessionFailedError,
    StreamResult,
    StreamTooLongError,
)

__all__ = ["RequestError", "StreamSettings", "container_rate", "error_status", "lookaheads_ms", "model_info",
           "session_config", "split_wav_header", "to_proto_result", "to_response"]

_DISABLED_S = 1e9  # an endpoint rule the client turned off (negative value) never fires
_DEFAULT_BEAM = 4
_DEFAULT_BOOST = 2.0


class RequestError(ValueError):
    """A request the service refuses; `code` is the gRPC status to answer with."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StreamSettings:
    """What one request asks for: the session settings plus what the service does with results."""

    session: SessionConfig
    max_alternatives: int
    word_times: bool
    word_confidence: bool
    single_utterance: bool = False


def lookaheads_ms(model: ASRModel) -> list[int]:
    """Look-ahead of each of the encoder's att_context_size entries, in ms (right frames x frame shift)."""
    return [int(round(right * model.frame_shift_s * 1000)) for _, right in model.encoder.contexts]


def model_info(name: str, model: ASRModel) -> asr_pb2.ModelInfo:
    """The ModelInfo of `model` served under `name`."""
    methods = ["greedy", "beam"]
    return asr_pb2.ModelInfo(name=name, sample_rate_hertz=model.cfg.features.sample_rate,
                             lookahead_ms=lookaheads_ms(model), decoding_methods=methods,
                             description=f"{type(model).__name__}, {model.cfg.transducer} head"
                                         f"{' + CTC' if model.cfg.ctc else ''}")


def _endpoint(ep: asr_pb2.EndpointingConfig) -> EndpointConfig:
    default = EndpointConfig()
    values = {}
    for proto_name, name in (("trailing_silence_no_speech_ms", "silence_no_speech_s"),
                             ("trailing_silence_after_speech_ms", "silence_after_speech_s"),
                             ("max_utterance_ms", "max_utterance_s")):
        ms = getattr(ep, proto_name)
        values[name] = getattr(default, name) if ms == 0 else (_DISABLED_S if ms < 0 else ms / 1000.0)
    return EndpointConfig(enabled=any(v != _DISABLED_S for v in values.values()), **values)


def _lookahead(model: ASRModel, ms: int | None) -> int:
    if ms is None:
        return 0
    known = lookaheads_ms(model)
    if ms not in known:
        raise RequestError(f"lookahead_ms {ms} is not one of the model's look-aheads {known}")
    return known.index(ms)


def _decoding(cfg: asr_pb2.RecognitionConfig) -> tuple[str, int, tuple[str, ...], float]:
    hotwords = tuple(h.phrase for h in cfg.hotwords)
    boosts = [h.boost for h in cfg.hotwords if h.boost != 0]
    method = cfg.decoding_method
    if method == asr_pb2.DECODING_METHOD_UNSPECIFIED:
        method = asr_pb2.BEAM if hotwords or cfg.max_alternatives > 1 else asr_pb2.GREEDY
    beam = cfg.beam_size or max(_DEFAULT_BEAM, cfg.max_alternatives)
    name = "beam" if method == asr_pb2.BEAM else "greedy"
    return name, beam, hotwords, max(boosts, default=_DEFAULT_BOOST)


def session_config(model: ASRModel, cfg: asr_pb2.RecognitionConfig, *, interim: bool,
                   lookahead_ms: int | None = None,
                   single_utterance: bool = False, sample_rate: int | None = None,
                   channels: int | None = None, max_duration_s: float | None = None) -> StreamSettings:
    """The StreamSettings of a RecognitionConfig for `model`; RequestError names a value that does not fit.

    sample_rate / channels override the config's (Recognize hands the session decoded mono samples).
    """
    if cfg.encoding == asr_pb2.OGG_OPUS:
        raise RequestError("OGG_OPUS audio is not supported by this server (use LINEAR16, FLAC or WAV)")
    if cfg.max_alternatives < 0 or cfg.beam_size < 0 or cfg.audio_channel_count < 0:
        raise RequestError("max_alternatives, beam_size and audio_channel_count must not be negative")
    rate = sample_rate or cfg.sample_rate_hertz
    if rate <= 0:
        raise RequestError(f"sample_rate_hertz must be given and positive, got {cfg.sample_rate_hertz}")
    method, beam, hotwords, boost = _decoding(cfg)
    try:
        session = SessionConfig(sample_rate=rate, channels=channels or cfg.audio_channel_count or 1,
                                lookahead=_lookahead(model, lookahead_ms), decoding=method, beam_size=beam,
                                hotwords=hotwords, hotword_boost=boost, interim_results=interim,
                                endpoint=_endpoint(cfg.endpointing), max_duration_s=max_duration_s)
    except SessionError as e:
        raise RequestError(str(e)) from None
    return StreamSettings(session, max(1, cfg.max_alternatives), cfg.enable_word_time_offsets,
                          cfg.enable_word_confidence, single_utterance)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def to_proto_result(result: StreamResult, settings: StreamSettings) -> asr_pb2.StreamingRecognitionResult:
    """The wire form of one partial or final result (n-best cut to max_alternatives)."""
    alternatives = []
    for alt in result.alternatives[:settings.max_alternatives]:
        words = []
        if settings.word_times or settings.word_confidence:
            words = [asr_pb2.WordInfo(word=w.text, start_ms=_ms(w.start_s) if settings.word_times else 0,
                                      end_ms=_ms(w.end_s) if settings.word_times else 0,
                                      confidence=w.confidence if settings.word_confidence else 0.0)
                     for w in alt.words]
        alternatives.append(asr_pb2.SpeechRecognitionAlternative(
            transcript=alt.text, confidence=alt.confidence, words=words))
    return asr_pb2.StreamingRecognitionResult(alternatives=alternatives, is_final=result.is_final,
                                              stability=result.stability, result_end_ms=_ms(result.end_s),
                                              utterance_index=result.utterance_index)


def to_response(result: StreamResult, settings: StreamSettings) -> asr_pb2.StreamingRecognizeResponse:
    """One response per result; a final closed by an endpoint rule carries END_OF_UTTERANCE."""
    event = asr_pb2.SPEECH_EVENT_UNSPECIFIED
    if result.is_final and result.endpoint not in (None, END_OF_STREAM):
        event = asr_pb2.END_OF_UTTERANCE
    return asr_pb2.StreamingRecognizeResponse(results=[to_proto_result(result, settings)],
                                              speech_event_type=event)


def error_status(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message for an error raised while serving a stream."""
    if isinstance(error, RequestError):
        return error.code, str(error)
    if isinstance(error, StreamTooLongError):
        return grpc.StatusCode.OUT_OF_RANGE, str(error)
    if isinstance(error, SessionFailedError):  # the model step failed: not the client's fault
        return grpc.StatusCode.INTERNAL, str(error)
    if isinstance(error, (AudioError, SessionError)):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}"


def container_rate(data: bytes) -> int:
    """The sample rate in the header of WAV/FLAC/OGG container bytes (AudioDecodeError if unreadable)."""
    try:
        return int(sf.info(io.BytesIO(data)).samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioDecodeError(f"<{len(data)} bytes>: cannot decode as audio (WAV/FLAC/OGG): {e}") from e


def split_wav_header(data: bytes, rate: int, channels: int) -> bytes:
    """The PCM16 payload of `data` when it starts with a WAV header, else `data` itself.

    A header that disagrees with the config (sample rate, channels, not 16-bit PCM) or cannot be
    parsed raises RequestError: the audio would be decoded wrongly otherwise.
    """
    if not data.startswith(b"RIFF"):
        return data
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise RequestError("audio starts with RIFF but is not a WAV header (garbage bytes?)")
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag == b"fmt ":
            if size < 16 or pos + 24 > len(data):
                raise RequestError("WAV header: truncated fmt chunk")
            fmt, ch, sr, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            if fmt != 1 or bits != 16:
                raise RequestError(f"WAV header: LINEAR16 needs 16-bit PCM, got format {fmt}, {bits} bits")
            if sr != rate or ch != channels:
                raise RequestError(f"WAV header says {sr} Hz, {ch} channel(s) but the config says "
                                   f"sample_rate_hertz={rate}, {channels} channel(s)")
        elif tag == b"data":
            return data[pos + 8:]
        pos += 8 + size + (size & 1)
    raise RequestError("WAV header without a data chunk in the first audio message")
