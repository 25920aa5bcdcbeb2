"""Multi-head attention with Transformer-XL relative positions, rotary positions or none.

One module serves encoders (self-attention over [cache ; current] keys for streaming), and
decoders (self-attention with a KV cache, cross-attention over encoder memory). Keys and values
are projected by `project_kv` and passed to `forward`, so the caller owns the cache.

Shapes: see NOTATION.md (B, H, Tq, Tk, D, Dh = D / H, R); n: positions of a tensor that may hold
either queries or keys.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from transduce.asr.nn.positional import RelPositions, rotary

__all__ = ["MultiHeadAttention", "POSITION_KINDS"]

POSITION_KINDS = ("none", "relative", "rotary")


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over H heads.

    pos="relative": score = ((q + u) . k_j + (q + v) . W_pos r_{i-j}) / sqrt(Dh) (Transformer-XL,
    Dai et al. 2019; as in Conformer) with learned biases u = pos_bias_u, v = pos_bias_v (H, Dh);
    pass shared Parameters to tie them across layers. pos="rotary": q and k rotated by their
    absolute positions (RoFormer). pos="none": positions come from outside (added to the input).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        pos: str = "none",
        pos_bias_u: nn.Parameter | None = None,
        pos_bias_v: nn.Parameter | None = None,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if pos not in POSITION_KINDS:
            raise ValueError(f"unknown attention position kind {pos!r}; expected one of {POSITION_KINDS}")
        self.n_heads, self.d_head, self.pos = n_heads, d_model // n_heads, pos
        self.linear_q = nn.Linear(d_model, d_model)
        self.linear_k = nn.Linear(d_model, d_model)
        self.linear_v = nn.Linear(d_model, d_model)
        self.linear_out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        if pos == "relative":
            self.linear_pos = nn.Linear(d_model, d_model, bias=False)
            shape = (n_heads, self.d_head)
            self.pos_bias_u = pos_bias_u if pos_bias_u is not None else nn.Parameter(torch.zeros(shape))
            self.pos_bias_v = pos_bias_v if pos_bias_v is not None else nn.Parameter(torch.zeros(shape))
            if pos_bias_u is None:
                nn.init.xavier_uniform_(self.pos_bias_u)
                nn.init.xavier_uniform_(self.pos_bias_v)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, n, D) -> (B, H, n, Dh)."""
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_head).transpose(1, 2)

    def project_kv(self, x: Tensor, positions: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Keys and values (B, H, Tk, Dh) of x (B, Tk, D); rotary keys are rotated by positions (B|1, Tk).
        Contiguous, so attending to them never copies (a decoder attends to its memory's every step)."""
        k, v = self._heads(self.linear_k(x)).contiguous(), self._heads(self.linear_v(x)).contiguous()
        if self.pos == "rotary":
            if positions is None:
                raise ValueError("rotary attention needs key positions")
            k = rotary(k, positions)
        return k, v

    def forward(
        self,
        query: Tensor,
        kv: tuple[Tensor, Tensor],
        mask: Tensor,
        positions: Tensor | None = None,
        rel: RelPositions | None = None,
    ) -> Tensor:
        """Attend query (B, Tq, D) to kv = (k, v) (B, H, Tk, Dh) where mask (B|1, Tq, Tk) is True.

        positions: (B|1, Tq) query positions (rotary only); rel: relative distances (relative only).
        Rows with no visible key give zeros (never NaN), so padded queries are harmless.
        """
        k, v = kv
        b, tq, _ = query.shape
        assert k.shape[-2] == mask.shape[-1] and mask.shape[-2] == tq, (
            f"mask (B, Tq, Tk) = {tuple(mask.shape)} does not fit query Tq={tq} and keys Tk={k.shape[-2]}"
        )
        q = self._heads(self.linear_q(query))
        if self.pos == "relative":
            if rel is None:
                raise ValueError("relative attention needs RelPositions")
            scores = self._relative_scores(q, k, rel)
        else:
            if self.pos == "rotary":
                if positions is None:
                    raise ValueError("rotary attention needs query positions")
                q = rotary(q, positions)
            scores = torch.matmul(q, k.transpose(-1, -2))
        scores = scores / math.sqrt(self.d_head)
        m = mask[:, None]
        scores = scores.masked_fill(~m, torch.finfo(scores.dtype).min)
        attn = torch.softmax(scores, dim=-1).masked_fill(~m, 0.0)
        out = torch.matmul(self.dropout(attn), v)  # (B, H, Tq, Dh)
        return self.linear_out(out.transpose(1, 2).reshape(b, tq, self.n_heads * self.d_head))

    def _relative_scores(self, q: Tensor, k: Tensor, rel: RelPositions) -> Tensor:
        """Unscaled Transformer-XL scores (B, H, Tq, Tk): content term + position term."""
        ac = torch.matmul(q + self.pos_bias_u[:, None, :], k.transpose(-1, -2))
        p = (
            self.linear_pos(rel.emb.to(q.dtype)).view(-1, self.n_heads, self.d_head).transpose(0, 1)
        )  # (H, R, Dh)
        bd_all = torch.matmul(q + self.pos_bias_v[:, None, :], p.transpose(-1, -2))  # (B, H, Tq, R)
        index = rel.index[:, None].expand(*bd_all.shape[:2], *rel.index.shape[-2:])
        bd = torch.gather(bd_all, -1, index)
        return ac + bd
