"""Float64 reference of k2's mutual-information recursion (the core of the pruned RNN-T family).

Shapes: see NOTATION.md (B, U symbols, T' frames; the code keeps k2's names S, T and the symbol
index s). A plain double loop over lattice nodes (s, t), vectorised over the batch; gradients (the
arc occupations) come from autograd. Never on the hot path.
"""

from __future__ import annotations

import torch
from transduce.kernels.reference._common import NEG_INF, lse

__all__ = ["mutual_information_recursion", "check_mi_lattice", "full_boundary"]


def check_mi_lattice(px: torch.Tensor, py: torch.Tensor) -> tuple[int, int, int, bool]:
    """Check px (B, U, T'+1) regular / (B, U, T') modified, py (B, U+1, T'); return (B, U, T', modified)."""
    if px.ndim != 3 or py.ndim != 3:
        raise ValueError(f"px and py must be 3-D, got {tuple(px.shape)} and {tuple(py.shape)}")
    if not (px.is_floating_point() and py.is_floating_point()):
        raise ValueError(f"px and py must be floating tensors, got {px.dtype} and {py.dtype}")
    B, S, T1 = px.shape
    T = py.shape[2]
    if py.shape != (B, S + 1, T):
        raise ValueError(f"py must be (B, U+1, T') = {(B, S + 1, T)} for px {tuple(px.shape)}, "
                         f"got {tuple(py.shape)}")
    if T1 not in (T, T + 1):
        raise ValueError(f"px must be (B, U, T'+1) (regular) or (B, U, T') (modified) with T' = {T}, "
                         f"got {tuple(px.shape)}")
    return B, S, T, T1 == T


def full_boundary(
    boundary: torch.Tensor | None, B: int, S: int, T: int, device: torch.device
) -> list[tuple[int, int, int, int]]:
    """Per-utterance boxes (begin_symbol, begin_frame, end_symbol, end_frame) as ints; None: (0, 0, U, T')."""
    if boundary is None:
        return [(0, 0, S, T)] * B
    if not isinstance(boundary, torch.Tensor) or boundary.dtype not in (torch.int32, torch.int64):
        got = getattr(boundary, "dtype", boundary)
        raise ValueError(f"boundary must be an int32/int64 tensor, got {got}")
    if boundary.shape != (B, 4):
        raise ValueError(f"boundary must be (B, 4) = {(B, 4)}, got {tuple(boundary.shape)}")
    rows = [tuple(int(v) for v in row) for row in boundary.tolist()]
    for s0, t0, s1, t1 in rows:
        if not (0 <= s0 <= s1 <= S and 0 <= t0 <= t1 <= T):
            raise ValueError(f"boundary rows need 0 <= s_begin <= s_end <= S = {S} and "
                             f"0 <= t_begin <= t_end <= T = {T}, got {(s0, t0, s1, t1)}")
    return rows  # type: ignore[return-value]


def _tracked(x: torch.Tensor) -> torch.Tensor:
    """x as float64 inside the caller's graph, or as a fresh leaf so occupations can be taken."""
    return x.double() if x.requires_grad else x.detach().double().requires_grad_(True)


def _forward_scores(px: torch.Tensor, py: torch.Tensor, boxes, modified: bool) -> torch.Tensor:
    """p[b, s1, t1] (B,) where p[b, s0, t0] = 0 for the box (s0, t0, s1, t1), nodes outside it are -inf and
      regular:  p[s, t] = lse(p[s-1, t] + px[s-1, t],     p[s, t-1] + py[s, t-1])
      modified: p[s, t] = lse(p[s-1, t-1] + px[s-1, t-1], p[s, t-1] + py[s, t-1]).
    """
    B, S1, T = py.shape
    dev = px.device
    s0, t0, s1, t1 = (torch.tensor(col, device=dev) for col in zip(*boxes))
    neg, zero = px.new_full((B,), NEG_INF), px.new_zeros(B)
    p: dict[tuple[int, int], torch.Tensor] = {}
    for s in range(S1):
        for t in range(T + 1):
            terms = []
            if s > 0 and not modified:
                terms.append(p[s - 1, t] + px[:, s - 1, t])
            if s > 0 and modified and t > 0:
                terms.append(p[s - 1, t - 1] + px[:, s - 1, t - 1])
            if t > 0:
                terms.append(p[s, t - 1] + py[:, s, t - 1])
            node = lse(terms) if terms else neg
            inside = (s0 <= s) & (s <= s1) & (t0 <= t) & (t <= t1)
            start = (s0 == s) & (t0 == t)
            p[s, t] = torch.where(start, zero, torch.where(inside, node, neg))
    return torch.stack([p[box[2], box[3]][b] for b, box in enumerate(boxes)])


def mutual_information_recursion(
    px: torch.Tensor,
    py: torch.Tensor,
    boundary: torch.Tensor | None = None,
    return_grad: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Reference total log-prob mi (B,) of the px/py lattice (k2 semantics), differentiable in px and py.

    Shapes: see NOTATION.md. px (B, U, T'+1) regular or (B, U, T') modified, py (B, U+1, T'),
    boundary (B, 4) = (begin_symbol, begin_frame, end_symbol, end_frame), default (0, 0, U, T'). With
    return_grad also
    (px_grad, py_grad) = d mi[b] / d px[b], d py[b]: the arc occupations (0 outside the box or when
    mi[b] = -inf). Outputs are in px's dtype.
    """
    B, S, T, modified = check_mi_lattice(px, py)
    boxes = full_boundary(boundary, B, S, T, px.device)
    x, y = _tracked(px), _tracked(py)
    mi = _forward_scores(x, y, boxes, modified)
    out = mi.to(px.dtype) if (px.requires_grad or py.requires_grad) else mi.detach().to(px.dtype)
    if not return_grad:
        return out
    gx, gy = torch.autograd.grad(mi.sum(), [x, y], retain_graph=True, allow_unused=True)
    gx = torch.zeros_like(x) if gx is None else gx
    gy = torch.zeros_like(y) if gy is None else gy
    return out, (gx.detach().to(px.dtype), gy.detach().to(py.dtype))
