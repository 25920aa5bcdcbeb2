"""Choosing the implementation behind each kernel: reference, cpu (numba) or triton.

`auto` picks triton for CUDA tensors and cpu otherwise. The environment variable
`TRANSDUCE_KERNELS` or the `use_backend` context manager override the choice (tests force
`reference`, or `triton` on CPU tensors under `TRITON_INTERPRET=1`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

__all__ = ["BACKENDS", "resolve_backend", "use_backend", "triton_interpreted"]

BACKENDS = ("auto", "reference", "cpu", "triton")
_override: list[str] = []


def triton_interpreted() -> bool:
    """True when Triton kernels run in the CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def resolve_backend(device: torch.device, requested: str | None = None) -> str:
    """The concrete backend ("reference", "cpu" or "triton") for tensors on `device`."""
    name = requested or (_override[-1] if _override else os.environ.get("TRANSDUCE_KERNELS", "auto"))
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {BACKENDS}")
    if name == "auto":
        return "triton" if device.type == "cuda" else "cpu"
    if name == "cpu" and device.type != "cpu":
        raise ValueError(f"backend 'cpu' needs CPU tensors, got tensors on {device}")
    if name == "triton" and device.type != "cuda" and not triton_interpreted():
        raise ValueError("backend 'triton' needs CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors)")
    return name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force a backend inside a `with` block (e.g. `with use_backend("reference"): ...`)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {BACKENDS}")
    _override.append(name)
    try:
        yield
    finally:
        _override.pop()
