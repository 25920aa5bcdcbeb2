"""Shared pieces of the float64 reference losses: input checks, a NaN-free log-sum-exp, the
per-utterance gradient Function (clamp) and the reductions.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank);
the size arguments T, U, V are T', U, V.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = [
    "NEG_INF", "lse", "check_reduction", "reduce", "check_lengths", "check_targets", "check_blank",
    "label_mask", "delay_shift", "fastemit", "PerUtteranceLoss", "per_utterance_loss",
]

REDUCTIONS = ("mean", "sum", "none")
NEG_INF = float("-inf")


def lse(terms: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """log(sum(exp(terms))) over a list of same-shape tensors; None terms are absent arcs.

    Returns None when every term is absent. All -inf gives -inf with a zero (not NaN) gradient.
    """
    present = [x for x in terms if x is not None]
    if not present:
        return None
    if len(present) == 1:  # an unreachable (-inf) term passes no gradient on, like the general case
        x = present[0]
        return torch.where(torch.isneginf(x.detach()), x.detach(), x)
    x = torch.stack(present)
    m = x.detach().amax(dim=0)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = (x - m).exp().sum(dim=0)
    pos = s > 0
    safe_log = torch.log(torch.where(pos, s, torch.ones_like(s))) + m
    return torch.where(pos, safe_log, torch.full_like(s, NEG_INF))


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    """'mean': mean over the batch of per-utterance losses (not divided by target lengths)."""
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def check_lengths(
    logit_lengths: torch.Tensor, target_lengths: torch.Tensor, B: int, T: int, U: int
) -> tuple[list[int], list[int]]:
    """Validate (B,) integer lengths with 1 <= T'_b <= T' and 0 <= U_b <= U; return them as lists."""
    for name, x, hi, lo in (("logit_lengths", logit_lengths, T, 1), ("target_lengths", target_lengths, U, 0)):
        if x.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"{name} must be an int32/int64 tensor, got {x.dtype}")
        if x.shape != (B,):
            raise ValueError(f"{name} must be (B,) = ({B},), got {tuple(x.shape)}")
        if B and (int(x.min()) < lo or int(x.max()) > hi):
            raise ValueError(f"{name} must lie in [{lo}, {hi}], got {x.tolist()}")
    return [int(v) for v in logit_lengths], [int(v) for v in target_lengths]


def check_targets(targets: torch.Tensor, u_lens: list[int], B: int, U: int, V: int) -> None:
    """targets (B, U) integers; the used entries (u < U_b) must lie in [0, V)."""
    if targets.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"targets must be an int32/int64 tensor, got {targets.dtype}")
    if targets.shape != (B, U):
        raise ValueError(f"targets must be (B, U) = {(B, U)}, got {tuple(targets.shape)}")
    for b, u_len in enumerate(u_lens):
        used = targets[b, :u_len]
        if u_len and (int(used.min()) < 0 or int(used.max()) >= V):
            raise ValueError(f"targets[{b}, :{u_len}] must lie in [0, V) = [0, {V}), got {used.tolist()}")


def check_blank(blank: int, V: int) -> None:
    if not 0 <= blank < V:
        raise ValueError(f"blank must lie in [0, V) = [0, {V}), got {blank}")


def label_mask(u_lens: list[int], U: int, device: torch.device) -> torch.Tensor:
    """(B, U) bool, True for labels u < U_b."""
    return torch.arange(U, device=device).unsqueeze(0) < torch.tensor(u_lens, device=device).unsqueeze(1)


def delay_shift(t_lens: list[int], T: int, delay_penalty: float, device: torch.device) -> torch.Tensor:
    """(B, T') float64: delay_penalty * ((T'_b - 1) / 2 - t), added to label arcs (rewards early labels)."""
    t = torch.arange(T, dtype=torch.float64, device=device).unsqueeze(0)
    centre = (torch.tensor(t_lens, dtype=torch.float64, device=device).unsqueeze(1) - 1) / 2
    return delay_penalty * (centre - t)


def fastemit(label_lp: torch.Tensor, fastemit_lambda: float) -> torch.Tensor:
    """Same value, gradient scaled by (1 + lambda) (FastEmit, Yu et al. 2021, NeMo semantics)."""
    if fastemit_lambda == 0.0:
        return label_lp
    return label_lp * (1.0 + fastemit_lambda) - fastemit_lambda * label_lp.detach()


class PerUtteranceLoss(torch.autograd.Function):
    """losses (B,) = fn(float64 logits); d losses[b] / d logits computed in forward, clamped to
    [-clamp, clamp] when clamp > 0, and scaled by grad_output[b] in backward.

    Each logit belongs to exactly one utterance, so grad(sum_b losses[b]) holds every per-utterance
    gradient at once. Infinite losses get a zero gradient.
    """

    @staticmethod
    def forward(ctx, logits, fn, clamp):  # type: ignore[override]
        x = logits.detach().double()
        if not logits.requires_grad:
            with torch.no_grad():
                return fn(x).to(logits.dtype)
        with torch.enable_grad():
            x.requires_grad_(True)
            losses = fn(x)
            (grad,) = torch.autograd.grad(losses.sum(), x, allow_unused=True)
        grad = torch.zeros_like(x) if grad is None else grad
        finite = torch.isfinite(losses.detach()).reshape((-1,) + (1,) * (x.ndim - 1))
        grad = torch.where(finite, grad, torch.zeros_like(grad))
        if clamp > 0:
            grad = grad.clamp(-clamp, clamp)
        ctx.save_for_backward(grad)
        ctx.in_dtype = logits.dtype
        return losses.detach().to(logits.dtype)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        scale = grad_out.to(grad.dtype).reshape((-1,) + (1,) * (grad.ndim - 1))
        return (grad * scale).to(ctx.in_dtype), None, None


def per_utterance_loss(
    logits: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], clamp: float = -1.0
) -> torch.Tensor:
    """Apply PerUtteranceLoss: fn maps float64 logits to (B,) losses; result in logits.dtype."""
    return PerUtteranceLoss.apply(logits, fn, clamp)
