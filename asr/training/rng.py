"""Every global random number generator a training step touches: seed them, save them, put them back.

Python's `random` picks the encoder look-ahead per batch, torch's CPU/CUDA generators drive dropout
and the TDT omega sampling, numpy's is there for any other code. A checkpoint stores all of them,
so a resumed run draws the same numbers the uninterrupted run would have drawn. The states are
plain tensors, tuples and ints (loadable with `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["derive_seed", "seed_everything", "capture_rng", "restore_rng"]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (e.g. seed, rank, epoch, step) by numpy's SeedSequence."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every CUDA device) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> dict[str, Any]:
    """The states of python's, numpy's and torch's (CPU, CUDA) global generators."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put back generator states saved by `capture_rng` (CUDA states only where devices exist)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
