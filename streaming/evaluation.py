"""Evaluation of an ASRModel on a manifest: streaming and offline WER/CER per look-ahead, their gap, RTF.

Both modes run exactly what is served (one inference path):
  streaming  each recording is a `Session` (endpointing off, no partials), fed its audio and stepped
             with the others of its batch by `decode_sessions`, the batched step the server's
             Scheduler runs; the text is its final result;
  offline    `transcripts.decode_batch`, what `Recognizer.transcribe` runs: one whole-utterance forward
             under the look-ahead's attention mask, then the same decoder (a context that cannot
             stream, e.g. full [-1, -1], gets only this mode);
  gap        |streaming WER - offline WER| and the fraction of utterances whose transcripts differ;
  RTF        processing wall time / audio duration on this machine (features, encoder and decoder;
             audio file decoding and one untimed warm-up batch not), RTFx = 1 / RTF; the torch
             thread count is recorded.
`validate` is the training run's dev-set check through the same streaming path. Look-aheads are
given and reported in ms (`streaming.lookahead`). The latency a look-ahead implies is its chunk: the
encoder emits nothing until a chunk is complete.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from transduce.asr.data.dataset import load_segment
from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.decoding import to_result
from transduce.asr.decoding.lm_rescoring import LMRescoringConfig, rescore_nbest
from transduce.asr.encoders.state import StreamingError
from transduce.asr.metrics import ErrorReport, error_report
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.text.models import TextLM
from transduce.asr.training.validation import ValidationResult
from transduce.streaming.batch import decode_sessions
from transduce.streaming.config import EndpointConfig, SessionConfig
from transduce.streaming.decoders import decoder_for
from transduce.streaming.lm import LMRescorer
from transduce.streaming.lookahead import lookahead_index, lookaheads_ms
from transduce.streaming.session import Session
from transduce.streaming.transcripts import decode_batch

__all__ = ["EvalConfig", "ModeResult", "LookaheadResult", "EvaluationResult", "evaluate", "format_table",
           "machine_info", "offline_texts", "stream_texts", "validate"]


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate: look-aheads in ms (None: all the model has), decoding, how many utterances,
    batch size.

    batch_size 1 measures the RTF of one stream, as a server sees each stream; larger batches
    measure throughput (RTF per utterance falls). `examples`: differing transcripts kept per look-ahead.
    lm_weight / length_bonus: with a language model passed to `evaluate`, the n-best of every final is
    re-ranked by it (`streaming.lm`; its time is in the RTF).
    """

    lookaheads_ms: tuple[int, ...] | None = None
    decoding: Literal["greedy", "beam"] = "greedy"
    beam_size: int = 4
    max_utterances: int | None = None
    batch_size: int = 1
    examples: int = 5
    lm_weight: float = 0.3
    length_bonus: float = 0.0


@dataclass(frozen=True)
class ModeResult:
    """WER/CER (fractions) of one decoding mode, its word error counts and its speed."""

    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    seconds: float  # wall time of features + encoder + decoder over the set
    rtf: float
    rtfx: float
    hypotheses: tuple[str, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class LookaheadResult:
    """Streaming and offline results of one look-ahead, its chunk sizes and the gap between the modes."""

    lookahead_ms: int
    index: int  # into the encoder's att_context_size
    context: tuple[int, int]
    chunk_ms: float  # later chunks: the audio a stream waits for before the encoder emits
    first_chunk_ms: float
    offline: ModeResult
    streaming: ModeResult | None  # None: this context cannot stream (e.g. full context)
    wer_gap: float | None  # |streaming WER - offline WER|
    differing: float | None  # fraction of utterances whose two transcripts differ
    examples: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class EvaluationResult:
    """Everything `transduce evaluate` prints and writes as JSON."""

    model: str
    manifest: str
    utterances: int
    audio_s: float
    decoding: str  # "greedy", "beam", or "beam+lm" (n-best re-ranked by a language model)
    beam_size: int | None
    batch_size: int
    parameters: int
    machine: dict[str, Any]
    lookaheads: tuple[LookaheadResult, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (hypotheses left out; differing examples kept)."""
        out = asdict(self)
        for la in out["lookaheads"]:
            la["context"] = list(la["context"])
            for mode in ("offline", "streaming"):
                if la[mode] is not None:
                    la[mode].pop("hypotheses")
        return out


def machine_info() -> dict[str, Any]:
    """CPU model, core count, torch threads and versions: where a timing was taken."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "device": "cpu"}


def _session_config(model: ASRModel, lookahead: int, decoding: str, beam_size: int) -> SessionConfig:
    """One utterance per stream (endpointing off), no partials, audio at the model's rate."""
    return SessionConfig(sample_rate=model.cfg.features.sample_rate, lookahead=lookahead, decoding=decoding,
                         beam_size=beam_size, interim_results=False, endpoint=EndpointConfig(enabled=False))


def stream_texts(model: ASRModel, audio: Sequence[np.ndarray], cfg: SessionConfig,
                 rescorer: LMRescorer | None = None) -> list[str]:
    """The final transcript of each recording (N,) at the model's rate, streamed together as the
    server streams them (Session + decode_sessions; `cfg` with endpointing off gives one final),
    finals re-ranked by `rescorer` when given."""
    sessions = [Session(model, cfg) for _ in audio]
    for session, samples in zip(sessions, audio):
        session.accept(samples)
        session.finish()
    decode_sessions(model, sessions)
    results = [s.pop_results() for s in sessions]
    if rescorer is not None:
        results = [rescorer.results(r) for r in results]
    return [" ".join(r.text for r in rs if r.is_final and r.text) for rs in results]


def offline_texts(model: ASRModel, audio: Sequence[np.ndarray], cfg: SessionConfig,
                  rescorer: LMRescorer | None = None) -> list[str]:
    """The transcript of each recording (N,) at the model's rate from `decode_batch`, what
    Recognizer.transcribe runs, with the decoder a stream of `cfg` uses (n-best re-ranked by
    `rescorer` when given)."""
    hyps = decode_batch(model, decoder_for(model, cfg), audio, cfg.lookahead)
    if rescorer is not None:
        texts = [[model.tokenizer.decode(h.tokens).strip() for h in nbest] for nbest in hyps]
        hyps = rescore_nbest(hyps, texts, rescorer.lm, rescorer.cfg)
    return [to_result(nbest[0], model.tokenizer, model.frame_shift_s).text for nbest in hyps]


def _batches(audio: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    """Recording indices grouped into batches of similar duration (less padding)."""
    order = sorted(range(len(audio)), key=lambda i: (len(audio[i]), i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _run_mode(run: Callable[..., list[str]], model: ASRModel, audio: Sequence[np.ndarray],
              cfg: SessionConfig, batch_size: int) -> tuple[list[str], float]:
    """Transcripts of every recording (input order) from `run`, batch by batch, and its wall seconds."""
    groups = _batches(audio, batch_size)
    run(model, [audio[i] for i in groups[0]], cfg)  # warm-up, not timed
    texts: list[str] = [""] * len(audio)
    seconds = 0.0
    for group in groups:
        start = time.perf_counter()
        out = run(model, [audio[i] for i in group], cfg)
        seconds += time.perf_counter() - start
        for i, text in zip(group, out):
            texts[i] = text
    return texts, seconds


def _mode(refs: Sequence[str], hyps: Sequence[str], seconds: float, audio_s: float) -> ModeResult:
    words: ErrorReport = error_report(refs, hyps, "word")
    t = words.total
    rtf = seconds / audio_s if audio_s > 0 else float("inf")
    return ModeResult(words.rate, error_report(refs, hyps, "char").rate, t.substitutions, t.deletions,
                      t.insertions, t.ref_length, seconds, rtf, 1.0 / rtf if rtf > 0 else float("inf"),
                      tuple(hyps))


def _streamable(model: ASRModel, lookahead: int) -> bool:
    try:
        model.encoder.init_state(1, lookahead)
    except StreamingError:
        return False
    return True


def _one_lookahead(model: ASRModel, audio: Sequence[np.ndarray], refs: Sequence[str], cfg: EvalConfig,
                   ms: int, audio_s: float, rescorer: LMRescorer | None) -> LookaheadResult:
    index = lookahead_index(model, ms)
    session_cfg = _session_config(model, index, cfg.decoding, cfg.beam_size)
    shift_ms = model.cfg.features.frame_shift_ms
    first, later = model.encoder.chunk_frames(index)
    offline_texts_ = functools.partial(offline_texts, rescorer=rescorer)
    stream_texts_ = functools.partial(stream_texts, rescorer=rescorer)
    hyps, seconds = _run_mode(offline_texts_, model, audio, session_cfg, cfg.batch_size)
    offline = _mode(refs, hyps, seconds, audio_s)
    streaming = gap = differing = None
    examples: list[dict[str, str]] = []
    if _streamable(model, index):
        s_hyps, s_seconds = _run_mode(stream_texts_, model, audio, session_cfg, cfg.batch_size)
        streaming = _mode(refs, s_hyps, s_seconds, audio_s)
        gap = abs(streaming.wer - offline.wer)
        diff = [i for i, (a, b) in enumerate(zip(s_hyps, hyps)) if a != b]
        differing = len(diff) / max(len(refs), 1)
        examples = [{"reference": refs[i], "streaming": s_hyps[i], "offline": hyps[i]}
                    for i in diff[:cfg.examples]]
    context = tuple(model.cfg.encoder.att_context_size[index])
    return LookaheadResult(ms, index, context, later * shift_ms, first * shift_ms, offline, streaming, gap,
                           differing, tuple(examples))


def _load_audio(model: ASRModel, entries: Sequence[ManifestEntry]) -> list[np.ndarray]:
    rate = model.cfg.features.sample_rate
    return [load_segment(e.audio_filepath, e.offset, e.duration, rate) for e in entries]


def evaluate(model: ASRModel, entries: Sequence[ManifestEntry], cfg: EvalConfig = EvalConfig(),
             model_name: str = "", manifest_name: str = "", lm: TextLM | None = None) -> EvaluationResult:
    """Streaming and offline WER/CER, their gap and RTF of `model` (with a tokenizer) on `entries`;
    with `lm` and beam decoding, finals re-ranked by it (decoding "beam+lm")."""
    if getattr(model, "tokenizer", None) is None:
        raise ValueError("evaluate: the model has no tokenizer (save it with one: transduce.save_model)")
    known = lookaheads_ms(model)
    wanted = tuple(dict.fromkeys(known)) if cfg.lookaheads_ms is None else tuple(cfg.lookaheads_ms)
    if not wanted:
        raise ValueError("evaluate: no look-aheads to evaluate")
    for ms in wanted:
        lookahead_index(model, ms)  # SessionConfigError (a ValueError) naming the model's look-aheads
    if cfg.batch_size < 1:
        raise ValueError(f"evaluate: batch_size must be >= 1, got {cfg.batch_size}")
    entries = list(entries)[:cfg.max_utterances]
    if not entries:
        raise ValueError("evaluate: no utterances to evaluate")
    model.eval()
    audio = _load_audio(model, entries)
    audio_s = sum(len(a) for a in audio) / model.cfg.features.sample_rate
    refs = [e.text for e in entries]
    rescorer = None
    if lm is not None and cfg.decoding == "beam":
        rescorer = LMRescorer(lm.eval(), LMRescoringConfig(cfg.lm_weight, cfg.length_bonus))
    results = tuple(_one_lookahead(model, audio, refs, cfg, ms, audio_s, rescorer) for ms in wanted)
    decoding = "beam+lm" if rescorer is not None else cfg.decoding
    return EvaluationResult(model_name, manifest_name, len(entries), audio_s, decoding,
                            cfg.beam_size if cfg.decoding == "beam" else None, cfg.batch_size,
                            sum(p.numel() for p in model.parameters()), machine_info(), results)


def validate(model: ASRModel, entries: Sequence[ManifestEntry], max_utterances: int, lookahead: int = 0,
             batch_size: int = 16) -> ValidationResult:
    """Streaming greedy WER/CER of `model` on the first `max_utterances` dev `entries`, through the
    served path (`stream_texts`) with context index `lookahead`; the model's mode is put back."""
    entries = list(entries)[:max_utterances]
    was_training = model.training
    model.eval()
    try:
        audio = _load_audio(model, entries)
        cfg = _session_config(model, lookahead, "greedy", 1)
        hyps: list[str] = [""] * len(audio)
        for group in _batches(audio, batch_size):
            for i, text in zip(group, stream_texts(model, [audio[i] for i in group], cfg)):
                hyps[i] = text
    finally:
        model.train(was_training)
    return ValidationResult.score(tuple(e.text for e in entries), tuple(hyps), lookahead)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def format_table(result: EvaluationResult) -> str:
    """A readable table: one row per look-ahead with streaming/offline WER, CER, RTF and the gap."""
    m = result.machine
    decoding = result.decoding + (f" (beam {result.beam_size})" if result.beam_size else "")
    lines = [f"model {result.model}: {result.parameters:,} parameters; {decoding} decoding",
             f"data {result.manifest}: {result.utterances} utterances, {result.audio_s:.1f} s of audio",
             f"machine {m['cpu']} ({m['cores']} cores), {m['torch_threads']} torch thread(s), "
             f"torch {m['torch']}",
             "",
             f"{'look-ahead':<11}{'context':<11}{'chunk':>8}  {'stream WER':>10}{'CER':>8}{'RTF':>7}"
             f"  {'offline WER':>11}{'CER':>8}{'RTF':>7}  {'WER gap':>8}{'differ':>8}"]
    for la in result.lookaheads:
        s, o = la.streaming, la.offline
        lines.append(
            f"{f'{la.lookahead_ms} ms':<11}{str(list(la.context)):<11}{la.chunk_ms:>6.0f}ms  "
            f"{_pct(s.wer if s else None):>10}{_pct(s.cer if s else None):>8}"
            f"{(f'{s.rtf:.3f}' if s else '-'):>7}  {_pct(o.wer):>11}{_pct(o.cer):>8}{o.rtf:>7.3f}  "
            f"{_pct(la.wer_gap):>8}{_pct(la.differing):>8}")
    lines.append("")
    lines.append("RTF = processing time / audio time (features + encoder + decoder; RTFx = 1 / RTF); chunk = "
                 "the audio a look-ahead waits for before it emits; differ = utterances whose streaming "
                 "and offline transcripts differ")
    return "\n".join(lines)
