"""Scores of written-form text against references: exact sentence match, the match with case and
punctuation ignored, and punctuation F1, as the formatting model's card and benchmark report them.

`loose(text)`: lower case, punctuation marks (. , ? ! ; :) dropped unless they sit between two letters
or digits ("10:30", "2,500", "$12.50", "a.m" keep theirs), spaces collapsed. Punctuation F1 counts the
marks that end words: words are aligned on their loose forms (difflib), a mark after an aligned word
is a hit when the reference has it there too; marks after unaligned words count against precision
(hypothesis) or recall (reference). Micro-averaged over marks.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PUNCTUATION", "loose", "PunctuationScore", "punctuation_score", "Scores", "score"]

PUNCTUATION = ".,?!;:"
_DROP = re.compile(rf"[{re.escape(PUNCTUATION)}](?![A-Za-z0-9])|(?<![A-Za-z0-9])[{re.escape(PUNCTUATION)}]")


def loose(text: str) -> str:
    """`text` with case and punctuation ignored (see the module docstring)."""
    return " ".join(_DROP.sub("", text.lower()).split())


def _words(text: str) -> tuple[list[str], list[str]]:
    """(loose form, end marks) of each word of `text`."""
    cores, marks = [], []
    for word in text.split():
        stripped = word.rstrip(PUNCTUATION)
        cores.append(loose(stripped) or stripped)
        marks.append(word[len(stripped):])
    return cores, marks


@dataclass(frozen=True)
class PunctuationScore:
    """Counts of end-of-word punctuation marks: hits, in the hypothesis, in the reference."""

    hits: int
    predicted: int
    expected: int

    @property
    def precision(self) -> float:
        return self.hits / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.hits / self.expected if self.expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def punctuation_score(hyps: Sequence[str], refs: Sequence[str]) -> PunctuationScore:
    """End-of-word punctuation of `hyps` against `refs` (see the module docstring)."""
    hits = predicted = expected = 0
    for hyp, ref in zip(hyps, refs, strict=True):
        (h_core, h_marks), (r_core, r_marks) = _words(hyp), _words(ref)
        predicted += sum(len(m) for m in h_marks)
        expected += sum(len(m) for m in r_marks)
        for block in difflib.SequenceMatcher(None, h_core, r_core, autojunk=False).get_matching_blocks():
            for k in range(block.size):
                h, r = h_marks[block.a + k], r_marks[block.b + k]
                hits += sum(min(h.count(c), r.count(c)) for c in set(h))
    return PunctuationScore(hits, predicted, expected)


@dataclass(frozen=True)
class Scores:
    """Sentence accuracy (exact; case and punctuation ignored) and punctuation F1 over a test set."""

    sentences: int
    exact: float
    loose: float
    punctuation: PunctuationScore


def score(hyps: Sequence[str], refs: Sequence[str]) -> Scores:
    """The Scores of `hyps` against `refs` (same length, in order)."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    n = max(len(refs), 1)
    exact = sum(h == r for h, r in zip(hyps, refs)) / n
    matched = sum(loose(h) == loose(r) for h, r in zip(hyps, refs)) / n
    return Scores(len(refs), exact, matched, punctuation_score(hyps, refs))
