"""Batched greedy TDT decoding: label looping with frame skipping by predicted durations.

Shapes: see NOTATION.md (B streams, T' encoder frames, D encoder width).

At each step the token and the duration are chosen separately (argmax of each head, as in the TDT
paper, Xu et al. 2023, and NeMo). A blank advances by its duration (a predicted 0 counts as 1); a
label with duration d > 0 advances d frames, with d = 0 the stream stays on its frame (at most
`max_symbols_per_frame` labels, then it is forced one frame on). A jump past the end of a chunk
carries into the next chunk (`TransducerGreedyState.skip`). The score adds the log-probabilities of
every chosen token and duration; `Hypothesis.durations` holds each label's duration.
"""

from __future__ import annotations

from typing import Literal

from transduce.asr.decoding._transducer_greedy import GreedyCore, GreedyTransducerDecoder
from transduce.asr.decoding.base import DecodingError
from transduce.asr.decoding.transducer_state import TransducerGreedyConfig
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor

__all__ = ["TDTGreedyDecoder"]


class TDTGreedyDecoder(GreedyTransducerDecoder):
    """Greedy TDT decoding of encoder output (B, T', D) with a TDT joiner (durations set).

    Put the predictor and joiner in eval mode first (dropout would randomise the path).
    """

    def __init__(self, predictor: Predictor, joiner: Joiner, max_symbols_per_frame: int = 10, *,
                 window: int = 4, cuda_graphs: bool = True,
                 rows: Literal["auto", "subset", "masked"] = "auto") -> None:
        if not joiner.durations:
            raise DecodingError("this joiner has no TDT durations: decode it with RNNTGreedyDecoder")
        self.cfg = TransducerGreedyConfig(max_symbols_per_frame, False, window, cuda_graphs, rows)
        self._core = GreedyCore(predictor, joiner, self.cfg)
