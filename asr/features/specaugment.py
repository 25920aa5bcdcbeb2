"""SpecAugment (Park et al., 2019): random frequency and time masks on log-mel features in training.

Time-mask widths scale with each utterance's length (a fraction of its frames, as in NeMo's
adaptive masking); masks never reach past a row's length, so padding stays untouched.
Shapes: see NOTATION.md (B, T feature frames, F mel bins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["SpecAugmentConfig", "SpecAugment"]


@dataclass(frozen=True)
class SpecAugmentConfig:
    """How many masks of which widths; `fill` is the value of masked cells."""

    num_freq_masks: int = 2
    freq_mask_width: int = 27  # max bins per frequency mask
    num_time_masks: int = 10
    time_mask_ratio: float = 0.05  # max frames per time mask, as a fraction of the row's length
    fill: Literal["zero", "mean"] = "zero"  # "mean": the mean of the row's valid features


def _random_spans(
    limits: torch.Tensor, max_width: torch.Tensor, count: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random spans per row inside [0, limits) of width <= max_width: starts, widths (B, count)."""
    device = generator.device if generator is not None else limits.device
    u = torch.rand(2, limits.shape[0], count, generator=generator, device=device, dtype=torch.float64)
    u = u.to(limits.device)
    widths = (u[0] * (max_width[:, None] + 1)).floor().long().clamp_max(max_width[:, None])
    room = (limits[:, None] - widths).clamp_min(0)
    starts = (u[1] * (room + 1)).floor().long().clamp_max(room)
    return starts, widths


def _span_mask(starts: torch.Tensor, widths: torch.Tensor, size: int) -> torch.Tensor:
    """Union of the spans (B, count) of each row as a boolean mask (B, size)."""
    pos = torch.arange(size, device=starts.device)[None, None, :]
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])
    return inside.any(dim=1)


class SpecAugment(torch.nn.Module):
    """Masks random frequency bands and time spans in `.train()` mode; the identity in `.eval()` mode."""

    def __init__(self, cfg: SpecAugmentConfig = SpecAugmentConfig()) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(
        self,
        feats: torch.Tensor,
        lengths: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Masked copy of `feats` (B, T, F); `lengths` (B,) frames per row (all T if None)."""
        assert feats.dim() == 3, f"feats must be (B, T, F), got {tuple(feats.shape)}"
        if not self.training:
            return feats
        b, t, f = feats.shape
        device = feats.device
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long, device=device)
        assert lengths.shape == (b,), f"lengths must be (B,), got {tuple(lengths.shape)}"
        lengths = lengths.to(device, torch.long).clamp(0, t)
        cfg = self.cfg
        f_starts, f_widths = _random_spans(
            torch.full((b,), f, device=device), torch.full((b,), min(cfg.freq_mask_width, f), device=device),
            cfg.num_freq_masks, generator,
        )
        t_max_width = (lengths.double() * cfg.time_mask_ratio).floor().long()
        t_starts, t_widths = _random_spans(lengths, t_max_width, cfg.num_time_masks, generator)
        valid = torch.arange(t, device=device)[None, :] < lengths[:, None]  # (B, T)
        masked = _span_mask(t_starts, t_widths, t)[:, :, None] | _span_mask(f_starts, f_widths, f)[:, None, :]
        masked = masked & valid[:, :, None]  # (B, T, F)
        if cfg.fill == "zero":
            return feats.masked_fill(masked, 0.0)
        weights = valid[:, :, None].to(feats.dtype)
        mean = (feats * weights).sum(dim=(1, 2)) / (lengths.clamp_min(1) * f).to(feats.dtype)  # (B,)
        return torch.where(masked, mean[:, None, None].detach(), feats)
