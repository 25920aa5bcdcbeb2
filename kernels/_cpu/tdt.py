"""CPU TDT loss: torch log-softmaxes + gathers, numba lattice DP, one fused gradient pass.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank,
K number of durations). The last dim of the logits is V + K: token logits then duration logits,
each with its own log-softmax; token log-probs are under-normalised by sigma. With the node
posteriors p_blank, p_label (summed over durations), p_dur (per duration) and occ = p_blank + p_label:
  grad_tokens    = softmax(tokens) * occ - onehot(blank) * p_blank - onehot(y_u) * p_label
  grad_durations = softmax(durations) * occ - p_dur
"""

from __future__ import annotations

import numpy as np
import torch
from transduce.kernels._cpu._joint import (
    exp_shifted,
    finish_gradient,
    frame_chunks,
    gradient_buffer,
    work_logits,
    zero_padding,
)

__all__ = ["tdt_loss_and_grad"]


def _gather_pass(work, buf, targets, t_lens, u_lens, blank, n_d):
    """Log-probs blank (B,T',U+1), label (B,T',U), durations (B,T',U+1,K) float64; sums (2,B,T',U+1)."""
    n_b, n_t, n_u1, n_vd = work.shape
    n_v = n_vd - n_d
    blank_lp = torch.zeros(n_b, n_t, n_u1, dtype=torch.float64)
    label_lp = torch.zeros(n_b, n_t, n_u1 - 1, dtype=torch.float64)
    dur_lp = torch.zeros(n_b, n_t, n_u1, n_d, dtype=torch.float64)
    sums = torch.ones(2, n_b, n_t, n_u1, dtype=work.dtype)
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        idx = targets[b, :u_len].view(1, u_len, 1)
        for t0, t1 in frame_chunks(t_len, (u_len + 1) * n_vd):
            rows = (b, slice(t0, t1), slice(0, u_len + 1))
            x = work[rows]
            x_blank = x[..., blank].double()
            x_label = x[:, :u_len].gather(-1, idx.expand(t1 - t0, u_len, 1)).squeeze(-1).double()
            x_dur = x[..., n_v:].double()
            out = None if buf is None else buf[rows]
            lse, sums[0][rows], _ = exp_shifted(x[..., :n_v], None if out is None else out[..., :n_v])
            dlse, sums[1][rows], _ = exp_shifted(x[..., n_v:], None if out is None else out[..., n_v:])
            lse = lse.double()
            blank_lp[rows] = x_blank - lse
            label_lp[b, t0:t1, :u_len] = x_label - lse[:, :u_len]
            dur_lp[rows] = x_dur - dlse.double()[..., None]
    return blank_lp, label_lp, dur_lp, sums


def _gradient_pass(buf, sums, targets, t_lens, u_lens, blank, n_d, posteriors):
    """Turn buf's exp(x - max) rows into d loss_b / d logits in place (see the module docstring)."""
    p_blank, p_label, p_dur = posteriors
    occ = p_blank + torch.nn.functional.pad(p_label, (0, 1))
    coef_tok, coef_dur = (occ / sums[0]).to(buf.dtype), (occ / sums[1]).to(buf.dtype)
    p_blank, p_label, p_dur = p_blank.to(buf.dtype), p_label.to(buf.dtype), p_dur.to(buf.dtype)
    n_v = buf.shape[-1] - n_d
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        idx = targets[b, :u_len].view(1, u_len, 1)
        for t0, t1 in frame_chunks(t_len, (u_len + 1) * buf.shape[-1]):
            rows = (b, slice(t0, t1), slice(0, u_len + 1))
            g_tok, g_dur = buf[rows][..., :n_v], buf[rows][..., n_v:]
            g_tok.mul_(coef_tok[rows][..., None])
            g_tok[..., blank].sub_(p_blank[rows])
            g_tok[:, :u_len].scatter_add_(-1, idx.expand(t1 - t0, u_len, 1), -p_label[b, t0:t1, :u_len, None])
            g_dur.mul_(coef_dur[rows][..., None]).sub_(p_dur[rows])
    zero_padding(buf, t_lens, u_lens)


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

    See kernels._cpu for the contract; inputs are validated by the public API.
    """
    from transduce.kernels._cpu._tdt_dp import tdt_lattice_posteriors
    from transduce.kernels._cpu._threads import sync_numba_threads

    sync_numba_threads()
    work = work_logits(logits)
    targets = targets.long()
    t_lens, u_lens = logit_lengths.tolist(), target_lengths.tolist()
    n_d = len(durations)
    buf = gradient_buffer(logits, work, grad_in_logits) if need_grad else None
    blank_lp, label_lp, dur_lp, sums = _gather_pass(work, buf, targets, t_lens, u_lens, blank, n_d)
    if sigma != 0.0:
        blank_lp -= sigma
        label_lp -= sigma
    ll, *posteriors = tdt_lattice_posteriors(
        blank_lp.numpy(), label_lp.numpy(), dur_lp.numpy(), np.asarray(durations, dtype=np.int64),
        logit_lengths.long().numpy(), target_lengths.long().numpy(), need_grad,
    )
    losses = torch.from_numpy(-ll).to(logits.dtype)
    if not need_grad:
        return losses, None
    posteriors = [torch.from_numpy(p) for p in posteriors]
    _gradient_pass(buf, sums, targets, t_lens, u_lens, blank, n_d, posteriors)
    return losses, finish_gradient(logits, buf, grad_in_logits)
