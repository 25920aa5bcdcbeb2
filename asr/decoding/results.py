"""Decoding results: the hypothesis a decoder keeps, and the text/time/confidence view users get.

A `Hypothesis` is what every decoder (greedy or beam, CTC/RNN-T/TDT) produces per stream:
tokens (no blanks), the global encoder frame of each token, a confidence per token, a score and,
for TDT, the duration predicted with each token. `to_result` turns one into a `DecodingResult`
with text, per-token and per-word times in seconds and confidences.

Confidence measure (the same for every decoder): the probability of the emitted token under the
token softmax at the step that emitted it (transducers), or the largest probability of the token
over the frames of its run (CTC). A word's confidence is the minimum over its tokens (one doubtful
piece makes the word doubtful); a result's confidence is the mean over its words (1.0 when no word
was emitted: there is nothing to doubt).

Times: token start = frame x frame_shift_s; end = start + max(duration, 1) frames for TDT, one
frame otherwise. frame_shift_s = feature shift (e.g. 10 ms) x encoder subsampling, passed in by
the caller. A word spans its first token's start to its last token's end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from transduce.asr.tokenizers.base import Tokenizer

__all__ = ["Hypothesis", "Word", "DecodingResult", "to_result", "word_spans"]

_WORD_START = "\u2581"  # "▁", sentencepiece's word-start marker


@dataclass(frozen=True)
class Hypothesis:
    """One decoded token sequence with its global frames, per-token confidences and score.

    score: total log-probability (beam search), or the sum of the log-probabilities of every
    choice on the greedy path (blanks and, for TDT, durations included). durations: TDT only
    (frames advanced after each token), empty otherwise.
    """

    tokens: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    score: float = 0.0
    durations: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if len(self.frames) != n or len(self.confidences) != n or len(self.durations) not in (0, n):
            raise ValueError(
                f"hypothesis fields disagree in length: tokens {n}, frames {len(self.frames)}, "
                f"confidences {len(self.confidences)}, durations {len(self.durations)}")

    def extend(self, tokens: Sequence[int], frames: Sequence[int], confidences: Sequence[float],
               score: float, durations: Sequence[int] = ()) -> Hypothesis:
        """A new hypothesis with these tokens appended and `score` added (self is left as is)."""
        if not tokens and not durations and score == 0.0:
            return self
        return Hypothesis(self.tokens + list(tokens), self.frames + list(frames),
                          self.confidences + list(confidences), self.score + float(score),
                          self.durations + list(durations))


@dataclass(frozen=True)
class Word:
    """One word: its text, start and end time in seconds, and confidence (min over its tokens)."""

    text: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class DecodingResult:
    """What a user sees for one stream: text, per-token and per-word times and confidences, n-best, and
    the decoder's score of the hypothesis (`Hypothesis.score`: what n-best rescoring adds to)."""

    text: str
    tokens: list[int]
    token_times: list[tuple[float, float]]
    token_confidences: list[float]
    words: list[Word]
    confidence: float
    nbest: list[DecodingResult] = field(default_factory=list)
    score: float = 0.0


def word_spans(tokens: Sequence[int], tokenizer: Tokenizer) -> list[tuple[int, int]]:
    """Half-open index ranges [i, j) of `tokens` that form words.

    Both conventions: a piece that is only whitespace (the char tokenizer's " ") separates words
    and belongs to none; a piece starting with "▁" (BPE) starts a new word. Spans whose text
    decodes to nothing (e.g. a lone "▁") are dropped.
    """
    spans: list[tuple[int, int]] = []
    start = None
    for i, tok in enumerate(tokens):
        piece = tokenizer.id_to_piece(int(tok))
        if piece.strip() == "":
            if start is not None:
                spans.append((start, i))
            start = None
        elif piece.startswith(_WORD_START) or start is None:
            if start is not None:
                spans.append((start, i))
            start = i
    if start is not None:
        spans.append((start, len(tokens)))
    return [(i, j) for i, j in spans if _word_text(tokens[i:j], tokenizer)]


def to_result(hyp: Hypothesis, tokenizer: Tokenizer, frame_shift_s: float,
              nbest: Sequence[Hypothesis] = ()) -> DecodingResult:
    """Text, token/word times (seconds) and confidences of `hyp`; `nbest` become `result.nbest`."""
    if frame_shift_s <= 0:
        raise ValueError(f"frame_shift_s must be > 0, got {frame_shift_s}")
    starts = [f * frame_shift_s for f in hyp.frames]
    spans = hyp.durations if hyp.durations else [1] * len(hyp.tokens)
    times = [(s, s + max(int(d), 1) * frame_shift_s) for s, d in zip(starts, spans)]
    words = [
        Word(_word_text(hyp.tokens[i:j], tokenizer), times[i][0], times[j - 1][1],
             min(hyp.confidences[i:j]))
        for i, j in word_spans(hyp.tokens, tokenizer)
    ]
    confidence = sum(w.confidence for w in words) / len(words) if words else 1.0
    return DecodingResult(
        text=tokenizer.decode(hyp.tokens).strip(),
        tokens=list(hyp.tokens),
        token_times=times,
        token_confidences=list(hyp.confidences),
        words=words,
        confidence=confidence,
        nbest=[to_result(h, tokenizer, frame_shift_s) for h in nbest],
        score=float(hyp.score),
    )


def _word_text(tokens: Sequence[int], tokenizer: Tokenizer) -> str:
    return tokenizer.decode(list(tokens)).strip()
