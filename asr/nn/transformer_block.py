"""Pre-LayerNorm Transformer encoder block: x + MHA(LN(x)), then x + FF(LN(x)).

Same two-phase interface as the Conformer block (`prepare` -> residual and keys/values,
`finish` -> the rest for query frames) so one streaming driver runs both encoders.
Shapes: see NOTATION.md (B, T' encoder frames, Tq, Tk, H, D, Dh = D / H).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn
from transduce.asr.nn.attention import MultiHeadAttention
from transduce.asr.nn.feed_forward import FeedForward
from transduce.asr.nn.positional import RelPositions

__all__ = ["TransformerBlockConfig", "TransformerEncoderBlock"]

KV = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class TransformerBlockConfig:
    """Settings of one Transformer encoder block; pos 'none' means positions are added to the input."""

    d_model: int = 256
    n_heads: int = 4
    ff_expansion_factor: int = 4
    activation: Literal["relu", "swish"] = "relu"
    pos: Literal["relative", "rotary", "none"] = "rotary"
    dropout: float = 0.1
    dropout_att: float = 0.1


class TransformerEncoderBlock(nn.Module):
    """(B, T', D) -> (B, T', D); pre-norm, so the encoder applies a final LayerNorm after the last block."""

    def __init__(self, cfg: TransformerBlockConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.norm_self_att = nn.LayerNorm(d)
        self.self_attn = MultiHeadAttention(d, cfg.n_heads, cfg.dropout_att, cfg.pos)
        self.norm_feed_forward = nn.LayerNorm(d)
        self.feed_forward = FeedForward(d, cfg.ff_expansion_factor, cfg.dropout, cfg.activation)
        self.dropout = nn.Dropout(cfg.dropout)

    def prepare(self, x: Tensor, positions: Tensor | None = None) -> tuple[Tensor, KV]:
        """x (B, T', D) -> x itself (the residual) and keys/values (B, H, T', Dh) of LN(x)."""
        return x, self.self_attn.project_kv(self.norm_self_att(x), positions)

    def finish(
        self,
        x1: Tensor,
        kv: KV,
        mask: Tensor,
        valid: Tensor,
        positions: Tensor | None = None,
        rel: RelPositions | None = None,
        conv_cache: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Queries x1 (B, Tq, D) attend kv (B, H, Tk, Dh) under mask (B|1, Tq, Tk) -> (B, Tq, D), None."""
        x = x1 + self.dropout(self.self_attn(self.norm_self_att(x1), kv, mask, positions, rel))
        x = x + self.dropout(self.feed_forward(self.norm_feed_forward(x)))
        return x, None

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        valid: Tensor,
        positions: Tensor | None = None,
        rel: RelPositions | None = None,
    ) -> Tensor:
        """Offline: x (B, T', D), mask (B|1, T', T'), valid (B, T') -> (B, T', D)."""
        x1, kv = self.prepare(x, positions)
        return self.finish(x1, kv, mask, valid, positions, rel)[0]
