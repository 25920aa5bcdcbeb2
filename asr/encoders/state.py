"""Streaming state of an encoder: a typed bundle of fixed-size tensors, batch first.

Layout (shapes: see NOTATION.md; B: streams, L: layers, H, Dh, D, F; and per encoder
r = 2 * (subsampling_factor - 1) raw frames the causal subsampling keeps, c = max(left + right)
attention cache frames, p = max(right) pending frames, m = conv_kernel_size - 1 (0 without a conv)):
  sub_cache (B, r, F)      last raw feature frames (left context of the causal subsampling)
  frames_in (B,)           raw feature frames consumed so far
  frontier  (B, L + 1)     column 0: subsampled frames produced; column l + 1: final outputs of layer l
  k, v      (B, L, H, c, Dh)  keys/values of the last c input frames of each layer
  x1        (B, L, p, D)   residual (before attention) of the last p input frames of each layer: the queries
                           still waiting for look-ahead
  conv      (B, L, D, m)   causal depthwise-conv inputs of the last m output frames of each layer
  lookahead (B,)           index into att_context_size chosen for the stream; left, right (B,) its context
Sizes never depend on how long a stream has run, so the cost of a step does not either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["EncoderState", "StreamingError"]


class StreamingError(ValueError):
    """The encoder configuration or the inputs do not allow cache-aware streaming."""


@dataclass(frozen=True)
class EncoderState:
    """Per-stream caches of a streaming encoder; see the module docstring for the layout."""

    sub_cache: Tensor
    frames_in: Tensor
    frontier: Tensor
    k: Tensor
    v: Tensor
    x1: Tensor
    conv: Tensor
    lookahead: Tensor
    left: Tensor
    right: Tensor

    @property
    def batch_size(self) -> int:
        return self.frames_in.shape[0]

    def select(self, indices: Tensor | list[int]) -> EncoderState:
        """The states of streams `indices` (in that order), e.g. to drop finished streams."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.frames_in.device)
        return EncoderState(
            **{f.name: getattr(self, f.name).index_select(0, idx) for f in dataclasses.fields(self)}
        )

    @classmethod
    def stack(cls, states: list[EncoderState]) -> EncoderState:
        """One batch of the streams of `states` (concatenated in order); their layouts must match."""
        if not states:
            raise StreamingError("cannot stack an empty list of encoder states")
        for f in dataclasses.fields(cls):
            shapes = {tuple(getattr(s, f.name).shape[1:]) for s in states}
            if len(shapes) > 1:
                raise StreamingError(
                    f"encoder states differ in {f.name} layout {sorted(shapes)}: not the same encoder"
                )
        return cls(
            **{f.name: torch.cat([getattr(s, f.name) for s in states]) for f in dataclasses.fields(cls)}
        )

    def to(self, device: torch.device | str) -> EncoderState:
        """The same state on another device."""
        return EncoderState(**{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})
