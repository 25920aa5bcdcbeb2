"""The one tokenizer interface shared by CTC, transducer and attention heads, and its file layout.

Ids: blank = 0, unk = 1, real tokens from 2 on; `vocab_size` counts the blank, so an output
layer of size `vocab_size` covers every id. A tokenizer directory holds `tokenizer.json`
({"type": "char" | "bpe", ...}) and, for BPE, the sentencepiece model file it names.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BLANK_ID",
    "UNK_ID",
    "BLANK_PIECE",
    "UNK_PIECE",
    "UNK_TEXT",
    "TOKENIZER_FILE",
    "Tokenizer",
    "TokenizerError",
    "read_tokenizer_meta",
    "write_tokenizer_meta",
]

BLANK_ID = 0
UNK_ID = 1
BLANK_PIECE = "<blk>"
UNK_PIECE = "<unk>"
UNK_TEXT = "\u2047"  # "⁇", what sentencepiece prints for an unknown piece
TOKENIZER_FILE = "tokenizer.json"


class TokenizerError(ValueError):
    """A tokenizer cannot be built, trained or read as asked (the message says why)."""


class Tokenizer(ABC):
    """Text <-> ids with blank = 0 and unk = 1; `vocab_size` includes the blank."""

    type_name: str = ""  # the "type" written into tokenizer.json

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, blank and unk included: the size of an output layer over this vocabulary."""

    @property
    def blank_id(self) -> int:
        return BLANK_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of `text`; characters outside the vocabulary become `unk_id`, never an error."""

    @abstractmethod
    def _decode_tokens(self, ids: list[int]) -> str:
        """Text of ids that contain no blank."""

    @abstractmethod
    def id_to_piece(self, i: int) -> str:
        """The piece (string form) of id `i`; IndexError outside `[0, vocab_size)`."""

    @abstractmethod
    def save(self, directory: str | Path) -> None:
        """Write `tokenizer.json` (and any model file) into `directory`, creating it."""

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`; blank ids are dropped, unknown ids print as "⁇"."""
        return self._decode_tokens([self._check_id(i) for i in ids if int(i) != self.blank_id])

    def pieces(self) -> list[str]:
        """All pieces in id order (index = id)."""
        return [self.id_to_piece(i) for i in range(self.vocab_size)]

    def _check_id(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.vocab_size:
            raise IndexError(f"token id {i} is outside the vocabulary [0, {self.vocab_size})")
        return i


def write_tokenizer_meta(directory: str | Path, meta: dict[str, Any]) -> None:
    """Write `meta` (which must carry "type") as `directory/tokenizer.json`, creating the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / TOKENIZER_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def read_tokenizer_meta(directory: str | Path) -> dict[str, Any]:
    """Read `directory/tokenizer.json`; TokenizerError if it is absent or not a JSON object with "type"."""
    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise TokenizerError(f"{path}: no such file (not a tokenizer directory)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or "type" not in meta:
        raise TokenizerError(f"{path}: expected a JSON object with a \"type\" key")
    return meta
