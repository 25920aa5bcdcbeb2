"""Settings of the encoders, named after NeMo's ConformerEncoder arguments where one exists.

att_context_size is a tuple of [left, right] contexts in subsampled frames (-1 = unlimited);
the first is the default at inference, training picks one at random per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ConformerConfig", "TransformerConfig", "Context"]

Context = tuple[int, int]


@dataclass(frozen=True)
class ConformerConfig:
    """Conformer / FastConformer encoder (FastConformer: dw_striding, factor 8, conv kernel 9)."""

    feat_in: int = 80
    n_layers: int = 17
    d_model: int = 512
    n_heads: int = 8
    ff_expansion_factor: int = 4
    conv_kernel_size: int = 9
    conv_norm_type: Literal["batch_norm", "layer_norm"] = "batch_norm"
    conv_context_size: str | tuple[int, int] = "symmetric"
    subsampling: Literal["striding", "dw_striding"] = "dw_striding"
    subsampling_factor: int = 8
    subsampling_conv_channels: int = 256
    causal_downsampling: bool = False
    causal_right_pad: bool = False  # NeMo's causal subsampling: 1 frame of right padding per stage
    att_context_size: tuple[Context, ...] = ((-1, -1),)
    att_context_style: Literal["regular", "chunked_limited"] = "regular"
    xscaling: bool = True
    untie_biases: bool = True
    dropout: float = 0.1
    dropout_pre_encoder: float = 0.1
    dropout_emb: float = 0.0
    dropout_att: float = 0.1


@dataclass(frozen=True)
class TransformerConfig:
    """Transformer-transducer encoder: pre-LN blocks, limited left context and look-ahead.

    pos_emb: 'rotary' (in attention), 'relative' (Transformer-XL) or 'absolute' (added sinusoids).
    """

    feat_in: int = 80
    n_layers: int = 12
    d_model: int = 256
    n_heads: int = 4
    ff_expansion_factor: int = 4
    activation: Literal["relu", "swish"] = "relu"
    pos_emb: Literal["rotary", "relative", "absolute"] = "rotary"
    subsampling: Literal["striding", "dw_striding"] = "striding"
    subsampling_factor: int = 4
    subsampling_conv_channels: int = 256
    causal_downsampling: bool = True
    att_context_size: tuple[Context, ...] = ((64, 0),)
    att_context_style: Literal["regular", "chunked_limited"] = "regular"
    xscaling: bool = True
    dropout: float = 0.1
    dropout_pre_encoder: float = 0.1
    dropout_att: float = 0.1
