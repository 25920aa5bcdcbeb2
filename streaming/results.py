"""What a session hands back: partial and final results per utterance, times from the stream start.

A result's text, tokens, words (start/end seconds, confidence) and confidence follow
`asr.decoding.to_result` (confidence = probability of each token when it was emitted; a word takes
the minimum over its tokens, the result the mean over its words). Times count from the start of
the stream, not of the utterance: an utterance that starts after an endpoint keeps the time line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transduce.asr.decoding import DecodingResult, Hypothesis, Word, to_result
from transduce.asr.tokenizers.base import Tokenizer

__all__ = ["StreamResult", "make_result", "shift_hypothesis"]


@dataclass(frozen=True)
class StreamResult:
    """One partial (is_final=False) or final result of utterance `utterance_index` (0, 1, ...).

    stability: see `streaming.stability` (1.0 for finals). start_s: where the utterance begins;
    end_s: the end of the audio this result covers. endpoint: for finals, the rule that closed the
    utterance (`streaming.endpoint` names) or "end_of_stream"; None for partials. alternatives:
    the n-best (best first; one for greedy decoding), each a DecodingResult with the same times.
    formatted_text / formatted_alternatives: for finals of a recogniser with formatting on
    (`streaming.formatting`), the written form of text / of each alternative; else None / ().
    """

    text: str
    tokens: tuple[int, ...]
    words: tuple[Word, ...]
    confidence: float
    is_final: bool
    stability: float
    utterance_index: int
    start_s: float
    end_s: float
    endpoint: str | None
    alternatives: tuple[DecodingResult, ...]
    formatted_text: str | None = None
    formatted_alternatives: tuple[str, ...] = ()


def shift_hypothesis(hyp: Hypothesis, frames: int) -> Hypothesis:
    """`hyp` with every token frame moved `frames` later (utterance -> stream time line)."""
    if frames == 0:
        return hyp
    return Hypothesis(list(hyp.tokens), [f + frames for f in hyp.frames], list(hyp.confidences), hyp.score,
                      list(hyp.durations))


def make_result(hyps: Sequence[Hypothesis], tokenizer: Tokenizer, frame_shift_s: float, start_frame: int,
                end_frame: int, *, is_final: bool, stability: float, utterance_index: int,
                endpoint: str | None) -> StreamResult:
    """The StreamResult of n-best `hyps` (best first, frames counted from `start_frame`)."""
    alternatives = tuple(to_result(shift_hypothesis(h, start_frame), tokenizer, frame_shift_s) for h in hyps)
    best = alternatives[0]
    return StreamResult(
        text=best.text,
        tokens=tuple(best.tokens),
        words=tuple(best.words),
        confidence=best.confidence,
        is_final=is_final,
        stability=stability,
        utterance_index=utterance_index,
        start_s=start_frame * frame_shift_s,
        end_s=end_frame * frame_shift_s,
        endpoint=endpoint,
        alternatives=alternatives,
    )
