"""Decoding: greedy and beam search for CTC, RNN-T and TDT, resumable across chunks.

Every decoder follows `asr.decoding.base.Decoder` (init_state / decode_chunk / best / nbest /
decode) and returns `Hypothesis` objects; `to_result` turns one into text, word times and
confidences (see `asr.decoding.results` for the confidence measure).
"""

from asr.decoding.base import Decoder, DecoderState, DecodingError, check_chunk, select_list
from asr.decoding.results import DecodingResult, Hypothesis, Word, to_result, word_spans

__all__ = [
    "Decoder",
    "DecoderState",
    "DecodingError",
    "DecodingResult",
    "Hypothesis",
    "Word",
    "check_chunk",
    "select_list",
    "to_result",
    "word_spans",
]
