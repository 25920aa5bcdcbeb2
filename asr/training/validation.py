"""Validation: WER/CER of an ASRModel on a dev set, decoded the way it is served (cache-aware streaming).

Each batch of utterances is normalised, fed to `encoder.stream_step` chunk by chunk (the chunk
sizes of the chosen look-ahead, `encoder.chunk_frames`), and every chunk's new encoder frames go
to the greedy decoder of the transducer head (TDT or RNN-T), or of the CTC head when the model has
no transducer (`asr.stream_decode`, shared with `transduce evaluate` and the demo). Nothing here
draws random numbers, so validating mid-run does not change training.
B: batch, T: feature frames, F: mel bins, T': encoder frames, D: model width, V: vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transduce.asr.data.dataset import Batch, SpeechDataset, collate
from transduce.asr.metrics import ErrorReport, error_report
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.stream_decode import greedy_decoder, stream_decode

__all__ = ["ValidationResult", "greedy_decoder", "stream_decode", "validate"]


@dataclass(frozen=True)
class ValidationResult:
    """Corpus WER and CER (fractions) with the hypotheses, in dev-set order."""

    wer: float
    cer: float
    references: tuple[str, ...]
    hypotheses: tuple[str, ...]
    lookahead: int
    word_report: ErrorReport

    @property
    def utterances(self) -> int:
        return len(self.references)


def _batches(dataset: SpeechDataset, indices: Sequence[int], batch_size: int) -> list[list[int]]:
    """`indices` grouped into batches of similar duration (less padding), each in index order."""
    by_length = sorted(indices, key=lambda i: (dataset.entries[i].duration, i))
    return [sorted(by_length[i:i + batch_size]) for i in range(0, len(by_length), batch_size)]


def validate(model: ASRModel, dataset: SpeechDataset, max_utterances: int, lookahead: int = 0,
             batch_size: int = 16, device: torch.device | str = "cpu") -> ValidationResult:
    """Streaming greedy WER/CER of `model` on the first `max_utterances` items of `dataset` (train=False)."""
    if dataset.train:
        raise ValueError("validate: the dev dataset must be built with train=False (no augmentation)")
    tokenizer = dataset.tokenizer
    was_training = model.training
    model.eval()
    indices = list(range(min(max_utterances, len(dataset))))
    hyps: dict[int, str] = {}
    try:
        for group in _batches(dataset, indices, batch_size):
            batch: Batch = collate([dataset[i] for i in group]).to(device)
            for i, ids in zip(group, stream_decode(model, batch.features, batch.feature_lengths, lookahead)):
                hyps[i] = tokenizer.decode(ids)
    finally:
        model.train(was_training)
    refs = tuple(dataset.entries[i].text for i in indices)
    hyp_texts = tuple(hyps[i] for i in indices)
    words = error_report(refs, hyp_texts, "word")
    chars = error_report(refs, hyp_texts, "char")
    return ValidationResult(words.rate, chars.rate, refs, hyp_texts, lookahead, words)
