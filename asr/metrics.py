"""Word and character error rates with a Levenshtein alignment (substitutions, deletions, insertions).

error rate = (S + D + I) / N, N = reference tokens. The alignment is a minimum-edit-distance path
(unit costs); among equal-cost paths the backtrace prefers match/substitution, then deletion, then
insertion, as sclite does. Words are whitespace-separated tokens; characters include the spaces
between words (runs of whitespace count once), as in the usual CER.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Alignment", "ErrorCounts", "ErrorReport", "align", "edit_distance", "error_report", "wer",
           "cer", "words", "chars"]


@dataclass(frozen=True)
class Alignment:
    """One utterance aligned: `pairs` of (ref token or None, hyp token or None) in order.

    A pair with both tokens is a hit (equal) or a substitution; (ref, None) is a deletion;
    (None, hyp) an insertion.
    """

    pairs: tuple[tuple[str | None, str | None], ...]

    @property
    def counts(self) -> ErrorCounts:
        """Hits, substitutions, deletions and insertions of this alignment."""
        h = s = d = i = 0
        for r, y in self.pairs:
            if r is None:
                i += 1
            elif y is None:
                d += 1
            elif r == y:
                h += 1
            else:
                s += 1
        return ErrorCounts(h, s, d, i)

    def format(self) -> str:
        """Two aligned lines, sclite style: errors upper-cased, gaps as '*'."""
        ref, hyp = [], []
        for r, y in self.pairs:
            wrong = r != y
            a, b = r if r is not None else "*" * len(y or ""), y if y is not None else "*" * len(r or "")
            a, b = (a.upper(), b.upper()) if wrong else (a, b)
            width = max(len(a), len(b))
            ref.append(a.ljust(width))
            hyp.append(b.ljust(width))
        return "REF: " + " ".join(ref).rstrip() + "\nHYP: " + " ".join(hyp).rstrip()


@dataclass(frozen=True)
class ErrorCounts:
    """Hits, substitutions, deletions, insertions; reference length is hits + subs + dels."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def ref_length(self) -> int:
        """Reference tokens N."""
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        """S + D + I (the edit distance)."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """(S + D + I) / N; 0 for an empty reference and hypothesis, inf for insertions into nothing."""
        if self.ref_length == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.ref_length

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(self.hits + other.hits, self.substitutions + other.substitutions,
                           self.deletions + other.deletions, self.insertions + other.insertions)


@dataclass(frozen=True)
class ErrorReport:
    """Per-utterance alignments and the corpus totals."""

    alignments: tuple[Alignment, ...]
    total: ErrorCounts = field(default_factory=ErrorCounts)

    @property
    def rate(self) -> float:
        """Corpus error rate: total errors over total reference tokens."""
        return self.total.rate

    def summary(self) -> str:
        """One line: rate, counts and reference length."""
        t = self.total
        return (f"{100 * t.rate:.2f}% ({t.errors} errors / {t.ref_length} tokens: {t.substitutions} sub, "
                f"{t.deletions} del, {t.insertions} ins) over {len(self.alignments)} utterances")


def words(text: str) -> list[str]:
    """Whitespace-separated words."""
    return text.split()


def chars(text: str) -> list[str]:
    """Characters, with each run of whitespace as one space and the ends trimmed."""
    return list(" ".join(text.split()))


def _distance_matrix(ref: Sequence[str], hyp: Sequence[str]) -> np.ndarray:
    """D (len(ref)+1, len(hyp)+1): D[i, j] = edit distance between ref[:i] and hyp[:j]."""
    vocab: dict[str, int] = {}
    r = np.array([vocab.setdefault(t, len(vocab)) for t in ref], dtype=np.int64)
    h = np.array([vocab.setdefault(t, len(vocab)) for t in hyp], dtype=np.int64)
    m = len(h)
    dist = np.empty((len(r) + 1, m + 1), dtype=np.int64)
    dist[0] = np.arange(m + 1)
    steps = np.arange(m + 1)
    for i in range(1, len(r) + 1):
        best = np.empty(m + 1, dtype=np.int64)
        best[0] = i
        best[1:] = np.minimum(dist[i - 1, 1:] + 1, dist[i - 1, :-1] + (h != r[i - 1]))
        # insertions run along the row: D[i, j] = min_k<=j (best[k] + j - k)
        dist[i] = np.minimum.accumulate(best - steps) + steps
    return dist


def align(ref: Sequence[str], hyp: Sequence[str]) -> Alignment:
    """A minimum-edit-distance alignment of token sequences `ref` and `hyp`."""
    dist = _distance_matrix(ref, hyp)
    i, j, pairs = len(ref), len(hyp), []
    while i > 0 or j > 0:
        if i > 0 and j > 0 and dist[i, j] == dist[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and dist[i, j] == dist[i - 1, j] + 1:
            pairs.append((ref[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hyp[j - 1]))
            j -= 1
    return Alignment(tuple(reversed(pairs)))


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance (unit costs) between token sequences."""
    return int(_distance_matrix(ref, hyp)[-1, -1])


def error_report(refs: Sequence[str], hyps: Sequence[str], unit: str = "word") -> ErrorReport:
    """Align every (reference, hypothesis) text pair by "word" or "char" and total the counts."""
    if len(refs) != len(hyps):
        raise ValueError(f"error_report: {len(refs)} references but {len(hyps)} hypotheses")
    if unit not in ("word", "char"):
        raise ValueError(f"error_report: unit must be 'word' or 'char', got {unit!r}")
    split = words if unit == "word" else chars
    alignments = tuple(align(split(r), split(h)) for r, h in zip(refs, hyps))
    total = sum((a.counts for a in alignments), ErrorCounts())
    return ErrorReport(alignments, total)


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate of hypothesis texts against reference texts."""
    return error_report(refs, hyps, "word").rate


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus character error rate of hypothesis texts against reference texts."""
    return error_report(refs, hyps, "char").rate
