"""Fixed-size rolling caches: keep the last n frames of [cache ; new] per stream.

Shapes: see NOTATION.md. Streams in one batch may bring different numbers of new frames, so the
window is gathered per stream; the cost never depends on how long a stream has run.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["keep_last"]


def keep_last(buf: Tensor, end: Tensor, n: int, dim: int) -> Tensor:
    """Frames end[b]-n .. end[b]-1 of buf along `dim` for each stream b (batch is dim 0).

    buf: (B, ..., m, ...) with m frames along `dim`; end: (B,) long with n <= end[b] <= m.
    """
    dim = dim % buf.dim()
    idx = end[:, None] - n + torch.arange(n, device=buf.device)[None, :]  # (B, n)
    shape = [1] * buf.dim()
    shape[0], shape[dim] = buf.shape[0], n
    idx = idx.view(shape).expand(*[n if d == dim else s for d, s in enumerate(buf.shape)])
    return torch.gather(buf, dim, idx)
