"""CPU RNN-T loss: torch log-softmax + gathers, numba lattice DP, one fused gradient pass.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank).
Pass 1 writes exp(x - max) of every valid (t, u) row into the gradient buffer and gathers
blank/label log-probs (B, T', U+1) / (B, T', U); the float64 DP gives log-likelihoods and arc
posteriors; pass 2 turns the buffer into
  grad = softmax * (p_blank + s * p_label) - onehot(blank) * p_blank - onehot(y_u) * s * p_label
with s = 1 + fastemit_lambda, then clamps it. Padding is exactly 0.
"""

from __future__ import annotations

import torch
from transduce.kernels._cpu._joint import (
    exp_shifted,
    finish_gradient,
    frame_chunks,
    gradient_buffer,
    work_logits,
    zero_padding,
)

__all__ = ["rnnt_loss_and_grad"]


def _gather_pass(work, buf, targets, t_lens, u_lens, blank):
    """Blank/label log-probs (B, T', U+1), (B, T', U) float64 and softmax sums (B, T', U+1)."""
    n_b, n_t, n_u1, n_v = work.shape
    blank_lp = torch.zeros(n_b, n_t, n_u1, dtype=torch.float64)
    label_lp = torch.zeros(n_b, n_t, n_u1 - 1, dtype=torch.float64)
    sums = torch.ones(n_b, n_t, n_u1, dtype=work.dtype)
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        idx = targets[b, :u_len].view(1, u_len, 1)
        for t0, t1 in frame_chunks(t_len, (u_len + 1) * n_v):
            x = work[b, t0:t1, : u_len + 1]
            x_blank = x[..., blank].double()
            x_label = x[:, :u_len].gather(-1, idx.expand(t1 - t0, u_len, 1)).squeeze(-1).double()
            out = None if buf is None else buf[b, t0:t1, : u_len + 1]
            lse, total, _ = exp_shifted(x, out)
            lse = lse.double()
            blank_lp[b, t0:t1, : u_len + 1] = x_blank - lse
            label_lp[b, t0:t1, :u_len] = x_label - lse[:, :u_len]
            sums[b, t0:t1, : u_len + 1] = total
    return blank_lp, label_lp, sums


def _gradient_pass(buf, sums, targets, t_lens, u_lens, blank, p_blank, p_label, label_scale, clamp):
    """Turn buf's exp(x - max) rows into d loss_b / d logits in place (see the module docstring)."""
    p_label = p_label * label_scale
    coef = ((p_blank + torch.nn.functional.pad(p_label, (0, 1))) / sums).to(buf.dtype)
    p_blank, p_label = p_blank.to(buf.dtype), p_label.to(buf.dtype)
    n_v = buf.shape[-1]
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        idx = targets[b, :u_len].view(1, u_len, 1)
        for t0, t1 in frame_chunks(t_len, (u_len + 1) * n_v):
            g = buf[b, t0:t1, : u_len + 1]
            g.mul_(coef[b, t0:t1, : u_len + 1, None])
            g[..., blank].sub_(p_blank[b, t0:t1, : u_len + 1])
            g[:, :u_len].scatter_add_(-1, idx.expand(t1 - t0, u_len, 1), -p_label[b, t0:t1, :u_len, None])
            if clamp > 0:
                g.clamp_(-clamp, clamp)
    zero_padding(buf, t_lens, u_lens)


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

    See kernels._cpu for the contract; inputs are validated by the public API.
    """
    from transduce.kernels._cpu._rnnt_dp import rnnt_lattice_posteriors
    from transduce.kernels._cpu._threads import sync_numba_threads

    sync_numba_threads()
    work = work_logits(logits)
    targets = targets.long()
    t_lens, u_lens = logit_lengths.tolist(), target_lengths.tolist()
    buf = gradient_buffer(logits, work, grad_in_logits) if need_grad else None
    blank_lp, label_lp, sums = _gather_pass(work, buf, targets, t_lens, u_lens, blank)
    if delay_penalty != 0.0:
        t = torch.arange(logits.shape[1], dtype=torch.float64)
        shift = delay_penalty * ((logit_lengths.double()[:, None] - 1) / 2 - t)
        label_lp += shift[:, :, None]
    ll, p_blank, p_label = rnnt_lattice_posteriors(
        blank_lp.numpy(), label_lp.numpy(), logit_lengths.long().numpy(), target_lengths.long().numpy(),
        rnnt_type == "modified", need_grad,
    )
    losses = torch.from_numpy(-ll).to(logits.dtype)
    if not need_grad:
        return losses, None
    p_blank, p_label = torch.from_numpy(p_blank), torch.from_numpy(p_label)
    _gradient_pass(buf, sums, targets, t_lens, u_lens, blank, p_blank, p_label, 1.0 + fastemit_lambda, clamp)
    return losses, finish_gradient(logits, buf, grad_in_logits)
