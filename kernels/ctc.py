"""CTC loss of raw logits, with an optional delay penalty on non-blank emissions.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank).
Devices: any (torch's native CTC on the log-softmax), or backend="reference" for the float64
oracle. Autograd: yes.

The delay-penalised loss is CTC on log-probs whose non-blank entries at frame t are shifted by
delay_penalty * ((T'_b - 1) / 2 - t). torch's native CTC backward returns d loss / d log_probs plus
exp(log_probs) on valid frames (it assumes normalised log-probs, which the shift breaks), so that
term is subtracted here through a value-neutral correction; the result is the exact gradient.
Paper: Graves et al., "Connectionist Temporal Classification" (2006); delay penalty: Kang et al.,
"Delay-penalized transducer / CTC" (2022).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transduce.kernels._dispatch import resolve_backend
from transduce.kernels.rnnt import check_labels, check_lattice_inputs, check_reduction, reduce_losses

__all__ = ["ctc_loss"]


def _delay_shift(
    log_probs: torch.Tensor, logit_lengths: torch.Tensor, blank: int, delay_penalty: float
) -> torch.Tensor:
    """log_probs (B, T', V) with delay_penalty * ((T'_b - 1) / 2 - t) added to non-blank entries."""
    n_t = log_probs.shape[1]
    t = torch.arange(n_t, device=log_probs.device, dtype=log_probs.dtype)
    shift = delay_penalty * ((logit_lengths.to(log_probs.dtype)[:, None] - 1) / 2 - t)
    non_blank = torch.ones(log_probs.shape[-1], device=log_probs.device, dtype=log_probs.dtype)
    non_blank[blank] = 0
    return log_probs + shift[:, :, None] * non_blank


def _too_short(
    targets: torch.Tensor, logit_lengths: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """(B,) bool: T'_b < U_b + repeats (no CTC path); such losses are inf with a zero gradient."""
    valid = torch.arange(targets.shape[1], device=targets.device)[None, :] < target_lengths[:, None]
    repeats = ((targets[:, 1:] == targets[:, :-1]) & valid[:, 1:]).sum(-1)
    return logit_lengths < target_lengths + repeats


def _gradient_correction(
    log_probs: torch.Tensor, logit_lengths: torch.Tensor, live: torch.Tensor
) -> torch.Tensor:
    """(B,) zeros whose gradient w.r.t. log_probs (B, T', V) is -exp(log_probs) on valid frames of
    the utterances marked live (B,) bool (torch's zero_infinity already zeroes the others)."""
    valid = torch.arange(log_probs.shape[1], device=log_probs.device)[None, :] < logit_lengths[:, None]
    valid = valid & live[:, None]
    spurious = (log_probs.exp().sum(-1) * valid.to(log_probs.dtype)).sum(-1)
    return spurious.detach() - spurious


def ctc_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    reduction: str = "mean",
    delay_penalty: float = 0.0,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """CTC loss of raw logits (the log-softmax is applied inside).

    Shapes: see NOTATION.md.
    logits (B, T', V); targets (B, U) int; logit_lengths (B,) in [1, T']; target_lengths (B,) in
    [0, U]. reduction "mean" (over the batch; not divided by target lengths, unlike torch), "sum"
    or "none" -> (B,). delay_penalty > 0 favours earlier non-blank emissions. An utterance too
    short for its targets gets an infinite loss
    (and a zero gradient). backend="reference" uses the float64 oracle.
    """
    check_lattice_inputs(logits, targets, logit_lengths, target_lengths, 3)
    check_labels(targets, target_lengths, blank, logits.shape[-1])
    check_reduction(reduction)
    if resolve_backend(logits.device, backend) == "reference":
        from transduce.kernels import reference

        return reference.ctc_loss(logits, targets, logit_lengths, target_lengths, blank, reduction,
                                  delay_penalty)
    work = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    log_probs = work.log_softmax(-1)
    if delay_penalty != 0.0:
        log_probs = _delay_shift(log_probs, logit_lengths, blank, float(delay_penalty))
    losses = F.ctc_loss(log_probs.transpose(0, 1), targets.long(), logit_lengths.long(),
                        target_lengths.long(), blank=blank, reduction="none", zero_infinity=True)
    too_short = _too_short(targets, logit_lengths, target_lengths)
    losses = torch.where(too_short, torch.inf, losses)
    if delay_penalty != 0.0 and log_probs.requires_grad:
        losses = losses + _gradient_correction(log_probs, logit_lengths, ~too_short)
    return reduce_losses(losses.to(logits.dtype), reduction)
