"""Tokenizers: text <-> token ids, one convention for every head.

Blank convention (shared by the CTC and transducer heads): id 0 is the blank, id 1 is unk, real
tokens start at 2, and `vocab_size` counts the blank, so an output layer of `vocab_size` units
covers every id and the heads and losses use `blank=0`. `encode` never produces the blank;
`decode` drops blanks and prints unk as "⁇".

Text policy: tokenizers do not normalise text (case and punctuation are kept as given); text
normalisation belongs to the data pipeline. Characters outside the vocabulary become unk. The
char tokenizer round-trips known text exactly; BPE also collapses runs of whitespace and trims the
ends, and turns a run of unknown characters into one unk.

A tokenizer lives in a directory: `tokenizer.json` ({"type": "char" | "bpe", ...}) plus, for BPE,
the sentencepiece model file it names. `load_tokenizer(directory)` reads either kind back.
"""

from __future__ import annotations

from pathlib import Path

from transduce.asr.tokenizers.base import (
    BLANK_ID,
    UNK_ID,
    UNK_TEXT,
    Tokenizer,
    TokenizerError,
    read_tokenizer_meta,
)
from transduce.asr.tokenizers.bpe import BpeTokenizer
from transduce.asr.tokenizers.char import CharTokenizer
from transduce.asr.tokenizers.nemo_bpe import NemoBpeTokenizer
from transduce.asr.tokenizers.text_bpe import TextTokenizer

__all__ = [
    "BLANK_ID",
    "UNK_ID",
    "UNK_TEXT",
    "Tokenizer",
    "TokenizerError",
    "CharTokenizer",
    "BpeTokenizer",
    "NemoBpeTokenizer",
    "TextTokenizer",
    "TOKENIZER_TYPES",
    "load_tokenizer",
]

TOKENIZER_TYPES: dict[str, type[Tokenizer]] = {
    CharTokenizer.type_name: CharTokenizer,
    BpeTokenizer.type_name: BpeTokenizer,
    NemoBpeTokenizer.type_name: NemoBpeTokenizer,
    TextTokenizer.type_name: TextTokenizer,
}


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """The tokenizer saved in `directory` (by `Tokenizer.save`); TokenizerError names what is wrong."""
    meta = read_tokenizer_meta(directory)
    kind = meta["type"]
    cls = TOKENIZER_TYPES.get(kind)
    if cls is None:
        raise TokenizerError(
            f"{Path(directory) / 'tokenizer.json'}: unknown tokenizer type {kind!r} "
            f"(known: {sorted(TOKENIZER_TYPES)})")
    return cls.from_meta(directory, meta)
