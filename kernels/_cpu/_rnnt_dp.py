"""Numba RNN-T lattice DP: alpha, beta, log-likelihood and arc posteriors, parallel over the batch.

Shapes: see NOTATION.md (B, T' frames, U target length). Node (t, u) has consumed t frames and
u labels; the blank arc goes to (t+1, u), the label arc to (t, u+1) (regular) or (t+1, u+1)
(modified). The utterance starts at (0, 0) and ends at (T'_b, U_b): for regular RNN-T through the
final blank of (T'_b-1, U_b), for modified RNN-T after exactly T'_b arcs. With m = 1 for modified, else 0:
  alpha[t, u] = logaddexp(alpha[t-1, u] + blank[t-1, u], alpha[t-m, u-1] + label[t-m, u-1])
  beta[t, u]  = logaddexp(beta[t+1, u] + blank[t, u], beta[t+m, u+1] + label[t, u])
Posteriors are exp(alpha + arc + beta(next) - loglik); everything is float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["rnnt_lattice_posteriors"]

_NEG_INF = -math.inf


@numba.njit(cache=True, inline="always")
def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@numba.njit(cache=True)
def _alpha(blank, label, t_len, u_len, m, alpha):
    """Forward scores on rows 0..t_len (row t_len only holds the end node's arrivals)."""
    alpha[0, 0] = 0.0
    for t in range(t_len + 1):
        for u in range(u_len + 1):
            if t == 0 and u == 0:
                continue
            a = alpha[t - 1, u] + blank[t - 1, u] if t > 0 else _NEG_INF
            if u > 0 and t >= m and (m == 1 or t < t_len):
                a = _logaddexp(a, alpha[t - m, u - 1] + label[t - m, u - 1])
            alpha[t, u] = a


@numba.njit(cache=True)
def _beta(blank, label, t_len, u_len, m, beta):
    """Backward scores: log-sum over paths from (t, u) to the end node (t_len, u_len)."""
    beta[t_len, u_len] = 0.0
    for t in range(t_len - 1, -1, -1):
        for u in range(u_len, -1, -1):
            b = beta[t + 1, u] + blank[t, u]
            if u < u_len:
                b = _logaddexp(b, beta[t + m, u + 1] + label[t, u])
            beta[t, u] = b


@numba.njit(cache=True)
def _posteriors(blank, label, t_len, u_len, m, alpha, beta, ll, post_blank, post_label):
    """Arc posteriors of the blank and label arcs leaving every node with t < t_len."""
    for t in range(t_len):
        for u in range(u_len + 1):
            post_blank[t, u] = math.exp(alpha[t, u] + blank[t, u] + beta[t + 1, u] - ll)
            if u < u_len:
                post_label[t, u] = math.exp(alpha[t, u] + label[t, u] + beta[t + m, u + 1] - ll)


@numba.njit(cache=True, parallel=True)
def rnnt_lattice_posteriors(blank, label, t_lens, u_lens, modified, need_post):
    """Log-likelihoods (B,) and, if need_post, posteriors (B, T', U+1) and (B, T', U) of every arc.

    blank (B, T', U+1), label (B, T', U) float64 log-probs; t_lens, u_lens (B,) int64. Padding stays
    0; an utterance without any path (modified RNN-T with U_b > T'_b) gets -inf and zero posteriors.
    """
    n_b, n_t, n_u1 = blank.shape
    m = 1 if modified else 0
    ll = np.empty(n_b, dtype=np.float64)
    post_blank = np.zeros((n_b, n_t, n_u1) if need_post else (0, 0, 0), dtype=np.float64)
    post_label = np.zeros((n_b, n_t, n_u1 - 1) if need_post else (0, 0, 0), dtype=np.float64)
    for b in numba.prange(n_b):
        t_len, u_len = t_lens[b], u_lens[b]
        beta = np.full((t_len + 1, u_len + 1), _NEG_INF)
        _beta(blank[b], label[b], t_len, u_len, m, beta)
        ll[b] = beta[0, 0]
        if not need_post or ll[b] == _NEG_INF:
            continue
        alpha = np.full((t_len + 1, u_len + 1), _NEG_INF)
        _alpha(blank[b], label[b], t_len, u_len, m, alpha)
        _posteriors(blank[b], label[b], t_len, u_len, m, alpha, beta, ll[b], post_blank[b], post_label[b])
    return ll, post_blank, post_label
