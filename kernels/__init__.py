"""Fused loss and decoding kernels: CTC, RNN-T, pruned RNN-T (k2 semantics), TDT.

Every function has a float64 pure-torch reference (`kernels.reference`, the oracle), a CPU fast
path (torch for the log-softmax over V, numba for the lattice DPs) and a GPU path in Triton.
`kernels._dispatch` picks one by device; `use_backend` overrides it. Names are imported lazily so
that `import kernels` stays cheap.

Shapes: see NOTATION.md. Logits are (B, T', U+1, V) for RNN-T, (B, T', U+1, V+K) for TDT and
(B, T', V) for CTC, where T' is the frame axis of the logits (encoder frames in a model); the
pruned family's lattices are (B, U, T') (k2's (B, S, T)) and its prune range is S.
"""

from __future__ import annotations

import importlib
from typing import Any

from transduce.kernels._dispatch import use_backend

__all__ = [
    "use_backend",
    "ctc_loss",
    "rnnt_loss",
    "tdt_loss",
    "mutual_information_recursion",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "get_prune_ranges",
    "do_rnnt_pruning",
    "rnnt_loss_pruned",
    "log_softmax_topk",
]

_HOME = {
    "ctc_loss": "transduce.kernels.ctc",
    "rnnt_loss": "transduce.kernels.rnnt",
    "tdt_loss": "transduce.kernels.tdt",
    "mutual_information_recursion": "transduce.kernels.pruned",
    "rnnt_loss_simple": "transduce.kernels.pruned",
    "rnnt_loss_smoothed": "transduce.kernels.pruned",
    "get_prune_ranges": "transduce.kernels.pruned",
    "do_rnnt_pruning": "transduce.kernels.pruned",
    "rnnt_loss_pruned": "transduce.kernels.pruned",
    "log_softmax_topk": "transduce.kernels.beam",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'kernels' has no attribute {name!r}")
