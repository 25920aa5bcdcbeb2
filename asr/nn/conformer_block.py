"""Conformer block (Gulati et al. 2020): half-step FF, self-attention, convolution, half-step FF, LayerNorm.

Split in two phases so an encoder can stream it: `prepare` maps new input frames to the residual
stream before attention and to their keys/values (which a cache keeps), `finish` runs the rest
for the query frames. `forward` = prepare + finish over all frames (the offline path).
Module names follow NeMo's ConformerLayer so checkpoints can be mapped by name.
Shapes: see NOTATION.md (B, T' encoder frames, Tq, Tk, H, D, Dh = D / H).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn
from transduce.asr.nn.attention import MultiHeadAttention
from transduce.asr.nn.convolution import ConvolutionModule
from transduce.asr.nn.feed_forward import FeedForward
from transduce.asr.nn.positional import RelPositions

__all__ = ["ConformerBlockConfig", "ConformerBlock"]

KV = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class ConformerBlockConfig:
    """Settings of one Conformer block; conv_context_size: 'causal', 'symmetric' or (left, right)."""

    d_model: int = 256
    n_heads: int = 4
    ff_expansion_factor: int = 4
    conv_kernel_size: int = 31
    conv_context_size: str | tuple[int, int] = "symmetric"
    conv_norm_type: Literal["batch_norm", "layer_norm"] = "batch_norm"
    pos: Literal["relative", "rotary", "none"] = "relative"
    dropout: float = 0.1
    dropout_att: float = 0.1


class ConformerBlock(nn.Module):
    """(B, T', D) -> (B, T', D); pass shared pos_bias_u/v (H, Dh) Parameters to tie them across blocks."""

    def __init__(
        self,
        cfg: ConformerBlockConfig,
        pos_bias_u: nn.Parameter | None = None,
        pos_bias_v: nn.Parameter | None = None,
    ) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.norm_feed_forward1 = nn.LayerNorm(d)
        self.feed_forward1 = FeedForward(d, cfg.ff_expansion_factor, cfg.dropout, "swish")
        self.norm_self_att = nn.LayerNorm(d)
        self.self_attn = MultiHeadAttention(d, cfg.n_heads, cfg.dropout_att, cfg.pos, pos_bias_u, pos_bias_v)
        self.norm_conv = nn.LayerNorm(d)
        self.conv = ConvolutionModule(d, cfg.conv_kernel_size, cfg.conv_context_size, cfg.conv_norm_type)
        self.norm_feed_forward2 = nn.LayerNorm(d)
        self.feed_forward2 = FeedForward(d, cfg.ff_expansion_factor, cfg.dropout, "swish")
        self.norm_out = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def prepare(self, x: Tensor, positions: Tensor | None = None) -> tuple[Tensor, KV]:
        """x (B, T', D) -> residual before attention (B, T', D) and its keys/values (B, H, T', Dh).

        positions: (B|1, T') absolute frame positions (rotary attention only).
        """
        x1 = x + 0.5 * self.dropout(self.feed_forward1(self.norm_feed_forward1(x)))
        return x1, self.self_attn.project_kv(self.norm_self_att(x1), positions)

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
        """Queries x1 (B, Tq, D) from `prepare` attend kv (B, H, Tk, Dh) under mask (B|1, Tq, Tk).

        valid: (B, Tq) prefix mask of real query frames; conv_cache: (B, D, conv_kernel_size - 1) to
        stream the causal conv. Returns (B, Tq, D) and the new conv cache (or None).
        """
        h = self.self_attn(self.norm_self_att(x1), kv, mask, positions, rel)
        x = x1 + self.dropout(h)
        h, conv_cache = self.conv(self.norm_conv(x), valid, conv_cache)
        x = x + self.dropout(h)
        x = x + 0.5 * self.dropout(self.feed_forward2(self.norm_feed_forward2(x)))
        return self.norm_out(x), conv_cache

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
