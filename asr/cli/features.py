"""`transduce features FILE...`: decode audio files and summarise their log-mel features.

A quick check that files are readable and what the models will see: duration, frames, feature
shape and the range of the log-mel values, one line (or one JSON object) per file.
"""

from __future__ import annotations

import argparse
import json

from transduce.asr.audio import SAMPLE_RATE, AudioError, load_audio
from transduce.asr.cli import Command, CommandError
from transduce.asr.features import FbankConfig, compute_fbank

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (WAV, FLAC, OGG)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")


def _summary(path: str, cfg: FbankConfig) -> dict:
    """Decode `path` and describe its features; user errors become CommandError."""
    try:
        audio = load_audio(path, cfg.sample_rate)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except AudioError as e:
        raise CommandError(str(e)) from None  # names the path already
    except OSError as e:
        raise CommandError(f"{path}: {e.strerror or e}") from None
    feats = compute_fbank(audio, cfg)  # (T, F)
    stats = (feats.min().item(), feats.mean().item(), feats.max().item()) if feats.numel() else (None,) * 3
    return {
        "path": path,
        "duration_s": round(len(audio) / cfg.sample_rate, 4),
        "sample_rate": cfg.sample_rate,
        "num_frames": int(feats.shape[0]),
        "shape": list(feats.shape),
        "min": stats[0],
        "mean": stats[1],
        "max": stats[2],
    }


def _line(s: dict) -> str:
    values = "no frames"
    if s["min"] is not None:
        values = f"min {s['min']:.2f} mean {s['mean']:.2f} max {s['max']:.2f}"
    return (f"{s['path']}: {s['duration_s']:.2f} s at {s['sample_rate']} Hz, {s['num_frames']} frames, "
            f"features {tuple(s['shape'])}, log-mel {values}")


def _run(args: argparse.Namespace) -> int:
    cfg = FbankConfig(sample_rate=SAMPLE_RATE)
    for path in args.files:
        s = _summary(path, cfg)
        print(json.dumps(s) if args.json else _line(s), flush=True)
    return 0


COMMAND = Command(
    name="features",
    help="Decode audio files and summarise their log-mel features.",
    add_arguments=_add_arguments,
    run=_run,
)
