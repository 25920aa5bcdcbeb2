"""Triton log-softmax + top-k over the last dim, for beam search over joiner/CTC logits.

Shapes: see NOTATION.md (V vocabulary); n_rows: rows, k: entries kept per row (k <= 8; the
kernel's constexpr K). One program handles BLOCK_R rows whose V logits fit one tile
(BLOCK_V = next power of two >= V): the row is read once, the log-sum-exp is taken in float32,
then k rounds of (max, argmax, mask out) pick the top entries, largest first
(ties: lowest index). Output values are log-probs (x - logsumexp(x)). Uses only tl APIs stable
since Triton 3.0 (load/store/max/argmax/where/exp/log/sum/arange/program_id).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["MAX_V", "log_softmax_topk"]

MAX_V = 16384  # rows wider than this are left to torch (the whole row lives in one tile)
_TILE = 4096


@triton.jit
def _log_softmax_topk_kernel(x_ptr, s_row, val_ptr, idx_ptr, n_rows, V, K: tl.constexpr,
                             BLOCK_R: tl.constexpr, BLOCK_V: tl.constexpr):
    """values (n_rows, k) = top-k of x - logsumexp(x) per row, indices (n_rows, k) int64 into the row."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.arange(0, BLOCK_V)
    in_rows = rows < n_rows
    mask = in_rows[:, None] & (cols < V)[None, :]
    ptrs = x_ptr + rows.to(tl.int64)[:, None] * s_row + cols[None, :]
    x = tl.load(ptrs, mask=mask, other=float("-inf")).to(tl.float32)
    x = tl.where(in_rows[:, None], x, 0.0)  # rows past the end: finite dummies, never stored
    m = tl.max(x, axis=1)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    lse = m_safe + tl.log(tl.sum(tl.exp(x - m_safe[:, None]), axis=1))
    out = rows.to(tl.int64) * K
    for k in tl.static_range(K):
        best = tl.max(x, axis=1)
        arg = tl.argmax(x, axis=1)
        tl.store(val_ptr + out + k, best - lse, mask=in_rows)
        tl.store(idx_ptr + out + k, arg.to(tl.int64), mask=in_rows)
        x = tl.where(cols[None, :] == arg[:, None], float("-inf"), x)


def log_softmax_topk(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k log-probs (n_rows, k) float32, their indices (n_rows, k) int64, of logits (n_rows, V <= MAX_V).

    Inputs are validated by the public API (kernels.beam); rows must be contiguous in V.
    """
    n_rows, n_v = logits.shape
    x = logits if logits.stride(-1) == 1 else logits.contiguous()
    values = torch.empty(n_rows, k, dtype=torch.float32, device=x.device)
    indices = torch.empty(n_rows, k, dtype=torch.int64, device=x.device)
    if n_rows == 0:
        return values, indices
    block_v = triton.next_power_of_2(n_v)
    block_r = max(1, min(64, _TILE // block_v))
    grid = (triton.cdiv(n_rows, block_r),)
    _log_softmax_topk_kernel[grid](x, x.stride(0), values, indices, n_rows, n_v, K=k,
                                   BLOCK_R=block_r, BLOCK_V=block_v)
    return values, indices
