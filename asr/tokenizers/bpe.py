"""BPE tokenizer over sentencepiece, with our blank = 0 and unk = 1 built into the model itself.

The sentencepiece model is trained with "<blk>" as a control symbol at id 0 (control symbols are
never produced by encoding and decode to nothing) and its own unk at id 1; bos, eos and pad are
off. So sentencepiece ids *are* our ids, with no offset, and `vocab_size` equals the model's
piece count. Byte fallback is off: characters unseen in training encode to unk (a run of them
becomes one unk) and decode as "⁇". Text is not normalised (no NFKC, no lower-casing, punctuation
kept) except that whitespace runs collapse to one space and leading/trailing spaces are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm
from transduce.asr.tokenizers.base import BLANK_ID, BLANK_PIECE, UNK_ID, UNK_PIECE, TokenizerError
from transduce.asr.tokenizers.sentencepiece_base import (
    SentencePieceTokenizer,
    read_sentences,
    train_bpe_model,
)

__all__ = ["BpeTokenizer"]


class BpeTokenizer(SentencePieceTokenizer):
    """Sentencepiece BPE pieces; ids are the model's own (0 "<blk>", 1 "<unk>", pieces from 2)."""

    type_name = "bpe"
    MODEL_FILE = "bpe.model"

    @classmethod
    def train(cls, texts: Iterable[str | Path] | Path, vocab_size: int,
              directory: str | Path | None = None) -> BpeTokenizer:
        """Train on `texts`: `str` items are text, `Path` items (or one `Path`) are UTF-8 files.

        Each line is one sentence. With `directory`, the tokenizer is also saved there.
        """
        if vocab_size < 3:
            raise TokenizerError(f"vocab_size must be at least 3 (blank, unk, one piece), got {vocab_size}")
        proto = train_bpe_model(read_sentences(texts), vocab_size, unk_id=UNK_ID, bos_id=-1, eos_id=-1,
                                pad_id=-1, control_symbols=[BLANK_PIECE], unk_piece=UNK_PIECE)
        tok = cls(proto)
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

    def _check_layout(self, sp: spm.SentencePieceProcessor) -> None:
        """Refuse models whose ids 0/1 are not our blank/unk, or that emit bos/eos/pad."""
        n = sp.get_piece_size()
        if n < 3 or sp.id_to_piece(BLANK_ID) != BLANK_PIECE or not sp.is_control(BLANK_ID):
            raise TokenizerError(f"sentencepiece model lacks the control piece {BLANK_PIECE!r} at id "
                                 f"{BLANK_ID}")
        if sp.unk_id() != UNK_ID:
            raise TokenizerError(f"sentencepiece model has unk at id {sp.unk_id()}, expected {UNK_ID}")
        extra = [sp.bos_id(), sp.eos_id(), sp.pad_id()]
        if any(i >= 0 for i in extra):
            raise TokenizerError(f"sentencepiece model must have bos/eos/pad disabled, has ids {extra}")
