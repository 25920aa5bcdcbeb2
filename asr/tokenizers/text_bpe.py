"""SentencePiece BPE tokenizer for the text models, with pad, unk, bos and eos built into the model.

Text seq2seq models and LMs need sequence boundaries, which the speech tokenizers (asr.tokenizers,
blank = 0, no bos/eos) do not have. Here the sentencepiece model itself holds 0 "<pad>", 1 "<unk>",
2 "<s>" (bos) and 3 "</s>" (eos), so its ids are our ids with no offset and pieces start at 4.
It is an `asr.tokenizers.Tokenizer` (pad takes the place of the blank: id 0, never produced by
`encode`, dropped by `decode`), lives in a directory as `tokenizer.json` plus the sentencepiece model
file it names, and registers its type "text_bpe" with `asr.tokenizers.load_tokenizer`, so a text
model's checkpoint (asr.checkpoint) saves and loads it like a speech tokenizer. Text is not
normalised, as in asr.tokenizers.bpe: whitespace runs collapse to one space, the ends are trimmed,
characters unseen in training become one unk per run.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sentencepiece as spm
from transduce.asr.tokenizers.base import UNK_TEXT, Tokenizer, TokenizerError, write_tokenizer_meta

__all__ = ["PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID", "SPECIAL_PIECES", "TextTokenizer"]

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_PIECES = ("<pad>", "<unk>", "<s>", "</s>")  # ids 0..3
_FORMAT_VERSION = 1
_MODEL_FILE = "text_bpe.model"


class TextTokenizer(Tokenizer):
    """Sentencepiece BPE with ids 0 <pad>, 1 <unk>, 2 <s>, 3 </s>; pieces from 4."""

    type_name = "text_bpe"

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
    def train(cls, texts: Iterable[str] | Path, vocab_size: int,
              directory: str | Path | None = None) -> TextTokenizer:
        """Train on `texts` (strings, one sentence per line) or one UTF-8 file; save to `directory` if given.

        `vocab_size` counts the four special ids; sentencepiece refuses sizes the text cannot fill.
        """
        if vocab_size < len(SPECIAL_PIECES) + 1:
            raise TokenizerError(f"vocab_size must be at least {len(SPECIAL_PIECES) + 1} (4 special ids and "
                                 f"one piece), got {vocab_size}")
        sentences = _lines(texts)
        first = next(sentences, None)
        if first is None:
            raise TokenizerError("no training text: the texts given are empty")
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=_chain(first, sentences), model_writer=model, model_type="bpe",
                vocab_size=vocab_size, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
                pad_piece=SPECIAL_PIECES[PAD_ID], unk_piece=SPECIAL_PIECES[UNK_ID],
                bos_piece=SPECIAL_PIECES[BOS_ID], eos_piece=SPECIAL_PIECES[EOS_ID], unk_surface=UNK_TEXT,
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

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def bos_id(self) -> int:
        return BOS_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of `text`, optionally wrapped in bos ... eos."""
        ids = self._sp.encode(text)
        return [BOS_ID] * add_bos + ids + [EOS_ID] * add_eos

    def _decode_tokens(self, ids: list[int]) -> str:
        return self._sp.decode(ids)  # bos/eos/pad are control pieces: they decode to nothing

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
    def load(cls, directory: str | Path) -> TextTokenizer:
        """The tokenizer saved in `directory` by `save`."""
        from transduce.asr.tokenizers import load_tokenizer

        tok = load_tokenizer(directory)
        if not isinstance(tok, cls):
            raise TokenizerError(f"{directory}: holds a {type(tok).__name__}, not a {cls.__name__}")
        return tok

    @classmethod
    def from_meta(cls, directory: str | Path, meta: dict[str, Any]) -> TextTokenizer:
        """Rebuild from the `tokenizer.json` contents written by `save` and the model file it names."""
        path = Path(directory) / str(meta.get("model_file", _MODEL_FILE))
        if not path.is_file():
            raise TokenizerError(f"{path}: no such file (the sentencepiece model named in tokenizer.json)")
        tok = cls(path.read_bytes())
        if meta.get("vocab_size", tok.vocab_size) != tok.vocab_size:
            raise TokenizerError(f"{path}: tokenizer.json says vocab_size {meta['vocab_size']}, the model "
                                 f"has {tok.vocab_size} pieces")
        return tok

    def __repr__(self) -> str:
        return f"TextTokenizer(vocab_size={self.vocab_size})"


def _check_layout(sp: spm.SentencePieceProcessor) -> None:
    """Refuse models whose ids 0..3 are not <pad>, <unk>, <s>, </s>."""
    ids = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
    if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID) or sp.get_piece_size() <= len(SPECIAL_PIECES):
        raise TokenizerError(f"sentencepiece model has pad/unk/bos/eos at ids {ids} and "
                             f"{sp.get_piece_size()} pieces; expected ids (0, 1, 2, 3) and more pieces")


def _lines(texts: Iterable[str] | Path) -> Iterator[str]:
    """Non-empty lines of the strings in `texts`, or of the file `texts`."""
    if isinstance(texts, str):
        raise TokenizerError("texts must be an iterable of strings or one Path, not a single str")
    if isinstance(texts, Path):
        if not texts.is_file():
            raise TokenizerError(f"no such text file: {texts}")
        texts = texts.read_text(encoding="utf-8").splitlines()
    return (line for item in texts for line in item.splitlines() if line.strip())


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest

