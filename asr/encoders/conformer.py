"""Conformer / FastConformer encoder with cache-aware streaming (NeMo-compatible hyperparameters).

Shapes: see NOTATION.md (B, T, F, T', D).
"""

from __future__ import annotations

import torch
from torch import nn
from transduce.asr.encoders._core import _StreamingConfig, _StreamingEncoder
from transduce.asr.encoders.config import ConformerConfig
from transduce.asr.nn.conformer_block import ConformerBlock, ConformerBlockConfig
from transduce.asr.nn.subsampling import ConvSubsampling

__all__ = ["ConformerEncoder"]


class ConformerEncoder(_StreamingEncoder):
    """forward(feats (B, T, F), lengths (B,), lookahead=None) -> (B, T', D), (B,).

    Streams with init_state / stream_step (see asr.encoders._core for the exactness argument).
    """

    def __init__(self, cfg: ConformerConfig) -> None:
        block = ConformerBlockConfig(
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            ff_expansion_factor=cfg.ff_expansion_factor,
            conv_kernel_size=cfg.conv_kernel_size,
            conv_context_size=cfg.conv_context_size,
            conv_norm_type=cfg.conv_norm_type,
            pos="relative",
            dropout=cfg.dropout,
            dropout_att=cfg.dropout_att,
        )
        shared_u = shared_v = None
        if not cfg.untie_biases:
            shape = (cfg.n_heads, cfg.d_model // cfg.n_heads)
            shared_u, shared_v = nn.Parameter(torch.empty(shape)), nn.Parameter(torch.empty(shape))
            nn.init.xavier_uniform_(shared_u)
            nn.init.xavier_uniform_(shared_v)
        layers = nn.ModuleList([ConformerBlock(block, shared_u, shared_v) for _ in range(cfg.n_layers)])
        pre_encode = ConvSubsampling(
            cfg.feat_in,
            cfg.d_model,
            cfg.subsampling,
            cfg.subsampling_factor,
            cfg.subsampling_conv_channels,
            cfg.causal_downsampling,
            cfg.causal_right_pad,
        )
        super().__init__(_StreamingConfig.from_config(cfg, pos_emb="relative"), pre_encode, layers)
        self.cfg = cfg
        if shared_u is not None:
            self.pos_bias_u, self.pos_bias_v = shared_u, shared_v
