"""Transducer predictor (the "decoder" of RNN-T/TDT): a label-history model, stateless or LSTM.

Shapes: see NOTATION.md (B, U target length, P predictor output width: `hidden` for the LSTM,
`embed_dim` stateless, L LSTM layers).

The history starts with the blank (id 0) as start-of-sequence; its embedding is fixed at zero
(`padding_idx`), so the stateless predictor's left padding and the start symbol are the same thing.
- "stateless" (Ghodsi et al., 2020; icefall): embedding of the last `context_size` tokens, a
  depthwise Conv1d of kernel `context_size` over them, ReLU. context_size = 1 is a bigram model.
- "lstm" (Graves, 2012; NeMo RNNTDecoder): embedding, then an L-layer LSTM.
`forward` runs the whole history for training; `step` advances a batch of streams by one token
for decoding; `forward(y)[:, u]` equals the output after stepping blank, y_1 .. y_u.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transduce.asr.tokenizers.base import BLANK_ID

__all__ = ["PredictorConfig", "PredictorState", "Predictor"]


@dataclass(frozen=True)
class PredictorConfig:
    """Settings of a predictor; `hidden` and `num_layers` apply to the LSTM only."""

    vocab_size: int
    embed_dim: int = 256
    kind: Literal["stateless", "lstm"] = "stateless"
    context_size: int = 2
    hidden: int = 320
    num_layers: int = 1
    dropout: float = 0.1

    @property
    def out_dim(self) -> int:
        return self.embed_dim if self.kind == "stateless" else self.hidden


@dataclass(frozen=True)
class PredictorState:
    """Per-stream predictor state, batch first so it splits and stacks like the encoder state.

    history (B, context_size - 1) previous tokens (stateless; width 0 for the LSTM); h, c (B, L, P)
    LSTM state (widths 0 for the stateless predictor).
    """

    history: Tensor
    h: Tensor
    c: Tensor

    @property
    def batch_size(self) -> int:
        return self.history.shape[0]

    def select(self, indices: Tensor | list[int]) -> PredictorState:
        """The states of streams `indices`, in that order."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.history.device)
        return PredictorState(*(x.index_select(0, idx) for x in (self.history, self.h, self.c)))

    @classmethod
    def stack(cls, states: list[PredictorState]) -> PredictorState:
        """One batch of the streams of `states`, concatenated in order."""
        if not states:
            raise ValueError("cannot stack an empty list of predictor states")
        return cls(*(torch.cat([getattr(s, f.name) for s in states]) for f in dataclasses.fields(cls)))

    def where(self, mask: Tensor, other: PredictorState) -> PredictorState:
        """Per stream: this state where `mask` (B,) is true, else `other`'s."""
        def pick(a: Tensor, b: Tensor) -> Tensor:
            return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)

        return PredictorState(pick(self.history, other.history), pick(self.h, other.h), pick(self.c, other.c))


class Predictor(nn.Module):
    """Label-history model; see the module docstring."""

    def __init__(self, cfg: PredictorConfig) -> None:
        super().__init__()
        if cfg.kind not in ("stateless", "lstm"):
            raise ValueError(f"predictor kind must be 'stateless' or 'lstm', got {cfg.kind!r}")
        if cfg.context_size < 1:
            raise ValueError(f"context_size must be >= 1, got {cfg.context_size}")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=BLANK_ID)
        self.dropout = nn.Dropout(cfg.dropout)
        if cfg.kind == "stateless":
            self.conv = nn.Conv1d(cfg.embed_dim, cfg.embed_dim, cfg.context_size, groups=cfg.embed_dim,
                                  bias=False)
        else:
            self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden, cfg.num_layers, batch_first=True,
                                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)

    @property
    def out_dim(self) -> int:
        return self.cfg.out_dim

    def forward(self, targets: Tensor) -> Tensor:
        """Outputs (B, U+1, P) for histories blank, blank y_1, ..., blank y_1..y_U of `targets` (B, U).

        Padding in `targets` only affects positions after it, which the loss never reads.
        """
        tokens = F.pad(targets.long(), (1, 0), value=BLANK_ID)
        out, _ = self._run(tokens, self.init_state(targets.shape[0], targets.device))
        return out

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> PredictorState:
        """The state before the start symbol: empty history (blanks), zero LSTM state."""
        cfg = self.cfg
        stateless = cfg.kind == "stateless"
        n_hist = cfg.context_size - 1 if stateless else 0
        n_layers, width = (0, 0) if stateless else (cfg.num_layers, cfg.hidden)
        dtype = self.embedding.weight.dtype
        return PredictorState(
            history=torch.full((batch_size, n_hist), BLANK_ID, dtype=torch.long, device=device),
            h=torch.zeros(batch_size, n_layers, width, dtype=dtype, device=device),
            c=torch.zeros(batch_size, n_layers, width, dtype=dtype, device=device),
        )

    def step(self, tokens: Tensor, state: PredictorState) -> tuple[Tensor, PredictorState]:
        """Feed one token per stream, `tokens` (B,): output (B, P) and the state after it."""
        out, state = self._run(tokens.long().view(-1, 1), state)
        return out[:, 0], state

    def _run(self, tokens: Tensor, state: PredictorState) -> tuple[Tensor, PredictorState]:
        """Outputs (B, n, P) after each of the n `tokens` (B, n), starting from `state`."""
        emb = self.dropout(self.embedding(tokens))
        if self.cfg.kind == "lstm" and tokens.shape[1] == 1 and not self.training:
            return self._lstm_cell_step(emb[:, 0], state)
        if self.cfg.kind == "lstm":
            h0, c0 = state.h.transpose(0, 1).contiguous(), state.c.transpose(0, 1).contiguous()
            out, (h, c) = self.lstm(emb, (h0, c0))
            return out, PredictorState(state.history, h.transpose(0, 1), c.transpose(0, 1))
        window = torch.cat([self.embedding(state.history), emb], dim=1)
        out = F.relu(self.conv(window.transpose(1, 2))).transpose(1, 2)
        history = torch.cat([state.history, tokens], dim=1)[:, tokens.shape[1]:]
        return out, PredictorState(history, state.h, state.c)

    def _lstm_cell_step(self, x: Tensor, state: PredictorState) -> tuple[Tensor, PredictorState]:
        """One LSTM time step (B, embed_dim) layer by layer with torch.lstm_cell: the same math as nn.LSTM,
        several times faster than its fused CPU kernel for a single step (decoding's hot loop)."""
        hs, cs = [], []
        for layer in range(self.cfg.num_layers):
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            weights = [getattr(self.lstm, f"{name}_l{layer}") for name in names]
            h, c = torch.lstm_cell(x, (state.h[:, layer], state.c[:, layer]), *weights)
            hs.append(h)
            cs.append(c)
            x = h
        return x[:, None], PredictorState(state.history, torch.stack(hs, 1), torch.stack(cs, 1))
