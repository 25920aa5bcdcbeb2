"""The result of a training run's validation: WER/CER of a model on a dev set, with the hypotheses.

The decoding itself is not here: a run's dev set is decoded the way it is served (cache-aware
streaming through the streaming layer's Session and batched step), so `transduce train` hands the
Trainer a validator from above (`streaming.evaluation.validate`); asr never imports streaming.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.metrics import ErrorReport, error_report

__all__ = ["ValidationResult", "Validator"]


@dataclass(frozen=True)
class ValidationResult:
    """Corpus WER and CER (fractions) with the hypotheses, in dev-set order; `lookahead` is the
    encoder context index decoded with."""

    wer: float
    cer: float
    references: tuple[str, ...]
    hypotheses: tuple[str, ...]
    lookahead: int
    word_report: ErrorReport

    @property
    def utterances(self) -> int:
        return len(self.references)

    @classmethod
    def score(cls, references: Sequence[str], hypotheses: Sequence[str], lookahead: int) -> ValidationResult:
        """Score `hypotheses` against `references` (the same order)."""
        refs, hyps = tuple(references), tuple(hypotheses)
        words = error_report(refs, hyps, "word")
        return cls(words.rate, error_report(refs, hyps, "char").rate, refs, hyps, lookahead, words)


# validator(model, dev entries, max utterances, context index, batch size) -> ValidationResult
Validator = Callable[[object, Sequence[ManifestEntry], int, int, int], ValidationResult]
