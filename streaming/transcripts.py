"""Offline transcription of whole recordings, the batch half of `Recognizer`.

B: batch (recordings), N: samples, C: channels, T: feature frames, F: mel bins, T': encoder frames,
D: model width, V: vocabulary.

Inputs (audio file paths, float sample arrays at the model's rate, or `(samples, sample_rate)`
pairs) are sorted by duration (from file headers) and grouped into batches of similar duration
(less padding), bounded in recordings and optionally in padded frames (`plan_batches`). Files are
read one batch at a time, optionally by reader threads ahead of the model. Each batch becomes mono
float32 audio at the model's rate and gets one whole-utterance forward under the look-ahead's
attention mask and one pass of the decoder that streaming sessions of the same settings share
(`streaming.decoders`). The cache-aware encoders stream exactly, so a Transcript equals the final
result of a Session fed the same audio with the same settings (endpointing off).

Errors, one rule: an input of the wrong *type* or shape (not a path, array or pair; a 3-D array;
integer samples) raises TypeError / ValueError at once, before any work, since it is a bug in the
calling code. An input whose *content* cannot be used (missing or unreadable file, corrupt
container, empty or NaN audio) gives a Transcript with `error` set (naming the input) and empty
text, and every other input is still transcribed: one bad file in a batch of thousands loses
nothing else (the batch CLI writes it as an error row).
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from transduce.asr.audio import (
    AudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    load_audio,
    resample,
    to_mono,
)
from transduce.asr.decoding import Decoder, DecodingResult, Hypothesis, Word, to_result
from transduce.asr.features.kinds import compute_features
from transduce.asr.models.asr_model import ASRModel
from transduce.streaming.config import SessionConfig
from transduce.streaming.decoders import decoder_for, uses_ctc_head
from transduce.streaming.endpoint import END_OF_STREAM
from transduce.streaming.errors import SessionConfigError
from transduce.streaming.results import StreamResult, make_result

__all__ = ["AudioInput", "Transcript", "decode_batch", "iter_transcripts", "plan_batches",
           "transcribe_inputs", "whole_recording_result"]

AudioInput = str | os.PathLike | np.ndarray | Tensor | tuple[Any, int]


@dataclass(frozen=True)
class Transcript:
    """The transcript of one recording: text, token ids, words (start/end seconds from the start of
    the recording, confidence) and confidence as in `asr.decoding.to_result`.

    duration_s: seconds of audio at the model's rate. source: the input's path, or "<input i>" for
    samples. error: None, or why the input could not be transcribed (then text is "" and
    duration_s 0). alternatives: the n-best (best first; one for greedy decoding). formatted_text:
    the written form of text when the recogniser formats (`streaming.formatting`), else None.
    """

    text: str
    tokens: tuple[int, ...]
    words: tuple[Word, ...]
    confidence: float
    duration_s: float
    source: str
    error: str | None = None
    alternatives: tuple[DecodingResult, ...] = ()
    formatted_text: str | None = None


def _source(item: AudioInput, index: int) -> str:
    return os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"<input {index}>"


def _check_samples(x: Any, where: str) -> None:
    if not isinstance(x, (np.ndarray, Tensor)):
        raise TypeError(f"{where}: samples must be a numpy array or torch tensor, got {type(x).__name__}")
    kind = x.dtype.is_floating_point if isinstance(x, Tensor) else x.dtype.kind == "f"
    if not kind:
        raise TypeError(f"{where}: samples must be floats in [-1, 1], got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"{where}: samples must have shape (N,) or (N, C), got {tuple(x.shape)}")


def _check_input(item: AudioInput, index: int) -> None:
    """Raise TypeError / ValueError when `item` is not a path, a float array or a (samples, rate) pair."""
    where = f"transcribe input {index}"
    if isinstance(item, (str, os.PathLike)):
        return
    if isinstance(item, tuple):
        if len(item) != 2 or isinstance(item[1], bool) or not isinstance(item[1], (int, np.integer)) \
                or item[1] <= 0:
            raise TypeError(f"{where}: a tuple must be (samples, sample_rate) with a positive int rate")
        _check_samples(item[0], where)
        return
    if isinstance(item, (bytes, bytearray, memoryview)):
        raise TypeError(f"{where}: bytes are ambiguous (container or PCM16?): pass a path or decode them "
                        "with asr.audio.load_audio / decode_pcm16")
    _check_samples(item, where)


def _samples(x: np.ndarray | Tensor, rate: int, model_rate: int) -> np.ndarray:
    """Checked mono float32 audio (N,) at `model_rate` from samples (N,) / (N, C) at `rate`."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(to_mono(x), dtype=np.float32)
    if x.size == 0:
        raise EmptyAudioError("no audio samples")
    if not np.isfinite(x).all():
        raise NonFiniteAudioError(f"{int(x.size - np.isfinite(x).sum())} of {x.size} samples are NaN or "
                                  "infinite")
    return np.ascontiguousarray(resample(x, rate, model_rate), dtype=np.float32)


def _load_input(item: AudioInput, model_rate: int) -> np.ndarray:
    """Mono float32 audio (N,) at `model_rate`; raises AudioError / OSError when the content is bad."""
    if isinstance(item, (str, os.PathLike)):
        return load_audio(Path(item), model_rate)
    if isinstance(item, tuple):
        return _samples(item[0], int(item[1]), model_rate)
    return _samples(item, model_rate, model_rate)


@torch.no_grad()
def decode_batch(model: ASRModel, decoder: Decoder, audio: Sequence[np.ndarray],
                 lookahead: int) -> list[list[Hypothesis]]:
    """The n-best hypotheses (best first) of each recording (N,) of one batch (an empty hypothesis for
    audio shorter than one feature frame, as a stream of it gives)."""
    p = next(model.parameters())
    feats = [compute_features(a, model.cfg.features) for a in audio]  # (T, F) each
    lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.long, device=p.device)
    if not int(lens.max()):  # all shorter than one feature frame: nothing for the model to see
        return [[Hypothesis()] for _ in audio]
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(p.device, p.dtype)  # (B, T, F)
    enc, enc_lens = model.encode(x, lens, lookahead)  # (B, T', D), (B,)
    head = model.ctc_head(enc) if uses_ctc_head(model) else enc  # (B, T', V) for CTC
    state = decoder.decode_chunk(head, enc_lens, decoder.init_state(len(audio), p.device))
    return decoder.nbest(state)


def _transcript(model: ASRModel, nbest: list[Hypothesis], duration_s: float, source: str) -> Transcript:
    alternatives = tuple(to_result(h, model.tokenizer, model.frame_shift_s) for h in nbest)
    best = alternatives[0]
    return Transcript(best.text, tuple(best.tokens), tuple(best.words), best.confidence, duration_s, source,
                      None, alternatives)


def _failed(source: str, error: BaseException) -> Transcript:
    return Transcript("", (), (), 0.0, 0.0, source, f"{source}: {error}")


def _duration_s(item: AudioInput, model_rate: int) -> float:
    """Seconds of audio of an input, from the file header for paths (0 when unreadable: loading it
    in its batch then reports the problem), so batches are sorted without holding every file."""
    if isinstance(item, (str, os.PathLike)):
        try:
            return float(sf.info(os.fspath(item)).duration)
        except Exception:  # noqa: BLE001 - any failure to read a header: the load names it later
            return 0.0
    samples, rate = item if isinstance(item, tuple) else (item, model_rate)
    return len(samples) / rate


def plan_batches(durations: Sequence[float], batch_size: int, max_batch_frames: int | None = None,
                 frame_shift_s: float = 0.01) -> list[list[int]]:
    """Input indices grouped into batches, shortest first: at most `batch_size` recordings and, when
    `max_batch_frames` is set, at most that many padded feature frames (count x longest); a recording
    longer than the budget alone gets a batch of its own. Every index appears exactly once."""
    order = sorted(range(len(durations)), key=lambda i: (durations[i], i))
    batches: list[list[int]] = []
    for i in order:
        frames = durations[i] / frame_shift_s  # the longest so far: the order is by duration
        last = batches[-1] if batches else None
        fits = last is not None and len(last) < batch_size and (
            max_batch_frames is None or (len(last) + 1) * frames <= max_batch_frames)
        if fits:
            last.append(i)
        else:
            batches.append([i])
    return batches


def _check_positive(name: str, value: Any, allow_none: bool = False, minimum: int = 1) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def iter_transcripts(model: ASRModel, decoder: Decoder, inputs: Sequence[AudioInput], lookahead: int,
                     batch_size: int, max_batch_frames: int | None = None,
                     workers: int = 0) -> Iterator[tuple[int, Transcript]]:
    """(input index, Transcript) of every input once, batch by batch in order of duration, each as soon
    as its batch is decoded. Audio is loaded a batch at a time: in this thread (`workers` 0) or by
    `workers` threads that read the next batches while the model decodes this one. Raises for bad
    types and settings before any work."""
    _check_positive("batch_size", batch_size)
    _check_positive("max_batch_frames", max_batch_frames, allow_none=True)
    _check_positive("workers", workers, minimum=0)
    for i, item in enumerate(inputs):
        _check_input(item, i)
    return _iter_batches(model, decoder, inputs, lookahead, batch_size, max_batch_frames, workers)


def _load_batch(inputs: Sequence[AudioInput], indices: list[int],
                rate: int) -> dict[int, np.ndarray | BaseException]:
    """Each index's audio, or the AudioError / OSError that loading it raised."""
    out: dict[int, np.ndarray | BaseException] = {}
    for i in indices:
        try:
            out[i] = _load_input(inputs[i], rate)
        except (AudioError, OSError) as e:
            out[i] = e
    return out


def _loaded_batches(inputs: Sequence[AudioInput], batches: list[list[int]], rate: int,
                    workers: int) -> Iterator[dict[int, np.ndarray | BaseException]]:
    """The loaded audio of each batch in order; with workers, up to `workers` + 1 batches are in flight."""
    if workers == 0:
        for indices in batches:
            yield _load_batch(inputs, indices, rate)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="transcribe-read") as pool:
        ahead: deque[Future] = deque()
        pending = iter(batches)
        try:
            for indices in itertools.islice(pending, workers + 1):
                ahead.append(pool.submit(_load_batch, inputs, indices, rate))
            while ahead:
                loaded = ahead.popleft().result()
                for indices in itertools.islice(pending, 1):
                    ahead.append(pool.submit(_load_batch, inputs, indices, rate))
                yield loaded
        finally:
            for future in ahead:
                future.cancel()


def _iter_batches(model: ASRModel, decoder: Decoder, inputs: Sequence[AudioInput], lookahead: int,
                  batch_size: int, max_batch_frames: int | None,
                  workers: int) -> Iterator[tuple[int, Transcript]]:
    rate = model.cfg.features.sample_rate
    durations = [_duration_s(item, rate) for item in inputs]
    shift_s = model.cfg.features.frame_shift_ms / 1000.0
    batches = plan_batches(durations, batch_size, max_batch_frames, shift_s)
    for loaded in _loaded_batches(inputs, batches, rate, workers):
        audio = {i: a for i, a in loaded.items() if not isinstance(a, BaseException)}
        for i, error in loaded.items():
            if isinstance(error, BaseException):
                yield i, _failed(_source(inputs[i], i), error)
        if audio:
            nbests = decode_batch(model, decoder, list(audio.values()), lookahead)
            for (i, samples), nbest in zip(audio.items(), nbests):
                yield i, _transcript(model, nbest, len(samples) / rate, _source(inputs[i], i))


def transcribe_inputs(model: ASRModel, decoder: Decoder, inputs: Sequence[AudioInput], lookahead: int,
                      batch_size: int, max_batch_frames: int | None = None,
                      workers: int = 0) -> list[Transcript]:
    """Transcripts of `inputs` in input order, decoded in duration-sorted batches (see `iter_transcripts`)."""
    out: list[Transcript | None] = [None] * len(inputs)
    for i, transcript in iter_transcripts(model, decoder, inputs, lookahead, batch_size, max_batch_frames,
                                          workers):
        out[i] = transcript
    return [t for t in out if t is not None]


def whole_recording_result(model: ASRModel, cfg: SessionConfig, samples: np.ndarray) -> StreamResult:
    """One recording (N,) at cfg.sample_rate transcribed whole, as the final StreamResult a stream of it
    would end with (one utterance: no endpointing): for models that cannot stream (`cannot_stream`)."""
    if cfg.hotwords:
        raise SessionConfigError("hotwords need a streaming model (this one transcribes whole recordings)")
    rate = model.cfg.features.sample_rate
    audio = _samples(samples, cfg.sample_rate, rate)
    nbest = decode_batch(model, decoder_for(model, cfg), [audio], cfg.lookahead)[0]
    frames = int(round(len(audio) / rate / model.frame_shift_s))
    return make_result(nbest, model.tokenizer, model.frame_shift_s, 0, frames, is_final=True, stability=1.0,
                       utterance_index=0, endpoint=END_OF_STREAM)
