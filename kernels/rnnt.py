"""RNN-T loss (regular and modified) with FastEmit, delay penalty and gradient clamping.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank).
Devices: CPU (torch log-softmax + numba DP), CUDA (Triton), any device with backend="reference"
(float64 torch oracle). Autograd: yes, through
one torch.autograd.Function whose forward computes the loss and the gradient of the logits at once
(calling backward twice on the same graph is not supported, as with warp-transducer style losses).

Lattice: node (t, u) has read t frames and emitted u labels. The blank arc goes to (t+1, u), the
label arc to (t, u+1) (regular) or (t+1, u+1) (modified: at most one symbol per frame):
  alpha[t, u] = logaddexp(alpha[t-1, u] + blank[t-1, u], alpha[t-m, u-1] + label[t-m, u-1])
and loss_b = -log P(y_b | x_b) = -alpha[T'_b, U_b]. Paper: Graves, "Sequence Transduction with
Recurrent Neural Networks" (2012); FastEmit (Yu et al., 2021); delay penalty (Kang et al., 2022).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch
from transduce.kernels._dispatch import resolve_backend

__all__ = ["rnnt_loss"]

REDUCTIONS = ("mean", "sum", "none")
RNNT_TYPES = ("regular", "modified")


def _fail(message: str) -> None:
    raise ValueError(message)


def check_lattice_inputs(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    logits_ndim: int,
) -> None:
    """ValueError unless shapes, dtypes, devices and lengths fit; shared by RNN-T, TDT and CTC.

    logits_ndim 4: lattice logits (B, T', U+1, V) and targets (B, U); 3: CTC logits (B, T', V) and
    targets (B, U).
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        _fail(f"logits must be a floating-point tensor, got {getattr(logits, 'dtype', type(logits))}")
    if logits.dim() != logits_ndim:
        _fail(f"logits must have {logits_ndim} dims, got shape {tuple(logits.shape)}")
    if not isinstance(targets, torch.Tensor) or targets.dim() != 2:
        _fail(f"targets must be a 2-dim tensor (B, U), got {getattr(targets, 'shape', type(targets))}")
    n_b, n_t = logits.shape[:2]
    max_targets = logits.shape[2] - 1 if logits_ndim == 4 else targets.shape[1]
    for name, x, shape in (
        ("targets", targets, (n_b, max_targets)),
        ("logit_lengths", logit_lengths, (n_b,)),
        ("target_lengths", target_lengths, (n_b,)),
    ):
        if not isinstance(x, torch.Tensor) or x.dtype not in (torch.int32, torch.int64):
            _fail(f"{name} must be an int32 or int64 tensor, got {getattr(x, 'dtype', type(x))}")
        if tuple(x.shape) != shape:
            _fail(f"{name} must have shape {shape} for logits {tuple(logits.shape)}, got {tuple(x.shape)}")
        if x.device != logits.device:
            _fail(f"{name} is on {x.device} but logits are on {logits.device}")
    if n_b == 0:
        _fail("the batch is empty")
    if bool((logit_lengths < 1).any()) or bool((logit_lengths > n_t).any()):
        _fail(f"logit_lengths must lie in [1, {n_t}] (T of the logits), got {logit_lengths.tolist()}")
    if bool((target_lengths < 0).any()) or bool((target_lengths > max_targets).any()):
        _fail(f"target_lengths must lie in [0, {max_targets}] (U of the targets), "
              f"got {target_lengths.tolist()}")


def check_labels(targets: torch.Tensor, target_lengths: torch.Tensor, blank: int, n_v: int) -> None:
    """ValueError unless blank is a class in [0, V) and valid targets are non-blank classes."""
    if not isinstance(blank, int) or not 0 <= blank < n_v:
        _fail(f"blank must be an int in [0, {n_v}) (V of the logits), got {blank!r}")
    valid = torch.arange(targets.shape[1], device=targets.device) < target_lengths[:, None]
    used = targets[valid]
    bad = used[(used < 0) | (used >= n_v)]
    if bad.numel():
        _fail(f"targets must lie in [0, {n_v}) (V of the logits); found {bad.tolist()[:5]}")
    if bool((used == blank).any()):
        _fail(f"targets must not contain the blank id {blank} within target_lengths")


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        _fail(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def reduce_losses(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-utterance losses (B,) -> mean over the batch, sum, or unchanged."""
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def backend_module(name: str) -> ModuleType:
    """transduce.kernels._cpu or kernels._triton (imported lazily: numba/triton load on first use)."""
    return importlib.import_module("transduce.kernels._cpu" if name == "cpu" else "transduce.kernels._triton")


class LatticeLossFunction(torch.autograd.Function):
    """Per-utterance losses (B,) from a backend's `*_loss_and_grad`; backward scales the saved grads.

    forward(ctx, logits, compute, grad_in_logits) where compute(logits, need_grad) returns
    (losses (B,), grads or None). Backward multiplies the saved per-utterance gradient by
    grad_output in place, so it runs once per forward.
    """

    @staticmethod
    def forward(ctx, logits, compute, grad_in_logits):  # noqa: ANN001, ANN205
        need_grad = ctx.needs_input_grad[0]
        if not grad_in_logits:
            logits = logits.contiguous()
        losses, grads = compute(logits, need_grad)
        ctx.used = False
        if need_grad:
            ctx.save_for_backward(grads)
        return losses

    @staticmethod
    def backward(ctx, grad_output):  # noqa: ANN001, ANN205
        if ctx.used:
            raise RuntimeError("backward through a transduce lattice loss can run only once per forward")
        ctx.used = True
        (grads,) = ctx.saved_tensors
        grads.mul_(grad_output.to(grads.dtype).view(-1, *([1] * (grads.dim() - 1))))
        return grads, None, None


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
    *,
    backend: str | None = None,
    grad_in_logits: bool = False,
) -> torch.Tensor:
    """RNN-T loss of raw joint logits (the log-softmax over V is fused inside).

    Shapes: see NOTATION.md.
    logits (B, T', U+1, V); targets (B, U) int; logit_lengths (B,) in [1, T']; target_lengths (B,)
    in [0, U]. reduction "mean" (over the batch), "sum" or "none" -> (B,). rnnt_type "regular" or
    "modified". fastemit_lambda scales the gradient of label arcs by (1 + lambda), leaving the
    value unchanged; delay_penalty adds delay_penalty * ((T'_b - 1) / 2 - t) to label-arc log-probs;
    clamp > 0 clips each utterance's logits gradient to [-clamp, clamp]. backend overrides the
    dispatch ("reference", "cpu", "triton"); grad_in_logits=True writes the gradient into the
    logits' own storage (their values are lost; no second (B, T', U+1, V) tensor is allocated).
    """
    check_lattice_inputs(logits, targets, logit_lengths, target_lengths, 4)
    check_labels(targets, target_lengths, blank, logits.shape[-1])
    check_reduction(reduction)
    if rnnt_type not in RNNT_TYPES:
        _fail(f"rnnt_type must be one of {RNNT_TYPES}, got {rnnt_type!r}")
    name = resolve_backend(logits.device, backend)
    if name == "reference":
        from transduce.kernels import reference

        return reference.rnnt_loss(logits, targets, logit_lengths, target_lengths, blank, reduction,
                                   rnnt_type, fastemit_lambda, delay_penalty, clamp)
    impl = backend_module(name)

    def compute(x: torch.Tensor, need_grad: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        return impl.rnnt_loss_and_grad(x, targets, logit_lengths, target_lengths, blank, rnnt_type,
                                       float(fastemit_lambda), float(delay_penalty), float(clamp),
                                       need_grad, grad_in_logits)

    return reduce_losses(LatticeLossFunction.apply(logits, compute, grad_in_logits), reduction)
