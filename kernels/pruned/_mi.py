"""The mutual-information recursion (k2 semantics) as an autograd Function over three backends.

Shapes: see NOTATION.md (B, U symbols, T' frames); the code keeps k2's names S, T for U, T'.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from transduce.kernels._dispatch import resolve_backend
from transduce.kernels.pruned._checks import make_boundary

__all__ = ["mutual_information_recursion"]

_Impl = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
_IMPL_MODULES = {"cpu": "transduce.kernels._cpu.mutual_information", "triton": "transduce.kernels._triton"}


class _MutualInformation(torch.autograd.Function):
    """mi = p[end_symbol, end_frame]; d mi / d px, d py are the occupations the forward already computed."""

    @staticmethod
    def forward(ctx, px, py, boundary, impl):  # type: ignore[override]
        mi, px_grad, py_grad = impl(px.detach(), py.detach(), boundary)
        ctx.mark_non_differentiable(px_grad, py_grad)
        ctx.save_for_backward(px_grad, py_grad)
        return mi, px_grad, py_grad

    @staticmethod
    def backward(ctx, grad_mi, _grad_px_grad, _grad_py_grad):  # type: ignore[override]
        px_grad, py_grad = ctx.saved_tensors
        scale = grad_mi.reshape(-1, 1, 1).to(px_grad.dtype)
        return scale * px_grad, scale * py_grad, None, None


def _check_lattice(px: torch.Tensor, py: torch.Tensor) -> tuple[int, int, int]:
    """Validate px/py shapes; return the sizes (B, U, T')."""
    if px.ndim != 3 or py.ndim != 3:
        raise ValueError(f"px and py must be 3-D, got {tuple(px.shape)} and {tuple(py.shape)}")
    if not (px.is_floating_point() and py.is_floating_point()) or px.dtype != py.dtype:
        raise ValueError(f"px and py must share one floating dtype, got {px.dtype} and {py.dtype}")
    if px.device != py.device:
        raise ValueError(f"px and py must be on one device, got {px.device} and {py.device}")
    B, S, T1 = px.shape
    T = py.shape[2]
    if py.shape != (B, S + 1, T):
        raise ValueError(f"py must be (B, U+1, T') = {(B, S + 1, T)} for px {tuple(px.shape)}, "
                         f"got {tuple(py.shape)}")
    if T1 not in (T, T + 1):
        raise ValueError(f"px must be (B, U, T'+1) (regular) or (B, U, T') (modified) with T'={T}, "
                         f"got {tuple(px.shape)}")
    return B, S, T


def mutual_information_recursion(
    px: torch.Tensor,
    py: torch.Tensor,
    boundary: torch.Tensor | None = None,
    return_grad: bool = False,
    *,
    backend: str | None = None,
) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Total log-prob of the 2-D lattice in px/py (k2's mutual_information_recursion), with autograd.

    Shapes: see NOTATION.md. px (B, U, T'+1) regular or (B, U, T') modified; py (B, U+1, T');
    boundary (B, 4) = (u0, t0, u1, t1) (begin_symbol, begin_frame, end_symbol, end_frame), default
    (0, 0, U, T'). From p[b, u0, t0] = 0:
      regular:  p[b,u,t] = logaddexp(p[b,u-1,t] + px[b,u-1,t],     p[b,u,t-1] + py[b,u,t-1])
      modified: p[b,u,t] = logaddexp(p[b,u-1,t-1] + px[b,u-1,t-1], p[b,u,t-1] + py[b,u,t-1])
    Returns mi (B,) = p[b, u1, t1]; with return_grad, (mi, (px_grad, py_grad)) where the grads
    are d mi[b] / d px[b] and d py[b] (arc occupation probabilities, zero outside the boundary).
    Devices: CPU (numba), CUDA (Triton), any (float64 reference via backend="reference").
    """
    B, S, T = _check_lattice(px, py)
    boundary = make_boundary(boundary, B, S, T, px.device)
    name = resolve_backend(px.device, backend)
    if name == "reference":
        ref = importlib.import_module("transduce.kernels.reference")
        return ref.mutual_information_recursion(px, py, boundary, return_grad)
    impl: _Impl = importlib.import_module(_IMPL_MODULES[name]).mutual_information
    mi, px_grad, py_grad = _MutualInformation.apply(px, py, boundary, impl)
    return (mi, (px_grad, py_grad)) if return_grad else mi
