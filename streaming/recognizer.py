"""The Python API: one shared `Recognizer` per model, offline `transcribe` and live `stream()`s.

    from transduce import Recognizer                  # the same class as transduce.streaming.Recognizer
    r = Recognizer.load("path/to/model", device="cpu", decoding="beam", beam_size=4, lookahead_ms=480)
    transcripts = r.transcribe(["a.wav", samples, (samples_8k, 8000)], batch_size=8)
    for index, transcript in r.transcribe_iter(paths): ...   # as each batch is done (long jobs)
    with r.stream(sample_rate=16000) as s:
        results = s.feed(chunk)                       # partial / final StreamResults
        results += s.finish()
    Recognizer.load("demo", formatting=True)          # + written form: Transcript/StreamResult.formatted_text
    Recognizer.load(model, decoding="beam", lm="path/to/lm", lm_weight=0.3)  # finals re-ranked by an LM

Where it lives: in `streaming`, because `stream()` is the streaming engine (Session and the batched
step the service's Scheduler runs) and the layers point service -> streaming -> asr. Offline
transcription (`streaming.transcripts`) shares the decoder objects the sessions use. The package
facade re-exports it (`from transduce import Recognizer`).

The settings are a `RecognizerConfig`; `transcribe` and `stream` use the same ones, so a stream's
final equals the transcript of the same audio (exactly, for the cache-aware encoders, with
endpointing off). Errors: see `streaming.transcripts` (bad types raise, unreadable audio gives a
Transcript with `error`). B: streams.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from transduce.asr.decoding.lm_rescoring import LMRescoringConfig
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.text.models import TextLM
from transduce.streaming.batch import decode_sessions
from transduce.streaming.config import EndpointConfig, SessionConfig
from transduce.streaming.decoders import decoder_for
from transduce.streaming.errors import SessionConfigError
from transduce.streaming.formatting import FormattingSpec, format_transcripts, load_formatter
from transduce.streaming.lm import LMRescorer, LMSpec, load_lm
from transduce.streaming.lookahead import lookahead_index, lookaheads_ms
from transduce.streaming.results import StreamResult
from transduce.streaming.stream import Stream
from transduce.streaming.transcripts import AudioInput, Transcript, iter_transcripts, transcribe_inputs

__all__ = ["RecognizerConfig", "Recognizer"]


@dataclass(frozen=True)
class RecognizerConfig:
    """Decoding settings shared by transcribe() and stream(): "greedy" or "beam" (beam_size
    hypotheses) and the look-ahead in ms (one of the model's, `streaming.lookahead`; None: its default)."""

    decoding: Literal["greedy", "beam"] = "greedy"
    beam_size: int = 4
    lookahead_ms: int | None = None
    lm_weight: float = 0.3  # with a language model: its weight in rescoring finals (`streaming.lm`)
    length_bonus: float = 0.0  # with a language model: added per word in rescoring finals

    def __post_init__(self) -> None:
        # SessionConfig holds the one copy of these checks (typed errors that name the setting)
        SessionConfig(decoding=self.decoding, beam_size=self.beam_size)
        _lm_config(self.lm_weight, self.length_bonus)


def _lm_config(weight: float, bonus: float) -> LMRescoringConfig:
    try:
        return LMRescoringConfig(float(weight), float(bonus))
    except (TypeError, ValueError) as e:
        raise SessionConfigError(f"lm_weight / length_bonus: {e}") from None


def _as_list(inputs: Sequence[AudioInput] | AudioInput) -> list[AudioInput]:
    """A list of inputs; one path, array or (samples, int rate) pair alone becomes a list of one."""
    pair = isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[1], (int, np.integer))
    if pair or isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "dtype"):
        return [inputs]  # type: ignore[list-item]
    return list(inputs)  # type: ignore[arg-type]


class Recognizer:
    """A model in eval mode plus its decoding settings; thread-compatible, shared by all streams.
    formatter: the text model that writes finals and transcripts in written form (None: off); lm: the
    language model that re-ranks the n-best of finals and transcripts with beam decoding (None: off)."""

    def __init__(self, model: ASRModel, cfg: RecognizerConfig | None = None,
                 formatter: FormattingSpec = None, lm: TextLM | None = None) -> None:
        self.cfg = cfg or RecognizerConfig()
        if not isinstance(model, ASRModel):
            raise SessionConfigError(f"a Recognizer needs an asr ASRModel, got {type(model).__name__}")
        if model.tokenizer is None:
            raise SessionConfigError("the model has no tokenizer: load it with asr.load_model or set "
                                     ".tokenizer")
        self.lookahead = lookahead_index(model, self.cfg.lookahead_ms)  # the context index, internal
        self.model = model.eval()
        self.formatter = load_formatter(formatter, next(model.parameters()).device)
        self.lm = load_lm(lm)

    @classmethod
    def load(cls, model: str | os.PathLike = "demo", device: str | torch.device = "cpu",
             decoding: Literal["greedy", "beam"] = "greedy", beam_size: int = 4,
             lookahead_ms: int | None = None, formatting: FormattingSpec = False, lm: LMSpec = None,
             lm_weight: float = 0.3, length_bonus: float = 0.0) -> Recognizer:
        """The Recognizer of a model directory, or of a bundled model by name ("demo"). formatting:
        True for the bundled formatting model, or a text model's directory / name (`streaming.formatting`).
        lm: True for the language model bundled beside the model, or a TextLM's directory / name
        (`streaming.lm`), with its rescoring weight and per-word bonus."""
        from transduce.asr.checkpoint import load_model

        cfg = RecognizerConfig(decoding, beam_size, lookahead_ms, lm_weight, length_bonus)
        return cls(load_model(model, device=device), cfg, load_formatter(formatting, device),
                   load_lm(lm, model, device))

    @property
    def lookahead_ms(self) -> int:
        """The look-ahead in use, in ms (`lookaheads_ms(model)` lists the model's)."""
        return lookaheads_ms(self.model)[self.lookahead]

    @property
    def sample_rate(self) -> int:
        """The model's sample rate in Hz (arrays given to transcribe() without a rate must have it)."""
        return self.model.cfg.features.sample_rate

    def _session_config(self, **kw: object) -> SessionConfig:
        cfg = self.cfg
        return SessionConfig(lookahead=self.lookahead, decoding=cfg.decoding, beam_size=cfg.beam_size, **kw)

    def transcribe(self, inputs: Sequence[AudioInput] | AudioInput, batch_size: int = 8,
                   max_batch_frames: int | None = None, workers: int = 0) -> list[Transcript]:
        """Transcripts of audio file paths, float arrays (N,) / (N, C) at `sample_rate`, or
        (samples, sample_rate) pairs, in input order (one input alone gives a list of one).

        Recordings are decoded `batch_size` at a time (and at most `max_batch_frames` padded 10 ms
        frames per batch when set), grouped by duration; `workers` threads read audio ahead of the
        model. None of these changes a result. Unreadable audio gives a Transcript with `error` set
        (others go on).
        """
        decoder = decoder_for(self.model, self._session_config())
        transcripts = transcribe_inputs(self.model, decoder, _as_list(inputs), self.lookahead, batch_size,
                                        max_batch_frames, workers)
        return self._finish(transcripts)

    def _rescorer(self, lm_weight: float | None = None) -> LMRescorer | None:
        if self.lm is None:
            return None
        weight = self.cfg.lm_weight if lm_weight is None else lm_weight
        return LMRescorer(self.lm, _lm_config(weight, self.cfg.length_bonus))

    def _finish(self, transcripts: list[Transcript]) -> list[Transcript]:
        """Transcripts rescored by the LM and formatted, where the recogniser does either."""
        rescorer = self._rescorer()
        if rescorer is not None:
            transcripts = rescorer.transcripts(transcripts)
        return format_transcripts(self.formatter, transcripts)

    def transcribe_iter(self, inputs: Sequence[AudioInput] | AudioInput, batch_size: int = 8,
                        max_batch_frames: int | None = None,
                        workers: int = 0) -> Iterator[tuple[int, Transcript]]:
        """(input index, Transcript) of each input as soon as its batch is done (batches in order of
        duration; audio read a batch at a time): for jobs that write results as they come."""
        decoder = decoder_for(self.model, self._session_config())
        done = iter_transcripts(self.model, decoder, _as_list(inputs), self.lookahead, batch_size,
                                max_batch_frames, workers)  # checks the inputs now, not at the first next()
        if self.formatter is None and self.lm is None:
            return done
        return ((i, self._finish([t])[0]) for i, t in done)

    def stream(self, sample_rate: int = 16000, endpoint: EndpointConfig | None = None,
               interim_results: bool = True, channels: int = 1, lm_weight: float | None = None) -> Stream:
        """A new live stream of audio at `sample_rate` Hz (resampled to the model's rate).

        endpoint: the rules that close an utterance (default: `EndpointConfig()`;
        `EndpointConfig(enabled=False)`: one utterance, closed by finish()). lm_weight: this stream's
        language-model weight (None: the recogniser's; 0 turns rescoring off for the stream).
        """
        cfg = self._session_config(sample_rate=sample_rate, endpoint=endpoint or EndpointConfig(),
                                   interim_results=interim_results, channels=channels)
        return Stream(self.model, cfg, self.formatter, self._rescorer(lm_weight))

    def decode_streams(self, streams: Sequence[Stream],
                       max_batch: int | None = None) -> list[list[StreamResult]]:
        """Step many streams (fed with `decode=False`) in batched forwards; each one's new results."""
        decode_sessions(self.model, [s.session for s in streams], max_batch)
        return [s.finished_results() for s in streams]
