"""Shared neural blocks of the speech and text models: attention, masks, positions, feed-forward,
convolution module, subsampling, Conformer and Transformer encoder blocks (the decoder block is
in asr.nn.decoder). Every block has an offline forward and pieces a streaming step can reuse.
"""

from transduce.asr.nn.attention import POSITION_KINDS, MultiHeadAttention
from transduce.asr.nn.conformer_block import ConformerBlock, ConformerBlockConfig
from transduce.asr.nn.convolution import ConvolutionModule, conv_context
from transduce.asr.nn.feed_forward import FeedForward
from transduce.asr.nn.masks import (
    causal_mask,
    chunked_limited_mask,
    context_mask,
    full_mask,
    lengths_to_valid,
    limited_mask,
)
from transduce.asr.nn.positional import RelPositions, absolute_positions, relative_positions, rotary, sinusoid
from transduce.asr.nn.subsampling import SUBSAMPLING_KINDS, ConvSubsampling
from transduce.asr.nn.transformer_block import TransformerBlockConfig, TransformerEncoderBlock

__all__ = [
    "POSITION_KINDS",
    "SUBSAMPLING_KINDS",
    "ConformerBlock",
    "ConformerBlockConfig",
    "ConvSubsampling",
    "ConvolutionModule",
    "FeedForward",
    "MultiHeadAttention",
    "RelPositions",
    "TransformerBlockConfig",
    "TransformerEncoderBlock",
    "absolute_positions",
    "causal_mask",
    "chunked_limited_mask",
    "conv_context",
    "context_mask",
    "full_mask",
    "lengths_to_valid",
    "limited_mask",
    "relative_positions",
    "rotary",
    "sinusoid",
]
