"""Batched greedy TDT decoding: label looping with frame skipping by predicted durations.

B: batch (streams), T: frames, E: encoder width.

At each step the token and the duration are chosen separately (argmax of each head, as in the TDT
paper, Xu et al. 2023, and NeMo). A blank advances by its duration (a predicted 0 counts as 1); a
label with duration d > 0 advances d frames, with d = 0 the stream stays on its frame (at most
`max_symbols_per_frame` labels, then it is forced one frame on). A jump past the end of a chunk
carries into the next chunk (`TransducerGreedyState.skip`). The score adds the log-probabilities of
every chosen token and duration; `Hypothesis.durations` holds each label's duration.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from asr.decoding._transducer_greedy import GreedyCore
from asr.decoding.base import Decoder, DecodingError
from asr.decoding.results import Hypothesis
from asr.decoding.transducer_state import TransducerGreedyConfig, TransducerGreedyState
from asr.heads.joiner import Joiner
from asr.heads.predictor import Predictor

__all__ = ["TDTGreedyDecoder"]


class TDTGreedyDecoder(Decoder[TransducerGreedyState]):
    """Greedy TDT decoding of encoder output (B, T, E) with a TDT joiner (durations set).

    Put the predictor and joiner in eval mode first (dropout would randomise the path).
    """

    def __init__(self, predictor: Predictor, joiner: Joiner, max_symbols_per_frame: int = 10, *,
                 window: int = 4, cuda_graphs: bool = True,
                 rows: Literal["auto", "subset", "masked"] = "auto") -> None:
        if not joiner.durations:
            raise DecodingError("this joiner has no TDT durations: decode it with RNNTGreedyDecoder")
        self.cfg = TransducerGreedyConfig(max_symbols_per_frame, False, window, cuda_graphs, rows)
        self._core = GreedyCore(predictor, joiner, self.cfg)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> TransducerGreedyState:
        """Predictor after the start symbol, nothing decoded, no frames to skip."""
        return self._core.init_state(batch_size, device)

    def decode_chunk(self, x: Tensor, x_lens: Tensor | None,
                     state: TransducerGreedyState) -> TransducerGreedyState:
        """Decode encoder output `x` (B, T, E), `x_lens` (B,) valid frames; the new state."""
        return self._core.decode_chunk(x, x_lens, state)

    def best(self, state: TransducerGreedyState) -> list[Hypothesis]:
        """The greedy hypothesis so far of each stream."""
        return list(state.hyps)
