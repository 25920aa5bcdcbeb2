"""Triton TDT loss: gather pass (token + duration log-softmaxes), wavefront alpha/beta, fused gradient.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V token vocabulary incl.
blank, K number of durations). The logits (B, T', U+1, V+K) are read twice and the gradient
written once (optionally in place); the DPs run on (B, T'+1, U+1) tensors plus the duration
log-probs (B, T', U+1, K).
"""

from __future__ import annotations

import torch
import triton
from transduce.kernels._triton._common import NEG_INF, acc_dtype, dp_block, int_arg, row_blocks
from transduce.kernels._triton._tdt_kernels import tdt_dp_kernel, tdt_gather_kernel, tdt_grad_kernel

__all__ = ["tdt_loss_and_grad"]


def _lattice(x, tgt, t_lens, u_lens, blank, n_d, sigma):
    """Token lse, blank, label (B, T', U+1) and duration log-probs (B, T', U+1, K), accumulation dtype."""
    n_b, n_t, n_u1, n_vd = x.shape
    acc = acc_dtype(x.dtype)
    lse, blank_lp, label_lp = torch.empty(3, n_b, n_t, n_u1, dtype=acc, device=x.device)
    dur_lp = torch.empty(n_b, n_t, n_u1, n_d, dtype=acc, device=x.device)
    n_rows = n_b * n_t * n_u1
    block_r, block_v = row_blocks(n_vd - n_d)
    tdt_gather_kernel[(triton.cdiv(n_rows, block_r),)](
        x, *x.stride(), tgt, n_u1 - 1, t_lens, u_lens, lse, blank_lp, label_lp, dur_lp,
        n_rows, n_t, n_u1, n_vd - n_d, n_d, blank, float(sigma),
        BLOCK_R=block_r, BLOCK_V=block_v, BLOCK_D=triton.next_power_of_2(n_d))
    return lse, blank_lp, label_lp, dur_lp


def _dp(blank_lp, label_lp, dur_lp, durs, t_lens, u_lens, need_alpha):
    """beta, alpha (B, T'+1, U+1) of the TDT lattice, -inf where unreachable; one launch, alpha optional."""
    n_b, n_t, n_u1 = blank_lp.shape
    out = torch.full((2, n_b, n_t + 1, n_u1), NEG_INF, dtype=blank_lp.dtype, device=blank_lp.device)
    grid = (n_b, 2 if need_alpha else 1)
    tdt_dp_kernel[grid](blank_lp, label_lp, dur_lp, durs, t_lens, u_lens, out[0], out[1], n_t, n_u1,
                        durs.numel(), BLOCK_U=dp_block(n_u1))
    return out[0], out[1]


def tdt_loss_and_grad(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    durations: list[int],
    sigma: float,
    need_grad: bool,
    grad_in_logits: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-utterance losses (B,) and, if need_grad, d loss_b / d logits (B, T', U+1, V+K), unreduced.

    Same contract as kernels._cpu.tdt_loss_and_grad; inputs are validated by the public API.
    """
    x = logits.detach()
    n_b, n_t, n_u1, n_vd = x.shape
    n_d = len(durations)
    durs = torch.tensor(durations, dtype=torch.int32, device=x.device)
    tgt, t_lens, u_lens = int_arg(targets), int_arg(logit_lengths), int_arg(target_lengths)
    lse, blank_lp, label_lp, dur_lp = _lattice(x, tgt, t_lens, u_lens, blank, n_d, sigma)
    beta, alpha = _dp(blank_lp, label_lp, dur_lp, durs, t_lens, u_lens, need_grad)
    ll = beta[:, 0, 0].contiguous()
    losses = (-ll).to(logits.dtype)
    if not need_grad:
        return losses, None
    grad = x if grad_in_logits else torch.empty_like(x)
    n_rows = n_b * n_t * n_u1
    block_r, block_v = row_blocks(n_vd - n_d)
    tdt_grad_kernel[(triton.cdiv(n_rows, block_r),)](
        x, *x.stride(), grad, *grad.stride(), tgt, n_u1 - 1, t_lens, u_lens, durs, lse, blank_lp,
        label_lp, dur_lp, alpha, beta, ll, n_rows, n_t, n_u1, n_vd - n_d, n_d, blank,
        BLOCK_R=block_r, BLOCK_V=block_v, BLOCK_D=triton.next_power_of_2(n_d))
    return losses, grad
