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

from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm
from transduce.asr.tokenizers.base import TokenizerError
from transduce.asr.tokenizers.sentencepiece_base import (
    SentencePieceTokenizer,
    read_sentences,
    train_bpe_model,
)

__all__ = ["PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID", "SPECIAL_PIECES", "TextTokenizer"]

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_PIECES = ("<pad>", "<unk>", "<s>", "</s>")  # ids 0..3


class TextTokenizer(SentencePieceTokenizer):
    """Sentencepiece BPE with ids 0 <pad>, 1 <unk>, 2 <s>, 3 </s>; pieces from 4."""

    type_name = "text_bpe"
    MODEL_FILE = "text_bpe.model"

    @classmethod
    def train(cls, texts: Iterable[str | Path] | Path, vocab_size: int,
              directory: str | Path | None = None) -> TextTokenizer:
        """Train on `texts` (strings, one sentence per line, or UTF-8 files); save to `directory` if given.

        `vocab_size` counts the four special ids; sentencepiece refuses sizes the text cannot fill.
        """
        if vocab_size < len(SPECIAL_PIECES) + 1:
            raise TokenizerError(f"vocab_size must be at least {len(SPECIAL_PIECES) + 1} (4 special ids and "
                                 f"one piece), got {vocab_size}")
        pieces = dict(zip(("pad_piece", "unk_piece", "bos_piece", "eos_piece"), SPECIAL_PIECES))
        proto = train_bpe_model(read_sentences(texts), vocab_size, pad_id=PAD_ID, unk_id=UNK_ID,
                                bos_id=BOS_ID, eos_id=EOS_ID, **pieces)
        tok = cls(proto)
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

    def _check_layout(self, sp: spm.SentencePieceProcessor) -> None:
        """Refuse models whose ids 0..3 are not <pad>, <unk>, <s>, </s>."""
        ids = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
        if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID) or sp.get_piece_size() <= len(SPECIAL_PIECES):
            raise TokenizerError(f"sentencepiece model has pad/unk/bos/eos at ids {ids} and "
                                 f"{sp.get_piece_size()} pieces; expected ids (0, 1, 2, 3) and more pieces")

    @classmethod
    def load(cls, directory: str | Path) -> TextTokenizer:
        """The tokenizer saved in `directory` by `save`."""
        from transduce.asr.tokenizers import load_tokenizer

        tok = load_tokenizer(directory)
        if not isinstance(tok, cls):
            raise TokenizerError(f"{directory}: holds a {type(tok).__name__}, not a {cls.__name__}")
        return tok
