"""A NeMo model's SentencePiece tokenizer, read as it is, with our blank at id 0.

NeMo puts the blank after the vocabulary (id = piece count); we put it at 0. So our id of a piece is
its SentencePiece id + 1, and an imported model's output layers are permuted to match
(transduce.asr.nemo.weights); the SentencePiece model itself is kept byte for byte, never
retrained, and text is encoded and decoded by it exactly as NeMo does (`ids_to_text` is
sentencepiece's decode of the piece ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sentencepiece as spm
from transduce.asr.tokenizers.base import BLANK_ID, Tokenizer, TokenizerError, write_tokenizer_meta

__all__ = ["NemoBpeTokenizer"]

_FORMAT_VERSION = 1
_MODEL_FILE = "nemo_tokenizer.model"


class NemoBpeTokenizer(Tokenizer):
    """SentencePiece pieces of a NeMo model; our id = piece id + 1, 0 is the blank."""

    type_name = "nemo_bpe"

    def __init__(self, model_proto: bytes) -> None:
        sp = spm.SentencePieceProcessor()
        try:
            sp.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise TokenizerError(f"not a sentencepiece model ({e})") from None
        if sp.get_piece_size() < 1:
            raise TokenizerError("the sentencepiece model has no pieces")
        self._proto = bytes(model_proto)
        self._sp = sp

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size() + 1

    @property
    def unk_id(self) -> int:
        return self._sp.unk_id() + 1

    def encode(self, text: str) -> list[int]:
        return [i + 1 for i in self._sp.encode(text)]

    def _decode_tokens(self, ids: list[int]) -> str:
        return self._sp.decode([i - 1 for i in ids])

    def id_to_piece(self, i: int) -> str:
        i = self._check_id(i)
        return "<blk>" if i == BLANK_ID else self._sp.id_to_piece(i - 1)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _MODEL_FILE).write_bytes(self._proto)
        meta = {"type": self.type_name, "version": _FORMAT_VERSION, "model_file": _MODEL_FILE,
                "vocab_size": self.vocab_size}
        write_tokenizer_meta(directory, meta)

    @classmethod
    def from_meta(cls, directory: str | Path, meta: dict[str, Any]) -> NemoBpeTokenizer:
        """Rebuild from the `tokenizer.json` contents written by `save` and the model file it names."""
        path = Path(directory) / str(meta.get("model_file", _MODEL_FILE))
        if not path.is_file():
            raise TokenizerError(f"{path}: no such file (the sentencepiece model named in tokenizer.json)")
        tok = cls(path.read_bytes())
        expected = meta.get("vocab_size")
        if expected is not None and expected != tok.vocab_size:
            raise TokenizerError(f"{path}: tokenizer.json says vocab_size {expected}, the model gives "
                                 f"{tok.vocab_size} ids")
        return tok

    def __repr__(self) -> str:
        return f"NemoBpeTokenizer(vocab_size={self.vocab_size})"
