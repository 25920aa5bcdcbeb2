"""The "text_lm" task: a decoder-only TextLM (asr.text) trained on lines of text by the same trainer.

Data: a JSONL file whose rows hold a "text" string (speech manifests: the LM learns the transcripts
of the acoustic model's training split and nothing held out) or a "tgt" string (format pairs), or any
other file read as one text per non-empty line. Tokens from a TextTokenizer (0 pad, 1 unk, 2 bos,
3 eos); the model reads bos + text and predicts text + eos, loss the label-smoothed cross entropy
over the non-pad positions. Batches are bucketed by length with a budget of `data.max_tokens` padded
tokens per rank. Validation scores the first `validation.max_utterances` dev lines: perplexity per
token (eos included) under the model, the measure an LM for fusion is chosen by.

Shapes: B batch, U text tokens + 1 (bos/eos), V vocabulary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transduce.asr.config import ConfigError
from transduce.asr.text.models import TextLM
from transduce.asr.tokenizers import Tokenizer
from transduce.asr.training.config import ValidationSettings, text_model_config
from transduce.asr.training.text_task import TextTask, pad_tokens, token_cross_entropy

__all__ = ["read_lines", "LMBatch", "TextLinesDataset", "LMValidationResult", "validate_lm", "TextLMTask"]


def read_lines(path: str, log: Callable[[str], None] = print) -> list[str]:
    """The texts of `path`: the "text" (or "tgt") of each JSONL row, else each non-empty line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such text file")
    texts, bad = [], []
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            if p.suffix != ".jsonl":
                texts.append(line.strip())
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            text = row.get("text", row.get("tgt")) if isinstance(row, dict) else None
            if isinstance(text, str) and text.strip():
                texts.append(text.strip())
            else:
                bad.append(n)
    if bad:
        log(f"warning: skipping {len(bad)} rows of {path} without a non-empty string text or tgt "
            f"(lines {', '.join(map(str, bad[:10]))}{', ...' if len(bad) > 10 else ''})")
    if not texts:
        raise ConfigError(f"{path}: no usable text ({len(bad)} bad rows)")
    return texts


@dataclass
class LMBatch:
    """tokens_in (B, U) (bos + text) and tokens_out (B, U) (text + eos), padded with 0; lens (B,) = U_b."""

    tokens_in: Tensor
    tokens_out: Tensor
    lens: Tensor
    indices: Tensor  # (B,) dataset index of each row

    def _map(self, fn: Callable[[Tensor], Tensor]) -> LMBatch:
        return LMBatch(fn(self.tokens_in), fn(self.tokens_out), fn(self.lens), fn(self.indices))

    def to(self, device: torch.device | str, non_blocking: bool = False) -> LMBatch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> LMBatch:
        return self._map(lambda t: t.pin_memory())


class TextLinesDataset(torch.utils.data.Dataset):
    """Texts tokenized once; item i is (index, token ids) (no bos/eos; collate adds them)."""

    def __init__(self, texts: Sequence[str], tokenizer: Tokenizer) -> None:
        self.bos, self.eos = tokenizer.bos_id, tokenizer.eos_id
        self.tokens = [tokenizer.encode(t) for t in texts]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def lengths(self) -> list[float]:
        """Padded tokens one row costs: its tokens + 1."""
        return [float(len(t) + 1) for t in self.tokens]

    def set_epoch(self, epoch: int) -> None:
        """Nothing is random per epoch here (the loader calls it for every dataset)."""

    def __getitem__(self, index: int) -> tuple[int, list[int]]:
        return index, self.tokens[index]

    def collate(self, items: Sequence[tuple[int, list[int]]]) -> LMBatch:
        rows = [t for _, t in items]
        return LMBatch(pad_tokens([[self.bos, *t] for t in rows]), pad_tokens([[*t, self.eos] for t in rows]),
                       torch.tensor([len(t) + 1 for t in rows]), torch.tensor([i for i, _ in items]))


@dataclass(frozen=True)
class LMValidationResult:
    """Dev lines scored by the LM: mean negative log-likelihood per token (eos included) and their count."""

    nll_per_token: float
    tokens: int
    lines: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll_per_token)

    @property
    def utterances(self) -> int:
        return self.lines


def validate_lm(model: TextLM, texts: Sequence[str], max_utterances: int, lookahead: int = 0,
                batch_size: int = 16) -> LMValidationResult:
    """Score the first `max_utterances` of `texts` (`lookahead`: unused, a Validator's signature)."""
    del lookahead
    tok, device = model.tokenizer, next(model.parameters()).device
    chosen = list(texts)[:max_utterances]
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(chosen), batch_size):
                rows = [tok.encode(t) for t in chosen[start: start + batch_size]]
                lens = torch.tensor([len(r) for r in rows], device=device)
                tokens = pad_tokens([r or [tok.eos_id] for r in rows]).to(device)
                total -= float(model.score(tokens, lens).sum())
                count += int(lens.sum()) + len(rows)
    finally:
        model.train(was_training)
    return LMValidationResult(total / max(count, 1), count, len(chosen))


class TextLMTask(TextTask):
    """TextLM on lines of text; see the module docstring."""

    rows = "lines"

    def read_data(self, path: str, log: Callable[[str], None]) -> list[str]:
        return read_lines(path, log)

    def texts(self, rows: Sequence[str]) -> list[str]:
        return list(rows)

    def build_model(self, tokenizer: Tokenizer) -> nn.Module:
        model = TextLM(text_model_config(self.cfg, self._check_tokenizer(tokenizer).vocab_size))
        model.tokenizer = tokenizer
        return model

    def make_dataset(self, rows: Sequence[str], tokenizer: Tokenizer, model: nn.Module,
                     train: bool) -> TextLinesDataset:
        return TextLinesDataset(rows, tokenizer)

    def loss(self, model: nn.Module, batch: LMBatch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """Label-smoothed cross entropy per token (eos included, pad excluded)."""
        logits = model(batch.tokens_in, batch.lens)  # (B, U, V)
        return token_cross_entropy(logits, batch.tokens_out, batch.lens, self.cfg.label_smoothing)

    def batch_units(self, batch: LMBatch) -> int:
        return int(batch.lens.sum())

    def validator(self, given: Any) -> Any:
        return validate_lm

    def describe(self, result: LMValidationResult, step: int, model: nn.Module,
                 v: ValidationSettings) -> tuple[str, dict[str, Any]]:
        line = (f"validation step {step}: perplexity {result.perplexity:.3f} "
                f"({result.nll_per_token:.4f} nats per token) over {result.lines} lines")
        record = {"step": step, "kind": "validation", "perplexity": result.perplexity,
                  "nll_per_token": result.nll_per_token, "utterances": result.lines}
        return line, record
