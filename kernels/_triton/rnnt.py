"""Triton RNN-T loss: gather pass over the logits, wavefront alpha/beta, one fused gradient pass.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank).
The logits (B, T', U+1, V) are read twice (log-sum-exp + gathers, then the gradient) and the
gradient is written once, optionally into the logits' own storage. The DPs run on (B, T'+1, U+1)
tensors in float32 (float64 for float64 logits).
"""

from __future__ import annotations

import torch
import triton
from transduce.kernels._triton._common import NEG_INF, acc_dtype, dp_block, int_arg, row_blocks
from transduce.kernels._triton._rnnt_kernels import (
    rnnt_dp_kernel,
    rnnt_gather_kernel,
    rnnt_grad_kernel,
)

__all__ = ["rnnt_loss_and_grad"]


def _lattice(x, targets, t_lens, u_lens, blank, delay_penalty):
    """lse, blank and label log-probs (B, T', U+1) in the accumulation dtype."""
    n_b, n_t, n_u1, n_v = x.shape
    lse, blank_lp, label_lp = torch.empty(3, n_b, n_t, n_u1, dtype=acc_dtype(x.dtype), device=x.device)
    n_rows = n_b * n_t * n_u1
    block_r, block_v = row_blocks(n_v)
    grid = (triton.cdiv(n_rows, block_r),)
    rnnt_gather_kernel[grid](x, *x.stride(), targets, n_u1 - 1, t_lens, u_lens, lse, blank_lp, label_lp,
                             n_rows, n_t, n_u1, n_v, blank, float(delay_penalty),
                             BLOCK_R=block_r, BLOCK_V=block_v)
    return lse, blank_lp, label_lp


def _dp(blank_lp, label_lp, t_lens, u_lens, modified, need_alpha):
    """beta and alpha (B, T'+1, U+1) of the lattice, -inf where unreachable; one launch, alpha optional."""
    n_b, n_t, n_u1 = blank_lp.shape
    out = torch.full((2, n_b, n_t + 1, n_u1), NEG_INF, dtype=blank_lp.dtype, device=blank_lp.device)
    grid = (n_b, 2 if need_alpha else 1)
    rnnt_dp_kernel[grid](blank_lp, label_lp, t_lens, u_lens, out[0], out[1], n_t, n_u1, MODIFIED=modified,
                         BLOCK_U=dp_block(n_u1))
    return out[0], out[1]


def rnnt_loss_and_grad(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    rnnt_type: str,
    fastemit_lambda: float,
    delay_penalty: float,
    clamp: float,
    need_grad: bool,
    grad_in_logits: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-utterance losses (B,) and, if need_grad, d loss_b / d logits (B, T', U+1, V), unreduced.

    Same contract as kernels._cpu.rnnt_loss_and_grad; inputs are validated by the public API.
    """
    x = logits.detach()
    n_b, n_t, n_u1, n_v = x.shape
    modified = rnnt_type == "modified"
    tgt, t_lens, u_lens = int_arg(targets), int_arg(logit_lengths), int_arg(target_lengths)
    lse, blank_lp, label_lp = _lattice(x, tgt, t_lens, u_lens, blank, delay_penalty)
    beta, alpha = _dp(blank_lp, label_lp, t_lens, u_lens, modified, need_grad)
    ll = beta[:, 0, 0].contiguous()
    losses = (-ll).to(logits.dtype)
    if not need_grad:
        return losses, None
    grad = x if grad_in_logits else torch.empty_like(x)
    n_rows = n_b * n_t * n_u1
    block_r, block_v = row_blocks(n_v)
    rnnt_grad_kernel[(triton.cdiv(n_rows, block_r),)](
        x, *x.stride(), grad, *grad.stride(), tgt, n_u1 - 1, t_lens, u_lens, lse, blank_lp, label_lp,
        alpha, beta, ll, n_rows, n_t, n_u1, n_v, blank, 1.0 + float(fastemit_lambda), float(clamp),
        MODIFIED=modified, BLOCK_R=block_r, BLOCK_V=block_v)
    return losses, grad
