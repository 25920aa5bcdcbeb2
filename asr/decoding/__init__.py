"""Decoding: greedy and beam search for CTC, RNN-T and TDT, resumable across chunks.

Every decoder follows `asr.decoding.base.Decoder` (init_state / decode_chunk / best / nbest /
decode) and returns `Hypothesis` objects; `to_result` turns one into text, word times and
confidences (see `asr.decoding.results` for the confidence measure).
"""

from transduce.asr.decoding.base import Decoder, DecoderState, DecodingError, check_chunk, select_list
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.decoding.ctc_beam import CTCBeamConfig, CTCBeamState, CTCPrefixBeamSearch
from transduce.asr.decoding.ctc_greedy import CTCGreedyConfig, CTCGreedyDecoder, CTCGreedyState
from transduce.asr.decoding.results import DecodingResult, Hypothesis, Word, to_result, word_spans
from transduce.asr.decoding.rnnt_beam import ModifiedBeamConfig, ModifiedBeamSearch, RNNTBeamState
from transduce.asr.decoding.rnnt_greedy import RNNTGreedyDecoder
from transduce.asr.decoding.tdt_beam import TDTBeamConfig, TDTBeamSearch, TDTBeamState
from transduce.asr.decoding.tdt_greedy import TDTGreedyDecoder
from transduce.asr.decoding.transducer_state import TransducerGreedyConfig, TransducerGreedyState

__all__ = [
    "CTCBeamConfig",
    "CTCBeamState",
    "CTCGreedyConfig",
    "CTCGreedyDecoder",
    "CTCGreedyState",
    "CTCPrefixBeamSearch",
    "ContextGraph",
    "Decoder",
    "DecoderState",
    "DecodingError",
    "DecodingResult",
    "Hypothesis",
    "ModifiedBeamConfig",
    "ModifiedBeamSearch",
    "RNNTBeamState",
    "RNNTGreedyDecoder",
    "TDTBeamConfig",
    "TDTBeamSearch",
    "TDTBeamState",
    "TDTGreedyDecoder",
    "TransducerGreedyConfig",
    "TransducerGreedyState",
    "Word",
    "check_chunk",
    "select_list",
    "to_result",
    "word_spans",
]
