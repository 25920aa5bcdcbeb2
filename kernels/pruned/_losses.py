"""The simple, smoothed and pruned RNN-T losses: build the MI lattice, run the recursion, negate.

Shapes: see NOTATION.md (B, U symbols, T' frames, V classes, S prune range); the code keeps k2's
names S, T, C, R for U, T', V, S.
"""

from __future__ import annotations

import torch
from transduce.kernels.pruned._checks import (
    check_reduction,
    check_rnnt_type,
    check_symbols,
    check_termination,
    make_boundary,
    reduce,
)
from transduce.kernels.pruned._logprobs import finish_px, pruned_logprobs, simple_logprobs, smoothed_logprobs
from transduce.kernels.pruned._mi import mutual_information_recursion

__all__ = ["rnnt_loss_simple", "rnnt_loss_smoothed", "rnnt_loss_pruned"]

_Loss = torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


def _check_lm_am(lm: torch.Tensor, am: torch.Tensor) -> tuple[int, int, int, int]:
    """Validate lm (B, U+1, V) and am (B, T', V); return the sizes (B, U, T', V)."""
    if lm.ndim != 3 or am.ndim != 3:
        raise ValueError(f"lm (B, S+1, C) and am (B, T, C) must be 3-D, got {tuple(lm.shape)}, "
                         f"{tuple(am.shape)}")
    if lm.shape[0] != am.shape[0] or lm.shape[2] != am.shape[2]:
        raise ValueError(f"lm and am must agree in B and C, got {tuple(lm.shape)} and {tuple(am.shape)}")
    if lm.dtype != am.dtype or not lm.is_floating_point():
        raise ValueError(f"lm and am must share one floating dtype, got {lm.dtype} and {am.dtype}")
    B, S1, C = lm.shape
    return B, S1 - 1, am.shape[1], C


def _finish(px, py, boundary, modified, delay_penalty, reduction, return_grad, backend) -> _Loss:
    """Common tail: boundary/-inf column and delay penalty on px, MI recursion, loss = -MI, reduce."""
    px = finish_px(px, boundary, modified, delay_penalty)
    out = mutual_information_recursion(px, py, boundary, return_grad, backend=backend)
    mi, grads = out if return_grad else (out, None)
    loss = reduce(-mi, reduction)
    return (loss, grads) if return_grad else loss


def rnnt_loss_simple(
    lm: torch.Tensor,
    am: torch.Tensor,
    symbols: torch.Tensor,
    termination_symbol: int,
    boundary: torch.Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
    *,
    backend: str | None = None,
) -> _Loss:
    """RNN-T loss of the additive joiner logits[b,t,u,c] = lm[b,u,c] + am[b,t,c] (k2's simple loss).

    Shapes: see NOTATION.md. lm (B, U+1, V), am (B, T', V), symbols (B, U), boundary (B, 4) =
    (0, 0, U_b, T'_b) by default. The normaliser logsumexp_c(lm + am) is one matmul of
    exp-shifted factors (never a (B, T', U+1, V) tensor). delay_penalty adds ((T'_b-1)/2 - t) * penalty
    to each symbol arc. Returns the loss (reduction none (B,), mean = sum / B, sum); with return_grad,
    (loss, (px_grad, py_grad)), the occupations that get_prune_ranges takes.
    """
    modified = check_rnnt_type(rnnt_type)
    check_reduction(reduction)
    B, S, T, C = _check_lm_am(lm, am)
    check_symbols(symbols, B, S, C)
    check_termination(termination_symbol, C)
    boundary = make_boundary(boundary, B, S, T, am.device)
    px, py = simple_logprobs(lm, am, symbols.long(), termination_symbol)
    return _finish(px, py, boundary, modified, delay_penalty, reduction, return_grad, backend)


def rnnt_loss_smoothed(
    lm: torch.Tensor,
    am: torch.Tensor,
    symbols: torch.Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: torch.Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
    *,
    backend: str | None = None,
) -> _Loss:
    """The simple loss on a log-linear mix of joint, lm-only and am-only lattices (k2's smoothed loss).

    Shapes, boundary, delay penalty, reduction and return_grad as in rnnt_loss_simple. The arc
    log-probs are (1 - lm_only_scale - am_only_scale) * joint + lm_only_scale * log_softmax(lm)
    + am_only_scale * (am with a unigram lm averaged over the batch, normalised).
    """
    modified = check_rnnt_type(rnnt_type)
    check_reduction(reduction)
    B, S, T, C = _check_lm_am(lm, am)
    check_symbols(symbols, B, S, C)
    check_termination(termination_symbol, C)
    if lm_only_scale < 0 or am_only_scale < 0 or lm_only_scale + am_only_scale > 1:
        raise ValueError(f"need lm_only_scale, am_only_scale >= 0 with sum <= 1, got "
                         f"{lm_only_scale}, {am_only_scale}")
    boundary = make_boundary(boundary, B, S, T, am.device)
    px, py = smoothed_logprobs(lm, am, symbols.long(), termination_symbol, lm_only_scale, am_only_scale)
    return _finish(px, py, boundary, modified, delay_penalty, reduction, return_grad, backend)


def rnnt_loss_pruned(
    logits: torch.Tensor,
    symbols: torch.Tensor,
    ranges: torch.Tensor,
    termination_symbol: int,
    boundary: torch.Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """RNN-T loss on pruned joiner logits (B, T', S, V) at the symbol positions ranges (B, T', S).

    Shapes: see NOTATION.md. symbols (B, U); ranges from get_prune_ranges; boundary (B, 4) =
    (0, 0, U_b, T'_b) by default. Log-softmax over V of the pruned logits only; arcs outside the
    ranges are -inf. Autograd flows to logits.
    """
    modified = check_rnnt_type(rnnt_type)
    check_reduction(reduction)
    if logits.ndim != 4 or not logits.is_floating_point():
        raise ValueError(f"logits must be a floating (B, T', S, V) tensor, got {tuple(logits.shape)}")
    B, T, R, C = logits.shape
    S = symbols.shape[1] if symbols.ndim == 2 else -1
    check_symbols(symbols, B, S, C)
    check_termination(termination_symbol, C)
    if ranges.shape != (B, T, R) or ranges.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"ranges must be an integer (B, T, R) = {(B, T, R)} tensor, "
                         f"got {tuple(ranges.shape)} {ranges.dtype}")
    if ranges.numel() and (int(ranges.min()) < 0 or int(ranges.max()) > S):
        raise ValueError(f"ranges must lie in [0, S] = [0, {S}]")
    boundary = make_boundary(boundary, B, S, T, logits.device)
    px, py = pruned_logprobs(logits, symbols.long(), ranges.long(), termination_symbol)
    return _finish(px, py, boundary, modified, delay_penalty, reduction, False, backend)
