"""Training checkpoints: a loadable model directory plus the trainer's state, written atomically.

    <out_dir>/checkpoints/step_00001000/config.json, model.safetensors, tokenizer/   (asr.save_model)
    <out_dir>/checkpoints/step_00001000/trainer_state.pt   optimizer, step, loader position, RNG states

Each checkpoint is assembled in a hidden staging directory and renamed into place once every file
is on disk, so a crash (even kill -9) leaves only complete checkpoints; leftovers of an
interrupted write are removed on the next start. `asr.load_model(<checkpoint>)` reads the model.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transduce.asr.checkpoint import CONFIG_FILE, save_model
from transduce.asr.tokenizers import Tokenizer

__all__ = [
    "CHECKPOINTS_DIR",
    "STATE_FILE",
    "checkpoint_dir",
    "list_checkpoints",
    "latest_checkpoint",
    "save_checkpoint",
    "load_trainer_state",
    "clean_staging",
]

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "trainer_state.pt"
_NAME = re.compile(r"^step_(\d+)$")


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    """The directory of the checkpoint after update `step`."""
    return Path(out_dir) / CHECKPOINTS_DIR / f"step_{step:08d}"


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (step, path), oldest first, in `directory` (an out_dir or its checkpoints/)."""
    root = Path(directory)
    if (root / CHECKPOINTS_DIR).is_dir():
        root = root / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if match and (path / STATE_FILE).is_file() and (path / CONFIG_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint under `out_dir`, or None."""
    found = list_checkpoints(out_dir)
    return found[-1][1] if found else None


def clean_staging(out_dir: str | Path) -> None:
    """Remove what an interrupted checkpoint write left behind (hidden staging directories)."""
    root = Path(out_dir) / CHECKPOINTS_DIR
    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith(".") and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(out_dir: str | Path, step: int, model: nn.Module, tokenizer: Tokenizer | None,
                    trainer_state: dict[str, Any], keep_last: int) -> Path:
    """Write the checkpoint of update `step` atomically, then delete all but the newest `keep_last`."""
    final = checkpoint_dir(out_dir, step)
    staging = final.with_name(f".{final.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        save_model(model, staging, tokenizer)
        torch.save(trainer_state, staging / STATE_FILE)
        _fsync(staging / STATE_FILE)
        if final.exists():  # the same step written again (e.g. a rerun): replace it
            shutil.rmtree(final)
        os.rename(staging, final)
        _fsync(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for _, old in list_checkpoints(out_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_trainer_state(path: str | Path) -> dict[str, Any]:
    """The trainer state saved in checkpoint directory `path` (tensors on the CPU)."""
    return torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=True)
