"""One stream's state: audio front end, encoder cache, decoder state, utterances and their results.

F: mel bins, n: feature frames of a chunk.

A Session does no model work by itself; it is driven by `streaming.batch` (one stream or many in
one batch) or by the asyncio `streaming.Scheduler`:

    s = Session(model, SessionConfig(sample_rate=8000))
    s.accept(samples_or_pcm16_bytes)          # features are computed here, online
    while s.is_ready():                       # a chunk of features is waiting for the encoder
        chunk = s.ready_chunk()               # (n, F) frames + whether it is the stream's last
        ...one batched stream_step + decode_chunk over many sessions' chunks...
        s.apply(encoder_state, decoder_state, frames, chunk.final)
    s.pop_results()                           # partial / final StreamResults
    s.finish()                                # end of audio: the tail is flushed with final=True

Utterances: at an endpoint (`streaming.endpoint`) the utterance's final result is emitted and the
decoder restarts (new hypothesis, predictor from the start symbol) while the encoder keeps its
context; `utterance_index` counts finals. An utterance closed by rule 1 (nothing decoded) gives no
result. finish() emits the last utterance's final when it holds tokens, or when the stream has had
no final yet (so every finished stream gives at least one). A session is safe to drive from one
worker thread while another thread feeds it audio (a lock guards its state).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from transduce.asr.decoding import DecoderState
from transduce.asr.encoders import EncoderState, StreamingError
from transduce.asr.models.asr_model import ASRModel
from transduce.streaming.config import SessionConfig
from transduce.streaming.decoders import decoder_for, hotword_graph, init_decoder_state, uses_ctc_head
from transduce.streaming.endpoint import END_OF_STREAM, endpoint_rule, trailing_silence
from transduce.streaming.errors import SessionClosedError, SessionConfigError
from transduce.streaming.frontend import AudioFrontend
from transduce.streaming.results import StreamResult, make_result
from transduce.streaming.stability import StabilityTracker

__all__ = ["FeatureChunk", "Session", "cannot_stream"]


class FeatureChunk(NamedTuple):
    """One step's work for a stream: raw log-mel frames (n, F), whether they end the stream, and
    the states they continue from (taken with the frames, so a concurrent close() cannot pull
    them away from a step in progress)."""

    frames: Tensor
    final: bool
    encoder_state: EncoderState
    decoder_state: DecoderState


def _utterance_features(model: ASRModel) -> str | None:
    """Why the model's features need the whole utterance, or None."""
    normalize = getattr(model.cfg.features, "normalize", None)
    if normalize not in (None, "NA", "none"):
        return f"its features are normalised over the whole utterance (normalize={normalize!r})"
    return None


def cannot_stream(model: ASRModel) -> str | None:
    """Why `model` cannot be streamed (full-context attention, non-causal subsampling or convolution,
    features normalised over the whole utterance), or None when it can. Such a model still
    transcribes whole recordings (`transcripts.decode_batch`)."""
    reason = _utterance_features(model)
    if reason is not None:
        return reason
    try:
        with torch.inference_mode():
            model.encoder.init_state(1, 0)
    except StreamingError as e:
        return f"its encoder cannot stream ({e})"
    return None


def _check_model(model: ASRModel, cfg: SessionConfig) -> None:
    if not isinstance(model, ASRModel):
        raise SessionConfigError(f"a Session needs an asr ASRModel, got {type(model).__name__}")
    if model.training:
        raise SessionConfigError("the model is in training mode (dropout randomises results): call .eval()")
    if model.tokenizer is None:
        raise SessionConfigError("the model has no tokenizer: load it with asr.load_model or set .tokenizer")
    reason = _utterance_features(model)  # the encoder is checked when the session makes its state
    if reason is not None:
        raise SessionConfigError(f"this model cannot stream: {reason}; transcribe whole recordings instead")
    n = len(model.encoder.contexts)
    if cfg.lookahead >= n:
        raise SessionConfigError(f"lookahead {cfg.lookahead} out of range: the encoder has {n} "
                                 f"att_context_size entries {list(model.encoder.contexts)}")


class Session:
    """The state of one stream; see the module docstring."""

    def __init__(self, model: ASRModel, cfg: SessionConfig | None = None) -> None:
        cfg = cfg or SessionConfig()
        _check_model(model, cfg)
        self.model, self.cfg = model, cfg
        self.decoder = decoder_for(model, cfg)
        self.ctc = uses_ctc_head(model)
        try:
            self._graph = hotword_graph(model, cfg)
        except ValueError as e:  # a phrase the tokenizer cannot spell
            raise SessionConfigError(f"hotwords: {e}") from None
        self._device = next(model.parameters()).device
        self._lock = threading.RLock()
        self.frontend: AudioFrontend | None = AudioFrontend(model.cfg.features, cfg.sample_rate, cfg.channels,
                                                            cfg.max_duration_s)
        try:
            with torch.inference_mode():
                self.encoder_state: EncoderState | None = model.encoder.init_state(1, cfg.lookahead)
        except StreamingError as e:
            raise SessionConfigError(f"this model cannot stream: its encoder cannot stream ({e}); "
                                     "transcribe whole recordings instead") from None
        self.decoder_state: DecoderState | None = init_decoder_state(self.decoder, self._graph, self._device)
        self._next_frames, self._later_frames = model.encoder.chunk_frames(cfg.lookahead)
        self._final_taken = False  # the last chunk has been handed out
        self.done = False  # the last chunk has been applied: no more results
        self.closed = False
        self.utterance_index = 0
        self._frames = 0  # encoder frames decoded since the stream start
        self._utt_start = 0  # encoder frame where the current utterance began
        self._finals = 0
        self._ctc_silence = 0  # CTC: trailing frames of the utterance whose argmax is blank
        self._last_partial: tuple[int, ...] = ()
        self._stability = StabilityTracker(cfg.stability_updates)
        self._results: list[StreamResult] = []

    # ---------------------------------------------------------------------------------- audio side
    def accept(self, audio: np.ndarray | bytes) -> None:
        """Feed float32 samples (N,) / (N, C) or PCM16 bytes at cfg.sample_rate.

        Raises asr.audio.AudioError subclasses for bad audio, StreamTooLongError past
        cfg.max_duration_s, SessionClosedError after finish()/close(); a rejected chunk changes nothing.
        """
        with self._lock:
            if self.frontend is None:
                raise SessionClosedError("the session is closed or its stream has ended")
            self.frontend.accept(audio)

    def finish(self) -> None:
        """End of audio: the remaining frames go to the encoder with final=True in the next step."""
        with self._lock:
            if self.frontend is None:
                raise SessionClosedError("the session is closed or its stream has ended")
            self.frontend.finish()

    @property
    def pending_frames(self) -> int:
        """Feature frames computed and not yet handed to the encoder."""
        frontend = self.frontend
        return frontend.num_frames_ready if frontend is not None else 0

    @property
    def input_finished(self) -> bool:
        """finish() has been called (or the session is closed)."""
        return self.frontend is None or self.frontend.finished

    def is_ready(self) -> bool:
        """True when ready_chunk() would return a chunk."""
        with self._lock:
            if self.frontend is None or self._final_taken:
                return False
            return self.frontend.finished or self.frontend.num_frames_ready >= self._next_frames

    def ready_chunk(self) -> FeatureChunk | None:
        """Take the next chunk of frames for the encoder, or None when there is none yet.

        A chunk holds the frames of 1 to cfg.max_chunks_per_step encoder chunks
        (`encoder.chunk_frames`); after finish(), once less than a chunk is left, the rest (maybe
        nothing) goes with final=True. With one chunk per step the chunks, and so the results,
        do not depend on when audio arrives or when steps run.
        """
        with self._lock:
            if not self.is_ready():
                return None
            ready, first = self.frontend.num_frames_ready, self._next_frames
            if ready < first:  # is_ready: the input has finished
                self._final_taken = True
                n, final = ready, True
            else:
                k = min(self.cfg.max_chunks_per_step, 1 + (ready - first) // self._later_frames)
                self._next_frames = self._later_frames
                n, final = first + (k - 1) * self._later_frames, False
            return FeatureChunk(self.frontend.pop_frames(n), final, self.encoder_state, self.decoder_state)

    # -------------------------------------------------------------------------------- model side
    def apply(self, encoder_state: EncoderState, decoder_state: DecoderState, frames: int, final: bool,
              blank_tail: int | None = None) -> None:
        """Take the states after a step that decoded `frames` new encoder frames; make results.

        Called by the batch runner with this stream's slice (`select`) of the batched states.
        blank_tail (CTC only): how many of the step's last frames had blank as the CTC argmax.
        A closed session ignores it.
        """
        with self._lock:
            if self.closed:
                return
            self.encoder_state, self.decoder_state = encoder_state, decoder_state
            self._frames += int(frames)
            if blank_tail is not None:
                self._ctc_silence = self._ctc_silence + frames if blank_tail >= frames else blank_tail
            if final:
                self._finish_stream()
            elif not self._check_endpoint() and self.cfg.interim_results:
                self._partial()

    def pop_results(self) -> list[StreamResult]:
        """The results made since the last call, in order."""
        with self._lock:
            out, self._results = self._results, []
            return out

    def close(self) -> None:
        """Drop the stream's state at once (caches, decoder state, audio); later calls are refused."""
        with self._lock:
            self.closed = True
            self.frontend = None
            self.encoder_state = self.decoder_state = None

    # ---------------------------------------------------------------------------------- internals
    def _nbest(self, final: bool) -> list:
        if final:
            return self.decoder.nbest(self.decoder_state)[0]
        return self.decoder.best(self.decoder_state)[:1]

    def _emit(self, hyps: list, final: bool, endpoint: str | None) -> StreamResult:
        model = self.model
        result = make_result(hyps, model.tokenizer, model.frame_shift_s, self._utt_start, self._frames,
                             is_final=final, stability=1.0, utterance_index=self.utterance_index,
                             endpoint=endpoint)
        if not final:
            result = dataclasses.replace(result, stability=self._stability.update(result.text))
        self._results.append(result)
        return result

    def _partial(self) -> None:
        hyps = self._nbest(final=False)
        tokens = tuple(hyps[0].tokens)
        if tokens != self._last_partial:
            self._last_partial = tokens
            self._emit(hyps, False, None)

    def _check_endpoint(self) -> bool:
        """Apply the endpoint rules; on an endpoint emit the final (if any) and start a new utterance."""
        best = self.decoder.best(self.decoder_state)[0]
        length = self._frames - self._utt_start
        silence = min(self._ctc_silence, length) if self.ctc else trailing_silence(best, length)
        rule = endpoint_rule(self.cfg.endpoint, length, silence, bool(best.tokens), self.model.frame_shift_s)
        if rule is None:
            return False
        if best.tokens:  # rule 1, or rule 3 with nothing decoded: no result, just a fresh start
            self._final(rule)
        with torch.inference_mode():
            self.decoder_state = init_decoder_state(self.decoder, self._graph, self._device)
        self._utt_start, self._last_partial, self._ctc_silence = self._frames, (), 0
        self._stability.reset()
        return True

    def _final(self, endpoint: str) -> None:
        self._emit(self._nbest(final=True), True, endpoint)
        self.utterance_index += 1
        self._finals += 1

    def _finish_stream(self) -> None:
        best = self.decoder.best(self.decoder_state)[0]
        if best.tokens or self._finals == 0:
            self._final(END_OF_STREAM)
        self.done = True
        self.frontend = None
        self.encoder_state = self.decoder_state = None
