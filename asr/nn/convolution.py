"""Conformer convolution module, with a causal depthwise conv that streams from a cache.

pointwise conv (D -> 2D) -> GLU -> depthwise conv (kernel_size) -> BatchNorm | LayerNorm -> Swish
-> pointwise conv. Padded frames are zeroed before the depthwise conv so they never leak.
Names follow NeMo's ConformerConvolution (the norm is `batch_norm` whatever its kind).
Shapes: see NOTATION.md (B, T' encoder frames, D); k = kernel_size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transduce.asr.nn._cache import keep_last

__all__ = ["ConvolutionModule", "conv_context"]


def conv_context(kernel_size: int, context: str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """'causal' -> (k-1, 0); 'symmetric' -> ((k-1)/2, (k-1)/2); [left, right] with left + right + 1 = k."""
    if context == "causal":
        return kernel_size - 1, 0
    if context == "symmetric":
        if kernel_size % 2 == 0:
            raise ValueError(f"a symmetric conv needs an odd conv_kernel_size, got {kernel_size}")
        return (kernel_size - 1) // 2, (kernel_size - 1) // 2
    if isinstance(context, str):
        raise ValueError(f"unknown conv_context_size {context!r}; expected 'causal', 'symmetric' or [l, r]")
    left, right = (int(v) for v in context)
    if left < 0 or right < 0 or left + right + 1 != kernel_size:
        raise ValueError(
            f"conv_context_size {list(context)} must be [l, r] >= 0 with l + r + 1 = {kernel_size}"
        )
    return left, right


class ConvolutionModule(nn.Module):
    """Depthwise conv over `context` = (left, right) frames; right == 0 is causal and can stream."""

    def __init__(
        self, d_model: int, kernel_size: int, context: tuple[int, int], norm: str = "batch_norm"
    ) -> None:
        super().__init__()
        if norm not in ("batch_norm", "layer_norm"):
            raise ValueError(f"unknown conv_norm_type {norm!r}; expected 'batch_norm' or 'layer_norm'")
        self.left, self.right = conv_context(kernel_size, context)
        self.kernel_size, self.norm_type = kernel_size, norm
        self.pointwise_conv1 = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise_conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model)
        self.batch_norm = nn.BatchNorm1d(d_model) if norm == "batch_norm" else nn.LayerNorm(d_model)
        self.activation = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(d_model, d_model, 1)

    @property
    def causal(self) -> bool:
        return self.right == 0

    @property
    def cache_size(self) -> int:
        """Frames of left context the causal depthwise conv keeps between streaming steps (k-1)."""
        return self.left

    def forward(self, x: Tensor, valid: Tensor, cache: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x (B, T', D), valid (B, T') bool prefix mask -> (B, T', D), new cache (B, D, k-1) or None.

        With `cache` (B, D, k-1) (causal only), it holds the depthwise-conv inputs of the k-1
        frames before x; the new cache ends at each stream's last valid frame.
        """
        assert x.shape[:2] == valid.shape, (
            f"x (B, T, D) {tuple(x.shape)} and valid (B, T) {tuple(valid.shape)}"
        )
        h = F.glu(self.pointwise_conv1(x.transpose(1, 2)), dim=1)  # (B, D, T')
        h = h.masked_fill(~valid[:, None, :], 0.0)
        new_cache = None
        if cache is not None:
            if not self.causal:
                raise ValueError("only a causal convolution (conv_context_size 'causal') can stream")
            assert cache.shape[-1] == self.cache_size, \
                f"conv cache (B, D, kernel_size-1) has kernel_size-1={cache.shape[-1]}"
            h = torch.cat([cache, h], dim=-1)
            new_cache = keep_last(h, valid.sum(dim=1) + self.cache_size, self.cache_size, dim=-1)
        else:
            h = F.pad(h, (self.left, self.right))
        h = self.depthwise_conv(h)
        if self.norm_type == "batch_norm":
            h = self.batch_norm(h)
        else:
            h = self.batch_norm(h.transpose(1, 2)).transpose(1, 2)
        h = self.pointwise_conv2(self.activation(h))
        return h.transpose(1, 2), new_cache
