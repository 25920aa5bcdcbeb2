"""TDT (token-and-duration transducer) loss with sigma under-normalisation.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank,
K number of durations). Devices: CPU (torch log-softmax + numba DP), CUDA (Triton), any device
with backend="reference". Autograd: yes, one autograd.Function computing loss and gradient
together (backward runs once).

The last dim of the logits holds V token logits then K duration logits, each with its own
log-softmax; token log-probs are log_softmax - sigma. From node (t, u) and duration d = durations[i]:
a blank arc (d > 0) to (t+d, u) and a label arc to (t+d, u+1), each scored token + duration[i]
log-prob; label arcs land before T'_b and the utterance ends with a blank arc landing exactly on T'_b.
loss_b = -log of the sum over all such paths. Paper: Xu et al., "Efficient Sequence Transduction by
Jointly Predicting Tokens and Durations" (2023). omega (mixing in RNN-T) belongs in the nn.Module.
"""

from __future__ import annotations

import torch
from transduce.kernels._dispatch import resolve_backend
from transduce.kernels.rnnt import (
    LatticeLossFunction,
    backend_module,
    check_labels,
    check_lattice_inputs,
    check_reduction,
    reduce_losses,
)

__all__ = ["tdt_loss"]


def _check_durations(durations: list[int], n_last: int) -> None:
    ok = isinstance(durations, (list, tuple)) and len(durations) > 0
    if not ok or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in durations):
        raise ValueError(f"durations must be a non-empty list of ints >= 0, got {durations!r}")
    if len(set(durations)) != len(durations):
        raise ValueError(f"durations must not repeat a value, got {list(durations)}")
    if max(durations) == 0:
        raise ValueError(f"durations need a positive value (blank arcs must advance), got {list(durations)}")
    if n_last <= len(durations):
        raise ValueError(f"the last dim of logits ({n_last}) must hold V > 0 token logits "
                         f"+ {len(durations)} duration logits")


def tdt_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    durations: list[int],
    sigma: float = 0.0,
    reduction: str = "mean",
    *,
    backend: str | None = None,
    grad_in_logits: bool = False,
) -> torch.Tensor:
    """TDT loss of raw joint logits (both log-softmaxes are fused inside).

    Shapes: see NOTATION.md (K = len(durations)).
    logits (B, T', U+1, V+K); targets (B, U) int; logit_lengths (B,) in [1, T']; target_lengths (B,)
    in [0, U]; durations e.g. [0, 1, 2, 3, 4]; sigma the token logit under-normalisation.
    reduction "mean" (over the batch), "sum" or "none" -> (B,). backend overrides the dispatch;
    grad_in_logits=True writes the gradient into the logits' own storage (their values are lost).
    """
    check_lattice_inputs(logits, targets, logit_lengths, target_lengths, 4)
    _check_durations(durations, logits.shape[-1])
    durations = [int(d) for d in durations]
    check_labels(targets, target_lengths, blank, logits.shape[-1] - len(durations))
    check_reduction(reduction)
    name = resolve_backend(logits.device, backend)
    if name == "reference":
        from transduce.kernels import reference

        return reference.tdt_loss(logits, targets, logit_lengths, target_lengths, blank, durations,
                                  sigma, reduction)
    impl = backend_module(name)

    def compute(x: torch.Tensor, need_grad: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        return impl.tdt_loss_and_grad(x, targets, logit_lengths, target_lengths, blank, durations,
                                      float(sigma), need_grad, grad_in_logits)

    return reduce_losses(LatticeLossFunction.apply(logits, compute, grad_in_logits), reduction)
