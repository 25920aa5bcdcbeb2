"""Conformer convolution module, with a causal depthwise conv that streams from a cache.

pointwise conv (D -> 2D) -> GLU -> depthwise conv (kernel K) -> BatchNorm | LayerNorm -> Swish
-> pointwise conv. Padded frames are zeroed before the depthwise conv so they never leak.
Legend: B: batch, T: frames, D: model width, K: kernel size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.nn._cache import keep_last

__all__ = ["ConvolutionModule"]


class ConvolutionModule(nn.Module):
    """Causal (left-padded by K-1; cache of K-1 frames when streaming) or symmetric depthwise conv."""

    def __init__(self, d_model: int, kernel_size: int, causal: bool, norm: str = "batch_norm") -> None:
        super().__init__()
        if not causal and kernel_size % 2 == 0:
            raise ValueError(f"a symmetric conv needs an odd kernel size, got {kernel_size}")
        if norm not in ("batch_norm", "layer_norm"):
            raise ValueError(f"unknown conv_norm_type {norm!r}; expected 'batch_norm' or 'layer_norm'")
        self.kernel_size, self.causal, self.norm_type = kernel_size, causal, norm
        self.pointwise_conv1 = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise_conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model)
        self.norm = nn.BatchNorm1d(d_model) if norm == "batch_norm" else nn.LayerNorm(d_model)
        self.activation = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(d_model, d_model, 1)

    @property
    def cache_size(self) -> int:
        """Frames of left context the causal depthwise conv keeps between streaming steps."""
        return self.kernel_size - 1

    def forward(self, x: Tensor, valid: Tensor, cache: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D), valid (B, T) bool prefix mask -> (B, T, D), new cache (B, D, K-1) or None.

        With `cache` (B, D, K-1) (causal only), it holds the depthwise-conv inputs of the K-1
        frames before x; the new cache ends at each stream's last valid frame.
        """
        h = F.glu(self.pointwise_conv1(x.transpose(1, 2)), dim=1)  # (B, D, T)
        h = h.masked_fill(~valid[:, None, :], 0.0)
        new_cache = None
        if cache is not None:
            if not self.causal:
                raise ValueError("only a causal convolution can stream from a cache")
            assert cache.shape[-1] == self.cache_size, f"conv cache (B, D, K-1) has K-1={cache.shape[-1]}"
            h = torch.cat([cache, h], dim=-1)
            end = valid.sum(dim=1) + self.cache_size
            new_cache = keep_last(h, end, self.cache_size, dim=-1)
        elif self.causal:
            h = F.pad(h, (self.cache_size, 0))
        else:
            pad = (self.kernel_size - 1) // 2
            h = F.pad(h, (pad, pad))
        h = self.depthwise_conv(h)
        if self.norm_type == "batch_norm":
            h = self.norm(h)
        else:
            h = self.norm(h.transpose(1, 2)).transpose(1, 2)
        h = self.pointwise_conv2(self.activation(h))
        return h.transpose(1, 2), new_cache
