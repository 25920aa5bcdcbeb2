"""Tiny speech data and tiny model settings for the trainer tests (espeak-ng via asr.data.synth)."""

from __future__ import annotations

import copy
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from transduce.asr.data.espeak import espeak_available
from transduce.asr.data.manifest import ManifestEntry, write_manifest
from transduce.asr.data.synth import UtteranceSpec, render

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

TEXTS = ("yes", "no", "go", "stop", "left", "right")


def write_corpus(root: Path, texts: tuple[str, ...] = TEXTS, voices: tuple[str, ...] = ("en-us",),
                 name: str = "train") -> Path:
    """WAVs of `texts` spoken by each voice (16 kHz mono, short silences) and a manifest; its path."""
    entries = []
    for v, voice in enumerate(voices):
        for i, text in enumerate(texts):
            spec = UtteranceSpec(name, v * len(texts) + i, "test", text, voice, "m1", speed=170, pitch=50,
                                 word_gap=0, lead_s=0.05, trail_s=0.05, peak_dbfs=-3.0)
            samples = render(spec)
            path = root / "wav" / f"{spec.name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes(samples.astype("<i2").tobytes())
            entries.append(ManifestEntry(str(path), len(samples) / 16000, text))
    manifest = root / f"{name}.jsonl"
    write_manifest(manifest, entries)
    return manifest


ENCODER = {
    "feat_in": 80, "n_layers": 2, "d_model": 32, "n_heads": 2, "ff_expansion_factor": 2,
    "conv_kernel_size": 5, "subsampling": "striding", "subsampling_factor": 4,
    "subsampling_conv_channels": 8, "causal_downsampling": True, "conv_context_size": "causal",
    "att_context_size": [[16, 2], [16, 0]], "att_context_style": "chunked_limited",
    "dropout": 0.0, "dropout_pre_encoder": 0.0, "dropout_att": 0.0,
}


def model_section(transducer: str = "tdt", ctc: bool = True, **encoder: Any) -> dict[str, Any]:
    """A ~50k-parameter streaming Conformer with the given heads (vocab sizes left to the tokenizer)."""
    section: dict[str, Any] = {"vocab_size": 0, "encoder": {**ENCODER, **encoder}, "ctc": ctc,
                               "transducer": transducer, "loss": {"ctc_weight": 0.3}}
    if transducer != "none":
        section["predictor"] = {"embed_dim": 32, "kind": "lstm", "hidden": 32, "dropout": 0.0}
        section["joiner"] = {"enc_dim": 32, "pred_dim": 32, "joint_dim": 32}
        if transducer == "tdt":
            section["joiner"]["durations"] = [0, 1, 2, 3, 4]
            section["loss"]["tdt"] = {"durations": [0, 1, 2, 3, 4]}
    return section


def train_config(manifest: Path, out_dir: Path, dev: Path | None = None, **top: Any) -> dict[str, Any]:
    """A TrainConfig mapping for quick CPU runs: no augmentation, constant-ish lr, tiny batches."""
    cfg: dict[str, Any] = {
        "model": model_section(),
        "data": {"train_manifest": str(manifest), "dev_manifest": str(dev) if dev else None,
                 "max_frames": 400, "num_buckets": 1, "augment": None, "spec_augment": None},
        "tokenizer": {"kind": "char"},
        "optim": {"lr": 3e-3, "warmup_steps": 5, "schedule": "inverse_sqrt", "weight_decay": 0.0},
        "max_steps": 10, "grad_clip": 5.0,
        "checkpoint": {"out_dir": str(out_dir), "every_n_steps": 5, "keep_last": 3},
        "validation": {"every_n_steps": 0, "max_utterances": 20, "lookahead": 0},
        "log_every_n_steps": 1, "seed": 0, "device": "cpu",
    }
    return with_overrides(cfg, **top)


def with_overrides(cfg: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A deep copy of config mapping `cfg` with `top` set: "section__key=value" sets one key of a
    section, "key=value" a whole entry."""
    cfg = copy.deepcopy(cfg)
    for key, value in top.items():
        node, *rest = key.split("__")
        if rest:
            cfg[node] = {**cfg[node], rest[0]: value}
        else:
            cfg[key] = value
    return cfg


def noisy_tone_corpus(root: Path, n: int = 4, seed: int = 0) -> Path:
    """Tones with a little noise as stand-in speech (no espeak-ng needed): texts are letter strings."""
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n):
        t = np.arange(int(16000 * (0.6 + 0.1 * i))) / 16000
        x = 0.3 * np.sin(2 * np.pi * (200 + 100 * i) * t) + 0.01 * rng.standard_normal(len(t))
        path = root / "wav" / f"tone_{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((x * 32767).astype("<i2").tobytes())
        entries.append(ManifestEntry(str(path), len(t) / 16000, "abcd"[i % 4] * (1 + i % 3)))
    manifest = root / "tones.jsonl"
    write_manifest(manifest, entries)
    return manifest
