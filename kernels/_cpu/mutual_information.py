"""CPU mutual-information recursion (k2 semantics): numba alpha/beta DPs, parallel over the batch.

Shapes: see NOTATION.md (B, U symbols, T' frames; k2 and the code here name them S and T, and the
symbol index s). Regular lattices take px (B, U, T'+1), modified ones px (B, U, T'); py is
(B, U+1, T'). With boundary[b] = (u0, t0, u1, t1) (begin_symbol, begin_frame, end_symbol,
end_frame), the recursion runs from p[b, u0, t0] = 0 to p[b, u1, t1]:
  regular:  p[b,u,t] = logaddexp(p[b,u-1,t] + px[b,u-1,t],     p[b,u,t-1] + py[b,u,t-1])
  modified: p[b,u,t] = logaddexp(p[b,u-1,t-1] + px[b,u-1,t-1], p[b,u,t-1] + py[b,u,t-1])
The gradients are occupation probabilities d p[b,u1,t1] / d px and d / d py (zero where the
total is -inf). Everything runs in float64; results come back in the input dtype.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from transduce.kernels._cpu._threads import sync_numba_threads

__all__ = ["mutual_information"]

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
def _alpha(px, py, s0, t0, s1, t1, modified, alpha):
    """Forward scores alpha[s, t] on the rectangle [s0, s1] x [t0, t1]; the rest stays -inf."""
    for s in range(s0, s1 + 1):
        for t in range(t0, t1 + 1):
            if s == s0 and t == t0:
                alpha[s, t] = 0.0
                continue
            a = _NEG_INF
            if s > s0:
                if not modified:
                    a = alpha[s - 1, t] + px[s - 1, t]
                elif t > t0:
                    a = alpha[s - 1, t - 1] + px[s - 1, t - 1]
            b = alpha[s, t - 1] + py[s, t - 1] if t > t0 else _NEG_INF
            alpha[s, t] = _logaddexp(a, b)


@numba.njit(cache=True)
def _beta(px, py, s0, t0, s1, t1, modified, beta):
    """Backward scores beta[s, t] = log-sum over paths from (s, t) to (s1, t1)."""
    for s in range(s1, s0 - 1, -1):
        for t in range(t1, t0 - 1, -1):
            if s == s1 and t == t1:
                beta[s, t] = 0.0
                continue
            a = _NEG_INF
            if s < s1:
                if not modified:
                    a = beta[s + 1, t] + px[s, t]
                elif t < t1:
                    a = beta[s + 1, t + 1] + px[s, t]
            b = beta[s, t + 1] + py[s, t] if t < t1 else _NEG_INF
            beta[s, t] = _logaddexp(a, b)


@numba.njit(cache=True)
def _occupation(px, py, s0, t0, s1, t1, modified, alpha, beta, total, px_grad, py_grad):
    """Arc occupation probabilities exp(alpha + arc + beta - total) for the arcs inside the box."""
    for s in range(s0, s1 + 1):
        for t in range(t0, t1 + 1):
            if s < s1 and (not modified or t < t1):
                nxt = beta[s + 1, t + 1] if modified else beta[s + 1, t]
                px_grad[s, t] = math.exp(alpha[s, t] + px[s, t] + nxt - total)
            if t < t1:
                py_grad[s, t] = math.exp(alpha[s, t] + py[s, t] + beta[s, t + 1] - total)


@numba.njit(parallel=True, cache=True)
def _mutual_information(px, py, boundary, modified, mi, px_grad, py_grad):
    S1, T = py.shape[1], py.shape[2]
    for b in numba.prange(px.shape[0]):
        s0, t0, s1, t1 = boundary[b, 0], boundary[b, 1], boundary[b, 2], boundary[b, 3]
        alpha = np.full((S1, T + 1), _NEG_INF)
        _alpha(px[b], py[b], s0, t0, s1, t1, modified, alpha)
        total = alpha[s1, t1]
        mi[b] = total
        if total == _NEG_INF or not math.isfinite(total):
            continue
        beta = np.full((S1, T + 1), _NEG_INF)
        _beta(px[b], py[b], s0, t0, s1, t1, modified, beta)
        _occupation(px[b], py[b], s0, t0, s1, t1, modified, alpha, beta, total, px_grad[b], py_grad[b])


def mutual_information(
    px: torch.Tensor, py: torch.Tensor, boundary: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total log-prob (B,) and occupations px_grad (like px), py_grad (like py) of the MI lattice.

    px (B, U, T'+1) regular or (B, U, T') modified, py (B, U+1, T'), boundary (B, 4) =
    (begin_symbol, begin_frame, end_symbol, end_frame) or None for (0, 0, U, T'). No autograd here.
    """
    B, S, T1 = px.shape
    T = py.shape[2]
    assert py.shape == (B, S + 1, T), f"py must be (B, U+1, T') = {(B, S + 1, T)}, got {tuple(py.shape)}"
    assert T1 in (T, T + 1), f"px must be (B, U, T'+1) or (B, U, T') with T'={T}, got {tuple(px.shape)}"
    if boundary is None:
        boundary = torch.tensor([0, 0, S, T], dtype=torch.int64).expand(B, 4)
    assert boundary.shape == (B, 4), f"boundary must be (B, 4), got {tuple(boundary.shape)}"
    px64 = np.ascontiguousarray(px.detach().cpu().numpy(), dtype=np.float64)
    py64 = np.ascontiguousarray(py.detach().cpu().numpy(), dtype=np.float64)
    bnd = np.ascontiguousarray(boundary.detach().cpu().numpy(), dtype=np.int64)
    mi = np.empty(B, dtype=np.float64)
    px_grad = np.zeros_like(px64)
    py_grad = np.zeros_like(py64)
    sync_numba_threads()
    _mutual_information(px64, py64, bnd, T1 == T, mi, px_grad, py_grad)

    def back(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(dtype=px.dtype, device=px.device)

    return back(mi), back(px_grad), back(py_grad)
