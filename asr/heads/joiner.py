"""Transducer joiner: combines encoder and predictor outputs into token (and duration) logits.

Shapes: see NOTATION.md (B, T' encoder frames, U target length, D encoder width, P predictor
width, J joiner width, V vocabulary incl. blank, K number of TDT durations).

    logits = out(act(enc_proj(enc) + pred_proj(pred)))        (Graves 2012; NeMo/icefall joiners)

With `durations` set (TDT, Xu et al. 2023) the last K outputs are duration logits, one per entry
of `durations` (e.g. (0, 1, 2, 3, 4) frames), in the layout kernels.tdt_loss expects. The
projections are separate methods so that decoders project each encoder frame once and the pruned
loss can join pruned ranges only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["JoinerConfig", "Joiner"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class JoinerConfig:
    """Sizes of a joiner; empty `durations` is an RNN-T joiner, otherwise TDT."""

    enc_dim: int
    pred_dim: int
    vocab_size: int
    joint_dim: int = 512
    activation: Literal["relu", "tanh"] = "relu"
    durations: tuple[int, ...] = ()

    @property
    def num_outputs(self) -> int:
        return self.vocab_size + len(self.durations)


class Joiner(nn.Module):
    """Joint network; see the module docstring."""

    def __init__(self, cfg: JoinerConfig) -> None:
        super().__init__()
        _check(cfg)
        self.cfg = cfg
        self.enc_proj = nn.Linear(cfg.enc_dim, cfg.joint_dim)
        self.pred_proj = nn.Linear(cfg.pred_dim, cfg.joint_dim)
        self.activation = _ACTIVATIONS[cfg.activation]()
        self.out = nn.Linear(cfg.joint_dim, cfg.num_outputs)

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    @property
    def durations(self) -> tuple[int, ...]:
        return self.cfg.durations

    def forward(self, enc: Tensor, pred: Tensor) -> Tensor:
        """Logits (B, T', U+1, V+K) for every pair of `enc` (B, T', D) and `pred` (B, U+1, P) frames."""
        return self.joint(self.enc_proj(enc).unsqueeze(2), self.pred_proj(pred).unsqueeze(1))

    def joint(self, enc_projected: Tensor, pred_projected: Tensor) -> Tensor:
        """Logits (..., V+K) of already projected inputs (..., J) that broadcast against each other."""
        return self.out(self.activation(enc_projected + pred_projected))

    def split(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Token logits (..., V) and duration logits (..., K) (empty for RNN-T) of joiner output."""
        return torch.split(logits, [self.cfg.vocab_size, len(self.cfg.durations)], dim=-1)


def _check(cfg: JoinerConfig) -> None:
    if cfg.activation not in _ACTIVATIONS:
        raise ValueError(f"joiner activation must be one of {sorted(_ACTIVATIONS)}, got {cfg.activation!r}")
    if cfg.vocab_size < 2:
        raise ValueError(f"vocab_size must count the blank and at least one token, got {cfg.vocab_size}")
    if cfg.durations:
        if len(set(cfg.durations)) != len(cfg.durations) or min(cfg.durations) < 0:
            raise ValueError(f"TDT durations must be distinct and >= 0, got {cfg.durations}")
        if max(cfg.durations) < 1:
            raise ValueError(f"TDT durations need one > 0 (blank arcs must advance), got {cfg.durations}")
