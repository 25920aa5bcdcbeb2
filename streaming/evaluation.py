"""Evaluation of an ASRModel on a manifest: streaming and offline WER/CER per look-ahead, their gap, RTF.

For every requested look-ahead (an index into the encoder's att_context_size):
  streaming  features in chunks of `encoder.chunk_frames(i)` through `encoder.stream_step` and a
             resumable decoder, exactly as served (asr.stream_decode);
  offline    one whole-utterance forward under the same look-ahead's attention mask, then the same
             decoder (a context that cannot stream, e.g. full [-1, -1], gets only this one);
  gap        |streaming WER - offline WER| and the fraction of utterances whose transcripts differ;
  RTF        processing wall time / audio duration on this machine (feature extraction included,
             audio file decoding and one untimed warm-up batch not), and RTFx = 1 / RTF; the torch
             thread count is recorded.
The latency a look-ahead implies is its chunk: the encoder emits nothing until a chunk is complete.
B: batch (utterances), T: feature frames, F: mel bins.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor
from transduce.asr.data.dataset import load_segment
from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.encoders.state import StreamingError
from transduce.asr.features import compute_fbank
from transduce.asr.metrics import ErrorReport, error_report
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.stream_decode import make_decoder, offline_hypotheses, stream_hypotheses

__all__ = ["EvalConfig", "ModeResult", "LookaheadResult", "EvaluationResult", "evaluate", "format_table",
           "machine_info"]


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate: look-ahead indices (None: all), decoding, how many utterances, batch size.

    batch_size 1 measures the RTF of one stream, as a server sees each stream; larger batches
    measure throughput (RTF per utterance falls). `examples`: differing transcripts kept per look-ahead.
    """

    lookaheads: tuple[int, ...] | None = None
    decoding: Literal["greedy", "beam"] = "greedy"
    beam_size: int = 4
    max_utterances: int | None = None
    batch_size: int = 1
    examples: int = 5


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

    index: int
    context: tuple[int, int]
    chunk_ms: float  # later chunks: the latency the look-ahead implies
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
    feature_s: float
    decoding: str
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


def _features(model: ASRModel, entries: Sequence[ManifestEntry]) -> tuple[list[Tensor], float, float]:
    """Log-mels (T, F) of every entry, the seconds of audio, and the seconds the extraction took
    (decoding the audio files is not counted)."""
    feats, audio_s, seconds = [], 0.0, 0.0
    rate = model.cfg.features.sample_rate
    for e in entries:
        samples = load_segment(e.audio_filepath, e.offset, e.duration, rate)
        start = time.perf_counter()
        feats.append(compute_fbank(samples, model.cfg.features))
        seconds += time.perf_counter() - start
        audio_s += len(samples) / rate
    return feats, audio_s, seconds


def _batches(feats: Sequence[Tensor], batch_size: int) -> list[list[int]]:
    """Utterance indices grouped into batches of similar length (less padding)."""
    order = sorted(range(len(feats)), key=lambda i: (feats[i].shape[0], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _pad(feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """(B, T, F) zero-padded features and (B,) lengths."""
    lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True), lens


def _transcribe(model: ASRModel, feats: Sequence[Tensor], cfg: EvalConfig, lookahead: int,
                streaming: bool) -> tuple[list[str], float]:
    """Transcripts of every utterance (input order) in one mode and the wall seconds it took."""
    run = stream_hypotheses if streaming else offline_hypotheses
    texts: list[str] = [""] * len(feats)
    seconds = 0.0
    groups = _batches(feats, cfg.batch_size)
    x, lens = _pad([feats[i] for i in groups[0]])
    run(model, x, lens, lookahead, make_decoder(model, cfg.decoding, cfg.beam_size))  # warm-up, not timed
    for group in groups:
        x, lens = _pad([feats[i] for i in group])
        decoder = make_decoder(model, cfg.decoding, cfg.beam_size)
        start = time.perf_counter()
        hyps = run(model, x, lens, lookahead, decoder)
        seconds += time.perf_counter() - start
        for i, hyp in zip(group, hyps):
            texts[i] = model.tokenizer.decode(hyp.tokens).strip()
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


def _one_lookahead(model: ASRModel, feats: Sequence[Tensor], refs: Sequence[str], cfg: EvalConfig,
                   index: int, feature_s: float, audio_s: float) -> LookaheadResult:
    shift_ms = model.cfg.features.frame_shift_ms
    first, later = model.encoder.chunk_frames(index)
    hyps, seconds = _transcribe(model, feats, cfg, index, streaming=False)
    offline = _mode(refs, hyps, feature_s + seconds, audio_s)
    streaming = gap = differing = None
    examples: list[dict[str, str]] = []
    if _streamable(model, index):
        s_hyps, s_seconds = _transcribe(model, feats, cfg, index, streaming=True)
        streaming = _mode(refs, s_hyps, feature_s + s_seconds, audio_s)
        gap = abs(streaming.wer - offline.wer)
        diff = [i for i, (a, b) in enumerate(zip(s_hyps, hyps)) if a != b]
        differing = len(diff) / max(len(refs), 1)
        examples = [{"reference": refs[i], "streaming": s_hyps[i], "offline": hyps[i]}
                    for i in diff[:cfg.examples]]
    context = tuple(model.cfg.encoder.att_context_size[index])
    return LookaheadResult(index, context, later * shift_ms, first * shift_ms, offline, streaming, gap,
                           differing, tuple(examples))


def evaluate(model: ASRModel, entries: Sequence[ManifestEntry], cfg: EvalConfig = EvalConfig(),
             model_name: str = "", manifest_name: str = "") -> EvaluationResult:
    """Streaming and offline WER/CER, their gap and RTF of `model` (with a tokenizer) on `entries`."""
    if getattr(model, "tokenizer", None) is None:
        raise ValueError("evaluate: the model has no tokenizer (save it with one: asr.save_model)")
    contexts = model.cfg.encoder.att_context_size
    indices = tuple(range(len(contexts))) if cfg.lookaheads is None else tuple(cfg.lookaheads)
    bad = [i for i in indices if not 0 <= i < len(contexts)]
    if bad or not indices:
        raise ValueError(f"evaluate: look-ahead indices {list(bad or indices)} are not in "
                         f"0..{len(contexts) - 1} (att_context_size {[list(c) for c in contexts]})")
    if cfg.batch_size < 1:
        raise ValueError(f"evaluate: batch_size must be >= 1, got {cfg.batch_size}")
    entries = list(entries)[:cfg.max_utterances]
    if not entries:
        raise ValueError("evaluate: no utterances to evaluate")
    model.eval()
    feats, audio_s, feature_s = _features(model, entries)
    refs = [e.text for e in entries]
    with torch.no_grad():
        results = tuple(_one_lookahead(model, feats, refs, cfg, i, feature_s, audio_s) for i in indices)
    return EvaluationResult(model_name, manifest_name, len(entries), audio_s, feature_s, cfg.decoding,
                            cfg.beam_size if cfg.decoding == "beam" else None, cfg.batch_size,
                            sum(p.numel() for p in model.parameters()), machine_info(), results)


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
            f"{la.index:<11}{str(list(la.context)):<11}{la.chunk_ms:>6.0f}ms  "
            f"{_pct(s.wer if s else None):>10}{_pct(s.cer if s else None):>8}"
            f"{(f'{s.rtf:.3f}' if s else '-'):>7}  {_pct(o.wer):>11}{_pct(o.cer):>8}{o.rtf:>7.3f}  "
            f"{_pct(la.wer_gap):>8}{_pct(la.differing):>8}")
    lines.append("")
    lines.append("RTF = processing time / audio time (features + encoder + decoder; RTFx = 1 / RTF); chunk = "
                 "the audio a look-ahead waits for before it emits; differ = utterances whose streaming "
                 "and offline transcripts differ")
    return "\n".join(lines)
