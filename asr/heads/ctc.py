"""CTC head: one linear layer from encoder frames to token logits (blank = 0 included).

Shapes: see NOTATION.md (B, T' encoder frames, D encoder width, V vocabulary incl. blank).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["CTCHeadConfig", "CTCHead"]


@dataclass(frozen=True)
class CTCHeadConfig:
    """Sizes of a CTC head."""

    enc_dim: int
    vocab_size: int


class CTCHead(nn.Module):
    """Raw logits (B, T', V) per encoder frame; the loss and the decoders apply log-softmax."""

    def __init__(self, cfg: CTCHeadConfig) -> None:
        super().__init__()
        if cfg.vocab_size < 2:
            raise ValueError(f"vocab_size must count the blank and at least one token, got {cfg.vocab_size}")
        self.cfg = cfg
        self.linear = nn.Linear(cfg.enc_dim, cfg.vocab_size)

    def forward(self, enc: Tensor) -> Tensor:
        """Logits (B, T', V) of encoder output `enc` (B, T', D)."""
        return self.linear(enc)
