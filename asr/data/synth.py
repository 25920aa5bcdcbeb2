"""A synthetic English speech corpus made with espeak-ng and flite: 16 kHz mono WAVs plus train/dev/test
manifests.

Each utterance i of a split is a pure function of (seed, split, i): its text, engine, voice, variant,
speed, pitch, word gap (espeak -g), level, leading/trailing silence, reverberation and noise. So the
same seed gives the same files and manifests whatever the number of jobs, and a split is the
shortest prefix of its sequence that reaches its share of the hours (or of --max-utterances).

Two presets (`PRESETS`, `transduce data synth --preset`): "demo", the corpus the bundled demo model
was trained on (espeak-ng only, `asr.data.textgen` text, dev/test sentences shared with train), and
"broad", for models that should recognise English they never heard: `asr.data.broad_text` (real
prose, an everyday grammar and the templates, dev/test sentences held out by a hash of each
sentence), a share of the utterances spoken by flite, room-like reverberation and noise.

Held-out speakers (defaults in `VoiceSplits`): train uses only train voices x train variants.
dev utterances use the dev voice (en-us-nyc) or a dev variant (m6 f4 klatt5 victor shelby), test
utterances the test voice (en-gb-x-gbcwmd, West Midlands) or a test variant (m3 f2 klatt2 robert
grandma), always with at least one held-out part; so no voice+variant pair of dev or test occurs in
train, and dev and test share none either. flite voices are held out whole (`VoiceSplits.flite_*`);
for flite, speed is a percentage of the voice's rate and pitch a percentage of its pitch (shifted by
resampling after synthesis: flite's own pitch target moves only its diphone voices).
Layout: DIR/wav/<split>/<split>_<i>.wav, DIR/<split>.jsonl (paths relative to DIR), DIR/synth.json
(settings, counts, hours).
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
from transduce.asr.data.augment import (
    add_noise,
    pink_noise,
    reverberate,
    room_impulse_response,
    speed_perturb,
)
from transduce.asr.data.broad_text import broad_text
from transduce.asr.data.espeak import espeak
from transduce.asr.data.flite import flite
from transduce.asr.data.manifest import ManifestEntry, write_manifest
from transduce.asr.data.textgen import generate_text

__all__ = ["SPLITS", "PRESETS", "VoiceSplits", "SynthConfig", "UtteranceSpec", "SynthReport",
           "plan_utterance", "render", "synthesize_corpus"]

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
    # flite speakers: kal and kal16 are one speaker (8 and 16 kHz diphones), so both stay in train
    flite_train: tuple[str, ...] = ("kal", "kal16", "awb")
    flite_dev: tuple[str, ...] = ("rms",)
    flite_test: tuple[str, ...] = ("slt",)

    def __post_init__(self) -> None:
        voices = (self.train_voices, self.dev_voices, self.test_voices)
        variants = (self.train_variants, self.dev_variants, self.test_variants)
        flite_voices = (self.flite_train, self.flite_dev, self.flite_test)
        for kind, groups in (("voices", voices), ("variants", variants), ("flite voices", flite_voices)):
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

    def flite_voices(self, split: str) -> tuple[str, ...]:
        """The flite voices `split` may use (whole voices: none is shared between splits)."""
        return {"train": self.flite_train, "dev": self.flite_dev, "test": self.flite_test}[split]


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
    text: str = "demo"  # "demo": asr.data.textgen; "broad": asr.data.broad_text, sentences held out
    heldout_share: float = 0.03  # "broad": share of all sentences kept for dev, and again for test
    flite_share: float = 0.0  # share of utterances spoken by flite instead of espeak-ng
    flite_speed: tuple[int, int] = (80, 125)  # percent of the voice's own rate
    flite_pitch: tuple[int, int] = (88, 112)  # percent of the voice's own pitch
    reverb_prob: float = 0.0
    rt60_s: tuple[float, float] = (0.15, 0.7)
    noise_prob: float = 0.0  # white or pink noise over the whole utterance, silences included
    snr_db: tuple[float, float] = (10.0, 35.0)

    def __post_init__(self) -> None:
        if self.text not in ("demo", "broad"):
            raise ValueError(f"SynthConfig.text must be 'demo' or 'broad', got {self.text!r}")
        if not 0 < self.heldout_share < 0.5:
            raise ValueError(f"SynthConfig.heldout_share must be in (0, 0.5), got {self.heldout_share}")
        for name in ("flite_share", "reverb_prob", "noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SynthConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        ranges_ok = (0 < self.rt60_s[0] <= self.rt60_s[1] <= 3.0
                     and 0 < self.flite_speed[0] <= self.flite_speed[1]
                     and 0 < self.flite_pitch[0] <= self.flite_pitch[1] and self.snr_db[0] <= self.snr_db[1])
        if not ranges_ok:
            raise ValueError("SynthConfig: rt60_s, flite_speed, flite_pitch and snr_db must be (low, high) "
                             "ranges of positive values (rt60 at most 3 s)")
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


PRESETS: dict[str, dict[str, Any]] = {
    "demo": {},
    "broad": {"text": "broad", "flite_share": 0.35, "reverb_prob": 0.3, "noise_prob": 0.3},
}


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything that decides one utterance's audio. speed and pitch are espeak-ng's -s (words per
    minute) and -p (0-99), or for flite percentages of the voice's rate and pitch; rt60_s / snr_db are
    None when the utterance gets no reverberation / noise, which are drawn from `effects_seed`."""

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
    engine: str = "espeak"
    rt60_s: float | None = None
    noise: str | None = None  # "white" or "pink"
    snr_db: float | None = None
    effects_seed: int = 0
    written: str | None = None  # the sentence in written form, where the text source has one

    @property
    def name(self) -> str:
        """File stem, e.g. "train_000042"."""
        return f"{self.split}_{self.index:06d}"


def plan_utterance(cfg: SynthConfig, split: str, index: int) -> UtteranceSpec:
    """The settings of utterance `index` of `split`, drawn from an RNG seeded by (seed, split, index).

    Draws happen in a fixed order, the "demo" preset's first, so its corpora stay what they were.
    """
    r = random.Random(f"transduce-synth:{cfg.seed}:{split}:{index}")
    written = None
    if cfg.text == "broad":
        category, written, text = broad_text(r, split, cfg.heldout_share, cfg.heldout_share)
    else:
        category, text = generate_text(r)
    if cfg.flite_share and r.random() < cfg.flite_share:
        engine, voice, variant = "flite", r.choice(cfg.voices.flite_voices(split)), ""
        speed, pitch = r.randint(*cfg.flite_speed), r.randint(*cfg.flite_pitch)
    else:
        engine, (voice, variant) = "espeak", r.choice(cfg.voices.combos(split))
        speed, pitch = r.randint(*cfg.speed_wpm), r.randint(*cfg.pitch)
    common = dict(word_gap=r.randint(*cfg.word_gap), lead_s=round(r.uniform(*cfg.lead_silence_s), 3),
                  trail_s=round(r.uniform(*cfg.trail_silence_s), 3),
                  peak_dbfs=round(r.uniform(*cfg.peak_dbfs), 2))
    effects: dict[str, Any] = {}
    if cfg.reverb_prob and r.random() < cfg.reverb_prob:
        effects["rt60_s"] = round(r.uniform(*cfg.rt60_s), 3)
    if cfg.noise_prob and r.random() < cfg.noise_prob:
        effects["noise"], effects["snr_db"] = r.choice(("white", "pink")), round(r.uniform(*cfg.snr_db), 1)
    if effects:
        effects["effects_seed"] = r.getrandbits(32)
    return UtteranceSpec(split, index, category, text, voice, variant, speed, pitch, engine=engine, **common,
                         **effects, written=written)


def _trim(x: np.ndarray, rate: int, threshold: float = 1e-3, margin_s: float = 0.01) -> np.ndarray:
    """Cut leading/trailing silence (|x| <= threshold) of `x` (N,), keeping `margin_s` around the speech."""
    loud = np.nonzero(np.abs(x) > threshold)[0]
    if len(loud) == 0:
        return x[:0]
    pad = int(margin_s * rate)
    return x[max(0, loud[0] - pad): loud[-1] + pad + 1]


def _speak(spec: UtteranceSpec) -> tuple[np.ndarray, int]:
    """float64 samples (N,) in [-1, 1] of spec's text from its engine, trimmed, and their rate."""
    if spec.engine == "flite":
        factor = spec.pitch / 100.0  # spoken slower by the factor, then sped up by it: pitch x factor
        pcm, rate = flite(spec.text, spec.voice, stretch=100.0 / spec.speed * factor)
        x = _trim(pcm.astype(np.float64) / 32768.0, rate)
        return speed_perturb(x, factor, rate).astype(np.float64), rate
    pcm, rate = espeak(spec.text, spec.voice, spec.variant, spec.speed, spec.pitch, spec.word_gap)
    return _trim(pcm.astype(np.float64) / 32768.0, rate), rate


def render(spec: UtteranceSpec, sample_rate: int = 16000) -> np.ndarray:
    """The int16 samples (N,) of `spec` at `sample_rate`: synthesised, trimmed, resampled, reverberated,
    padded with silence, noised, levelled."""
    x, rate = _speak(spec)
    x = soxr.resample(x, rate, sample_rate, quality="HQ") if rate != sample_rate else x
    rng = np.random.default_rng(spec.effects_seed)
    if spec.rt60_s is not None:
        x = reverberate(x, room_impulse_response(spec.rt60_s, rng, sample_rate)).astype(np.float64)
    lead, trail = np.zeros(round(spec.lead_s * sample_rate)), np.zeros(round(spec.trail_s * sample_rate))
    x = np.concatenate([lead, x, trail])
    if spec.snr_db is not None:
        noise = pink_noise(len(x), rng) if spec.noise == "pink" else rng.standard_normal(len(x))
        x = add_noise(x, noise, spec.snr_db).astype(np.float64)
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak > 0:
        x = x * (10.0 ** (spec.peak_dbfs / 20.0) / peak)
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
    speaker = f"flite:{spec.voice}" if spec.engine == "flite" else f"{spec.voice}+{spec.variant}"
    extra = {"speaker": speaker, "engine": spec.engine, "voice": spec.voice, "variant": spec.variant,
             "speed": spec.speed, "pitch": spec.pitch, "word_gap": spec.word_gap, "category": spec.category,
             "rt60_s": spec.rt60_s, "snr_db": spec.snr_db}
    if spec.written is not None:
        extra["written"] = spec.written
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
        "speakers": {s: [f"{v}+{w}" for v, w in cfg.voices.combos(s)]
                     + ([f"flite:{v}" for v in cfg.voices.flite_voices(s)] if cfg.flite_share else [])
                     for s in SPLITS},
    }
    (out / "synth.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
