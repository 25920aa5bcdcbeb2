"""Convolutional subsampling: conv2d 4x/8x ("striding") and depthwise-striding 8x ("dw_striding").

Each stage halves time with a 3x3 conv of stride 2. Non-causal: time and frequency padded by 1
on both sides. Causal: frequency padded by (2, 1) as NeMo's CausalConv2D does (so NeMo
checkpoints' projection shapes fit), time padded by 2 on the left, so stage output j depends on
stage inputs 2j-2 .. 2j. NeMo also pads 1 frame on the right of every stage, which makes one more
frame out of padding at the end of a stage input of even length (L -> L // 2 + 1 frames); with
`right_pad` (imported NeMo models) we do the same, offline and on a stream's last step. With n
stages and the factor s = 2**n, output frame k then depends on raw frames s*k - 2*(s-1) .. s*k: it
is ready as soon as raw frame s*k arrives, and a stream of m raw frames has produced ceil(m / s)
output frames (the offline length too, plus the padding-made ones with right_pad).

Streaming (causal only) keeps the last 2*(s-1) raw frames (`cache_size`). A step recomputes the
stages on [cache ; new frames] starting at the raw frame s*k0 - 2*(s-1), k0 = the first new
output, and zeroes every stage input frame at a negative absolute index (the causal left padding),
so the outputs equal the offline ones for any split of the stream into chunks.

Shapes: see NOTATION.md (B, T, F, C, T', D); f: frequency bins left after the stages.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transduce.asr.nn._cache import keep_last
from transduce.asr.nn.masks import lengths_to_valid

__all__ = ["ConvSubsampling", "SUBSAMPLING_KINDS"]

SUBSAMPLING_KINDS = ("striding", "dw_striding")


def _ceil_div(a: Tensor, b: int) -> Tensor:
    return torch.div(a + b - 1, b, rounding_mode="floor")


class ConvSubsampling(nn.Module):
    """Subsample (B, T, F) features by `factor` in time and project to (B, T', D)."""

    def __init__(
        self, feat_in: int, d_model: int, kind: str, factor: int, channels: int, causal: bool,
        right_pad: bool = False,
    ) -> None:
        super().__init__()
        if kind not in SUBSAMPLING_KINDS:
            raise ValueError(f"unknown subsampling {kind!r}; expected one of {SUBSAMPLING_KINDS}")
        if factor < 2 or factor & (factor - 1):
            raise ValueError(f"subsampling_factor must be a power of 2 >= 2, got {factor}")
        self.pad_f = (2, 1) if causal else (1, 1)
        self.right_pad = causal and right_pad
        self.feat_in, self.factor, self.causal, self.n_stages = (
            feat_in,
            factor,
            causal,
            int(math.log2(factor)),
        )
        stages, f = [], feat_in
        for i in range(self.n_stages):
            in_ch = 1 if i == 0 else channels
            if kind == "striding" or i == 0:
                stages.append(nn.Sequential(nn.Conv2d(in_ch, channels, 3, stride=2), nn.ReLU()))
            else:
                stages.append(
                    nn.Sequential(
                        nn.Conv2d(channels, channels, 3, stride=2, groups=channels),
                        nn.Conv2d(channels, channels, 1),
                        nn.ReLU(),
                    )
                )
            f = (f + sum(self.pad_f) - 3) // 2 + 1
        self.conv = nn.ModuleList(stages)
        self.out = nn.Linear(channels * f, d_model)

    @property
    def cache_size(self) -> int:
        """Raw feature frames a causal stream keeps between steps: 2 * (factor - 1)."""
        return 2 * (self.factor - 1)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """(B,) feature frames -> (B,) subsampled frames: ceil(lengths / factor) (with right_pad:
        L -> L // 2 + 1 per stage)."""
        if not self.right_pad:
            return _ceil_div(lengths, self.factor)
        for _ in range(self.n_stages):
            lengths = self._stage_length(lengths)
        return lengths

    def _stage_length(self, lengths: Tensor) -> Tensor:
        """Output frames of one stage for `lengths` input frames."""
        if self.right_pad:
            return torch.div(lengths, 2, rounding_mode="floor") + 1
        return _ceil_div(lengths, 2)

    def _project(self, x: Tensor) -> Tensor:
        """(B, C, T', f) -> (B, T', D)."""
        b, c, t, f = x.shape
        return self.out(x.transpose(1, 2).reshape(b, t, c * f))

    def forward(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Offline: feats (B, T, F), lengths (B,) -> (B, T', D), (B,); padded frames are zeroed per stage."""
        assert feats.dim() == 3, f"feats must be (B, T, F), got {tuple(feats.shape)}"
        x, lens = feats[:, None], lengths
        pad_t = ((2, 1) if self.right_pad else (2, 0)) if self.causal else (1, 1)
        for stage in self.conv:
            x = x.masked_fill(~lengths_to_valid(lens, x.shape[2])[:, None, :, None], 0.0)
            x = stage(F.pad(x, (*self.pad_f, *pad_t)))
            lens = self._stage_length(lens)
        return self._project(x), lens

    def stream(
        self, chunk: Tensor, chunk_lens: Tensor, cache: Tensor, frames_in: Tensor, final: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One streaming step.

        chunk (B, T, F) new frames (chunk_lens (B,) valid), cache (B, cache_size, F) the last raw
        frames, frames_in (B,) raw frames seen before; final (B,) bool: the stream's last step (with
        right_pad, the frames made of right padding come then). Returns the new subsampled frames
        (B, n_out, D) (n_out = max count, the first counts[b] valid), counts (B,) and the new cache
        (B, cache_size, F).
        """
        if not self.causal:
            raise ValueError("streaming needs causal subsampling (causal_downsampling=True)")
        s, r = self.factor, self.cache_size
        assert cache.shape[1] == r, \
            f"subsampling cache (B, cache_frames, F) must have cache_frames={r}, got {tuple(cache.shape)}"
        chunk = chunk.masked_fill(~lengths_to_valid(chunk_lens, chunk.shape[1])[:, :, None], 0.0)
        buf = torch.cat([cache, chunk], dim=1)  # (B, cache_size + T, F)
        new_cache = keep_last(buf, chunk_lens + r, r, dim=1)
        k0 = _ceil_div(frames_in, s)
        total = frames_in + chunk_lens
        counts = _ceil_div(total, s) - k0
        ends = None  # with right_pad on a last step: each stage's input length (absolute), masked beyond
        if self.right_pad and final is not None and bool(final.any()):
            counts = torch.where(final, self.output_lengths(total) - k0, counts)
            ends = torch.where(final, total, torch.full_like(total, -1))
        seg_len = buf.shape[1] + 1  # > cache_size raw frames: at least one output even for an empty chunk
        if ends is not None:
            seg_len += s  # room for the padding-made frames of each stage
        buf = F.pad(buf, (0, 0, 0, 2 * s))
        offset = s * k0 - frames_in  # in [0, s-1]
        idx = (offset[:, None] + torch.arange(seg_len, device=buf.device)[None, :])[:, :, None]
        x = torch.gather(buf, 1, idx.expand(-1, -1, buf.shape[2]))[:, None]  # (B, 1, seg_len, F)
        start = s * k0 - r  # absolute index of the segment's first frame, per stage below
        for stage in self.conv:
            pos = start[:, None] + torch.arange(x.shape[2], device=x.device)[None, :]
            keep = pos >= 0
            if ends is not None:  # NeMo zeroes a stage's input past its length (it then pads it)
                keep = keep & ((ends[:, None] < 0) | (pos < ends[:, None]))
                ends = torch.where(ends >= 0, self._stage_length(ends), ends)
            x = stage(F.pad(x.masked_fill(~keep[:, None, :, None], 0.0), (*self.pad_f, 0, 0)))
            start = torch.div(start + 2, 2, rounding_mode="floor")
        n_out = int(counts.max()) if counts.numel() else 0
        assert x.shape[2] >= n_out, f"subsampled segment too short: {x.shape[2]} < {n_out}"
        return self._project(x[:, :, :n_out]), counts, new_cache
