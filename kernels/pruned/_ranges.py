"""Prune ranges from the simple loss's occupations, and gathering am/lm into the pruned grid.

Shapes: see NOTATION.md (B, U symbols, T' frames, S prune range; the code keeps k2's names S, T
and R for U, T', S). The ranges follow k2's get_rnnt_prune_ranges (Pruned RNN-T paper, sec. 3.2):
per frame, the window of S consecutive symbol positions that scores best, then made monotone and
gap-free.
"""

from __future__ import annotations

import torch

__all__ = ["get_prune_ranges", "do_rnnt_pruning"]


def _suffix_min(x: torch.Tensor) -> torch.Tensor:
    """x[b, t] -> min_{j >= t} x[b, j] (the largest non-decreasing lower bound of x)."""
    return torch.flip(torch.cummin(torch.flip(x, [1]), dim=1).values, [1])


def _constrain_starts(s_begin: torch.Tensor, max_step: int) -> torch.Tensor:
    """Make window starts (B, T') non-decreasing, 0 at t = 0, and rising by at most max_step a frame.

    Non-decreasing via a suffix minimum; the step limit is a suffix minimum of the sheared sequence
    max_step * t - s_begin[t], clamped at 0 so the first frame starts at symbol 0.
    """
    T = s_begin.shape[1]
    shear = max_step * torch.arange(T, device=s_begin.device)
    s_begin = _suffix_min(s_begin)
    sheared = _suffix_min(shear - s_begin).clamp(min=0)
    return shear - sheared


def _window_scores(px_grad: torch.Tensor, py_grad: torch.Tensor, s_range: int) -> torch.Tensor:
    """(B, U+2-S, T') score of the window [u, u+S) at frame t: termination occupation inside the
    window minus the occupation of the symbol arc entering it from u-1 on the same frame."""
    B, S1, T = py_grad.shape
    csum = torch.cat([py_grad.new_zeros(B, 1, T), py_grad.cumsum(dim=1)], dim=1)  # (B, U+2, T')
    inside = csum[:, s_range:] - csum[:, : S1 + 1 - s_range]  # (B, U+2-S, T')
    entering = torch.cat([px_grad.new_zeros(B, 1, T), px_grad[:, : S1 - s_range, :T]], dim=1)
    return inside - entering


def get_prune_ranges(
    px_grad: torch.Tensor, py_grad: torch.Tensor, boundary: torch.Tensor | None, s_range: int
) -> torch.Tensor:
    """Symbol positions to keep per frame, ranges (B, T', S) with S = min(s_range, U+1) (k2 semantics).

    px_grad (B, U, T'+1) regular or (B, U, T') modified and py_grad (B, U+1, T') are the occupations
    from rnnt_loss_simple/smoothed(return_grad=True); boundary (B, 4) as there (None = (0, 0, U, T')).
    ranges[b, t] = start + arange(S): start is 0 at t = 0, non-decreasing, rises by < S per frame
    (by <= 1 for the modified lattice), and equals max(U_b - S + 1, 0) from frame T'_b - 1 on.
    """
    if px_grad.ndim != 3 or py_grad.ndim != 3:
        raise ValueError("px_grad and py_grad must be 3-D")
    B, S, T1 = px_grad.shape
    T = py_grad.shape[2]
    if py_grad.shape != (B, S + 1, T) or T1 not in (T, T + 1):
        raise ValueError(f"need px_grad (B, S, T+1|T) and py_grad (B, S+1, T), got "
                         f"{tuple(px_grad.shape)} and {tuple(py_grad.shape)}")
    modified = T1 == T
    if s_range < (1 if modified else 2):
        raise ValueError(f"s_range must be >= {1 if modified else 2} for the "
                         f"{'modified' if modified else 'regular'} lattice, got {s_range}")
    if boundary is None:
        boundary = torch.tensor([0, 0, S, T], device=px_grad.device).expand(B, 4)
    if boundary.shape != (B, 4):
        raise ValueError(f"boundary must be (B, 4) = {(B, 4)}, got {tuple(boundary.shape)}")
    boundary = boundary.to(device=px_grad.device, dtype=torch.int64)
    R = min(s_range, S + 1)
    s_begin = _window_scores(px_grad, py_grad, R).argmax(dim=1)  # (B, T')
    at_end = torch.arange(T, device=px_grad.device).unsqueeze(0) >= boundary[:, 3:4] - 1
    end_start = (boundary[:, 2:3] - R + 1).clamp(min=0)  # (B, 1)
    s_begin = torch.where(at_end, end_start, s_begin)
    s_begin = _constrain_starts(s_begin, 1 if modified else R - 1)
    return s_begin.unsqueeze(2) + torch.arange(R, device=px_grad.device)


def do_rnnt_pruning(
    am: torch.Tensor, lm: torch.Tensor, ranges: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather joiner inputs onto the pruned grid: am_pruned (B, T', S, d_am) and lm_pruned (B, T', S, d_lm).

    am (B, T', d_am) is the encoder side, lm (B, U+1, d_lm) the predictor side, ranges (B, T', S)
    from get_prune_ranges; lm_pruned[b, t, j] = lm[b, ranges[b, t, j]]. Differentiable in am and lm.
    """
    if am.ndim != 3 or lm.ndim != 3 or ranges.ndim != 3:
        raise ValueError("am (B, T, C), lm (B, S+1, C) and ranges (B, T, R) must all be 3-D")
    B, T, R = ranges.shape
    if am.shape[:2] != (B, T) or lm.shape[0] != B:
        raise ValueError(f"am must be (B, T, C) = ({B}, {T}, C) and lm (B, S+1, C), "
                         f"got {tuple(am.shape)} and {tuple(lm.shape)}")
    am_pruned = am.unsqueeze(2).expand(B, T, R, am.shape[2])
    lm_pruned = lm[torch.arange(B, device=lm.device).reshape(B, 1, 1), ranges]  # (B, T', S, d_lm)
    return am_pruned, lm_pruned
