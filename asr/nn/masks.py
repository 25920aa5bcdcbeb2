"""Attention masks as functions of absolute frame indices (True = the query may attend the key).

Because every mask is a function of positions, the offline forward (positions 0..T'-1) and a
streaming step (n cached keys at positions p-n..p-1, m new frames at p..p+m-1) build the very
same mask entries, which is what makes streaming equal offline.

Shapes: see NOTATION.md (B, Tq, Tk). Positions are (B, Tq) or (Tq,) long tensors (keys: Tk);
`chunk` / `left_chunks` / `left` / `right` are ints or (B,) long tensors (one value per stream).
A negative `left` (or `left_chunks`) means unlimited left context; a negative `right` means
unlimited look-ahead.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "lengths_to_valid",
    "full_mask",
    "limited_mask",
    "chunked_limited_mask",
    "causal_mask",
    "context_mask",
]

IntOrTensor = int | Tensor


def lengths_to_valid(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, max_len) bool, True on the first lengths[b] frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def _pair(q_pos: Tensor, k_pos: Tensor) -> tuple[Tensor, Tensor]:
    """Broadcast positions to q (B|1, Tq, 1) and k (B|1, 1, Tk)."""
    q = q_pos if q_pos.dim() == 2 else q_pos[None]
    k = k_pos if k_pos.dim() == 2 else k_pos[None]
    return q[:, :, None], k[:, None, :]


def _per_stream(v: IntOrTensor, like: Tensor) -> Tensor:
    """An int or (B,) tensor as a tensor broadcastable to (B, Tq, Tk)."""
    if isinstance(v, Tensor):
        return v.to(like.device).reshape(-1, 1, 1)
    return torch.tensor(v, device=like.device)


def full_mask(q_pos: Tensor, k_pos: Tensor) -> Tensor:
    """Every query sees every key: (B|1, Tq, Tk) all True."""
    q, k = _pair(q_pos, k_pos)
    return torch.ones(torch.broadcast_shapes(q.shape, k.shape), dtype=torch.bool, device=q.device)


def limited_mask(q_pos: Tensor, k_pos: Tensor, left: IntOrTensor, right: IntOrTensor) -> Tensor:
    """Query i sees keys j with i - left <= j <= i + right ("regular" limited context)."""
    q, k = _pair(q_pos, k_pos)
    left_t, right_t = _per_stream(left, q), _per_stream(right, q)
    delta = k - q
    ok_left = (delta >= -left_t) | (left_t < 0)
    ok_right = (delta <= right_t) | (right_t < 0)
    return ok_left & ok_right


def chunked_limited_mask(
    q_pos: Tensor, k_pos: Tensor, chunk: IntOrTensor, left_chunks: IntOrTensor
) -> Tensor:
    """Query in chunk c = i // chunk sees keys in chunks c - left_chunks .. c (its own chunk entirely).

    This is NeMo's "chunked_limited" style: chunk = right + 1, left_chunks = left // chunk.
    """
    q, k = _pair(q_pos, k_pos)
    chunk_t, lc_t = _per_stream(chunk, q), _per_stream(left_chunks, q)
    cq = torch.div(q, chunk_t, rounding_mode="floor")
    ck = torch.div(k, chunk_t, rounding_mode="floor")
    return (ck <= cq) & ((cq - ck <= lc_t) | (lc_t < 0))


def causal_mask(q_pos: Tensor, k_pos: Tensor) -> Tensor:
    """Query i sees keys j <= i (decoders)."""
    q, k = _pair(q_pos, k_pos)
    return k <= q


def context_mask(q_pos: Tensor, k_pos: Tensor, left: int, right: int, style: str) -> Tensor:
    """Mask of one attention context [left, right] in `style` ("regular" | "chunked_limited").

    [-1, -1] is full context. In "chunked_limited" a negative `right` falls back to "regular"
    (limited left, unlimited right), as NeMo does.
    """
    if left < 0 and right < 0:
        return full_mask(q_pos, k_pos)
    if style == "regular" or right < 0:
        return limited_mask(q_pos, k_pos, left, right)
    if style == "chunked_limited":
        chunk = right + 1
        return chunked_limited_mask(q_pos, k_pos, chunk, left // chunk if left >= 0 else -1)
    raise ValueError(f"unknown att_context_style {style!r}; expected 'regular' or 'chunked_limited'")
