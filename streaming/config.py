"""Settings of one streaming session: audio rate, look-ahead, decoding, hotwords, results, endpointing.

Endpointing follows the rules of NeMo/sherpa (times in seconds of audio):
  rule 1: trailing silence >= `silence_no_speech_s` while nothing has been decoded in the utterance;
  rule 2: trailing silence >= `silence_after_speech_s` after something has been decoded;
  rule 3: the utterance is >= `max_utterance_s` long.
Silence is measured on the model's output, not on the audio (sherpa's "trailing blanks"; no separate
voice-activity model, and it agrees with what the user sees in the transcript):
  * transducers (RNN-T, TDT): the encoder frames of the utterance after the end of the best
    hypothesis' last token (its frame + its TDT duration, or + 1), i.e. frames where the decoder
    emitted nothing;
  * CTC: the trailing encoder frames of the utterance whose CTC argmax is blank (blank dominates);
    a CTC token's run of frames counts as speech to its last frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from transduce.streaming.errors import SessionConfigError

__all__ = ["EndpointConfig", "SessionConfig"]


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise SessionConfigError(message)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class EndpointConfig:
    """Endpointing rules (see the module docstring); `enabled=False` makes finish() the only endpoint.

    Defaults are sherpa-onnx's (2.4 s, 1.2 s, 20 s).
    """

    enabled: bool = True
    silence_no_speech_s: float = 2.4
    silence_after_speech_s: float = 1.2
    max_utterance_s: float = 20.0

    def __post_init__(self) -> None:
        for name in ("silence_no_speech_s", "silence_after_speech_s", "max_utterance_s"):
            value = getattr(self, name)
            _need(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
                  and math.isfinite(value), f"EndpointConfig.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class SessionConfig:
    """Settings of one stream.

    sample_rate: Hz of the audio the client sends (resampled to the model's rate with soxr's
    streaming resampler); channels: interleaved channels of PCM16 bytes (mixed down to mono).
    lookahead: index into the encoder's att_context_size. decoding: "greedy"
    or "beam" (beam_size hypotheses); hotwords (texts) with hotword_boost (log-score per token) need
    beam search. interim_results: emit partial results. stability_updates: N in the stability
    measure (see `streaming.stability`). max_duration_s: longest stream accepted (None: no limit).
    max_chunks_per_step: a stream that is behind (audio sent faster than real time) catches up
    with up to this many encoder chunks per model step.
    """

    sample_rate: int = 16000
    channels: int = 1
    lookahead: int = 0
    decoding: Literal["greedy", "beam"] = "greedy"
    beam_size: int = 4
    hotwords: tuple[str, ...] = ()
    hotword_boost: float = 2.0
    interim_results: bool = True
    stability_updates: int = 3
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    max_duration_s: float | None = None
    max_chunks_per_step: int = 1

    def __post_init__(self) -> None:
        _need(_positive_int(self.sample_rate),
              f"sample_rate must be a positive integer (Hz), got {self.sample_rate!r}")
        _need(_positive_int(self.channels), f"channels must be a positive integer, got {self.channels!r}")
        _need(isinstance(self.lookahead, int) and self.lookahead >= 0,
              f"lookahead must be an index >= 0 into att_context_size, got {self.lookahead!r}")
        _need(self.decoding in ("greedy", "beam"),
              f"decoding must be 'greedy' or 'beam', got {self.decoding!r}")
        _need(isinstance(self.beam_size, int) and self.beam_size >= 1,
              f"beam_size must be an integer >= 1, got {self.beam_size!r}")
        _need(not isinstance(self.hotwords, str), "hotwords must be a sequence of texts, not one string")
        object.__setattr__(self, "hotwords", tuple(self.hotwords))
        _need(all(isinstance(h, str) and h.strip() for h in self.hotwords),
              f"hotwords must be non-empty texts, got {self.hotwords!r}")
        _need(not self.hotwords or self.decoding == "beam",
              "hotwords need decoding='beam' (greedy decoding cannot add their boosts)")
        _need(math.isfinite(self.hotword_boost), f"hotword_boost must be finite, got {self.hotword_boost!r}")
        _need(isinstance(self.stability_updates, int) and self.stability_updates >= 1,
              f"stability_updates must be an integer >= 1, got {self.stability_updates!r}")
        _need(isinstance(self.endpoint, EndpointConfig),
              f"endpoint must be an EndpointConfig, got {type(self.endpoint).__name__}")
        _need(self.max_duration_s is None or (self.max_duration_s > 0 and math.isfinite(self.max_duration_s)),
              f"max_duration_s must be a positive number or None, got {self.max_duration_s!r}")
        _need(isinstance(self.max_chunks_per_step, int) and self.max_chunks_per_step >= 1,
              f"max_chunks_per_step must be an integer >= 1, got {self.max_chunks_per_step!r}")
