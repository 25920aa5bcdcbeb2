"""Numba's batch parallelism follows torch's thread setting, so one knob controls the CPU losses.

`torch.set_num_threads(n)` (or OMP_NUM_THREADS) caps the threads numba's `prange` over the batch
uses, bounded by numba's own pool size (NUMBA_NUM_THREADS, fixed when numba starts).
"""

from __future__ import annotations

import numba
import torch

__all__ = ["sync_numba_threads"]


def sync_numba_threads() -> int:
    """Set numba's thread count for this thread to min(torch.get_num_threads(), pool size); return it."""
    torch_threads = torch.get_num_threads()
    n = max(1, min(torch_threads, numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
    if torch.get_num_threads() != torch_threads:  # launching numba's OpenMP pool resets the shared
        torch.set_num_threads(torch_threads)      # OpenMP thread count: give torch its setting back
    return n
