"""A synthetic English speech corpus made with espeak-ng: 16 kHz mono WAVs plus train/dev/test manifests.

Each utterance i of a split is a pure function of (seed, split, i): its text (`asr.data.textgen`),
voice, variant, speed (-s), pitch (-p), word gap (-g), level and leading/trailing silence. So the
same seed gives the same files and manifests whatever the number of jobs, and a split is the
shortest prefix of its sequence that reaches its share of the hours (or of --max-utterances).

Held-out speakers (defaults in `VoiceSplits`): train uses only train voices x train variants.
dev utterances use the dev voice (en-us-nyc) or a dev variant (m6 f4 klatt5 victor shelby), test
utterances the test voice (en-gb-x-gbcwmd, West Midlands) or a test variant (m3 f2 klatt2 robert
grandma), always with at least one held-out part; so no voice+variant pair of dev or test occurs in
train, and dev and test share none either. Layout: DIR/wav/<split>/<split>_<i>.wav,
DIR/<split>.jsonl (paths relative to DIR), DIR/synth.json (settings, counts, hours).
N: samples.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import wave
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soxr
from transduce.asr.config import to_dict
from transduce.asr.data.espeak import espeak
from transduce.asr.data.manifest import ManifestEntry, write_manifest
from transduce.asr.data.textgen import generate_text

__all__ = ["SPLITS", "VoiceSplits", "SynthConfig", "UtteranceSpec", "SynthReport", "plan_utterance",
           "render", "synthesize_corpus"]

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class VoiceSplits:
    """espeak-ng voices (accents) and variants (timbres) per split; dev/test parts never reach train."""

    train_voices: tuple[str, ...] = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
                                     "en-029")
    dev_voices: tuple[str, ...] = ("en-us-nyc",)
    test_voices: tuple[str, ...] = ("en-gb-x-gbcwmd",)
    train_variants: tuple[str, ...] = (
        "m1", "m2", "m4", "m5", "m7", "m8", "f1", "f3", "f5", "klatt", "klatt3", "klatt4", "croak",
        "adam", "benjamin", "david", "edward", "john", "paul", "rob", "travis", "norbert", "Andy",
        "linda", "steph", "belinda", "aunty", "Annie")
    dev_variants: tuple[str, ...] = ("m6", "f4", "klatt5", "victor", "shelby")
    test_variants: tuple[str, ...] = ("m3", "f2", "klatt2", "robert", "grandma")

    def __post_init__(self) -> None:
        voices = (self.train_voices, self.dev_voices, self.test_voices)
        variants = (self.train_variants, self.dev_variants, self.test_variants)
        for kind, groups in (("voices", voices), ("variants", variants)):
            if not all(groups) or len(set().union(*groups)) != sum(len(g) for g in groups):
                raise ValueError(f"VoiceSplits: {kind} must be non-empty and disjoint, got {groups}")

    def combos(self, split: str) -> tuple[tuple[str, str], ...]:
        """Every (voice, variant) pair `split` may use."""
        train = [(v, w) for v in self.train_voices for w in self.train_variants]
        if split == "train":
            return tuple(train)
        voices = self.dev_voices if split == "dev" else self.test_voices
        variants = self.dev_variants if split == "dev" else self.test_variants
        every = [(v, w) for v in self.train_voices + voices for w in self.train_variants + variants]
        return tuple(c for c in every if c[0] in voices or c[1] in variants)


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise; the ranges are inclusive and drawn uniformly per utterance."""

    hours: float | None = 1.0  # total audio over the three splits; None: only max_utterances limits
    max_utterances: int | None = None  # total over the splits (for tests and quick looks)
    seed: int = 0
    dev_fraction: float = 0.05
    test_fraction: float = 0.05
    speed_wpm: tuple[int, int] = (130, 200)
    pitch: tuple[int, int] = (30, 70)
    word_gap: tuple[int, int] = (0, 6)  # espeak -g, 10 ms units
    lead_silence_s: tuple[float, float] = (0.05, 0.5)
    trail_silence_s: tuple[float, float] = (0.1, 0.6)
    peak_dbfs: tuple[float, float] = (-12.0, -1.0)  # the level each utterance is scaled to
    sample_rate: int = 16000
    voices: VoiceSplits = field(default_factory=VoiceSplits)

    def __post_init__(self) -> None:
        if self.hours is None and self.max_utterances is None:
            raise ValueError("SynthConfig: set hours, max_utterances or both")
        if self.hours is not None and self.hours <= 0:
            raise ValueError(f"SynthConfig.hours must be > 0, got {self.hours}")
        if self.max_utterances is not None and self.max_utterances < 3:
            raise ValueError(f"SynthConfig.max_utterances must be >= 3 (one per split), "
                             f"got {self.max_utterances}")
        if not (0 < self.dev_fraction < 0.5 and 0 < self.test_fraction < 0.5):
            raise ValueError("SynthConfig: dev_fraction and test_fraction must be in (0, 0.5)")

    def split_limits(self) -> dict[str, tuple[float, float]]:
        """(max seconds, max utterances) per split; inf where unlimited."""
        n = self.max_utterances
        share = {"dev": self.dev_fraction, "test": self.test_fraction}
        share["train"] = 1.0 - share["dev"] - share["test"]
        counts: dict[str, float] = dict.fromkeys(SPLITS, float("inf"))
        if n is not None:
            counts["dev"], counts["test"] = (max(1, round(n * share[s])) for s in ("dev", "test"))
            counts["train"] = n - counts["dev"] - counts["test"]
        secs = {s: self.hours * 3600 * share[s] if self.hours else float("inf") for s in SPLITS}
        return {s: (secs[s], counts[s]) for s in SPLITS}


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything that decides one utterance's audio."""

    split: str
    index: int
    category: str
    text: str
    voice: str
    variant: str
    speed: int
    pitch: int
    word_gap: int
    lead_s: float
    trail_s: float
    peak_dbfs: float

    @property
    def name(self) -> str:
        """File stem, e.g. "train_000042"."""
        return f"{self.split}_{self.index:06d}"


def plan_utterance(cfg: SynthConfig, split: str, index: int) -> UtteranceSpec:
    """The settings of utterance `index` of `split`, drawn from an RNG seeded by (seed, split, index)."""
    r = random.Random(f"transduce-synth:{cfg.seed}:{split}:{index}")
    category, text = generate_text(r)
    voice, variant = r.choice(cfg.voices.combos(split))
    return UtteranceSpec(
        split, index, category, text, voice, variant,
        speed=r.randint(*cfg.speed_wpm), pitch=r.randint(*cfg.pitch), word_gap=r.randint(*cfg.word_gap),
        lead_s=round(r.uniform(*cfg.lead_silence_s), 3), trail_s=round(r.uniform(*cfg.trail_silence_s), 3),
        peak_dbfs=round(r.uniform(*cfg.peak_dbfs), 2),
    )


def _trim(x: np.ndarray, rate: int, threshold: float = 1e-3, margin_s: float = 0.01) -> np.ndarray:
    """Cut leading/trailing silence (|x| <= threshold) of `x` (N,), keeping `margin_s` around the speech."""
    loud = np.nonzero(np.abs(x) > threshold)[0]
    if len(loud) == 0:
        return x[:0]
    pad = int(margin_s * rate)
    return x[max(0, loud[0] - pad): loud[-1] + pad + 1]


def render(spec: UtteranceSpec, sample_rate: int = 16000) -> np.ndarray:
    """The int16 samples (N,) of `spec` at `sample_rate`: espeak-ng, trimmed, resampled, levelled, padded."""
    pcm, rate = espeak(spec.text, spec.voice, spec.variant, spec.speed, spec.pitch, spec.word_gap)
    x = _trim(pcm.astype(np.float64) / 32768.0, rate)
    x = soxr.resample(x, rate, sample_rate, quality="HQ") if rate != sample_rate else x
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak > 0:
        x = x * (10.0 ** (spec.peak_dbfs / 20.0) / peak)
    lead, trail = np.zeros(round(spec.lead_s * sample_rate)), np.zeros(round(spec.trail_s * sample_rate))
    x = np.concatenate([lead, x, trail])
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """16-bit mono WAV with a plain 44-byte header (no timestamps: identical bytes for identical audio)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def _ordered_map(pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: Iterable[Any],
                 window: int) -> Iterator[tuple[Any, Any]]:
    """(item, fn(item)) in input order with at most `window` calls in flight; stops cleanly when closed."""
    pending: deque[tuple[Any, Future]] = deque()
    it = iter(items)
    try:
        for item in itertools.islice(it, window):
            pending.append((item, pool.submit(fn, item)))
        while pending:
            item, fut = pending.popleft()
            result = fut.result()
            for nxt in itertools.islice(it, 1):
                pending.append((nxt, pool.submit(fn, nxt)))
            yield item, result
    finally:
        for _, fut in pending:
            fut.cancel()


@dataclass(frozen=True)
class SynthReport:
    """What a synthesis run made and how fast."""

    out: str
    utterances: dict[str, int]
    hours: dict[str, float]
    wall_seconds: float
    jobs: int

    @property
    def audio_hours_per_wall_hour(self) -> float:
        """Throughput: hours of audio made per hour of wall-clock time."""
        return sum(self.hours.values()) * 3600.0 / max(self.wall_seconds, 1e-9)


def _entry(spec: UtteranceSpec, path: Path, num_samples: int, rate: int) -> ManifestEntry:
    extra = {"speaker": f"{spec.voice}+{spec.variant}", "voice": spec.voice, "variant": spec.variant,
             "speed": spec.speed, "pitch": spec.pitch, "word_gap": spec.word_gap, "category": spec.category}
    return ManifestEntry(str(path), num_samples / rate, spec.text, 0.0, extra)


def _prepare(out: Path, overwrite: bool) -> None:
    existing = [out / f"{s}.jsonl" for s in SPLITS if (out / f"{s}.jsonl").exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} exists; choose another folder or overwrite")
    for split in SPLITS:
        for old in (out / "wav" / split).glob(f"{split}_*.wav"):
            old.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _synth_split(cfg: SynthConfig, split: str, out: Path, pool: ThreadPoolExecutor, window: int,
                 progress: Callable[[float, int], None]) -> list[ManifestEntry]:
    """Write the utterances of `split` until its limits are reached; returns their manifest entries."""
    max_secs, max_count = cfg.split_limits()[split]
    specs = (plan_utterance(cfg, split, i) for i in itertools.count())
    entries: list[ManifestEntry] = []
    seconds = 0.0
    results = _ordered_map(pool, lambda s: render(s, cfg.sample_rate), specs, window)
    try:
        for spec, samples in results:
            if seconds >= max_secs or len(entries) >= max_count:
                break
            path = out / "wav" / split / f"{spec.name}.wav"
            _write_wav(path, samples, cfg.sample_rate)
            entries.append(_entry(spec, path, len(samples), cfg.sample_rate))
            seconds += len(samples) / cfg.sample_rate
            progress(len(samples) / cfg.sample_rate, 1)
    finally:
        results.close()
    return entries


def synthesize_corpus(out: str | Path, cfg: SynthConfig, jobs: int = 1, overwrite: bool = False,
                      show_progress: bool = True) -> SynthReport:
    """Synthesise the corpus of `cfg` into `out` with `jobs` espeak-ng processes at a time."""
    from tqdm import tqdm

    out = Path(out)
    _prepare(out, overwrite)
    limits = cfg.split_limits()
    by_count = cfg.hours is None
    total = sum(limits[s][1] if by_count else limits[s][0] for s in SPLITS)
    bar = tqdm(total=round(total, 1), unit="utt" if by_count else "s", disable=not show_progress,
               desc="synth", dynamic_ncols=True)
    started = time.perf_counter()
    manifests = {}
    step = (lambda secs, n: bar.update(n)) if by_count else (lambda secs, n: bar.update(round(secs, 3)))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for split in SPLITS:
            manifests[split] = _synth_split(cfg, split, out, pool, 4 * max(1, jobs), step)
            write_manifest(out / f"{split}.jsonl", manifests[split])
    bar.close()
    report = SynthReport(
        out=str(out), utterances={s: len(m) for s, m in manifests.items()},
        hours={s: sum(e.duration for e in m) / 3600.0 for s, m in manifests.items()},
        wall_seconds=time.perf_counter() - started, jobs=max(1, jobs))
    _write_summary(out, cfg, report)
    return report


def _write_summary(out: Path, cfg: SynthConfig, report: SynthReport) -> None:
    """synth.json: the settings (enough to remake the corpus), per-split counts, hours and speakers."""
    summary = {
        "config": to_dict(cfg),
        "utterances": report.utterances,
        "hours": {s: round(h, 6) for s, h in report.hours.items()},
        "speakers": {s: [f"{v}+{w}" for v, w in cfg.voices.combos(s)] for s in SPLITS},
    }
    (out / "synth.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
