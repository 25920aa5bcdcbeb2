"""Batched greedy RNN-T decoding by label looping (NeMo's algorithm), resumable across chunks.

Shapes: see NOTATION.md (B streams, T' encoder frames, D encoder width).

Label looping advances every stream over its blanks (joiner only) and then steps the predictor
once for the streams that found a label, instead of visiting frame by frame; see
`asr.decoding._label_loop`. `frame_looping=True` runs the classic per-frame loop instead (the
oracle and the speed baseline). On CUDA the loop is replayed as CUDA graphs. A hypothesis score is
the sum of the log-probabilities of every choice on the greedy path (blanks included); a token's
confidence is its probability under the token softmax.
"""

from __future__ import annotations

from typing import Literal

from transduce.asr.decoding._transducer_greedy import GreedyCore, GreedyTransducerDecoder
from transduce.asr.decoding.base import DecodingError
from transduce.asr.decoding.transducer_state import TransducerGreedyConfig
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor

__all__ = ["RNNTGreedyDecoder"]


class RNNTGreedyDecoder(GreedyTransducerDecoder):
    """Greedy RNN-T decoding of encoder output (B, T', D) with an RNN-T joiner (no durations).

    Put the predictor and joiner in eval mode first (dropout would randomise the path).
    """

    def __init__(self, predictor: Predictor, joiner: Joiner, max_symbols_per_frame: int = 10, *,
                 frame_looping: bool = False, window: int = 4, cuda_graphs: bool = True,
                 rows: Literal["auto", "subset", "masked"] = "auto") -> None:
        if joiner.durations:
            raise DecodingError("this joiner has TDT durations: decode it with TDTGreedyDecoder")
        self.cfg = TransducerGreedyConfig(max_symbols_per_frame, frame_looping, window, cuda_graphs, rows)
        self._core = GreedyCore(predictor, joiner, self.cfg)
