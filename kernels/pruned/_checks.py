"""Input validation and small shared helpers for the pruned RNN-T family (clear ValueErrors).

Shapes: see NOTATION.md; the size arguments B, S, T, C keep k2's names for B, U, T', V.
"""

from __future__ import annotations

import torch

RNNT_TYPES = ("regular", "modified")
REDUCTIONS = ("none", "mean", "sum")


def check_rnnt_type(rnnt_type: str) -> bool:
    """True for the modified lattice (one symbol per frame), False for the regular one."""
    if rnnt_type not in RNNT_TYPES:
        raise ValueError(f"rnnt_type must be one of {RNNT_TYPES}, got {rnnt_type!r}")
    return rnnt_type == "modified"


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def reduce(per_utt: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply k2's reductions to per-utterance values (B,): none, mean (= sum / B) or sum."""
    if reduction == "none":
        return per_utt
    return per_utt.mean() if reduction == "mean" else per_utt.sum()


def check_symbols(symbols: torch.Tensor, B: int, S: int, C: int | None = None) -> None:
    """symbols must be an integer (B, U) tensor with values in [0, V)."""
    if symbols.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"symbols must be an int32/int64 tensor, got {symbols.dtype}")
    if symbols.shape != (B, S):
        raise ValueError(f"symbols must be (B, U) = {(B, S)}, got {tuple(symbols.shape)}")
    if C is not None and symbols.numel() and (int(symbols.min()) < 0 or int(symbols.max()) >= C):
        raise ValueError(f"symbols must lie in [0, C) = [0, {C})")


def check_termination(termination_symbol: int, C: int) -> None:
    if not 0 <= termination_symbol < C:
        raise ValueError(f"termination_symbol must lie in [0, C) = [0, {C}), got {termination_symbol}")


def make_boundary(
    boundary: torch.Tensor | None, B: int, S: int, T: int, device: torch.device
) -> torch.Tensor:
    """The (B, 4) int64 boundary (begin_symbol, begin_frame, end_symbol, end_frame); None: (0, 0, U, T')."""
    if boundary is None:
        return torch.tensor([0, 0, S, T], dtype=torch.int64, device=device).expand(B, 4).contiguous()
    if boundary.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"boundary must be an int32/int64 tensor, got {boundary.dtype}")
    if boundary.shape != (B, 4):
        raise ValueError(f"boundary must be (B, 4) = {(B, 4)}, got {tuple(boundary.shape)}")
    boundary = boundary.to(device=device, dtype=torch.int64)
    s0, t0, s1, t1 = boundary.unbind(1)
    if bool(((s0 < 0) | (s0 > s1) | (s1 > S)).any()):
        raise ValueError(f"boundary needs 0 <= begin_symbol <= end_symbol <= S = {S}")
    if bool(((t0 < 0) | (t0 > t1) | (t1 > T)).any()):
        raise ValueError(f"boundary needs 0 <= begin_frame <= end_frame <= T = {T}")
    return boundary.contiguous()
