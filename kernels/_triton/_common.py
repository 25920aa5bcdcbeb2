"""Shared Triton pieces of the loss kernels: log-space helpers, online log-sum-exp, launch sizes.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank);
kernel arguments T, U1 are the sizes T', U+1. Uses only tl APIs stable since Triton 3.0
(load/store/where/maximum/exp/log/sum/max/arange/program_id/debug_barrier); no atomics.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = [
    "NEG_INF", "logaddexp", "row_block", "row_logsumexp", "row_blocks", "acc_dtype", "int_arg", "dp_block",
]

NEG_INF = float("-inf")
_TILE = 4096  # elements of one (rows x V) tile of the logits passes
_MAX_BLOCK_V = 1024
_MAX_BLOCK_R = 64


@triton.jit
def logaddexp(a, b):
    """log(exp(a) + exp(b)) elementwise, -inf when both are -inf (no NaN)."""
    m = tl.maximum(a, b)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    return m_safe + tl.log(tl.exp(a - m_safe) + tl.exp(b - m_safe))


@triton.jit
def row_logsumexp(base, sx_v, valid, v_begin, v_end, ACC: tl.constexpr, BLOCK_R: tl.constexpr,
                  BLOCK_V: tl.constexpr):
    """Online (max, sum) log-sum-exp of columns [v_begin, v_end) of BLOCK_R rows; -inf for invalid rows.

    base (BLOCK_R,) pointers to column 0 of each row; valid (BLOCK_R,) rows to read.
    """
    cols = tl.arange(0, BLOCK_V)
    m = tl.full([BLOCK_R], float("-inf"), ACC)
    s = tl.zeros([BLOCK_R], ACC)
    for v0 in range(v_begin, v_end, BLOCK_V):
        c = v0 + cols
        mask = valid[:, None] & (c < v_end)[None, :]
        x = tl.load(base[:, None] + c[None, :] * sx_v, mask=mask, other=float("-inf")).to(ACC)
        m_new = tl.maximum(m, tl.max(x, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe[:, None]), axis=1)
        m = m_new
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    return tl.where(valid, m_safe + tl.log(s), float("-inf"))


@triton.jit
def row_block(pid, T, U1, n_rows, t_lens, u_lens, BLOCK_R: tl.constexpr):
    """Row indices of a row block, their (b, t, u), lengths and validity (t < T'_b, u <= U_b)."""
    rows = pid * BLOCK_R + tl.arange(0, BLOCK_R)
    in_range = rows < n_rows
    rows = tl.where(in_range, rows, 0)
    b = rows // (T * U1)
    t = (rows // U1) % T
    u = rows % U1
    t_len = tl.load(t_lens + b, mask=in_range, other=0)
    u_len = tl.load(u_lens + b, mask=in_range, other=-1)
    valid = in_range & (t < t_len) & (u <= u_len)
    return rows, in_range, valid, b, t, u, t_len, u_len


def row_blocks(n_cols: int) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_V) for a pass over rows of n_cols columns: tiles of about _TILE elements."""
    block_v = min(triton.next_power_of_2(max(1, n_cols)), _MAX_BLOCK_V)
    return max(1, min(_MAX_BLOCK_R, _TILE // block_v)), block_v


def dp_block(n: int) -> int:
    """Lanes of a wavefront program covering n nodes of one anti-diagonal."""
    return max(16, triton.next_power_of_2(n))


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The accumulation dtype of the kernels: float64 for float64 inputs, float32 otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def int_arg(x: torch.Tensor) -> torch.Tensor:
    """A contiguous int32 copy of a small integer tensor, never empty (kernels mask every read)."""
    x = x.to(torch.int32).contiguous()
    return x if x.numel() else torch.zeros(1, dtype=torch.int32, device=x.device)
