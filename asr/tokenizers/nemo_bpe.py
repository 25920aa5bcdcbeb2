"""A NeMo model's SentencePiece tokenizer, read as it is, with our blank at id 0.

NeMo puts the blank after the vocabulary (id = piece count); we put it at 0. So our id of a piece is
its SentencePiece id + 1, and an imported model's output layers are permuted to match
(transduce.asr.nemo.weights); the SentencePiece model itself is kept byte for byte, never
retrained, and text is encoded and decoded by it exactly as NeMo does (`ids_to_text` is
sentencepiece's decode of the piece ids).
"""

from __future__ import annotations

import sentencepiece as spm
from transduce.asr.tokenizers.base import BLANK_ID, TokenizerError
from transduce.asr.tokenizers.sentencepiece_base import SentencePieceTokenizer

__all__ = ["NemoBpeTokenizer"]


class NemoBpeTokenizer(SentencePieceTokenizer):
    """SentencePiece pieces of a NeMo model; our id = piece id + 1, 0 is the blank."""

    type_name = "nemo_bpe"
    MODEL_FILE = "nemo_tokenizer.model"

    def _check_layout(self, sp: spm.SentencePieceProcessor) -> None:
        if sp.get_piece_size() < 1:
            raise TokenizerError("the sentencepiece model has no pieces")

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
