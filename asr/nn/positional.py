"""Positional encodings: sinusoids of (relative) positions and rotary embeddings.

Shapes: see NOTATION.md (B, H, Tq, Tk, R, D, Dh); n: positions (frames or tokens) of one tensor.
All functions take integer positions, so a streaming step at absolute positions p..p+n-1 gets
bit-identical encodings to the offline forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["sinusoid", "RelPositions", "relative_positions", "rotary", "absolute_positions"]


def sinusoid(positions: Tensor, d_model: int) -> Tensor:
    """Transformer sinusoids of integer positions (..., ) -> (..., D): sin on even, cos on odd dims."""
    if d_model % 2:
        raise ValueError(f"sinusoidal positions need an even d_model, got {d_model}")
    inv_freq = torch.exp(
        torch.arange(0, d_model, 2, device=positions.device, dtype=torch.float32)
        * (-math.log(10000.0) / d_model)
    )
    angle = positions.to(torch.float32)[..., None] * inv_freq
    out = torch.stack([angle.sin(), angle.cos()], dim=-1)
    return out.flatten(-2)


@dataclass(frozen=True)
class RelPositions:
    """Relative-distance embeddings shared by all heads of one attention call.

    emb: (R, D) sinusoids of distances max_back, max_back - 1, .., -max_ahead (distance = query
    position - key position). index: (B|1, Tq, Tk) long row of `emb` for query i and key j.
    """

    emb: Tensor
    index: Tensor


def relative_positions(
    q_pos: Tensor, k_pos: Tensor, d_model: int, max_back: int, max_ahead: int
) -> RelPositions:
    """Distances of queries at q_pos (B|1, Tq) to keys at k_pos (B|1, Tk), clamped to [-max_ahead, max_back].

    Distances outside the range only occur for pairs a limited-context mask hides, so the clamp
    never changes a visible score; it keeps R = max_back + max_ahead + 1 independent of Tq and Tk.
    """
    assert max_back >= 0 and max_ahead >= 0, f"max_back={max_back}, max_ahead={max_ahead} must be >= 0"
    q = q_pos if q_pos.dim() == 2 else q_pos[None]
    k = k_pos if k_pos.dim() == 2 else k_pos[None]
    dist = (q[:, :, None] - k[:, None, :]).clamp(-max_ahead, max_back)
    distances = torch.arange(max_back, -max_ahead - 1, -1, device=q.device)
    return RelPositions(emb=sinusoid(distances, d_model), index=max_back - dist)


def rotary(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate channel pairs (first half, second half) of x (B, H, n, Dh) by positions (B|1, n) * freq."""
    dh = x.shape[-1]
    if dh % 2:
        raise ValueError(f"rotary positions need an even head width, got {dh}")
    half = dh // 2
    inv_freq = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    pos = positions if positions.dim() == 2 else positions[None]
    angle = pos.to(torch.float32)[:, None, :, None] * inv_freq  # (B|1, 1, n, Dh/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def absolute_positions(positions: Tensor, d_model: int) -> Tensor:
    """Absolute sinusoids (B|1, n) -> (B|1, n, D), added to the input of a plain Transformer."""
    pos = positions if positions.dim() == 2 else positions[None]
    return sinusoid(pos, d_model)
