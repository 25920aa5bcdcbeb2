"""Triton kernels of the RNN-T loss: logits gather pass, wavefront alpha/beta DPs, fused gradient pass.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank);
U1 = U + 1, and the kernel arguments T, U1, V are the sizes T', U+1, V. Rows
r = (b*T' + t)*U1 + u of the logits (B, T', U1, V) are read through explicit strides (int64
offsets). Small tensors (B, T', U1) lse/blank/label and (B, T'+1, U1) alpha/beta are contiguous in
the accumulation dtype. Node (t, u):
blank arc to (t+1, u), label arc to (t, u+1) (regular, MODIFIED=False) or (t+1, u+1) (modified).
"""

from __future__ import annotations

import triton
import triton.language as tl
from transduce.kernels._triton._common import logaddexp, row_block, row_logsumexp

__all__ = ["rnnt_gather_kernel", "rnnt_dp_kernel", "rnnt_grad_kernel"]


@triton.jit
def rnnt_gather_kernel(x_ptr, sx_b, sx_t, sx_u, sx_v, tgt_ptr, s_tgt, t_lens, u_lens,
                       lse_ptr, blank_ptr, label_ptr, n_rows, T, U1, V, blank, delay,
                       BLOCK_R: tl.constexpr, BLOCK_V: tl.constexpr):
    """Per row: lse = logsumexp(x), blank = x[blank] - lse, label = x[y_u] - lse + delay shift.

    Padding rows get lse 0 and -inf log-probs; label is -inf at u = U_b.
    """
    ACC = lse_ptr.dtype.element_ty
    rows, in_range, valid, b, t, u, t_len, u_len = row_block(tl.program_id(0), T, U1, n_rows, t_lens, u_lens,
                                                         BLOCK_R)
    base = x_ptr + b.to(tl.int64) * sx_b + t.to(tl.int64) * sx_t + u.to(tl.int64) * sx_u
    lse = row_logsumexp(base, sx_v, valid, 0, V, ACC, BLOCK_R, BLOCK_V)
    x_blank = tl.load(base + blank * sx_v, mask=valid, other=0.0).to(ACC)
    has_label = valid & (u < u_len)
    y = tl.load(tgt_ptr + b * s_tgt + u, mask=has_label, other=0)
    x_label = tl.load(base + y.to(tl.int64) * sx_v, mask=has_label, other=0.0).to(ACC)
    shift = delay * ((t_len - 1).to(ACC) * 0.5 - t.to(ACC))
    tl.store(lse_ptr + rows, tl.where(valid, lse, 0.0), mask=in_range)
    tl.store(blank_ptr + rows, tl.where(valid, x_blank - lse, float("-inf")), mask=in_range)
    tl.store(label_ptr + rows, tl.where(has_label, x_label - lse + shift, float("-inf")), mask=in_range)


@triton.jit
def _alpha(b, blank_ptr, label_ptr, t_lens, u_lens, alpha_ptr, T, U1, MODIFIED: tl.constexpr,
           BLOCK_U: tl.constexpr):
    """alpha (B, T'+1, U1), pre-filled with -inf: one program per utterance, anti-diagonals n = t + u.

    alpha[t, u] = logaddexp(alpha[t-1, u] + blank[t-1, u], alpha[t-m, u-1] + label[t-m, u-1]).
    """
    t_len = tl.load(t_lens + b)
    u_len = tl.load(u_lens + b)
    u = tl.arange(0, BLOCK_U)
    lat = blank_ptr.dtype.element_ty
    src = b.to(tl.int64) * T * U1
    dst = alpha_ptr + b.to(tl.int64) * (T + 1) * U1
    tl.store(dst + u, tl.zeros([BLOCK_U], lat), mask=u == 0)
    tl.debug_barrier()
    for n in range(1, t_len + u_len + 1):
        t = n - u
        valid = (u <= u_len) & (t >= 0) & (t <= t_len)
        ok_b = valid & (t >= 1)
        a = (tl.load(dst + (t - 1) * U1 + u, mask=ok_b, other=float("-inf"))
             + tl.load(blank_ptr + src + (t - 1) * U1 + u, mask=ok_b, other=float("-inf")))
        if MODIFIED:
            ok_l = valid & (u >= 1) & (t >= 1)
            tp = t - 1
        else:
            ok_l = valid & (u >= 1) & (t < t_len)
            tp = t
        c = (tl.load(dst + tp * U1 + u - 1, mask=ok_l, other=float("-inf"))
             + tl.load(label_ptr + src + tp * U1 + u - 1, mask=ok_l, other=float("-inf")))
        tl.store(dst + t * U1 + u, logaddexp(a, c), mask=valid)
        tl.debug_barrier()


@triton.jit
def _beta(b, blank_ptr, label_ptr, t_lens, u_lens, beta_ptr, T, U1, MODIFIED: tl.constexpr,
          BLOCK_U: tl.constexpr):
    """beta (B, T'+1, U1), pre-filled with -inf: beta[T'_b, U_b] = 0 and, on anti-diagonals downwards,
    beta[t, u] = logaddexp(beta[t+1, u] + blank[t, u], beta[t+m, u+1] + label[t, u]).
    """
    t_len = tl.load(t_lens + b)
    u_len = tl.load(u_lens + b)
    u = tl.arange(0, BLOCK_U)
    lat = blank_ptr.dtype.element_ty
    src = b.to(tl.int64) * T * U1
    dst = beta_ptr + b.to(tl.int64) * (T + 1) * U1
    tl.store(dst + t_len * U1 + u, tl.zeros([BLOCK_U], lat), mask=u == u_len)
    tl.debug_barrier()
    for k in range(1, t_len + u_len + 1):
        t = t_len + u_len - k - u
        valid = (u <= u_len) & (t >= 0) & (t < t_len)
        a = (tl.load(dst + (t + 1) * U1 + u, mask=valid, other=float("-inf"))
             + tl.load(blank_ptr + src + t * U1 + u, mask=valid, other=float("-inf")))
        ok_l = valid & (u < u_len)
        tn = t + 1 if MODIFIED else t
        c = (tl.load(dst + tn * U1 + u + 1, mask=ok_l, other=float("-inf"))
             + tl.load(label_ptr + src + t * U1 + u, mask=ok_l, other=float("-inf")))
        tl.store(dst + t * U1 + u, logaddexp(a, c), mask=valid)
        tl.debug_barrier()


@triton.jit
def rnnt_dp_kernel(blank_ptr, label_ptr, t_lens, u_lens, beta_ptr, alpha_ptr, T, U1,
                   MODIFIED: tl.constexpr, BLOCK_U: tl.constexpr):
    """Grid (B, 1 or 2): program (b, 0) fills beta[b], program (b, 1) alpha[b] (both (T'+1, U1))."""
    b = tl.program_id(0)
    if tl.program_id(1) == 0:
        _beta(b, blank_ptr, label_ptr, t_lens, u_lens, beta_ptr, T, U1, MODIFIED, BLOCK_U)
    else:
        _alpha(b, blank_ptr, label_ptr, t_lens, u_lens, alpha_ptr, T, U1, MODIFIED, BLOCK_U)


@triton.jit
def rnnt_grad_kernel(x_ptr, sx_b, sx_t, sx_u, sx_v, g_ptr, sg_b, sg_t, sg_u, sg_v, tgt_ptr, s_tgt,
                     t_lens, u_lens, lse_ptr, blank_ptr, label_ptr, alpha_ptr, beta_ptr, ll_ptr,
                     n_rows, T, U1, V, blank, label_scale, clamp,
                     MODIFIED: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_V: tl.constexpr):
    """g = softmax(x) * (p_blank + s p_label) - onehot(blank) p_blank - onehot(y_u) s p_label, clamped.

    p_* are arc posteriors exp(alpha + arc + beta(next) - ll); s = label_scale (FastEmit); padding
    rows get 0. g may alias x (each element is read before it is written, by the same program).
    """
    ACC = lse_ptr.dtype.element_ty
    rows, in_range, valid, b, t, u, t_len, u_len = row_block(tl.program_id(0), T, U1, n_rows, t_lens, u_lens,
                                                         BLOCK_R)
    ll = tl.load(ll_ptr + b, mask=in_range, other=float("-inf"))
    ok = valid & (ll > float("-inf"))
    ll = tl.where(ok, ll, 0.0)
    node = b.to(tl.int64) * (T + 1) * U1 + t * U1 + u
    a = tl.load(alpha_ptr + node, mask=ok, other=float("-inf"))
    nb = tl.load(beta_ptr + node + U1, mask=ok, other=float("-inf"))
    p_blank = tl.where(ok, tl.exp(a + tl.load(blank_ptr + rows, mask=ok, other=0.0) + nb - ll), 0.0)
    has_label = ok & (u < u_len)
    nl = tl.load(beta_ptr + node + (U1 + 1 if MODIFIED else 1), mask=has_label, other=float("-inf"))
    lab = tl.load(label_ptr + rows, mask=has_label, other=0.0)
    p_label = tl.where(has_label, tl.exp(a + lab + nl - ll), 0.0) * label_scale
    occ = p_blank + p_label
    y = tl.load(tgt_ptr + b * s_tgt + u, mask=has_label, other=-1)
    lse = tl.load(lse_ptr + rows, mask=valid, other=0.0)
    x_base = x_ptr + b.to(tl.int64) * sx_b + t.to(tl.int64) * sx_t + u.to(tl.int64) * sx_u
    g_base = g_ptr + b.to(tl.int64) * sg_b + t.to(tl.int64) * sg_t + u.to(tl.int64) * sg_u
    cols = tl.arange(0, BLOCK_V)
    for v0 in range(0, V, BLOCK_V):
        c = v0 + cols
        col_ok = (c < V)[None, :]
        x = tl.load(x_base[:, None] + c[None, :] * sx_v, mask=valid[:, None] & col_ok, other=0.0).to(ACC)
        g = tl.exp(x - lse[:, None]) * occ[:, None]
        g -= tl.where(c[None, :] == blank, p_blank[:, None], 0.0)
        g -= tl.where(c[None, :] == y[:, None], p_label[:, None], 0.0)
        g = tl.where(clamp > 0, tl.minimum(tl.maximum(g, -clamp), clamp), g)
        g = tl.where(valid[:, None], g, 0.0)
        tl.store(g_base[:, None] + c[None, :] * sg_v, g.to(g_ptr.dtype.element_ty),
                 mask=in_range[:, None] & col_ok)
