"""Batched greedy RNN-T decoding by label looping (NeMo's algorithm), resumable across chunks.

B: batch (streams), T: frames, E: encoder width.

Label looping advances every stream over its blanks (joiner only) and then steps the predictor
once for the streams that found a label, instead of visiting frame by frame; see
`asr.decoding._label_loop`. `frame_looping=True` runs the classic per-frame loop instead (the
oracle and the speed baseline). On CUDA the loop is replayed as CUDA graphs. A hypothesis score is
the sum of the log-probabilities of every choice on the greedy path (blanks included); a token's
confidence is its probability under the token softmax.
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

__all__ = ["RNNTGreedyDecoder"]


class RNNTGreedyDecoder(Decoder[TransducerGreedyState]):
    """Greedy RNN-T decoding of encoder output (B, T, E) with an RNN-T joiner (no durations).

    Put the predictor and joiner in eval mode first (dropout would randomise the path).
    """

    def __init__(self, predictor: Predictor, joiner: Joiner, max_symbols_per_frame: int = 10, *,
                 frame_looping: bool = False, window: int = 4, cuda_graphs: bool = True,
                 rows: Literal["auto", "subset", "masked"] = "auto") -> None:
        if joiner.durations:
            raise DecodingError("this joiner has TDT durations: decode it with TDTGreedyDecoder")
        self.cfg = TransducerGreedyConfig(max_symbols_per_frame, frame_looping, window, cuda_graphs, rows)
        self._core = GreedyCore(predictor, joiner, self.cfg)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> TransducerGreedyState:
        """Predictor after the start symbol, nothing decoded."""
        return self._core.init_state(batch_size, device)

    def decode_chunk(self, x: Tensor, x_lens: Tensor | None,
                     state: TransducerGreedyState) -> TransducerGreedyState:
        """Decode encoder output `x` (B, T, E), `x_lens` (B,) valid frames; the new state."""
        return self._core.decode_chunk(x, x_lens, state)

    def best(self, state: TransducerGreedyState) -> list[Hypothesis]:
        """The greedy hypothesis so far of each stream."""
        return list(state.hyps)
