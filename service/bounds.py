"""Documented bounds of every request field, checked before anything is allocated for a request.

A RecognitionConfig is checked field by field (`check_config`) before a session, a decoder or a
resampler exists for it: an unknown enum value, a number outside its range, a string too long or too
many hotwords is INVALID_ARGUMENT with a short message naming the field (quoting at most a few dozen
characters of what was sent). The table of bounds is in the README's service section and in
proto/transduce/asr/v1/asr.proto.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from transduce.service.errors import RequestError, echo
from transduce.service.protos import asr_pb2

__all__ = ["RequestBounds", "check_config", "check_format_request"]


@dataclass(frozen=True)
class RequestBounds:
    """The accepted range of each request field (see the module docstring; defaults are the documented
    ones). Durations of audio are bounded by the server's limits (service.limits.StreamLimits)."""

    min_sample_rate: int = 8000
    max_sample_rate: int = 48000
    max_channels: int = 8
    max_alternatives: int = 10
    max_beam: int = 16
    max_hotwords: int = 100
    max_hotword_chars: int = 100
    max_hotword_boost: float = 20.0
    max_lm_weight: float = 10.0
    max_endpoint_ms: int = 600_000
    max_name_chars: int = 64
    max_format_texts: int = 256
    max_format_chars: int = 4000

    def check_rate(self, rate: int, what: str = "sample_rate_hertz") -> None:
        """RequestError unless min_sample_rate <= rate <= max_sample_rate."""
        if not self.min_sample_rate <= rate <= self.max_sample_rate:
            raise RequestError(f"{what} must be {self.min_sample_rate}..{self.max_sample_rate} Hz, "
                               f"got {rate}")


def _in_range(name: str, value: int, low: int, high: int, zero: str = "") -> None:
    if not low <= value <= high:
        raise RequestError(f"{name} must be {low}..{high}{zero}, got {value}")


def _enum(name: str, enum: object, value: int) -> None:
    if value not in enum.values():  # proto3 keeps unknown enum numbers as plain ints
        known = ", ".join(f"{n} ({v})" for n, v in enum.items())
        raise RequestError(f"{name} {value} is not one of {known}")


def check_config(cfg: asr_pb2.RecognitionConfig, bounds: RequestBounds, streaming: bool) -> None:
    """Raise RequestError for the first field of `cfg` outside `bounds` (see the README's table), or
    an encoding this server or this call (`streaming`) does not take.

    The sample rate of LINEAR16 audio is checked here; a container's own rate when it is read.
    """
    _enum("encoding", asr_pb2.AudioEncoding, cfg.encoding)
    _enum("decoding_method", asr_pb2.DecodingMethod, cfg.decoding_method)
    if cfg.encoding == asr_pb2.OGG_OPUS:
        raise RequestError("OGG_OPUS audio is not supported by this server (use LINEAR16, FLAC or WAV)")
    pcm = cfg.encoding in (asr_pb2.LINEAR16, asr_pb2.AUDIO_ENCODING_UNSPECIFIED)
    if streaming and not pcm:
        raise RequestError("StreamingRecognize takes LINEAR16 audio (containers go to Recognize)")
    if pcm or cfg.sample_rate_hertz:  # a container's rate comes from its header
        bounds.check_rate(cfg.sample_rate_hertz)
    _in_range("audio_channel_count", cfg.audio_channel_count, 0, bounds.max_channels, " (0 means 1)")
    _in_range("max_alternatives", cfg.max_alternatives, 0, bounds.max_alternatives, " (0 means 1)")
    _in_range("beam_size", cfg.beam_size, 0, bounds.max_beam, " (0 means the server default)")
    if len(cfg.language_code) > bounds.max_name_chars:  # an unknown `model` is NOT_FOUND (Engine.resolve)
        raise RequestError(f"language_code must be at most {bounds.max_name_chars} characters, got "
                           f"{echo(cfg.language_code)}")
    _check_hotwords(cfg.hotwords, bounds)
    if cfg.HasField("lm_weight") and not 0.0 <= cfg.lm_weight <= bounds.max_lm_weight:  # NaN fails too
        raise RequestError(f"lm_weight must be 0..{bounds.max_lm_weight:g}, got {cfg.lm_weight:g}")
    ep = cfg.endpointing
    for name in ("trailing_silence_after_speech_ms", "trailing_silence_no_speech_ms", "max_utterance_ms"):
        if getattr(ep, name) > bounds.max_endpoint_ms:
            raise RequestError(f"endpointing.{name} must be at most {bounds.max_endpoint_ms} "
                              f"(0: server default, negative: off), got {getattr(ep, name)}")


def _check_hotwords(hotwords: object, bounds: RequestBounds) -> None:
    if len(hotwords) > bounds.max_hotwords:
        raise RequestError(f"at most {bounds.max_hotwords} hotwords, got {len(hotwords)}")
    for i, hotword in enumerate(hotwords):
        if not hotword.phrase.strip() or len(hotword.phrase) > bounds.max_hotword_chars:
            raise RequestError(f"hotwords[{i}].phrase must be 1..{bounds.max_hotword_chars} characters "
                              f"(not only spaces), got {echo(hotword.phrase)}")
        if not (math.isfinite(hotword.boost) and 0 <= hotword.boost <= bounds.max_hotword_boost):
            raise RequestError(f"hotwords[{i}].boost must be 0..{bounds.max_hotword_boost:g} (0: the server "
                              f"default), got {hotword.boost}")


def check_format_request(request: asr_pb2.FormatTextRequest, bounds: RequestBounds) -> None:
    """RequestError for an empty or oversized batch or an oversized text (an unknown model is NOT_FOUND:
    service.text_models)."""
    if not 1 <= len(request.texts) <= bounds.max_format_texts:
        raise RequestError(f"texts must hold 1..{bounds.max_format_texts} texts, got {len(request.texts)}")
    for i, text in enumerate(request.texts):
        if len(text) > bounds.max_format_chars:
            raise RequestError(f"texts[{i}] has {len(text)} characters; at most {bounds.max_format_chars}")
