"""Position-wise feed-forward: Linear -> activation -> dropout -> Linear.

Shapes: see NOTATION.md (D: model width).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["FeedForward", "activation"]


def activation(name: str) -> nn.Module:
    """'swish' (SiLU, Conformer) or 'relu' (Transformer; in place: it overwrites the first linear's fresh
    output, which autograd does not keep, and saves allocating and faulting in a second (..., 4D) tensor)."""
    if name == "swish":
        return nn.SiLU()
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {name!r}; expected 'swish' or 'relu'")


class FeedForward(nn.Module):
    """(..., D) -> (..., D) through a hidden width of expansion * D."""

    def __init__(self, d_model: int, expansion: int = 4, dropout: float = 0.0, act: str = "swish") -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_model * expansion)
        self.activation = activation(act)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_model * expansion, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))
