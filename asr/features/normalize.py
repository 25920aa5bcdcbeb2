"""Global per-feature mean/variance normalisation (CMVN) of log-mel features.

`FeatureStats` accumulates mean and variance over training data in float64 (Chan's pairwise
update, stable for millions of frames); `FeatureNormalizer` applies them and keeps them as
buffers, so they travel in the model's state dict and serving normalises like training did.
Shapes: see NOTATION.md (B, T feature frames, F mel bins).
"""

from __future__ import annotations

import torch

__all__ = ["FeatureStats", "FeatureNormalizer"]


class FeatureStats:
    """Running count, mean and variance per feature of (T, F) feature matrices."""

    def __init__(self, num_features: int, min_std: float = 1e-3) -> None:
        self.num_features = num_features
        self.min_std = min_std
        self.count = 0
        self._mean = torch.zeros(num_features, dtype=torch.float64)
        self._m2 = torch.zeros(num_features, dtype=torch.float64)  # sum of squared deviations

    def update(self, feats: torch.Tensor) -> None:
        """Add the frames of `feats` (T, F)."""
        assert feats.dim() == 2 and feats.shape[1] == self.num_features, (
            f"feats must be (T, F={self.num_features}), got {tuple(feats.shape)}"
        )
        x = feats.detach().to("cpu", torch.float64)
        n = x.shape[0]
        if n == 0:
            return
        mean = x.mean(dim=0)
        m2 = (x - mean).square().sum(dim=0)
        total = self.count + n
        delta = mean - self._mean
        self._mean = self._mean + delta * (n / total)
        self._m2 = self._m2 + m2 + delta.square() * (self.count * n / total)
        self.count = total

    @property
    def mean(self) -> torch.Tensor:
        """Per-feature mean (F,) float64."""
        return self._mean.clone()

    @property
    def std(self) -> torch.Tensor:
        """Per-feature population standard deviation (F,) float64, floored at `min_std`."""
        var = self._m2 / max(self.count, 1)
        return var.sqrt().clamp_min(self.min_std)


class FeatureNormalizer(torch.nn.Module):
    """(x - mean) / std per feature; the identity until fitted (mean 0, std 1)."""

    def __init__(self, num_features: int = 80) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))

    @classmethod
    def from_stats(cls, stats: FeatureStats) -> FeatureNormalizer:
        """A normaliser holding the mean and std accumulated in `stats`."""
        if stats.count == 0:
            raise ValueError("FeatureNormalizer.from_stats: the statistics hold no frames")
        norm = cls(stats.num_features)
        norm.mean.copy_(stats.mean)
        norm.std.copy_(stats.std)
        return norm

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise `feats` (B, T, F); with `lengths` (B,) the padded frames stay zero."""
        assert feats.dim() == 3 and feats.shape[-1] == self.mean.shape[0], (
            f"feats must be (B, T, F={self.mean.shape[0]}), got {tuple(feats.shape)}"
        )
        out = (feats - self.mean.to(feats.dtype)) / self.std.to(feats.dtype)
        if lengths is None:
            return out
        assert lengths.shape == feats.shape[:1], f"lengths must be (B,), got {tuple(lengths.shape)}"
        valid = torch.arange(feats.shape[1], device=feats.device)[None, :] < lengths.to(feats.device)[:, None]
        return out.masked_fill(~valid[..., None], 0.0)
