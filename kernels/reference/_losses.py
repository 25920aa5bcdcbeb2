"""Float64 reference RNN-T, TDT and CTC losses on raw logits (the oracle the fast paths are tested against).

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank, K
number of TDT durations; the code names T' T). Each loss takes the
log-softmax in float64, gathers the arc log-probs and runs a plain DP (kernels.reference._lattice or the
CTC recursion below); gradients come from autograd, clamp through the per-utterance Function. Results are
returned in the logits' dtype on their device. Never on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transduce.kernels.reference._common import (
    NEG_INF,
    check_blank,
    check_lengths,
    check_reduction,
    check_targets,
    delay_shift,
    fastemit,
    label_mask,
    lse,
    per_utterance_loss,
    reduce,
)
from transduce.kernels.reference._lattice import RNNT_TYPES, rnnt_lattice, tdt_lattice

__all__ = ["rnnt_loss", "tdt_loss", "ctc_loss"]


def _check_logits(logits: torch.Tensor, ndim: int, legend: str) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.ndim != ndim:
        raise ValueError(f"logits must be a floating {legend} tensor, got {getattr(logits, 'shape', logits)}")


def _gather_labels(log_probs: torch.Tensor, targets: torch.Tensor, u_lens: list[int]) -> torch.Tensor:
    """log_probs (B, T', U+1, V), targets (B, U) -> label_lp (B, T', U) = log_probs[b, t, u, targets[b, u]].

    Padded targets (u >= U_b) may hold anything; they are replaced by 0 before the gather.
    """
    B, T, U1, _ = log_probs.shape
    safe = torch.where(label_mask(u_lens, U1 - 1, targets.device), targets.long(), 0)
    idx = safe.reshape(B, 1, U1 - 1, 1).expand(B, T, U1 - 1, 1)
    return log_probs[:, :, : U1 - 1].gather(3, idx).squeeze(3)


def rnnt_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    reduction: str = "mean",
    rnnt_type: str = "regular",
    fastemit_lambda: float = 0.0,
    delay_penalty: float = 0.0,
    clamp: float = -1.0,
) -> torch.Tensor:
    """Reference RNN-T loss (regular or modified) of raw joint logits, computed in float64.

    Shapes: see NOTATION.md. logits (B, T', U+1, V), targets (B, U),
    logit_lengths (B,) in [1, T'], target_lengths (B,) in [0, U]. Label arcs get
    delay_penalty * ((T'_b - 1) / 2 - t); fastemit_lambda scales their gradient by (1 + lambda);
    clamp > 0 clips each utterance's logits gradient to [-clamp, clamp]. Returns (B,) or a scalar.
    """
    _check_logits(logits, 4, "(B, T, U+1, V)")
    B, T, U1, V = logits.shape
    t_lens, u_lens = check_lengths(logit_lengths, target_lengths, B, T, U1 - 1)
    check_targets(targets, u_lens, B, U1 - 1, V)
    check_blank(blank, V)
    check_reduction(reduction)
    if rnnt_type not in RNNT_TYPES:
        raise ValueError(f"rnnt_type must be one of {RNNT_TYPES}, got {rnnt_type!r}")
    shift = delay_shift(t_lens, T, float(delay_penalty), logits.device).unsqueeze(2)  # (B, T', 1)

    def losses_of(x: torch.Tensor) -> torch.Tensor:
        log_probs = x.log_softmax(dim=3)  # (B, T', U+1, V)
        label_lp = fastemit(_gather_labels(log_probs, targets, u_lens) + shift, float(fastemit_lambda))
        return -rnnt_lattice(log_probs[..., blank], label_lp, logit_lengths, target_lengths, rnnt_type)

    if clamp > 0:
        losses = per_utterance_loss(logits, losses_of, float(clamp))
    else:
        losses = losses_of(logits.double()).to(logits.dtype)
    return reduce(losses, reduction)


def _check_durations(durations: Sequence[int], n_last: int) -> list[int]:
    if not isinstance(durations, (list, tuple)) or not durations:
        raise ValueError(f"durations must be a non-empty list of ints, got {durations!r}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in durations):
        raise ValueError(f"durations must be ints >= 0, got {list(durations)}")
    if len(set(durations)) != len(durations) or max(durations) == 0:
        raise ValueError(f"durations must be distinct with at least one > 0, got {list(durations)}")
    if n_last <= len(durations):
        raise ValueError(f"the last dim of logits ({n_last}) must hold V > 0 token logits + "
                         f"{len(durations)} duration logits")
    return [int(d) for d in durations]


def tdt_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    durations: Sequence[int],
    sigma: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Reference TDT loss of raw joint logits (token part then duration part), computed in float64.

    Shapes: see NOTATION.md (K = len(durations)). logits (B, T', U+1, V+K):
    token log-probs = log_softmax(logits[..., :V]) - sigma, duration log-probs = log_softmax(logits[..., V:]).
    Lattice and end condition as in kernels.reference.tdt_lattice. Returns (B,) or a scalar.
    """
    _check_logits(logits, 4, "(B, T', U+1, V+K)")
    durations = _check_durations(durations, logits.shape[-1])
    B, T, U1, VD = logits.shape
    V = VD - len(durations)
    t_lens, u_lens = check_lengths(logit_lengths, target_lengths, B, T, U1 - 1)
    check_targets(targets, u_lens, B, U1 - 1, V)
    check_blank(blank, V)
    check_reduction(reduction)
    x = logits.double()
    token_lp = x[..., :V].log_softmax(dim=3) - float(sigma)  # (B, T', U+1, V)
    dur_lp = x[..., V:].log_softmax(dim=3)  # (B, T', U+1, K)
    label_lp = _gather_labels(token_lp, targets, u_lens)
    ll = tdt_lattice(token_lp[..., blank], label_lp, dur_lp, durations, logit_lengths, target_lengths)
    return reduce((-ll).to(logits.dtype), reduction)


def _ctc_log_likelihood(log_probs: torch.Tensor, labels: list[int], blank: int) -> torch.Tensor:
    """log P(labels | log_probs (T'_b, V)) by the CTC forward recursion over the blank-interleaved
    sequence l' = (blank, l_1, blank, ..., l_n, blank) of length 2n+1, n = U_b (Graves et al. 2006):
      alpha_t[s] = lse(alpha_{t-1}[s], alpha_{t-1}[s-1], alpha_{t-1}[s-2] if l'_s != blank, l'_{s-2})
                   + log_probs[t, l'_s];  result = lse(alpha_{T'_b-1}[2n], alpha_{T'_b-1}[2n-1]).
    """
    ext = [blank]
    for label in labels:
        ext += [label, blank]
    S = len(ext)
    skip = torch.tensor([s >= 2 and ext[s] != blank and ext[s] != ext[s - 2] for s in range(S)],
                        device=log_probs.device)
    emit = log_probs[:, ext]  # (T'_b, 2n+1)
    neg = log_probs.new_full((1,), NEG_INF)
    start = torch.full((S,), NEG_INF, dtype=log_probs.dtype, device=log_probs.device)
    start[: min(2, S)] = 0.0
    alpha = start + emit[0]
    for t in range(1, log_probs.shape[0]):
        one_back = torch.cat([neg, alpha[:-1]])
        two_back = torch.where(skip, torch.cat([neg, neg, alpha[:-2]])[:S], neg)
        alpha = lse([alpha, one_back, two_back]) + emit[t]
    return lse([alpha[S - 1], alpha[S - 2]]) if S > 1 else alpha[0]


def ctc_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    reduction: str = "mean",
    delay_penalty: float = 0.0,
) -> torch.Tensor:
    """Reference CTC loss of raw logits, computed in float64, with an optional delay penalty.

    Shapes: see NOTATION.md. logits (B, T', V), targets (B, U). Non-blank
    log-probs at frame t get delay_penalty * ((T'_b - 1) / 2 - t). An utterance with no CTC path
    (T'_b < U_b + repeats) gets an infinite loss and a zero gradient. "mean" averages over the batch.
    """
    _check_logits(logits, 3, "(B, T, V)")
    B, T, V = logits.shape
    S = targets.shape[1] if isinstance(targets, torch.Tensor) and targets.ndim == 2 else -1
    t_lens, u_lens = check_lengths(logit_lengths, target_lengths, B, T, max(S, 0))
    check_targets(targets, u_lens, B, S, V)
    check_blank(blank, V)
    check_reduction(reduction)
    log_probs = logits.double().log_softmax(dim=2)  # (B, T', V)
    if delay_penalty != 0.0:
        non_blank = torch.ones(V, dtype=torch.float64, device=logits.device)
        non_blank[blank] = 0.0
        shift = delay_shift(t_lens, T, float(delay_penalty), logits.device)  # (B, T')
        log_probs = log_probs + shift.unsqueeze(2) * non_blank
    losses = [
        -_ctc_log_likelihood(log_probs[b, : t_lens[b]], targets[b, : u_lens[b]].tolist(), blank)
        for b in range(B)
    ]
    return reduce(torch.stack(losses).to(logits.dtype), reduction)
