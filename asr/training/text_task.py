"""The "text_seq2seq" task: a TextSeq2Seq (asr.text) trained on JSONL pairs by the same trainer.

Data: one {"src": ..., "tgt": ...} object per line (as asr.data.format_pairs writes). Tokens from a
TextTokenizer (0 pad, 1 unk, 2 bos, 3 eos). The decoder reads bos + tgt and predicts tgt + eos;
the loss is label-smoothed cross entropy over the non-pad target positions (teacher forcing).
Batches are bucketed by length like speech (asr.data.sampler) with a budget of `data.max_tokens`
padded tokens per rank (rows * max(longest src, longest tgt + 1)). Validation decodes the first
`validation.max_utterances` dev pairs greedily (asr.text.decoding.greedy) and reports the exact-match
rate and the token accuracy.

Shapes: B batch, T' source tokens, U target tokens + 1 (bos/eos), V vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transduce.asr.config import ConfigError
from transduce.asr.data.sampler import BucketingBatchSampler, BucketingConfig
from transduce.asr.text.decoding import greedy
from transduce.asr.text.models import TextSeq2Seq
from transduce.asr.tokenizers import Tokenizer
from transduce.asr.tokenizers.text_bpe import TextTokenizer
from transduce.asr.training.config import TrainConfig, ValidationSettings, text_model_config

__all__ = ["TextPair", "read_pairs", "TextBatch", "pad_tokens", "TextPairsDataset", "TextValidationResult",
           "validate_text", "token_cross_entropy", "TextTask", "TextSeq2SeqTask"]


@dataclass(frozen=True)
class TextPair:
    src: str
    tgt: str


def read_pairs(path: str, log: Callable[[str], None] = print) -> list[TextPair]:
    """The usable {"src", "tgt"} rows of the JSONL file at `path`; bad rows are reported and skipped."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such pairs file")
    pairs, bad = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ok = isinstance(row, dict) and all(isinstance(row.get(k), str) for k in ("src", "tgt"))
            except json.JSONDecodeError:
                ok = False
            if ok and row["src"].strip() and row["tgt"].strip():
                pairs.append(TextPair(row["src"], row["tgt"]))
            else:
                bad.append(n)
    if bad:
        log(f"warning: skipping {len(bad)} rows of {path} without non-empty string src and tgt "
            f"(lines {', '.join(map(str, bad[:10]))}{', ...' if len(bad) > 10 else ''})")
    if not pairs:
        raise ConfigError(f"{path}: no usable pairs ({len(bad)} bad rows)")
    return pairs


@dataclass
class TextBatch:
    """src (B, T') and tgt_in (B, U) (bos + tgt) and tgt_out (B, U) (tgt + eos), padded with 0."""

    src: Tensor
    src_lens: Tensor  # (B,)
    tgt_in: Tensor
    tgt_out: Tensor
    tgt_lens: Tensor  # (B,) = len(tgt) + 1
    indices: Tensor  # (B,) dataset index of each row

    def _map(self, fn: Callable[[Tensor], Tensor]) -> TextBatch:
        return TextBatch(fn(self.src), fn(self.src_lens), fn(self.tgt_in), fn(self.tgt_out),
                         fn(self.tgt_lens), fn(self.indices))

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TextBatch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> TextBatch:
        return self._map(lambda t: t.pin_memory())


def pad_tokens(rows: Sequence[list[int]]) -> Tensor:
    """Token id lists as one (B, longest) long tensor, padded with 0 (the text tokenizers' pad id)."""
    out = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


class TextPairsDataset(torch.utils.data.Dataset):
    """Pairs tokenized once; item i is (index, src ids, tgt ids) (no bos/eos; collate adds them)."""

    def __init__(self, pairs: Sequence[TextPair], tokenizer: Tokenizer) -> None:
        self.pairs = list(pairs)
        self.bos, self.eos = tokenizer.bos_id, tokenizer.eos_id
        self.src = [tokenizer.encode(p.src) for p in self.pairs]
        self.tgt = [tokenizer.encode(p.tgt) for p in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def lengths(self) -> list[float]:
        """Padded tokens one row costs: max(source tokens, target tokens + 1), at least 1."""
        return [float(max(len(s), len(t) + 1, 1)) for s, t in zip(self.src, self.tgt, strict=True)]

    def set_epoch(self, epoch: int) -> None:
        """Nothing is random per epoch here (the loader calls it for every dataset)."""

    def __getitem__(self, index: int) -> tuple[int, list[int], list[int]]:
        return index, self.src[index], self.tgt[index]

    def collate(self, items: Sequence[tuple[int, list[int], list[int]]]) -> TextBatch:
        src = [s if s else [self.eos] for _, s, _ in items]  # an empty source still has one position
        tgt = [t for _, _, t in items]
        return TextBatch(pad_tokens(src), torch.tensor([len(s) for s in src]),
                         pad_tokens([[self.bos, *t] for t in tgt]), pad_tokens([[*t, self.eos] for t in tgt]),
                         torch.tensor([len(t) + 1 for t in tgt]), torch.tensor([i for i, _, _ in items]))


@dataclass(frozen=True)
class TextValidationResult:
    """Greedy decoding of dev pairs: exact-match rate and token accuracy (fractions), in dev order.

    token_accuracy = sum over pairs of the positions where hypothesis and reference tokens agree,
    divided by the sum of max(len(reference), len(hypothesis)) (so extra tokens count as errors)."""

    exact_match: float
    token_accuracy: float
    references: tuple[str, ...]
    hypotheses: tuple[str, ...]

    @property
    def utterances(self) -> int:
        return len(self.references)


def validate_text(model: TextSeq2Seq, pairs: Sequence[TextPair], max_utterances: int, lookahead: int = 0,
                  batch_size: int = 16) -> TextValidationResult:
    """Greedy-decode the first `max_utterances` of `pairs` (`lookahead`: unused, a Validator's signature)."""
    del lookahead
    tok, device = model.tokenizer, next(model.parameters()).device
    chosen = list(pairs)[:max_utterances]
    was_training = model.training
    model.eval()
    hyps: list[list[int]] = []
    try:
        for start in range(0, len(chosen), batch_size):
            part = [tok.encode(p.src) or [tok.eos_id] for p in chosen[start: start + batch_size]]
            lens = torch.tensor([len(s) for s in part], device=device)
            max_len = 2 * max(len(s) for s in part) + 16
            hyps += greedy(model, pad_tokens(part).to(device), lens, max_len)
    finally:
        model.train(was_training)
    refs = [tok.encode(p.tgt) for p in chosen]
    same = sum(sum(a == b for a, b in zip(r, h)) for r, h in zip(refs, hyps, strict=True))
    total = sum(max(len(r), len(h)) for r, h in zip(refs, hyps, strict=True))
    exact = sum(r == h for r, h in zip(refs, hyps, strict=True))
    return TextValidationResult(exact / max(len(refs), 1), same / max(total, 1),
                                tuple(p.tgt for p in chosen), tuple(tok.decode(h) for h in hyps))


def token_cross_entropy(logits: Tensor, targets: Tensor, lens: Tensor,
                        smoothing: float) -> tuple[Tensor, dict[str, Tensor]]:
    """Label-smoothed cross entropy of logits (B, U, V) against targets (B, U) over the first lens[b]
    positions of each row (B,), and its unsmoothed value as "nll" for the log."""
    flat = logits.float().reshape(-1, logits.shape[-1])
    valid = torch.arange(targets.shape[1], device=logits.device)[None] < lens[:, None]
    target = torch.where(valid, targets, torch.full_like(targets, -100)).reshape(-1)
    total = F.cross_entropy(flat, target, ignore_index=-100, label_smoothing=smoothing)
    with torch.no_grad():
        nll = F.cross_entropy(flat, target, ignore_index=-100)
    return total, {"nll": nll}


class TextTask:
    """What the text tasks share: a text_bpe tokenizer, token-bucketed batches, d_model as the width."""

    unit, unusable = "tokens", ""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.budget = f"data.max_tokens ({cfg.data.max_tokens} tokens)"
        tok = cfg.tokenizer
        if tok.path is None and tok.kind != "text_bpe":
            raise ConfigError(f"tokenizer.kind: task {cfg.task} needs a text_bpe tokenizer (with pad, unk, "
                              f"bos and eos), got {tok.kind!r}")

    def _check_tokenizer(self, tokenizer: Tokenizer) -> TextTokenizer:
        if not isinstance(tokenizer, TextTokenizer):
            raise ConfigError(f"task {self.cfg.task} needs a text_bpe tokenizer, "
                              f"got {type(tokenizer).__name__}")
        return tokenizer

    def make_sampler(self, dataset: Any, rank: int, world_size: int) -> BucketingBatchSampler:
        data = self.cfg.data  # lengths in tokens as "seconds": a 1000 ms "frame" is one token
        cfg = BucketingConfig(max_frames=data.max_tokens, frame_shift_ms=1000.0,
                              max_batch_size=data.max_batch_size, num_buckets=data.num_buckets,
                              seed=self.cfg.seed)
        return BucketingBatchSampler(dataset.lengths, cfg, rank, world_size)

    def initialize(self, model: nn.Module, dataset: Any) -> None:
        """Nothing to fit before the first step."""

    def width(self, model: nn.Module) -> int:
        return model.cfg.d_model


class TextSeq2SeqTask(TextTask):
    """TextSeq2Seq on JSONL pairs; see the module docstring."""

    rows = "pairs"

    def read_data(self, path: str, log: Callable[[str], None]) -> list[TextPair]:
        return read_pairs(path, log)

    def texts(self, rows: Sequence[TextPair]) -> list[str]:
        return [t for p in rows for t in (p.src, p.tgt)]

    def build_model(self, tokenizer: Tokenizer) -> nn.Module:
        model = TextSeq2Seq(text_model_config(self.cfg, self._check_tokenizer(tokenizer).vocab_size))
        model.tokenizer = tokenizer
        return model

    def make_dataset(self, rows: Sequence[TextPair], tokenizer: Tokenizer, model: nn.Module,
                     train: bool) -> TextPairsDataset:
        return TextPairsDataset(rows, tokenizer)

    def loss(self, model: nn.Module, batch: TextBatch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """Label-smoothed cross entropy per target token (eos included, pad excluded)."""
        logits = model(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_lens)  # (B, U, V)
        return token_cross_entropy(logits, batch.tgt_out, batch.tgt_lens, self.cfg.label_smoothing)

    def batch_units(self, batch: TextBatch) -> int:
        return int(batch.src_lens.sum() + batch.tgt_lens.sum())

    def validator(self, given: Any) -> Any:
        return validate_text  # greedy decoding is in asr.text, the same layer: no validator from above

    def describe(self, result: TextValidationResult, step: int, model: nn.Module,
                 v: ValidationSettings) -> tuple[str, dict[str, Any]]:
        line = (f"validation step {step}: exact match {100 * result.exact_match:.2f}% token accuracy "
                f"{100 * result.token_accuracy:.2f}% over {result.utterances} pairs (greedy)")
        record = {"step": step, "kind": "validation", "exact_match": result.exact_match,
                  "token_accuracy": result.token_accuracy, "utterances": result.utterances}
        return line, record
