"""Positional encodings: sinusoids of (relative) positions and rotary embeddings.

Legend: B: batch, H: heads, T: frames, Tq/Tk: query/key frames, R: distinct distances,
D: model width, Dh: head width. All functions take integer positions, so a streaming step at
absolute positions p..p+t-1 gets bit-identical encodings to the offline forward.
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
        torch.arange(0, d_model, 2, device=positions.device, dtype=torch.float32) * (-math.log(10000.0) / d_model)
    )
    angle = positions.to(torch.float32)[..., None] * inv_freq
    out = torch.stack([angle.sin(), angle.cos()], dim=-1)
    return out.flatten(-2)


@dataclass(frozen=True)
class RelPositions:
    """Relative-distance embeddings shared by all layers of one forward.

    emb: (R, D) sinusoids of distances d_min .. d_min + R - 1 (distance = query pos - key pos).
    index: (Tq, Tk) long row of `emb` holding the distance of query i to key j.
    """

    emb: Tensor
    index: Tensor


def relative_positions(n_query: int, n_cache: int, d_model: int, device: torch.device | None = None) -> RelPositions:
    """Distances for queries at key slots n_cache .. n_cache + n_query - 1 over n_cache + n_query keys.

    Keys are [cache ; new frames] laid out contiguously in time, so the distance of query i to
    key j is (n_cache + i) - j whatever the absolute positions of the stream are.
    """
    n_keys = n_cache + n_query
    d_min, d_max = -(n_query - 1), n_keys - 1
    distances = torch.arange(d_max, d_min - 1, -1, device=device)
    qi = torch.arange(n_query, device=device)[:, None] + n_cache
    kj = torch.arange(n_keys, device=device)[None, :]
    index = d_max - (qi - kj)
    return RelPositions(emb=sinusoid(distances, d_model), index=index)


def rotary(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate channel pairs (first half, second half) of x (B, H, T, Dh) by angles positions (B|1, T) * freq."""
    dh = x.shape[-1]
    if dh % 2:
        raise ValueError(f"rotary positions need an even head width, got {dh}")
    half = dh // 2
    inv_freq = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    pos = positions if positions.dim() == 2 else positions[None]
    angle = pos.to(torch.float32)[:, None, :, None] * inv_freq  # (B|1, 1, T, Dh/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def absolute_positions(positions: Tensor, d_model: int) -> Tensor:
    """Absolute sinusoids (B|1, T) -> (B|1, T, D), added to the input of a plain Transformer."""
    pos = positions if positions.dim() == 2 else positions[None]
    return sinusoid(pos, d_model)
