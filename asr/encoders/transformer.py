"""Transformer-transducer encoder (Zhang et al. 2020): pre-LN Transformer blocks with limited
left context and look-ahead, the same cache-aware streaming API as the Conformer.

Shapes: see NOTATION.md (B, T, F, T', D).
"""

from __future__ import annotations

from torch import nn
from transduce.asr.encoders._core import _StreamingConfig, _StreamingEncoder
from transduce.asr.encoders.config import TransformerConfig
from transduce.asr.nn.subsampling import ConvSubsampling
from transduce.asr.nn.transformer_block import TransformerBlockConfig, TransformerEncoderBlock

__all__ = ["TransformerEncoder"]


class TransformerEncoder(_StreamingEncoder):
    """forward(feats (B, T, F), lengths (B,), lookahead=None) -> (B, T', D), (B,).

    Streams with init_state / stream_step (see asr.encoders._core for the exactness argument).
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        block = TransformerBlockConfig(
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            ff_expansion_factor=cfg.ff_expansion_factor,
            activation=cfg.activation,
            pos="none" if cfg.pos_emb == "absolute" else cfg.pos_emb,
            dropout=cfg.dropout,
            dropout_att=cfg.dropout_att,
        )
        pre_encode = ConvSubsampling(
            cfg.feat_in,
            cfg.d_model,
            cfg.subsampling,
            cfg.subsampling_factor,
            cfg.subsampling_conv_channels,
            cfg.causal_downsampling,
        )
        super().__init__(
            _StreamingConfig.from_config(cfg, pos_emb=cfg.pos_emb),
            pre_encode,
            nn.ModuleList([TransformerEncoderBlock(block) for _ in range(cfg.n_layers)]),
            nn.LayerNorm(cfg.d_model),
        )
        self.cfg = cfg
