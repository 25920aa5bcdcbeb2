"""What every SentencePiece-backed tokenizer shares: loading a serialized model, saving it beside
`tokenizer.json`, rebuilding from that directory, reading training text and training a BPE model.

Subclasses (bpe, nemo_bpe, text_bpe) say how the model's piece ids map to ours and which layout they
accept (`_check_layout`); `MODEL_FILE` names the model file in a tokenizer directory.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sentencepiece as spm
from transduce.asr.tokenizers.base import UNK_TEXT, Tokenizer, TokenizerError, write_tokenizer_meta

__all__ = ["SentencePieceTokenizer", "read_sentences", "train_bpe_model"]

_FORMAT_VERSION = 1
S = TypeVar("S", bound="SentencePieceTokenizer")


class SentencePieceTokenizer(Tokenizer):
    """A tokenizer over one serialized SentencePiece model (`_sp`, its bytes in `_proto`)."""

    MODEL_FILE = "sentencepiece.model"

    def __init__(self, model_proto: bytes) -> None:
        sp = spm.SentencePieceProcessor()
        try:
            sp.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise TokenizerError(f"not a sentencepiece model ({e})") from None
        self._check_layout(sp)
        self._proto = bytes(model_proto)
        self._sp = sp

    def _check_layout(self, sp: spm.SentencePieceProcessor) -> None:
        """TokenizerError when the model's special ids do not fit this tokenizer (default: any fits)."""

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / self.MODEL_FILE).write_bytes(self._proto)
        meta = {"type": self.type_name, "version": _FORMAT_VERSION, "model_file": self.MODEL_FILE,
                "vocab_size": self.vocab_size}
        write_tokenizer_meta(directory, meta)

    @classmethod
    def from_meta(cls: type[S], directory: str | Path, meta: dict[str, Any]) -> S:
        """Rebuild from the `tokenizer.json` contents written by `save` and the model file it names."""
        path = Path(directory) / str(meta.get("model_file", cls.MODEL_FILE))
        if not path.is_file():
            raise TokenizerError(f"{path}: no such file (the sentencepiece model named in tokenizer.json)")
        tok = cls(path.read_bytes())
        expected = meta.get("vocab_size")
        if expected is not None and expected != tok.vocab_size:
            raise TokenizerError(f"{path}: tokenizer.json says vocab_size {expected}, the model gives "
                                 f"{tok.vocab_size} ids")
        return tok

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def read_sentences(texts: Iterable[str | Path] | Path) -> Iterator[str]:
    """Non-empty lines of `texts`: `str` items are text, `Path` items (or a lone `Path`) are UTF-8 files."""
    if isinstance(texts, str):
        raise TokenizerError("texts must be an iterable of strings or paths (or one Path), not a single str")
    items = [texts] if isinstance(texts, Path) else list(texts)
    missing = [str(p) for p in items if isinstance(p, Path) and not p.is_file()]
    if missing:
        raise TokenizerError(f"no such text file(s): {missing}")
    return _lines(items)


def _lines(items: list[str | Path]) -> Iterator[str]:
    for item in items:
        if isinstance(item, Path):
            with item.open(encoding="utf-8") as f:
                yield from (line.rstrip("\n") for line in f if line.strip())
        else:
            yield from (line for line in item.splitlines() if line.strip())


def train_bpe_model(sentences: Iterator[str], vocab_size: int, **layout: Any) -> bytes:
    """A serialized BPE model trained on `sentences` (no normalisation, no byte fallback, unseen
    characters as one unk surfacing as "⁇"); `layout` sets the special ids and pieces."""
    first = next(sentences, None)
    if first is None:
        raise TokenizerError("no training text: the texts/files given are empty")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_chain(first, sentences), model_writer=model, model_type="bpe",
            vocab_size=vocab_size, unk_surface=UNK_TEXT, byte_fallback=False, character_coverage=1.0,
            normalization_rule_name="identity", num_threads=1, minloglevel=2, **layout,
        )
    except RuntimeError as e:  # e.g. "Vocabulary size too high (500). Please set it to a value <= 87."
        raise TokenizerError(f"sentencepiece training failed: {e}") from None
    return model.getvalue()


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
