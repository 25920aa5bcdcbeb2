"""Float64 reference of the pruned RNN-T family (k2 semantics): simple, smoothed and pruned losses,
prune ranges and pruning.

Shapes: see NOTATION.md (B, U symbols, T' frames, V classes, S prune range; the code keeps k2's
names S, T, C, R for U, T', V, S). Unlike the fast path, every loss here materialises the per-node
log-probs (B, T', U+1, V) and reads the arcs off them: slow, obvious, an oracle for tiny shapes
only. boundary (B, 4) = (begin_symbol, begin_frame, end_symbol, end_frame), default (0, 0, U, T').
"""

from __future__ import annotations

import torch
from transduce.kernels.reference._common import check_reduction, reduce
from transduce.kernels.reference._lattice import RNNT_TYPES
from transduce.kernels.reference._mi import full_boundary, mutual_information_recursion

__all__ = [
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "rnnt_loss_pruned",
    "get_prune_ranges",
    "do_rnnt_pruning",
]

_Loss = torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


def _check_common(symbols: torch.Tensor, B: int, S: int, C: int, termination_symbol: int,
                  rnnt_type: str, reduction: str) -> bool:
    """Validate the shared arguments; return True for the modified lattice."""
    if rnnt_type not in RNNT_TYPES:
        raise ValueError(f"rnnt_type must be one of {RNNT_TYPES}, got {rnnt_type!r}")
    check_reduction(reduction)
    if symbols.dtype not in (torch.int32, torch.int64) or symbols.shape != (B, S):
        raise ValueError(f"symbols must be an int32/int64 (B, S) = {(B, S)} tensor, "
                         f"got {symbols.dtype} {tuple(symbols.shape)}")
    if symbols.numel() and not (0 <= int(symbols.min()) and int(symbols.max()) < C):
        raise ValueError(f"symbols must lie in [0, C) = [0, {C})")
    if not 0 <= termination_symbol < C:
        raise ValueError(f"termination_symbol must lie in [0, C) = [0, {C}), got {termination_symbol}")
    return rnnt_type == "modified"


def _check_lm_am(lm: torch.Tensor, am: torch.Tensor) -> tuple[int, int, int, int]:
    if lm.ndim != 3 or am.ndim != 3 or lm.shape[0] != am.shape[0] or lm.shape[2] != am.shape[2]:
        raise ValueError(f"need lm (B, S+1, C) and am (B, T, C) agreeing in B and C, "
                         f"got {tuple(lm.shape)} and {tuple(am.shape)}")
    return lm.shape[0], lm.shape[1] - 1, am.shape[1], lm.shape[2]


def _arcs(log_probs: torch.Tensor, symbols: torch.Tensor, termination_symbol: int):
    """Node log-probs (B, T', U+1, V) -> px (B, U, T') = log p(symbols[u] | t, u) and
    py (B, U+1, T') = log p(termination_symbol | t, u)."""
    B, T, S1, _ = log_probs.shape
    idx = symbols.long().reshape(B, 1, S1 - 1, 1).expand(B, T, S1 - 1, 1)
    px = log_probs[:, :, : S1 - 1].gather(3, idx).squeeze(3).transpose(1, 2)
    py = log_probs[..., termination_symbol].transpose(1, 2)
    return px, py


def _lattice_loss(px, py, boxes, modified, delay_penalty, reduction, return_grad, dtype) -> _Loss:
    """Finish px for the lattice type, add the delay penalty, run the MI recursion; loss = -mi.

    Regular: px gets a column T' and, per utterance, column t_end set to -inf (no symbol after the last
    frame). Label arcs at frame t get delay_penalty * ((t_end - 1) / 2 - t).
    """
    B, S, T = px.shape
    if not modified:
        px = torch.cat([px, px.new_zeros(B, S, 1)], dim=2)  # (B, U, T'+1)
        t_end = torch.tensor([box[3] for box in boxes], device=px.device).reshape(B, 1, 1)
        px = torch.where(torch.arange(T + 1, device=px.device) == t_end, float("-inf"), px)
    if delay_penalty != 0.0:
        t = torch.arange(px.shape[2], dtype=torch.float64, device=px.device)
        centre = torch.tensor([(box[3] - 1) / 2 for box in boxes], dtype=torch.float64, device=px.device)
        px = px + delay_penalty * (centre.reshape(B, 1, 1) - t)
    bnd = torch.tensor(boxes, dtype=torch.int64, device=px.device)
    mi, (gx, gy) = mutual_information_recursion(px, py, bnd, return_grad=True)
    loss = reduce(-mi.to(dtype), reduction)
    return (loss, (gx.to(dtype), gy.to(dtype))) if return_grad else loss


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
) -> _Loss:
    """Reference RNN-T loss of the additive joiner log_softmax_c(lm[b, u, c] + am[b, t, c]).

    Shapes: see NOTATION.md. lm (B, U+1, V), am (B, T', V), symbols (B, U). Returns
    the loss ((B,) for "none", sum / B for "mean", sum); with return_grad, (loss, (px_grad, py_grad)).
    """
    B, S, T, C = _check_lm_am(lm, am)
    modified = _check_common(symbols, B, S, C, termination_symbol, rnnt_type, reduction)
    boxes = full_boundary(boundary, B, S, T, am.device)
    joint = (lm.double().unsqueeze(1) + am.double().unsqueeze(2)).log_softmax(dim=3)  # (B, T', U+1, V)
    px, py = _arcs(joint, symbols, termination_symbol)
    return _lattice_loss(px, py, boxes, modified, delay_penalty, reduction, return_grad, am.dtype)


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
) -> _Loss:
    """Reference smoothed loss: node log-probs (1 - a - b) * joint + a * log_softmax(lm)
    + b * log_softmax(am + log unigram), a = lm_only_scale, b = am_only_scale, unigram = the mean of
    softmax(lm) over the batch and all U+1 positions. Shapes and outputs as in rnnt_loss_simple.
    """
    B, S, T, C = _check_lm_am(lm, am)
    modified = _check_common(symbols, B, S, C, termination_symbol, rnnt_type, reduction)
    if lm_only_scale < 0 or am_only_scale < 0 or lm_only_scale + am_only_scale > 1:
        raise ValueError(f"need lm_only_scale, am_only_scale >= 0 with sum <= 1, got {lm_only_scale}, "
                         f"{am_only_scale}")
    boxes = full_boundary(boundary, B, S, T, am.device)
    lm64, am64 = lm.double(), am.double()
    joint = (lm64.unsqueeze(1) + am64.unsqueeze(2)).log_softmax(dim=3)  # (B, T', U+1, V)
    lm_only = lm64.log_softmax(dim=2).unsqueeze(1)  # (B, 1, U+1, V)
    unigram = lm64.softmax(dim=2).mean(dim=(0, 1)).log()  # (V,)
    am_only = (am64 + unigram).log_softmax(dim=2).unsqueeze(2)  # (B, T', 1, V)
    mixed = (1 - lm_only_scale - am_only_scale) * joint + lm_only_scale * lm_only + am_only_scale * am_only
    px, py = _arcs(mixed, symbols, termination_symbol)
    return _lattice_loss(px, py, boxes, modified, delay_penalty, reduction, return_grad, am.dtype)


def rnnt_loss_pruned(
    logits: torch.Tensor,
    symbols: torch.Tensor,
    ranges: torch.Tensor,
    termination_symbol: int,
    boundary: torch.Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Reference pruned loss: logits (B, T', S, V) at symbol positions ranges (B, T', S) are log-softmaxed
    and scattered into a (B, T', U+1, V) grid that is -inf off the ranges, then the full lattice is run.
    """
    if logits.ndim != 4 or not logits.is_floating_point():
        raise ValueError(f"logits must be a floating (B, T', S, V) tensor, got {tuple(logits.shape)}")
    B, T, R, C = logits.shape
    S = symbols.shape[1] if symbols.ndim == 2 else -1
    modified = _check_common(symbols, B, S, C, termination_symbol, rnnt_type, reduction)
    in_range = ranges.numel() == 0 or (0 <= int(ranges.min()) and int(ranges.max()) <= S)
    if ranges.shape != (B, T, R) or not in_range:
        raise ValueError(f"ranges must be (B, T, R) = {(B, T, R)} with values in [0, S] = [0, {S}]")
    boxes = full_boundary(boundary, B, S, T, logits.device)
    log_probs = logits.double().log_softmax(dim=3)
    grid = log_probs.new_full((B, T, S + 1, C), float("-inf"))
    grid = grid.scatter(2, ranges.long().unsqueeze(3).expand(B, T, R, C), log_probs)
    px, py = _arcs(grid, symbols, termination_symbol)
    return _lattice_loss(px, py, boxes, modified, delay_penalty, reduction, False, logits.dtype)


def _best_starts(px_grad: torch.Tensor, py_grad: torch.Tensor, R: int) -> list[list[int]]:
    """Per utterance and frame, the window start u maximising the termination occupation of symbols
    u..u+S-1 minus the occupation of the symbol arc (u-1 -> u) on that frame; first maximum wins."""
    B, S1, T = py_grad.shape
    starts = []
    for b in range(B):
        row = []
        for t in range(T):
            scores = [float(py_grad[b, s : s + R, t].sum()) - (float(px_grad[b, s - 1, t]) if s else 0.0)
                      for s in range(S1 - R + 1)]
            row.append(max(range(len(scores)), key=lambda i: (scores[i], -i)))
        starts.append(row)
    return starts


def get_prune_ranges(
    px_grad: torch.Tensor, py_grad: torch.Tensor, boundary: torch.Tensor | None, s_range: int
) -> torch.Tensor:
    """Reference prune ranges (B, T', S), S = min(s_range, U+1), from the simple loss's occupations.

    Per frame the best window start; from frame end_frame - 1 on, max(end_symbol - S + 1, 0); then
    starts are made non-decreasing (backward running minimum), reachable with steps <= S-1 (<= 1 modified) by
    raising earlier starts (backward running max of start[t+1] - step), and capped at step * t.
    """
    B, S, T1 = px_grad.shape
    T = py_grad.shape[2]
    if py_grad.shape != (B, S + 1, T) or T1 not in (T, T + 1):
        raise ValueError(f"need px_grad (B, S, T+1|T) and py_grad (B, S+1, T), got {tuple(px_grad.shape)} "
                         f"and {tuple(py_grad.shape)}")
    modified = T1 == T
    if s_range < (1 if modified else 2):
        raise ValueError(f"s_range must be >= {1 if modified else 2}, got {s_range}")
    R, step = min(s_range, S + 1), 1 if modified else min(s_range, S + 1) - 1
    boxes = full_boundary(boundary, B, S, T, px_grad.device) if boundary is not None else [(0, 0, S, T)] * B
    starts = _best_starts(px_grad.double(), py_grad.double(), R)
    for row, (_, _, s_end, t_end) in zip(starts, boxes):
        for t in range(max(t_end - 1, 0), T):
            row[t] = max(s_end - R + 1, 0)
        for t in range(T - 2, -1, -1):
            row[t] = min(row[t], row[t + 1])
        for t in range(T - 2, -1, -1):
            row[t] = max(row[t], row[t + 1] - step)
        for t in range(T):
            row[t] = min(row[t], step * t)
    begin = torch.tensor(starts, dtype=torch.int64, device=px_grad.device)  # (B, T')
    return begin.unsqueeze(2) + torch.arange(R, device=px_grad.device)


def do_rnnt_pruning(
    am: torch.Tensor, lm: torch.Tensor, ranges: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference gather by explicit loops: am_pruned (B, T', S, d_am) with am_pruned[b, t, j] = am[b, t], and
    lm_pruned (B, T', S, d_lm) with lm_pruned[b, t, j] = lm[b, ranges[b, t, j]]."""
    B, T, R = ranges.shape
    am_rows, lm_rows = [], []
    for b in range(B):
        for t in range(T):
            am_rows.append(am[b, t].expand(R, am.shape[2]))
            lm_rows.append(torch.stack([lm[b, int(s)] for s in ranges[b, t]]))
    return (torch.stack(am_rows).reshape(B, T, R, am.shape[2]),
            torch.stack(lm_rows).reshape(B, T, R, lm.shape[2]))
