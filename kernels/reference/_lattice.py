"""The RNN-T and TDT lattice DPs (forward variables alpha) on gathered log-probs, float64 autograd.

Shapes: see NOTATION.md (B, T' frames, U target length (max), K number of durations; the code
names T' T). These are the small (B, T', U+1) problems the fast paths solve with compiled code;
rnnt_loss / tdt_loss build on them. Entries outside each utterance (t >= T'_b, or labels u >= U_b)
are ignored: their gradient is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transduce.kernels.reference._common import NEG_INF, lse

__all__ = ["rnnt_lattice", "tdt_lattice"]

RNNT_TYPES = ("regular", "modified")


def _lists(t_lens: torch.Tensor, u_lens: torch.Tensor) -> tuple[list[int], list[int]]:
    return [int(v) for v in t_lens], [int(v) for v in u_lens]


def _valid(t_lens: list[int], u_lens: list[int], T: int, n_u: int, extra: int, device) -> torch.Tensor:
    """(B, T', n_u) bool: t < T'_b and u < U_b + extra."""
    t_ok = torch.arange(T, device=device).unsqueeze(0) < torch.tensor(t_lens, device=device).unsqueeze(1)
    u_lim = torch.tensor(u_lens, device=device).unsqueeze(1) + extra
    u_ok = torch.arange(n_u, device=device).unsqueeze(0) < u_lim
    return t_ok.unsqueeze(2) & u_ok.unsqueeze(1)


def _masked(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """x where valid, else 0 (so padding garbage, even NaN, never reaches the DP or its gradient)."""
    while valid.ndim < x.ndim:
        valid = valid.unsqueeze(-1)
    return torch.where(valid, x, torch.zeros_like(x))


def _pick(
    alpha: dict[tuple[int, int], torch.Tensor], b: int, t: int, u: int, like: torch.Tensor
) -> torch.Tensor:
    """alpha[t, u][b], or -inf where the node is unreachable."""
    node = alpha.get((t, u))
    return like.new_tensor(NEG_INF) if node is None else node[b]


def rnnt_lattice(
    blank_lp: torch.Tensor,
    label_lp: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    rnnt_type: str = "regular",
) -> torch.Tensor:
    """Log-likelihood (B,) of the RNN-T lattice (Graves 2012) from arc log-probs.

    Shapes: see NOTATION.md. blank_lp (B, T', U+1) = log p(blank | t, u),
    label_lp (B, T', U) = log p(y_u | t, u). alpha[0, 0] = 0 and
      regular:  alpha[t, u] = lse(alpha[t-1, u] + blank_lp[t-1, u], alpha[t, u-1] + label_lp[t, u-1]),
                log_like_b = alpha[T'_b-1, U_b] + blank_lp[T'_b-1, U_b];
      modified: alpha[t, u] = lse(alpha[t-1, u] + blank_lp[t-1, u], alpha[t-1, u-1] + label_lp[t-1, u-1])
                over t in 0..T'_b (one symbol per frame), log_like_b = alpha[T'_b, U_b] (-inf if U_b > T'_b).
    """
    if rnnt_type not in RNNT_TYPES:
        raise ValueError(f"rnnt_type must be one of {RNNT_TYPES}, got {rnnt_type!r}")
    B, T, U1 = blank_lp.shape
    assert label_lp.shape == (B, T, U1 - 1), f"label_lp must be (B, T, U) = {(B, T, U1 - 1)}"
    t_lens, u_lens = _lists(logit_lengths, target_lengths)
    blank_lp = _masked(blank_lp, _valid(t_lens, u_lens, T, U1, 1, blank_lp.device))
    label_lp = _masked(label_lp, _valid(t_lens, u_lens, T, U1 - 1, 0, blank_lp.device))
    alpha: dict[tuple[int, int], torch.Tensor] = {(0, 0): blank_lp.new_zeros(B)}
    modified = rnnt_type == "modified"
    for t in range(T + 1 if modified else T):
        for u in range(U1):
            if (t, u) == (0, 0):
                continue
            stay = alpha.get((t - 1, u))
            stay = None if stay is None else stay + blank_lp[:, t - 1, u]
            prev = alpha.get((t - 1, u - 1) if modified else (t, u - 1)) if u > 0 else None
            if prev is not None:
                prev = prev + label_lp[:, t - 1 if modified else t, u - 1]
            node = lse([stay, prev])
            if node is not None:
                alpha[t, u] = node
    out = []
    for b in range(B):
        if modified:
            out.append(_pick(alpha, b, t_lens[b], u_lens[b], blank_lp))
        else:
            end = _pick(alpha, b, t_lens[b] - 1, u_lens[b], blank_lp)
            out.append(end + blank_lp[b, t_lens[b] - 1, u_lens[b]])
    return torch.stack(out)


def tdt_lattice(
    blank_lp: torch.Tensor,
    label_lp: torch.Tensor,
    dur_lp: torch.Tensor,
    durations: Sequence[int],
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
) -> torch.Tensor:
    """Log-likelihood (B,) of the TDT lattice (Xu et al. 2023, token-and-duration transducer).

    Shapes: see NOTATION.md. blank_lp (B, T', U+1), label_lp (B, T', U),
    dur_lp (B, T', U+1, K) = log p(durations[k] | t, u). Nodes (t, u) exist for t < T'_b; alpha[0, 0] = 0;
      alpha[t, u] = lse_k( alpha[t-d_k, u]   + blank_lp[t-d_k, u]   + dur_lp[t-d_k, u, k]    (d_k > 0),
                           alpha[t-d_k, u-1] + label_lp[t-d_k, u-1] + dur_lp[t-d_k, u-1, k]  (any d_k) ),
    so label arcs landing at t >= T'_b are dropped. The utterance ends by a blank arc landing on T'_b:
      log_like_b = lse_{k: d_k > 0, d_k <= T'_b} alpha[T'_b-d_k, U_b] + blank_lp[.., U_b]
                                                 + dur_lp[.., U_b, k].
    """
    B, T, U1 = blank_lp.shape
    D = len(durations)
    assert label_lp.shape == (B, T, U1 - 1), f"label_lp must be (B, T, U) = {(B, T, U1 - 1)}"
    assert dur_lp.shape == (B, T, U1, D), f"dur_lp must be (B, T, U+1, D) = {(B, T, U1, D)}"
    t_lens, u_lens = _lists(logit_lengths, target_lengths)
    node_ok = _valid(t_lens, u_lens, T, U1, 1, blank_lp.device)
    blank_lp, dur_lp = _masked(blank_lp, node_ok), _masked(dur_lp, node_ok)
    label_lp = _masked(label_lp, _valid(t_lens, u_lens, T, U1 - 1, 0, blank_lp.device))
    alpha: dict[tuple[int, int], torch.Tensor] = {(0, 0): blank_lp.new_zeros(B)}
    for t in range(T):
        for u in range(U1):
            if (t, u) == (0, 0):
                continue
            terms: list[torch.Tensor | None] = []
            for k, d in enumerate(durations):
                src = t - d
                if src < 0:
                    continue
                if d > 0 and (src, u) in alpha:
                    terms.append(alpha[src, u] + blank_lp[:, src, u] + dur_lp[:, src, u, k])
                if u > 0 and (src, u - 1) in alpha:
                    terms.append(alpha[src, u - 1] + label_lp[:, src, u - 1] + dur_lp[:, src, u - 1, k])
            node = lse(terms)
            if node is not None:
                alpha[t, u] = node
    out = []
    for b in range(B):
        t_b, u_b = t_lens[b], u_lens[b]
        ends = [
            _pick(alpha, b, t_b - d, u_b, blank_lp) + blank_lp[b, t_b - d, u_b] + dur_lp[b, t_b - d, u_b, k]
            for k, d in enumerate(durations)
            if d > 0 and t_b - d >= 0
        ]
        out.append(lse(ends) if ends else blank_lp.new_tensor(NEG_INF))
    return torch.stack(out)
