"""Tokenizers: round trips against per-character oracles, the blank/unk convention, save/load."""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import pytest
import sentencepiece as spm
from transduce.asr.tokenizers import (
    BLANK_ID,
    UNK_ID,
    UNK_TEXT,
    BpeTokenizer,
    CharTokenizer,
    TokenizerError,
    load_tokenizer,
)

SAMPLE = Path(__file__).resolve().parents[2] / "asr" / "assets" / "sample.txt"
ALPHABET = "abcdefghij .,'"
UNKNOWN = "XYZ?!é中"


def _random_text(rng: random.Random, chars: str, n: int) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def _corpus(seed: int = 0, n: int = 150) -> list[str]:
    rng = random.Random(seed)
    words = SAMPLE.read_text().split() + ["Hello,", "world.", "It's", "OK"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(n)]


@pytest.fixture(scope="module")
def bpe() -> BpeTokenizer:
    return BpeTokenizer.train([*_corpus(), SAMPLE.read_text()], vocab_size=80)


# ---- char -----------------------------------------------------------------------------------


def test_char_round_trip_with_unknowns_matches_per_character_oracle():
    tok = CharTokenizer(list(ALPHABET))
    rng = random.Random(1)
    for _ in range(50):
        text = _random_text(rng, ALPHABET + UNKNOWN, rng.randint(0, 40))
        ids = tok.encode(text)
        assert len(ids) == len(text)
        assert BLANK_ID not in ids
        assert [i == UNK_ID for i in ids] == [c not in ALPHABET for c in text]
        assert tok.decode(ids) == "".join(c if c in ALPHABET else UNK_TEXT for c in text)


def test_char_vocab_and_pieces():
    tok = CharTokenizer.train(["ba c", "ab\n"])
    assert tok.chars == [" ", "a", "b", "c"]
    assert tok.vocab_size == 6
    assert tok.pieces() == ["<blk>", "<unk>", " ", "a", "b", "c"]
    assert (tok.blank_id, tok.unk_id) == (0, 1)


def test_decode_drops_blanks_and_refuses_out_of_range_ids():
    tok = CharTokenizer(list(ALPHABET))
    ids = tok.encode("a.b c")
    with_blanks = [x for i in ids for x in (BLANK_ID, i, BLANK_ID)]
    assert tok.decode(with_blanks) == tok.decode(ids) == "a.b c"
    with pytest.raises(IndexError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(IndexError):
        tok.id_to_piece(-1)


def test_char_rejects_bad_alphabets():
    with pytest.raises(TokenizerError, match="duplicate"):
        CharTokenizer(["a", "b", "a"])
    with pytest.raises(TokenizerError, match="single characters"):
        CharTokenizer(["ab"])


def test_char_save_load(tmp_path):
    tok = CharTokenizer.train(_corpus(2, 20))
    tok.save(tmp_path / "tok")
    back = load_tokenizer(tmp_path / "tok")
    assert isinstance(back, CharTokenizer)
    assert back.pieces() == tok.pieces()
    text = "the weather, Zorro!"
    assert back.encode(text) == tok.encode(text)


# ---- bpe ------------------------------------------------------------------------------------


def test_bpe_layout(bpe):
    assert bpe.vocab_size == 80
    assert bpe.pieces()[:2] == ["<blk>", "<unk>"]
    assert len(set(bpe.pieces())) == 80


def test_bpe_round_trip_known_text_normalises_only_whitespace(bpe):
    rng = random.Random(3)
    for text in _corpus(seed=4, n=30):
        spaced = re.sub(" ", lambda _: " " * rng.randint(1, 3), text)
        spaced = " " * rng.randint(0, 2) + spaced + " " * rng.randint(0, 2)
        ids = bpe.encode(spaced)
        assert ids and BLANK_ID not in ids and UNK_ID not in ids
        assert all(2 <= i < bpe.vocab_size for i in ids)
        assert bpe.decode(ids) == text


def test_bpe_unknown_characters_become_unk(bpe):
    known = set("".join(_corpus()) + SAMPLE.read_text())
    assert not known & set(UNKNOWN)
    rng = random.Random(5)
    letters = "".join(sorted(c for c in known if c.islower())) + " "
    for _ in range(40):
        text = " ".join(_random_text(rng, letters + UNKNOWN, rng.randint(1, 30)).split())
        ids = bpe.encode(text)
        assert BLANK_ID not in ids
        assert (UNK_ID in ids) == any(c in UNKNOWN for c in text)
        # oracle: every maximal run of unknown characters prints as one "⁇"
        unk_run = "[" + re.escape(UNKNOWN) + "]+"
        assert bpe.decode(ids) == re.sub(unk_run, UNK_TEXT, text)


def test_bpe_never_encodes_special_piece_text(bpe):
    ids = bpe.encode("<blk> <unk> the")
    assert BLANK_ID not in ids
    assert bpe.decode(ids).endswith("the")


def test_bpe_save_load_and_file_training_agree(bpe, tmp_path):
    bpe.save(tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == ["bpe.model", "tokenizer.json"]
    back = load_tokenizer(tmp_path / "tok")
    assert isinstance(back, BpeTokenizer)
    assert back.pieces() == bpe.pieces()
    for text in _corpus(seed=6, n=10):
        assert back.encode(text) == bpe.encode(text)
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join([*_corpus(), SAMPLE.read_text()]))
    from_file = BpeTokenizer.train(corpus_file, vocab_size=80, directory=tmp_path / "t2")
    assert from_file.pieces() == bpe.pieces()
    assert load_tokenizer(tmp_path / "t2").pieces() == bpe.pieces()


def test_bpe_training_errors(tmp_path):
    with pytest.raises(TokenizerError, match="Vocabulary size too high"):
        BpeTokenizer.train([SAMPLE], vocab_size=5000)
    with pytest.raises(TokenizerError, match="at least 3"):
        BpeTokenizer.train([SAMPLE], vocab_size=2)
    with pytest.raises(TokenizerError, match="no such text file"):
        BpeTokenizer.train([tmp_path / "missing.txt"], vocab_size=50)
    with pytest.raises(TokenizerError, match="empty"):
        BpeTokenizer.train(["", "  \n"], vocab_size=50)
    with pytest.raises(TokenizerError, match="single str"):
        BpeTokenizer.train("the text", vocab_size=50)


def test_foreign_sentencepiece_model_is_refused(tmp_path):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_corpus(n=30)), model_writer=model,
                                   model_type="bpe", vocab_size=40, minloglevel=2, num_threads=1)
    with pytest.raises(TokenizerError, match="<blk>"):
        BpeTokenizer(model.getvalue())
    with pytest.raises(TokenizerError, match="not a sentencepiece model"):
        BpeTokenizer(b"garbage")


def test_load_tokenizer_errors(bpe, tmp_path):
    with pytest.raises(TokenizerError, match="no such file"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"type": "wordpiece"}))
    with pytest.raises(TokenizerError, match="unknown tokenizer type 'wordpiece'"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        load_tokenizer(tmp_path)
    bpe.save(tmp_path / "b")
    (tmp_path / "b" / "bpe.model").unlink()
    with pytest.raises(TokenizerError, match="bpe.model: no such file"):
        load_tokenizer(tmp_path / "b")
