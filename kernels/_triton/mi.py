"""Triton mutual-information recursion (k2 semantics): wavefront alpha/beta and the arc occupations.

Shapes: see NOTATION.md (B, U symbols, T' frames; k2 and the kernel arguments name them S and T,
and the symbol index s). px (B, U, T'+1) regular or (B, U, T') modified, py (B, U+1, T'),
boundary (B, 4) = (u0, t0, u1, t1) (begin_symbol, begin_frame, end_symbol, end_frame). From
p[u0, t0] = 0:
  regular:  p[u, t] = logaddexp(p[u-1, t] + px[u-1, t],     p[u, t-1] + py[u, t-1])
  modified: p[u, t] = logaddexp(p[u-1, t-1] + px[u-1, t-1], p[u, t-1] + py[u, t-1])
Every arc raises u + t, so one program per sequence walks the anti-diagonals n = u + t. The
gradients are occupations exp(alpha + arc + beta(next) - total), zero outside the box or when the
total is not finite. Computes in float32 (float64 for float64 inputs).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from transduce.kernels._triton._common import NEG_INF, acc_dtype, dp_block, logaddexp

__all__ = ["mutual_information"]

_BLOCK_T = 64


@triton.jit
def _box(bnd_ptr, b):
    return (tl.load(bnd_ptr + b * 4), tl.load(bnd_ptr + b * 4 + 1),
            tl.load(bnd_ptr + b * 4 + 2), tl.load(bnd_ptr + b * 4 + 3))


@triton.jit
def _alpha(b, px_ptr, py_ptr, bnd_ptr, alpha_ptr, S, T, T1, MODIFIED: tl.constexpr, BLOCK_S: tl.constexpr):
    """alpha (B, U+1, T'+1) pre-filled with -inf; forward scores inside the boundary box."""
    s0, t0, s1, t1 = _box(bnd_ptr, b)
    s = tl.arange(0, BLOCK_S)
    px = px_ptr + b.to(tl.int64) * S * T1
    py = py_ptr + b.to(tl.int64) * (S + 1) * T
    al = alpha_ptr + b.to(tl.int64) * (S + 1) * (T + 1)
    acc = alpha_ptr.dtype.element_ty
    tl.store(al + s0 * (T + 1) + t0 + s * 0, tl.zeros([BLOCK_S], acc), mask=s == 0)
    tl.debug_barrier()
    for n in range(s0 + t0 + 1, s1 + t1 + 1):
        t = n - s
        valid = (s >= s0) & (s <= s1) & (t >= t0) & (t <= t1)
        if MODIFIED:
            ok_x = valid & (s > s0) & (t > t0)
            tp = t - 1
        else:
            ok_x = valid & (s > s0)
            tp = t
        a = (tl.load(al + (s - 1) * (T + 1) + tp, mask=ok_x, other=float("-inf"))
             + tl.load(px + (s - 1) * T1 + tp, mask=ok_x, other=float("-inf")).to(acc))
        ok_y = valid & (t > t0)
        c = (tl.load(al + s * (T + 1) + t - 1, mask=ok_y, other=float("-inf"))
             + tl.load(py + s * T + t - 1, mask=ok_y, other=float("-inf")).to(acc))
        tl.store(al + s * (T + 1) + t, logaddexp(a, c), mask=valid)
        tl.debug_barrier()


@triton.jit
def _beta(b, px_ptr, py_ptr, bnd_ptr, beta_ptr, S, T, T1, MODIFIED: tl.constexpr, BLOCK_S: tl.constexpr):
    """beta (B, U+1, T'+1) pre-filled with -inf: log-sum over paths from (s, t) to the box's end (s1, t1)."""
    s0, t0, s1, t1 = _box(bnd_ptr, b)
    s = tl.arange(0, BLOCK_S)
    px = px_ptr + b.to(tl.int64) * S * T1
    py = py_ptr + b.to(tl.int64) * (S + 1) * T
    be = beta_ptr + b.to(tl.int64) * (S + 1) * (T + 1)
    acc = beta_ptr.dtype.element_ty
    tl.store(be + s1 * (T + 1) + t1 + s * 0, tl.zeros([BLOCK_S], acc), mask=s == 0)
    tl.debug_barrier()
    for k in range(1, s1 + t1 - s0 - t0 + 1):
        t = s1 + t1 - k - s
        valid = (s >= s0) & (s <= s1) & (t >= t0) & (t <= t1)
        if MODIFIED:
            ok_x = valid & (s < s1) & (t < t1)
            tn = t + 1
        else:
            ok_x = valid & (s < s1)
            tn = t
        a = (tl.load(be + (s + 1) * (T + 1) + tn, mask=ok_x, other=float("-inf"))
             + tl.load(px + s * T1 + t, mask=ok_x, other=float("-inf")).to(acc))
        ok_y = valid & (t < t1)
        c = (tl.load(be + s * (T + 1) + t + 1, mask=ok_y, other=float("-inf"))
             + tl.load(py + s * T + t, mask=ok_y, other=float("-inf")).to(acc))
        tl.store(be + s * (T + 1) + t, logaddexp(a, c), mask=valid)
        tl.debug_barrier()


@triton.jit
def _mi_dp_kernel(px_ptr, py_ptr, bnd_ptr, alpha_ptr, beta_ptr, S, T, T1, MODIFIED: tl.constexpr,
                  BLOCK_S: tl.constexpr):
    """Grid (B, 2): program (b, 0) fills alpha[b], program (b, 1) beta[b] (both (U+1, T'+1))."""
    b = tl.program_id(0)
    if tl.program_id(1) == 0:
        _alpha(b, px_ptr, py_ptr, bnd_ptr, alpha_ptr, S, T, T1, MODIFIED, BLOCK_S)
    else:
        _beta(b, px_ptr, py_ptr, bnd_ptr, beta_ptr, S, T, T1, MODIFIED, BLOCK_S)


@triton.jit
def _mi_grad_kernel(px_ptr, py_ptr, bnd_ptr, alpha_ptr, beta_ptr, mi_ptr, pxg_ptr, pyg_ptr, S, T, T1,
                    MODIFIED: tl.constexpr, BLOCK_T: tl.constexpr):
    """One program per (b, s) row: px_grad[b, s, :] and py_grad[b, s, :] (zeros outside the box)."""
    b = tl.program_id(0)
    s = tl.program_id(1)
    s0, t0, s1, t1 = _box(bnd_ptr, b)
    row = s + tl.zeros([BLOCK_T], tl.int32)  # block copies: the interpreter mis-broadcasts scalar masks
    total = tl.load(mi_ptr + b + row * 0)
    good = (total > float("-inf")) & (total < float("inf")) & (row >= s0) & (row <= s1)
    total = tl.where(good, total, 0.0)
    node = b.to(tl.int64) * (S + 1) * (T + 1) + s * (T + 1)
    px_row = b.to(tl.int64) * S * T1 + s * T1
    py_row = b.to(tl.int64) * (S + 1) * T + s * T
    acc = alpha_ptr.dtype.element_ty
    for tb in range(0, T + 1, BLOCK_T):
        t = tb + tl.arange(0, BLOCK_T)
        inbox = good & (t >= t0) & (t <= t1)
        a = tl.load(alpha_ptr + node + t, mask=inbox, other=float("-inf"))
        ok_x = inbox & (row < s1) & (t < t1) if MODIFIED else inbox & (row < s1)
        nx = tl.load(beta_ptr + node + (T + 1) + t + (1 if MODIFIED else 0), mask=ok_x, other=float("-inf"))
        vx = tl.load(px_ptr + px_row + t, mask=ok_x, other=0.0).to(acc)
        gx = tl.where(ok_x, tl.exp(a + vx + nx - total), 0.0)
        tl.store(pxg_ptr + px_row + t, gx.to(pxg_ptr.dtype.element_ty), mask=(row < S) & (t < T1))
        ok_y = inbox & (t < t1)
        ny = tl.load(beta_ptr + node + t + 1, mask=ok_y, other=float("-inf"))
        vy = tl.load(py_ptr + py_row + t, mask=ok_y, other=0.0).to(acc)
        gy = tl.where(ok_y, tl.exp(a + vy + ny - total), 0.0)
        tl.store(pyg_ptr + py_row + t, gy.to(pyg_ptr.dtype.element_ty), mask=t < T)


def mutual_information(
    px: torch.Tensor, py: torch.Tensor, boundary: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total log-prob (B,) and occupations px_grad (like px), py_grad (like py) of the MI lattice.

    px (B, U, T'+1) regular or (B, U, T') modified, py (B, U+1, T'), boundary (B, 4) =
    (begin_symbol, begin_frame, end_symbol, end_frame) or None for (0, 0, U, T'). No autograd here.
    """
    n_b, n_s, n_t1 = px.shape
    n_t = py.shape[2]
    assert py.shape == (n_b, n_s + 1, n_t), \
        f"py must be (B, U+1, T') = {(n_b, n_s + 1, n_t)}, got {tuple(py.shape)}"
    assert n_t1 in (n_t, n_t + 1), \
        f"px must be (B, U, T'+1) or (B, U, T') with T'={n_t}, got {tuple(px.shape)}"
    if boundary is None:
        boundary = torch.tensor([0, 0, n_s, n_t], dtype=torch.int64, device=px.device).expand(n_b, 4)
    assert boundary.shape == (n_b, 4), f"boundary must be (B, 4), got {tuple(boundary.shape)}"
    px, py = px.detach().contiguous(), py.detach().contiguous()
    bnd = boundary.to(device=px.device, dtype=torch.int32).contiguous()
    modified = n_t1 == n_t
    acc = acc_dtype(px.dtype)
    alpha, beta = torch.full((2, n_b, n_s + 1, n_t + 1), NEG_INF, dtype=acc, device=px.device)
    args = (px, py, bnd)
    block_s = dp_block(n_s + 1)
    _mi_dp_kernel[(n_b, 2)](*args, alpha, beta, n_s, n_t, n_t1, MODIFIED=modified, BLOCK_S=block_s)
    mi = alpha.view(n_b, -1).gather(1, (bnd[:, 2:3].long() * (n_t + 1) + bnd[:, 3:4].long())).squeeze(1)
    px_grad, py_grad = torch.empty_like(px), torch.empty_like(py)
    block_t = min(_BLOCK_T, triton.next_power_of_2(n_t + 1))
    _mi_grad_kernel[(n_b, n_s + 1)](*args, alpha, beta, mi, px_grad, py_grad, n_s, n_t, n_t1,
                                    MODIFIED=modified, BLOCK_T=block_t)
    return mi.to(px.dtype), px_grad, py_grad
