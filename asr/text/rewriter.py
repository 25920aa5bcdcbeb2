"""Run a text seq2seq model on strings: the runtime of the formatting model (and any TextSeq2Seq).

    rewriter = TextRewriter.load("format")                 # a bundled model name or a checkpoint dir
    rewriter(["it costs five dollars"])                    # ["It costs $5."]
    rewriter.rewrite(texts).passes                         # sequential decoder passes it took

Inputs are put in the model's input form first (`normalize_source`: lower case, one space between
words), as the recognisers emit them; empty inputs give "" without running the model. Texts are sorted
by length, decoded `batch_size` at a time ("aggressive" by default: greedy's output in far fewer passes,
asr.text.decoding; drafted from `draft(source)`, by default `sentence_draft`) and returned in input
order; an output is cut at `output_limit` of its own source, so no output depends on the others batched
with it. An input over `max_chars` raises TextTooLongError before anything runs. Thread-compatible: one
rewriter may serve many threads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transduce.asr.text import decoding
from transduce.asr.text.models import TextSeq2Seq
from transduce.asr.text.spoken_numbers import write_numbers
from transduce.asr.tokenizers.text_bpe import TextTokenizer

__all__ = ["Method", "METHODS", "TextTooLongError", "Rewrite", "TextRewriter", "normalize_source",
           "sentence_draft", "output_limit", "inserted_tokens"]

Method = Literal["greedy", "beam", "aggressive"]
METHODS: tuple[Method, ...] = ("greedy", "beam", "aggressive")


HALF_DTYPES = (torch.float16, torch.bfloat16)
# Aggressive decoding's draft per pass and row, measured on the bundled model (benchmarks/formatting.py):
# a lone text drafts the rest of its source (fewest passes); in a batch every row's draft is computed
# and the batch waits for its slowest row, so short drafts give the most sentences/s.
BATCHED_MAX_DRAFT = 3


class TextTooLongError(ValueError):
    """An input text is longer than the rewriter accepts."""


@dataclass(frozen=True)
class Rewrite:
    """texts: the outputs in input order; passes: sequential decoder passes over all batches."""

    texts: list[str]
    passes: int


def normalize_source(text: str) -> str:
    """`text` in the form the recognisers emit: lower case, single spaces, no leading/trailing space."""
    return " ".join(text.lower().split())


_PRONOUN_I = re.compile(r"\bi\b(?='|\s|$)")
_WEEKDAYS = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b")


def sentence_draft(source: str) -> str:
    """The guess aggressive decoding drafts from for formatting: the source with the edits nearly every
    output makes (first letter, "i" and weekdays capitalised, a final period) and its numbers and
    months guessed in written form (`write_numbers`). It only saves passes when right."""
    if not source:
        return source
    text = _WEEKDAYS.sub(lambda m: m.group(0).capitalize(), _PRONOUN_I.sub("I", write_numbers(source)))
    return text[0].upper() + text[1:] + "."


def inserted_tokens(tokenizer: TextTokenizer) -> frozenset[int]:
    """Ids of the pieces made of punctuation only ("," "?" "$" ...): formatting adds them without
    replacing a spoken word, so aggressive decoding resumes its draft where it stopped after one."""
    pieces = ((i, tokenizer.id_to_piece(i).lstrip("\u2581")) for i in range(tokenizer.vocab_size))
    return frozenset(i for i, p in pieces if p and not any(c.isalnum() for c in p))


def output_limit(source_tokens: int) -> int:
    """Most output tokens for a source of `source_tokens` (formatting rarely more than doubles a text)."""
    return 2 * source_tokens + 16


class TextRewriter:
    """A TextSeq2Seq (with its `.tokenizer`) and its decoding settings; see the module docstring. A model
    on the CPU with half-precision weights (as bundled) is turned to float32 in place: CPUs compute those
    slowly or not at all."""

    def __init__(self, model: TextSeq2Seq, method: Method = "aggressive", beam_size: int = 4,
                 batch_size: int = 64, max_chars: int = 4000,
                 max_draft: int | None | Literal["auto"] = "auto",
                 draft: Callable[[str], str] | None = sentence_draft) -> None:
        if not isinstance(model, TextSeq2Seq):
            raise TypeError(f"a TextRewriter needs a TextSeq2Seq, got {type(model).__name__}")
        if getattr(model, "tokenizer", None) is None:
            raise ValueError("the model has no tokenizer: load it with asr.load_model or set .tokenizer")
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if beam_size < 1 or batch_size < 1 or max_chars < 1:
            raise ValueError(f"beam_size, batch_size and max_chars must be >= 1, got {beam_size}, "
                             f"{batch_size}, {max_chars}")
        weight = next(model.parameters(), None)
        if weight is not None and weight.device.type == "cpu" and weight.dtype in HALF_DTYPES:
            model.float()
        self.model, self.tokenizer = model.eval(), model.tokenizer
        self.method, self.beam_size = method, beam_size
        self.batch_size, self.max_chars, self.max_draft = batch_size, max_chars, max_draft
        self.draft = draft
        self.inserted = inserted_tokens(self.tokenizer)

    @classmethod
    def load(cls, model: str | os.PathLike = "format", device: str | torch.device = "cpu",
             **settings: object) -> TextRewriter:
        """The rewriter of a checkpoint directory or bundled model name (default: the formatting model)."""
        from transduce.asr.checkpoint import load_model

        return cls(load_model(model, device=device), **settings)  # type: ignore[arg-type]

    def __call__(self, texts: Sequence[str]) -> list[str]:
        """The outputs of `texts`, in order."""
        return self.rewrite(texts).texts

    def rewrite(self, texts: Sequence[str]) -> Rewrite:
        """The outputs of `texts` in order, with the decoder passes taken (see the module docstring)."""
        sources = [normalize_source(self._checked(i, t)) for i, t in enumerate(texts)]
        ids = [self.tokenizer.encode(s) if s else [] for s in sources]
        order = sorted((i for i in range(len(ids)) if ids[i]), key=lambda i: len(ids[i]))
        out, passes = [""] * len(ids), 0
        for start in range(0, len(order), self.batch_size):
            chosen = order[start: start + self.batch_size]
            tokens, n = self._decode([ids[i] for i in chosen], [sources[i] for i in chosen])
            passes += n
            for i, t in zip(chosen, tokens):
                out[i] = self.tokenizer.decode(t)
        return Rewrite(out, passes)

    def _checked(self, index: int, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"text {index} must be a str, got {type(text).__name__}")
        if len(text) > self.max_chars:
            raise TextTooLongError(f"text {index} has {len(text)} characters; at most {self.max_chars}")
        return text

    def _decode(self, rows: list[list[int]], texts: list[str]) -> tuple[list[list[int]], int]:
        """Output tokens of one batch of sources (token ids `rows` of `texts`), and the sequential passes
        taken."""
        device = next(self.model.parameters()).device
        lens = torch.tensor([len(r) for r in rows], device=device)
        src = torch.zeros(len(rows), int(lens.max()), dtype=torch.long, device=device)
        for b, r in enumerate(rows):
            src[b, : len(r)] = torch.tensor(r, device=device)
        max_len = output_limit(int(lens.max()))
        if self.method == "aggressive":
            max_draft = self.max_draft
            if max_draft == "auto":
                max_draft = None if len(rows) == 1 else BATCHED_MAX_DRAFT
            drafts = [self.tokenizer.encode(self.draft(t)) for t in texts] if self.draft else None
            result = decoding.aggressive_decode(self.model, src, lens, max_len, max_draft=max_draft,
                                                drafts=drafts, inserted=self.inserted)
            tokens, passes = result.tokens, max(result.passes)
        else:
            if self.method == "greedy":
                tokens = decoding.greedy(self.model, src, lens, max_len)
            else:
                tokens = [list(hyps[0].tokens) for hyps in
                          decoding.beam_search(self.model, src, lens, self.beam_size, max_len)]
            # a step per token and one for eos; a row cut at max_len took max_len steps
            passes = max(min(len(t) + 1, max_len) for t in tokens)
        # each row cut at its own limit, so an output never depends on the rows batched with it
        return [t[: output_limit(len(r))] for t, r in zip(tokens, rows)], passes
