"""Character tokenizer: one id per character (space included), for small vocabularies and tests.

Ids: 0 blank, 1 unk, then the alphabet in the order given. Unknown characters encode to unk and
decode as "⁇". The alphabet is stored inline in `tokenizer.json`; there is no separate model file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from transduce.asr.tokenizers.base import (
    BLANK_PIECE,
    UNK_ID,
    UNK_PIECE,
    UNK_TEXT,
    Tokenizer,
    TokenizerError,
    write_tokenizer_meta,
)

__all__ = ["CharTokenizer"]

_FORMAT_VERSION = 1


class CharTokenizer(Tokenizer):
    """One token per character of `chars` (ids 2, 3, ... in that order)."""

    type_name = "char"

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise TokenizerError(f"alphabet entries must be single characters, got {c!r}")
        seen: set[str] = set()
        dupes = sorted({c for c in chars if c in seen or seen.add(c)})
        if dupes:
            raise TokenizerError(f"alphabet has duplicate characters: {dupes}")
        self._chars = chars
        self._ids = {c: i + 2 for i, c in enumerate(chars)}

    @classmethod
    def train(cls, texts: Iterable[str]) -> CharTokenizer:
        """The alphabet of `texts` (sorted by code point, space always included)."""
        alphabet = {" "}
        for text in texts:
            alphabet.update(text)
        alphabet -= {"\n", "\r"}
        return cls(sorted(alphabet))

    @property
    def vocab_size(self) -> int:
        return len(self._chars) + 2

    @property
    def chars(self) -> list[str]:
        """The alphabet in id order (ids from 2)."""
        return list(self._chars)

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(c, UNK_ID) for c in text]

    def _decode_tokens(self, ids: list[int]) -> str:
        return "".join(UNK_TEXT if i == UNK_ID else self._chars[i - 2] for i in ids)

    def id_to_piece(self, i: int) -> str:
        i = self._check_id(i)
        return (BLANK_PIECE, UNK_PIECE)[i] if i < 2 else self._chars[i - 2]

    def save(self, directory: str | Path) -> None:
        meta = {"type": self.type_name, "version": _FORMAT_VERSION, "chars": self._chars}
        write_tokenizer_meta(directory, meta)

    @classmethod
    def from_meta(cls, directory: str | Path, meta: dict[str, Any]) -> CharTokenizer:
        """Rebuild from the `tokenizer.json` contents written by `save`."""
        chars = meta.get("chars")
        if not isinstance(chars, list):
            raise TokenizerError(f"{Path(directory)}/tokenizer.json: a char tokenizer needs a \"chars\" list")
        return cls(chars)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
