"""Proto <-> domain translation for the Recognizer service: configs in, results out, errors to codes.

Nothing here runs a model: a RecognitionConfig becomes a `streaming.SessionConfig`, a
`streaming.StreamResult` becomes a StreamingRecognitionResult, and the typed errors of the lower
layers become gRPC status codes. Times on the wire are integer milliseconds from the stream start.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from transduce.asr.audio import AudioError
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.text.rewriter import TextRewriter
from transduce.service.errors import RequestError, short
from transduce.service.protos import asr_pb2
from transduce.service.text_models import TASK_SPEECH, TASK_TEXT
from transduce.streaming import (
    END_OF_STREAM,
    EndpointConfig,
    SessionConfig,
    SessionError,
    SessionFailedError,
    StreamResult,
    StreamTooLongError,
    cannot_stream,
    lookahead_index,
    lookaheads_ms,
)

__all__ = ["StreamSettings", "error_status", "model_info", "text_model_info", "session_config",
           "to_proto_result", "to_response"]

_DISABLED_S = 1e9  # an endpoint rule the client turned off (negative value) never fires
_DEFAULT_BEAM = 4
_DEFAULT_BOOST = 2.0


@dataclass(frozen=True)
class StreamSettings:
    """What one request asks for: the session settings plus what the service does with results."""

    session: SessionConfig
    max_alternatives: int
    word_times: bool
    word_confidence: bool
    single_utterance: bool = False
    formatting: bool = False  # finals carry formatted_transcript (service.text_models)
    lm_weight: float | None = None  # finals' n-best re-ranked with this LM weight (None: server default)


def model_info(name: str, model: ASRModel, has_lm: bool = False) -> asr_pb2.ModelInfo:
    """The ModelInfo of speech model `model` served under `name` (`has_lm`: with a language model, so
    requests may set lm_weight)."""
    methods = ["greedy", "beam"]
    streams = cannot_stream(model) is None
    return asr_pb2.ModelInfo(name=name, task=TASK_SPEECH, sample_rate_hertz=model.cfg.features.sample_rate,
                             lookahead_ms=lookaheads_ms(model) if streams else [], decoding_methods=methods,
                             description=f"{type(model).__name__}, {model.cfg.transducer} head"
                                         f"{' + CTC' if model.cfg.ctc else ''}"
                                         f"{' + language model (lm_weight)' if has_lm else ''}"
                                         f"{'' if streams else ' (cannot stream: Recognize only)'}")


def text_model_info(name: str, rewriter: TextRewriter) -> asr_pb2.ModelInfo:
    """The ModelInfo of a text model served under `name`."""
    cfg, params = rewriter.model.cfg, sum(p.numel() for p in rewriter.model.parameters())
    return asr_pb2.ModelInfo(name=name, task=TASK_TEXT, decoding_methods=[rewriter.method],
                             description=f"{type(rewriter.model).__name__}, {params / 1e6:.1f}M parameters, "
                                         f"{cfg.encoder_layers}+{cfg.decoder_layers} layers")


def _endpoint(ep: asr_pb2.EndpointingConfig) -> EndpointConfig:
    default = EndpointConfig()
    values = {}
    for proto_name, name in (("trailing_silence_no_speech_ms", "silence_no_speech_s"),
                             ("trailing_silence_after_speech_ms", "silence_after_speech_s"),
                             ("max_utterance_ms", "max_utterance_s")):
        ms = getattr(ep, proto_name)
        values[name] = getattr(default, name) if ms == 0 else (_DISABLED_S if ms < 0 else ms / 1000.0)
    return EndpointConfig(enabled=any(v != _DISABLED_S for v in values.values()), **values)


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
    """The StreamSettings of a RecognitionConfig for `model` (its fields already within the bounds of
    `service.bounds.check_config`); RequestError names a value that does not fit the model.

    sample_rate / channels override the config's (Recognize hands the session decoded samples).
    """
    rate = sample_rate or cfg.sample_rate_hertz
    method, beam, hotwords, boost = _decoding(cfg)
    try:
        session = SessionConfig(sample_rate=rate, channels=channels or cfg.audio_channel_count or 1,
                                lookahead=lookahead_index(model, lookahead_ms), decoding=method,
                                beam_size=beam,
                                hotwords=hotwords, hotword_boost=boost, interim_results=interim,
                                endpoint=_endpoint(cfg.endpointing), max_duration_s=max_duration_s)
    except SessionError as e:
        raise RequestError(str(e)) from None
    return StreamSettings(session, max(1, cfg.max_alternatives), cfg.enable_word_time_offsets,
                          cfg.enable_word_confidence, single_utterance, cfg.enable_formatting,
                          cfg.lm_weight if cfg.HasField("lm_weight") else None)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def to_proto_result(result: StreamResult, settings: StreamSettings) -> asr_pb2.StreamingRecognitionResult:
    """The wire form of one partial or final result (n-best cut to max_alternatives)."""
    alternatives = []
    written = result.formatted_alternatives
    for i, alt in enumerate(result.alternatives[:settings.max_alternatives]):
        words = []
        if settings.word_times or settings.word_confidence:
            words = [asr_pb2.WordInfo(word=w.text, start_ms=_ms(w.start_s) if settings.word_times else 0,
                                      end_ms=_ms(w.end_s) if settings.word_times else 0,
                                      confidence=w.confidence if settings.word_confidence else 0.0)
                     for w in alt.words]
        alternatives.append(asr_pb2.SpeechRecognitionAlternative(
            transcript=alt.text, confidence=alt.confidence, words=words,
            formatted_transcript=written[i] if i < len(written) else ""))
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
    """The status code and (short: service.errors.short) message for an error raised while serving."""
    if isinstance(error, RequestError):
        code, message = error.code, str(error)
    elif isinstance(error, StreamTooLongError):
        code, message = grpc.StatusCode.OUT_OF_RANGE, str(error)
    elif isinstance(error, SessionFailedError):  # the model step failed: not the client's fault
        code, message = grpc.StatusCode.INTERNAL, str(error)
    elif isinstance(error, (AudioError, SessionError)):
        code, message = grpc.StatusCode.INVALID_ARGUMENT, str(error)
    else:
        code, message = grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}"
    return code, short(message)
