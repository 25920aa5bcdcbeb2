"""Text tokenizer: ids 0..3 are <pad> <unk> <s> </s>, text round-trips, save/load keeps the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from transduce.asr.tokenizers import TokenizerError, load_tokenizer
from transduce.asr.tokenizers.text_bpe import BOS_ID, EOS_ID, PAD_ID, SPECIAL_PIECES, UNK_ID, TextTokenizer

VOCAB = 120


@pytest.fixture(scope="module")
def tok(sentences: list[str]) -> TextTokenizer:
    return TextTokenizer.train(sentences, vocab_size=VOCAB)


def test_special_ids(tok: TextTokenizer) -> None:
    assert tok.vocab_size == VOCAB
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert tok.pieces()[:4] == list(SPECIAL_PIECES)
    ids = tok.encode("sit down and tell me everything")
    assert ids and min(ids) >= 4


def test_round_trip(tok: TextTokenizer, sentences: list[str]) -> None:
    for text in sentences[:50] + ["  spaces   collapse  "]:
        assert tok.decode(tok.encode(text)) == " ".join(text.split())
    wrapped = tok.encode("the kettle is on", add_bos=True, add_eos=True)
    assert wrapped[0] == BOS_ID and wrapped[-1] == EOS_ID
    assert tok.decode(wrapped) == "the kettle is on"  # bos, eos and pad decode to nothing
    assert tok.decode([PAD_ID] + wrapped) == "the kettle is on"


def test_unknown_characters_become_unk(tok: TextTokenizer) -> None:
    ids = tok.encode("tea \u4e2d\u6587 now")
    assert UNK_ID in ids and tok.decode(ids) == "tea \u2047 now"


def test_save_and_load(tok: TextTokenizer, tmp_path: Path) -> None:
    tok.save(tmp_path / "t")
    for loaded in (TextTokenizer.load(tmp_path / "t"), load_tokenizer(tmp_path / "t")):
        assert isinstance(loaded, TextTokenizer)
        assert loaded.pieces() == tok.pieces()
        assert loaded.encode("sit down, please") == tok.encode("sit down, please")


def test_train_from_file_and_save_to_directory(sentences: list[str], tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    path.write_text("\n".join(sentences), encoding="utf-8")
    tok = TextTokenizer.train(path, vocab_size=60, directory=tmp_path / "out")
    assert TextTokenizer.load(tmp_path / "out").pieces() == tok.pieces()


def test_bad_requests_are_refused(sentences: list[str], tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="at least"):
        TextTokenizer.train(sentences, vocab_size=4)
    with pytest.raises(TokenizerError, match="too high|failed"):
        TextTokenizer.train(["a b"], vocab_size=500)
    with pytest.raises(TokenizerError, match="single str"):
        TextTokenizer.train("one sentence", vocab_size=20)
    with pytest.raises(TokenizerError, match="empty"):
        TextTokenizer.train([], vocab_size=20)
    with pytest.raises(TokenizerError, match="no such"):
        TextTokenizer.load(tmp_path)
