"""Multi-head attention against a float64 loop over the written-out formulas."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transduce.asr.nn.attention import MultiHeadAttention
from transduce.asr.nn.positional import relative_positions, rotary, sinusoid


def _reference_relative(mha: MultiHeadAttention, x: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor):
    """score(i, j) = ((q_i + u) . k_j + (q_i + v) . (W_pos r_{p_i - p_j})) / sqrt(Dh), float64 loops."""
    mha = copy.deepcopy(mha).double()
    x = x.double()
    b, t, d = x.shape
    h, dh = mha.n_heads, mha.d_head
    q = mha.linear_q(x).view(b, t, h, dh)
    k = mha.linear_k(x).view(b, t, h, dh)
    v = mha.linear_v(x).view(b, t, h, dh)
    out = torch.zeros(b, t, h, dh, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            for i in range(t):
                scores = []
                for j in range(t):
                    r = mha.linear_pos(sinusoid(pos[i] - pos[j], d).double()).view(h, dh)[hi]
                    s = (q[bi, i, hi] + mha.pos_bias_u[hi]) @ k[bi, j, hi] + (
                        q[bi, i, hi] + mha.pos_bias_v[hi]
                    ) @ r
                    scores.append(s / math.sqrt(dh) if mask[bi, i, j] else -math.inf)
                scores = torch.stack([torch.as_tensor(s, dtype=torch.float64) for s in scores])
                if mask[bi, i].any():
                    out[bi, i, hi] = torch.softmax(scores, 0) @ v[bi, :, hi]
    return mha.linear_out(out.view(b, t, d))


def test_relative_attention_matches_loops() -> None:
    mha = MultiHeadAttention(16, 4, pos="relative").eval()
    x = torch.randn(2, 6, 16)
    pos = torch.arange(6)
    mask = torch.rand(2, 6, 6) > 0.3
    mask[1, 2] = False  # a query row with no visible key
    got = mha(x, mha.project_kv(x), mask, rel=relative_positions(pos, pos, 16, 5, 5))
    ref = _reference_relative(mha, x, mask, pos)
    torch.testing.assert_close(got.double(), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1, 2], mha.linear_out.bias.detach())  # no visible key: zero attention


def test_relative_clamp_does_not_change_visible_scores() -> None:
    """Clamping distances to the context range only touches masked pairs."""
    mha = MultiHeadAttention(16, 2, pos="relative").eval()
    x, pos = torch.randn(1, 10, 16), torch.arange(10)
    mask = (pos[:, None] - pos[None, :] <= 3) & (pos[None, :] - pos[:, None] <= 1)
    kv = mha.project_kv(x)
    wide = mha(x, kv, mask[None], rel=relative_positions(pos, pos, 16, 9, 9))
    tight = mha(x, kv, mask[None], rel=relative_positions(pos, pos, 16, 3, 1))
    torch.testing.assert_close(wide, tight, atol=1e-6, rtol=0)


def test_rotary_depends_on_relative_position_only() -> None:
    q, k = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    p = torch.arange(5)[None]
    s0 = rotary(q, p) @ rotary(k, p).transpose(-1, -2)
    s1 = rotary(q, p + 37) @ rotary(k, p + 37).transpose(-1, -2)
    torch.testing.assert_close(s0, s1, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(rotary(q, p).norm(dim=-1), q.norm(dim=-1))


def test_plain_attention_is_softmax_attention() -> None:
    mha = MultiHeadAttention(8, 2, pos="none").eval()
    x = torch.randn(1, 4, 8)
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True, bias=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.linear_q.weight, mha.linear_k.weight, mha.linear_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([mha.linear_q.bias, mha.linear_k.bias, mha.linear_v.bias]))
        ref.out_proj.weight.copy_(mha.linear_out.weight)
        ref.out_proj.bias.copy_(mha.linear_out.bias)
    torch.testing.assert_close(
        mha(x, mha.project_kv(x), mask), ref(x, x, x, need_weights=False)[0], atol=1e-6, rtol=0
    )


def test_errors() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="position kind"):
        MultiHeadAttention(8, 2, pos="alibi")
    mha = MultiHeadAttention(8, 2, pos="relative")
    x = torch.randn(1, 3, 8)
    with pytest.raises(ValueError, match="RelPositions"):
        mha(x, mha.project_kv(x), torch.ones(1, 3, 3, dtype=torch.bool))
    rot = MultiHeadAttention(8, 2, pos="rotary")
    with pytest.raises(ValueError, match="positions"):
        rot.project_kv(x)
