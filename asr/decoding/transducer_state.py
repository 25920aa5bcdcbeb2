"""Settings and state of greedy transducer decoding (RNN-T and TDT); the state is batch first.

Shapes: see NOTATION.md (B streams, J joiner width); the predictor state's own layout is in
asr.heads.predictor.
  pred    PredictorState       the predictor after the last emitted token (or the start symbol)
  dec     (B, J)               that predictor output, already projected by the joiner (`pred_proj`)
  offset  (B,) long            global encoder-frame index of the next chunk's first frame
  skip    (B,) long            frames of the next chunk to jump over (a TDT duration that ran past
                               the end of the last chunk; always 0 for RNN-T)
  hyps    list[Hypothesis]     each stream's hypothesis so far
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from transduce.asr.decoding.base import DecodingError, select_list
from transduce.asr.decoding.results import Hypothesis
from transduce.asr.heads.predictor import PredictorState

__all__ = ["TransducerGreedyConfig", "TransducerGreedyState"]


@dataclass(frozen=True)
class TransducerGreedyConfig:
    """Settings of greedy RNN-T/TDT decoding.

    max_symbols_per_frame: labels emitted on one frame before the frame is forced forward.
    frame_looping: RNN-T only; the classic per-frame loop (oracle and speed baseline) instead of
    label looping.
    window: frames a searching stream joins at once in one step of the blank search (its
    predictor output is fixed meanwhile, so this changes no result; 1 is NeMo's one-frame step,
    larger windows take fewer, bigger steps and waste the frames past the label found).
    cuda_graphs: on CUDA, replay the label loop's steps as CUDA graphs.
    rows: "subset" computes only the streams taking part in a step (an index per step: good on
    CPU), "masked" computes every stream and keeps results with `torch.where` (no host syncs:
    good on GPU), "auto" picks by device.
    """

    max_symbols_per_frame: int = 10
    frame_looping: bool = False
    window: int = 4
    cuda_graphs: bool = True
    rows: Literal["auto", "subset", "masked"] = "auto"

    def __post_init__(self) -> None:
        if self.max_symbols_per_frame < 1:
            raise DecodingError(f"max_symbols_per_frame must be >= 1, got {self.max_symbols_per_frame}")
        if self.window < 1:
            raise DecodingError(f"window must be >= 1 frame, got {self.window}")
        if self.rows not in ("auto", "subset", "masked"):
            raise DecodingError(f"rows must be 'auto', 'subset' or 'masked', got {self.rows!r}")


@dataclass(frozen=True)
class TransducerGreedyState:
    """Per-stream state of greedy RNN-T/TDT decoding; see the module docstring for the layout."""

    pred: PredictorState
    dec: Tensor
    offset: Tensor
    skip: Tensor
    hyps: list[Hypothesis]

    @property
    def batch_size(self) -> int:
        return self.offset.shape[0]

    def select(self, indices: Tensor | Sequence[int]) -> TransducerGreedyState:
        """The states of streams `indices`, in that order."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.offset.device)
        return TransducerGreedyState(self.pred.select(idx), self.dec[idx.to(self.dec.device)],
                                     self.offset[idx], self.skip[idx], select_list(self.hyps, indices))

    @classmethod
    def stack(cls, states: Sequence[TransducerGreedyState]) -> TransducerGreedyState:
        """One batch of the streams of `states`, concatenated in order."""
        if not states:
            raise DecodingError("cannot stack an empty list of transducer greedy states")
        return cls(PredictorState.stack([s.pred for s in states]), torch.cat([s.dec for s in states]),
                   torch.cat([s.offset for s in states]), torch.cat([s.skip for s in states]),
                   [h for s in states for h in s.hyps])
