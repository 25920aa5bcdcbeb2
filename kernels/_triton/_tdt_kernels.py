"""Triton kernels of the TDT loss: logits gather pass, wavefront alpha/beta DPs, fused gradient pass.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V token vocabulary incl.
blank, K number of durations); U1 = U+1, and the kernel arguments T, U1, V, D are the sizes T',
U+1, V, K. The last dim of the logits holds V token logits then K duration logits. From node
(t, u) with duration d = durs[i]: blank arc (d > 0) to (t+d, u), label arc to (t+d, u+1), each
scored token + dur[i] log-prob. Label arcs land on t+d < T'_b; the end node (T'_b, U_b) is reached
by blank arcs only.
Every arc raises t + u by at least 1, so the DPs run over anti-diagonals like RNN-T.
"""

from __future__ import annotations

import triton
import triton.language as tl
from transduce.kernels._triton._common import logaddexp, row_block, row_logsumexp

__all__ = ["tdt_gather_kernel", "tdt_dp_kernel", "tdt_grad_kernel"]


@triton.jit
def tdt_gather_kernel(x_ptr, sx_b, sx_t, sx_u, sx_v, tgt_ptr, s_tgt, t_lens, u_lens,
                      lse_ptr, blank_ptr, label_ptr, dur_ptr, n_rows, T, U1, V, D, blank, sigma,
                      BLOCK_R: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr):
    """Per row: token lse, blank/label log-probs minus sigma, duration log-softmax dur (rows, K)."""
    ACC = lse_ptr.dtype.element_ty
    rows, in_range, valid, b, t, u, t_len, u_len = row_block(tl.program_id(0), T, U1, n_rows, t_lens, u_lens,
                                                         BLOCK_R)
    base = x_ptr + b.to(tl.int64) * sx_b + t.to(tl.int64) * sx_t + u.to(tl.int64) * sx_u
    lse = row_logsumexp(base, sx_v, valid, 0, V, ACC, BLOCK_R, BLOCK_V)
    x_blank = tl.load(base + blank * sx_v, mask=valid, other=0.0).to(ACC)
    has_label = valid & (u < u_len)
    y = tl.load(tgt_ptr + b * s_tgt + u, mask=has_label, other=0)
    x_label = tl.load(base + y.to(tl.int64) * sx_v, mask=has_label, other=0.0).to(ACC)
    tl.store(lse_ptr + rows, tl.where(valid, lse, 0.0), mask=in_range)
    tl.store(blank_ptr + rows, tl.where(valid, x_blank - lse - sigma, float("-inf")), mask=in_range)
    tl.store(label_ptr + rows, tl.where(has_label, x_label - lse - sigma, float("-inf")), mask=in_range)
    dc = tl.arange(0, BLOCK_D)
    dmask = valid[:, None] & (dc < D)[None, :]
    xd = tl.load(base[:, None] + (V + dc)[None, :] * sx_v, mask=dmask, other=float("-inf")).to(ACC)
    dm = tl.max(xd, axis=1)
    dm = tl.where(valid, dm, 0.0)
    dlse = tl.where(valid, dm + tl.log(tl.sum(tl.exp(xd - dm[:, None]), axis=1)), 0.0)
    dur = tl.where(dmask, xd - dlse[:, None], float("-inf"))
    tl.store(dur_ptr + rows[:, None].to(tl.int64) * D + dc[None, :], dur,
             mask=in_range[:, None] & (dc < D)[None, :])


@triton.jit
def _alpha(b, blank_ptr, label_ptr, dur_ptr, durs, t_lens, u_lens, alpha_ptr, T, U1, D,
           BLOCK_U: tl.constexpr):
    """alpha (B, T'+1, U1), pre-filled with -inf; alpha[T'_b, U_b] is the log-likelihood.

    alpha[t, u] = logsumexp_i(alpha[t-d_i, u] + blank + dur_i [d_i > 0],
                              alpha[t-d_i, u-1] + label + dur_i [t < T'_b]), arcs scored at their source.
    """
    t_len = tl.load(t_lens + b)
    u_len = tl.load(u_lens + b)
    u = tl.arange(0, BLOCK_U)
    src = b.to(tl.int64) * T * U1
    dst = alpha_ptr + b.to(tl.int64) * (T + 1) * U1
    tl.store(dst + u, tl.zeros([BLOCK_U], blank_ptr.dtype.element_ty), mask=u == 0)
    tl.debug_barrier()
    for n in range(1, t_len + u_len + 1):
        t = n - u
        inner = (u <= u_len) & (t >= 0) & (t < t_len)
        valid = inner | ((u == u_len) & (t == t_len))
        acc = tl.full([BLOCK_U], float("-inf"), blank_ptr.dtype.element_ty)
        for i in range(D):
            d = tl.load(durs + i + u * 0)  # (BLOCK_U,) copies of durs[i]
            tp = t - d
            ok_b = valid & (d > 0) & (tp >= 0)
            node = tp * U1 + u
            acc = logaddexp(acc, tl.load(dst + node, mask=ok_b, other=float("-inf"))
                            + tl.load(blank_ptr + src + node, mask=ok_b, other=float("-inf"))
                            + tl.load(dur_ptr + (src + node) * D + i, mask=ok_b, other=float("-inf")))
            ok_l = inner & (u >= 1) & (tp >= 0)
            node = tp * U1 + u - 1
            acc = logaddexp(acc, tl.load(dst + node, mask=ok_l, other=float("-inf"))
                            + tl.load(label_ptr + src + node, mask=ok_l, other=float("-inf"))
                            + tl.load(dur_ptr + (src + node) * D + i, mask=ok_l, other=float("-inf")))
        tl.store(dst + t * U1 + u, acc, mask=valid)
        tl.debug_barrier()


@triton.jit
def _beta(b, blank_ptr, label_ptr, dur_ptr, durs, t_lens, u_lens, beta_ptr, T, U1, D, BLOCK_U: tl.constexpr):
    """beta (B, T'+1, U1), pre-filled with -inf: beta[T'_b, U_b] = 0, and for t < T'_b
    beta[t, u] = logsumexp_i(blank + dur_i + beta[t+d_i, u] [0 < d_i, t+d_i <= T'_b],
                             label + dur_i + beta[t+d_i, u+1] [u < U_b, t+d_i < T'_b]).
    """
    t_len = tl.load(t_lens + b)
    u_len = tl.load(u_lens + b)
    u = tl.arange(0, BLOCK_U)
    src = b.to(tl.int64) * T * U1
    dst = beta_ptr + b.to(tl.int64) * (T + 1) * U1
    tl.store(dst + t_len * U1 + u, tl.zeros([BLOCK_U], blank_ptr.dtype.element_ty), mask=u == u_len)
    tl.debug_barrier()
    for k in range(1, t_len + u_len + 1):
        t = t_len + u_len - k - u
        valid = (u <= u_len) & (t >= 0) & (t < t_len)
        node = t * U1 + u
        blank = tl.load(blank_ptr + src + node, mask=valid, other=float("-inf"))
        label = tl.load(label_ptr + src + node, mask=valid, other=float("-inf"))
        acc = tl.full([BLOCK_U], float("-inf"), blank_ptr.dtype.element_ty)
        for i in range(D):
            d = tl.load(durs + i + u * 0)  # (BLOCK_U,) copies of durs[i]
            dur = tl.load(dur_ptr + (src + node) * D + i, mask=valid, other=float("-inf"))
            ok_b = valid & (d > 0) & (t + d <= t_len)
            nxt = dst + node + d * U1
            acc = logaddexp(acc, blank + dur + tl.load(nxt, mask=ok_b, other=float("-inf")))
            ok_l = valid & (u < u_len) & (t + d < t_len)
            acc = logaddexp(acc, label + dur + tl.load(nxt + 1, mask=ok_l, other=float("-inf")))
        tl.store(dst + node, acc, mask=valid)
        tl.debug_barrier()


@triton.jit
def tdt_dp_kernel(blank_ptr, label_ptr, dur_ptr, durs, t_lens, u_lens, beta_ptr, alpha_ptr, T, U1, D,
                  BLOCK_U: tl.constexpr):
    """Grid (B, 1 or 2): program (b, 0) fills beta[b], program (b, 1) alpha[b] (both (T'+1, U1))."""
    b = tl.program_id(0)
    if tl.program_id(1) == 0:
        _beta(b, blank_ptr, label_ptr, dur_ptr, durs, t_lens, u_lens, beta_ptr, T, U1, D, BLOCK_U)
    else:
        _alpha(b, blank_ptr, label_ptr, dur_ptr, durs, t_lens, u_lens, alpha_ptr, T, U1, D, BLOCK_U)


@triton.jit
def tdt_grad_kernel(x_ptr, sx_b, sx_t, sx_u, sx_v, g_ptr, sg_b, sg_t, sg_u, sg_v, tgt_ptr, s_tgt,
                    t_lens, u_lens, durs, lse_ptr, blank_ptr, label_ptr, dur_ptr, alpha_ptr, beta_ptr,
                    ll_ptr, n_rows, T, U1, V, D, blank,
                    BLOCK_R: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr):
    """Tokens: softmax * occ - onehot(blank) p_blank - onehot(y_u) p_label; durations:
    softmax(dur) * occ - p_dur[i]; occ = p_blank + p_label (posteriors summed over durations).
    """
    ACC = lse_ptr.dtype.element_ty
    rows, in_range, valid, b, t, u, t_len, u_len = row_block(tl.program_id(0), T, U1, n_rows, t_lens, u_lens,
                                                         BLOCK_R)
    ll = tl.load(ll_ptr + b, mask=in_range, other=float("-inf"))
    ok = valid & (ll > float("-inf"))
    ll = tl.where(ok, ll, 0.0)
    node = b.to(tl.int64) * (T + 1) * U1 + t * U1 + u
    a = tl.load(alpha_ptr + node, mask=ok, other=float("-inf"))
    dc = tl.arange(0, BLOCK_D)
    d = tl.load(durs + dc, mask=dc < D, other=0)
    okd = ok[:, None] & (dc < D)[None, :]
    dur = tl.load(dur_ptr + rows[:, None].to(tl.int64) * D + dc[None, :], mask=okd, other=float("-inf"))
    t2 = t[:, None] + d[None, :]
    ok_b = okd & (d > 0)[None, :] & (t2 <= t_len[:, None])
    ok_l = okd & (u < u_len)[:, None] & (t2 < t_len[:, None])
    nxt = node[:, None] + d[None, :] * U1
    nb = tl.load(beta_ptr + nxt, mask=ok_b, other=float("-inf"))
    nl = tl.load(beta_ptr + nxt + 1, mask=ok_l, other=float("-inf"))
    head = a - ll
    blank_lp = tl.load(blank_ptr + rows, mask=ok, other=0.0)
    label_lp = tl.load(label_ptr + rows, mask=ok & (u < u_len), other=0.0)
    pb = tl.where(ok_b, tl.exp(head[:, None] + blank_lp[:, None] + dur + nb), 0.0)
    pl = tl.where(ok_l, tl.exp(head[:, None] + label_lp[:, None] + dur + nl), 0.0)
    p_blank = tl.sum(pb, axis=1)
    p_label = tl.sum(pl, axis=1)
    occ = p_blank + p_label
    y = tl.load(tgt_ptr + b * s_tgt + u, mask=ok & (u < u_len), other=-1)
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
        g = tl.where(valid[:, None], g, 0.0)
        tl.store(g_base[:, None] + c[None, :] * sg_v, g.to(g_ptr.dtype.element_ty),
                 mask=in_range[:, None] & col_ok)
    gd = tl.where(okd, tl.exp(dur) * occ[:, None] - pb - pl, 0.0)
    tl.store(g_base[:, None] + (V + dc)[None, :] * sg_v, gd.to(g_ptr.dtype.element_ty),
             mask=in_range[:, None] & (dc < D)[None, :])
