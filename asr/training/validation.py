"""Validation: WER/CER of an ASRModel on a dev set, decoded the way it is served (cache-aware streaming).

Each batch of utterances is normalised, fed to `encoder.stream_step` chunk by chunk (the chunk
sizes of the chosen look-ahead, `encoder.chunk_frames`), and every chunk's new encoder frames go
to the greedy decoder of the transducer head (TDT or RNN-T), or of the CTC head when the model has
no transducer. Nothing here draws random numbers, so validating mid-run does not change training.
B: batch, T: feature frames, F: mel bins, T': encoder frames, D: model width, V: vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from asr.data.dataset import Batch, SpeechDataset, collate
from asr.decoding import CTCGreedyDecoder, Decoder, RNNTGreedyDecoder, TDTGreedyDecoder
from asr.metrics import ErrorReport, error_report
from asr.models.asr_model import ASRModel

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


def greedy_decoder(model: ASRModel) -> Decoder:
    """The greedy decoder of the model's transducer head (TDT or RNN-T), else of its CTC head."""
    if model.joiner is not None and model.joiner.durations:
        return TDTGreedyDecoder(model.predictor, model.joiner)
    if model.joiner is not None:
        return RNNTGreedyDecoder(model.predictor, model.joiner)
    return CTCGreedyDecoder(blank=0)


@torch.no_grad()
def stream_decode(model: ASRModel, feats: Tensor, feat_lens: Tensor, lookahead: int = 0) -> list[list[int]]:
    """Token ids per utterance of raw log-mels `feats` (B, T, F), `feat_lens` (B,), decoded in streaming.

    The model must be in eval mode (no dropout); chunks follow `encoder.chunk_frames(lookahead)`.
    """
    encoder, decoder = model.encoder, greedy_decoder(model)
    x = model.normalizer(feats, feat_lens)
    lens = feat_lens.to(x.device)
    state = encoder.init_state(x.shape[0], lookahead)
    dec_state = decoder.init_state(x.shape[0], x.device)
    first, later = encoder.chunk_frames(lookahead)
    pos, size, end = 0, first, int(lens.max()) if len(lens) else 0
    while pos < end:
        chunk = x[:, pos:pos + size]
        chunk_lens = (lens - pos).clamp(0, chunk.shape[1])
        out, out_lens, state = encoder.stream_step(chunk, chunk_lens, state, final=lens <= pos + size)
        enc = model.ctc_head(out) if isinstance(decoder, CTCGreedyDecoder) else out
        dec_state = decoder.decode_chunk(enc, out_lens, dec_state)
        pos, size = pos + size, later
    return [list(h.tokens) for h in decoder.best(dec_state)]


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
