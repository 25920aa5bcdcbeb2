"""Numba TDT lattice DP: alpha, beta, log-likelihood and per-duration arc posteriors over the batch.

Shapes: see NOTATION.md (B, T' frames, U target length, K number of durations). From node (t, u),
t < T'_b, for each duration d = durations[i]: a blank arc (needs d > 0) to (t+d, u) scored
blank[t, u] + dur[t, u, i] and a label arc to (t+d, u+1) scored label[t, u] + dur[t, u, i]. Label
arcs must land on a frame t+d < T'_b; the utterance ends with a blank arc from (t, U_b) landing
exactly on t+d = T'_b:
  beta[t, u] = logsumexp_i(blank[t,u] + dur[t,u,i] + beta[t+d_i, u],
                           label[t,u] + dur[t,u,i] + beta[t+d_i, u+1])
with beta[T'_b, U_b] = 0 (reached only by blank arcs). Everything is float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from transduce.kernels._cpu._rnnt_dp import _logaddexp

__all__ = ["tdt_lattice_posteriors"]

_NEG_INF = -math.inf


@numba.njit(cache=True, inline="always")
def _next_beta(beta, t, u, d, is_blank, t_len, u_len):
    """beta of the node a blank/label arc from (t, u) with duration d lands on (-inf if invalid)."""
    t2 = t + d
    if is_blank:
        if d == 0 or t2 > t_len:
            return _NEG_INF
        if t2 == t_len:
            return 0.0 if u == u_len else _NEG_INF
        return beta[t2, u]
    if u >= u_len or t2 >= t_len:
        return _NEG_INF
    return beta[t2, u + 1]


@numba.njit(cache=True)
def _beta(blank, label, dur, durs, t_len, u_len, beta):
    for t in range(t_len - 1, -1, -1):
        for u in range(u_len, -1, -1):
            acc = _NEG_INF
            for i in range(durs.shape[0]):
                nb = _next_beta(beta, t, u, durs[i], True, t_len, u_len)
                if nb != _NEG_INF:
                    acc = _logaddexp(acc, blank[t, u] + dur[t, u, i] + nb)
                nl = _next_beta(beta, t, u, durs[i], False, t_len, u_len)
                if nl != _NEG_INF:
                    acc = _logaddexp(acc, label[t, u] + dur[t, u, i] + nl)
            beta[t, u] = acc


@numba.njit(cache=True)
def _alpha(blank, label, dur, durs, t_len, u_len, alpha):
    """Forward scores on nodes t < T'_b, pushed along arcs (label arcs with d = 0 stay in the row)."""
    alpha[0, 0] = 0.0
    for t in range(t_len):
        for u in range(u_len + 1):
            a = alpha[t, u]
            if a == _NEG_INF:
                continue
            for i in range(durs.shape[0]):
                d = durs[i]
                t2 = t + d
                if d > 0 and t2 < t_len:
                    alpha[t2, u] = _logaddexp(alpha[t2, u], a + blank[t, u] + dur[t, u, i])
                if u < u_len and t2 < t_len:
                    alpha[t2, u + 1] = _logaddexp(alpha[t2, u + 1], a + label[t, u] + dur[t, u, i])


@numba.njit(cache=True)
def _posteriors(blank, label, dur, durs, t_len, u_len, alpha, beta, ll, p_blank, p_label, p_dur):
    """Blank/label posteriors summed over durations, and per-duration posteriors of every node."""
    for t in range(t_len):
        for u in range(u_len + 1):
            a = alpha[t, u] - ll
            if a == _NEG_INF:
                continue
            for i in range(durs.shape[0]):
                pb, pl = 0.0, 0.0
                nb = _next_beta(beta, t, u, durs[i], True, t_len, u_len)
                if nb != _NEG_INF:
                    pb = math.exp(a + blank[t, u] + dur[t, u, i] + nb)
                nl = _next_beta(beta, t, u, durs[i], False, t_len, u_len)
                if nl != _NEG_INF:
                    pl = math.exp(a + label[t, u] + dur[t, u, i] + nl)
                p_blank[t, u] += pb
                if u < u_len:
                    p_label[t, u] += pl
                p_dur[t, u, i] = pb + pl


@numba.njit(cache=True, parallel=True)
def tdt_lattice_posteriors(blank, label, dur, durs, t_lens, u_lens, need_post):
    """Log-likelihoods (B,) and, if need_post, posteriors (B,T',U+1), (B,T',U), (B,T',U+1,K).

    blank (B, T', U+1), label (B, T', U), dur (B, T', U+1, K) float64 log-probs; durs (K,) int64;
    t_lens, u_lens (B,) int64. Padding stays 0; an utterance without a path gets -inf, zero posteriors.
    """
    n_b, n_t, n_u1, n_d = dur.shape
    ll = np.empty(n_b, dtype=np.float64)
    p_blank = np.zeros((n_b, n_t, n_u1) if need_post else (0, 0, 0), dtype=np.float64)
    p_label = np.zeros((n_b, n_t, n_u1 - 1) if need_post else (0, 0, 0), dtype=np.float64)
    p_dur = np.zeros((n_b, n_t, n_u1, n_d) if need_post else (0, 0, 0, 0), dtype=np.float64)
    for b in numba.prange(n_b):
        t_len, u_len = t_lens[b], u_lens[b]
        beta = np.full((t_len + 1, u_len + 1), _NEG_INF)
        _beta(blank[b], label[b], dur[b], durs, t_len, u_len, beta)
        ll[b] = beta[0, 0]
        if not need_post or ll[b] == _NEG_INF:
            continue
        alpha = np.full((t_len + 1, u_len + 1), _NEG_INF)
        _alpha(blank[b], label[b], dur[b], durs, t_len, u_len, alpha)
        _posteriors(blank[b], label[b], dur[b], durs, t_len, u_len, alpha, beta, ll[b],
                    p_blank[b], p_label[b], p_dur[b])
    return ll, p_blank, p_label, p_dur
