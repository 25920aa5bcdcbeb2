"""BPE tokenizer over sentencepiece, with our blank = 0 and unk = 1 built into the model itself.

The sentencepiece model is trained with "<blk>" as a control symbol at id 0 (control symbols are
never produced by encoding and decode to nothing) and its own unk at id 1; bos, eos and pad are
off. So sentencepiece ids *are* our ids, with no offset, and `vocab_size` equals the model's
piece count. Byte fallback is off: characters unseen in training encode to unk (a run of them
becomes one unk) and decode as "⁇". Text is not normalised (no NFKC, no lower-casing, punctuation
kept) except that whitespace runs collapse to one space and leading/trailing spaces are dropped.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sentencepiece as spm
from transduce.asr.tokenizers.base import (
    BLANK_ID,
    BLANK_PIECE,
    UNK_ID,
    UNK_PIECE,
    UNK_TEXT,
    Tokenizer,
    TokenizerError,
    write_tokenizer_meta,
)

__all__ = ["BpeTokenizer"]

_FORMAT_VERSION = 1
_MODEL_FILE = "bpe.model"


class BpeTokenizer(Tokenizer):
    """Sentencepiece BPE pieces; ids are the model's own (0 "<blk>", 1 "<unk>", pieces from 2)."""

    type_name = "bpe"

    def __init__(self, model_proto: bytes) -> None:
        sp = spm.SentencePieceProcessor()
        try:
            sp.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise TokenizerError(f"not a sentencepiece model ({e})") from None
        _check_layout(sp)
        self._proto = bytes(model_proto)
        self._sp = sp

    @classmethod
    def train(cls, texts: Iterable[str | Path] | Path, vocab_size: int,
              directory: str | Path | None = None) -> BpeTokenizer:
        """Train on `texts`: `str` items are text, `Path` items (or one `Path`) are UTF-8 files.

        Each line is one sentence. With `directory`, the tokenizer is also saved there.
        """
        if vocab_size < 3:
            raise TokenizerError(f"vocab_size must be at least 3 (blank, unk, one piece), got {vocab_size}")
        sentences = _sentences(texts)
        first = next(sentences, None)
        if first is None:
            raise TokenizerError("no training text: the texts/files given are empty")
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=_chain(first, sentences), model_writer=model, model_type="bpe",
                vocab_size=vocab_size, unk_id=UNK_ID, bos_id=-1, eos_id=-1, pad_id=-1,
                control_symbols=[BLANK_PIECE], unk_piece=UNK_PIECE, unk_surface=UNK_TEXT,
                byte_fallback=False, character_coverage=1.0, normalization_rule_name="identity",
                num_threads=1, minloglevel=2,
            )
        except RuntimeError as e:  # e.g. "Vocabulary size too high (500). Please set it to a value <= 87."
            raise TokenizerError(f"sentencepiece training failed: {e}") from None
        tok = cls(model.getvalue())
        if directory is not None:
            tok.save(directory)
        return tok

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def _decode_tokens(self, ids: list[int]) -> str:
        return self._sp.decode(ids)

    def id_to_piece(self, i: int) -> str:
        return self._sp.id_to_piece(self._check_id(i))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _MODEL_FILE).write_bytes(self._proto)
        meta = {"type": self.type_name, "version": _FORMAT_VERSION, "model_file": _MODEL_FILE,
                "vocab_size": self.vocab_size}
        write_tokenizer_meta(directory, meta)

    @classmethod
    def from_meta(cls, directory: str | Path, meta: dict[str, Any]) -> BpeTokenizer:
        """Rebuild from the `tokenizer.json` contents written by `save` and the model file it names."""
        name = meta.get("model_file", _MODEL_FILE)
        path = Path(directory) / str(name)
        if not path.is_file():
            raise TokenizerError(f"{path}: no such file (the sentencepiece model named in tokenizer.json)")
        tok = cls(path.read_bytes())
        expected = meta.get("vocab_size")
        if expected is not None and expected != tok.vocab_size:
            raise TokenizerError(
                f"{path}: tokenizer.json says vocab_size {expected}, the model has {tok.vocab_size} pieces")
        return tok

    def __repr__(self) -> str:
        return f"BpeTokenizer(vocab_size={self.vocab_size})"


def _check_layout(sp: spm.SentencePieceProcessor) -> None:
    """Refuse models whose ids 0/1 are not our blank/unk, or that emit bos/eos/pad or bytes."""
    n = sp.get_piece_size()
    if n < 3 or sp.id_to_piece(BLANK_ID) != BLANK_PIECE or not sp.is_control(BLANK_ID):
        raise TokenizerError(f"sentencepiece model lacks the control piece {BLANK_PIECE!r} at id {BLANK_ID}")
    if sp.unk_id() != UNK_ID:
        raise TokenizerError(f"sentencepiece model has unk at id {sp.unk_id()}, expected {UNK_ID}")
    extra = [sp.bos_id(), sp.eos_id(), sp.pad_id()]
    if any(i >= 0 for i in extra):
        raise TokenizerError(f"sentencepiece model must have bos/eos/pad disabled, has ids {extra}")


def _sentences(texts: Iterable[str | Path] | Path) -> Iterator[str]:
    """Non-empty lines of `texts`: `str` items are text, `Path` items (or a lone `Path`) are files."""
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


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
