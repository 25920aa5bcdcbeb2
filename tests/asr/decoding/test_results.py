"""Results: text, word boundaries (char " " separators and BPE "▁" word starts), token/word times
and confidences from a hypothesis, against hand-made and per-word oracles."""

from __future__ import annotations

import random

import pytest
from transduce.asr.decoding import Hypothesis, to_result, word_spans
from transduce.asr.tokenizers import BpeTokenizer, CharTokenizer

SHIFT = 0.04
CORPUS = ["the cat sat on the mat", "a dog ran to the old red barn", "cats and dogs sat down",
          "the red mat is on the barn floor", "an old cat ran"] * 20


@pytest.fixture(scope="module")
def bpe() -> BpeTokenizer:
    return BpeTokenizer.train(CORPUS, vocab_size=40)


def test_char_words_times_and_confidences():
    tok = CharTokenizer(list(" abc"))
    ids = [tok.encode(c)[0] for c in " ab c  a "]
    hyp = Hypothesis(ids, [0, 1, 2, 4, 5, 6, 9, 11, 12], [1, .9, .8, 1, .5, 1, 1, .7, 1], -3.0)
    res = to_result(hyp, tok, SHIFT)
    assert res.text == "ab c  a"
    assert [w.text for w in res.words] == ["ab", "c", "a"]
    times = [t for w in res.words for t in (w.start_s, w.end_s)]
    assert times == pytest.approx([.04, .12, .2, .24, .44, .48])
    assert [w.confidence for w in res.words] == pytest.approx([0.8, 0.5, 0.7])
    assert res.confidence == pytest.approx((0.8 + 0.5 + 0.7) / 3)
    assert res.token_times[3] == pytest.approx((0.16, 0.2))


@pytest.mark.parametrize("seed", range(5))
def test_char_random_sequences_split_like_str_split(seed):
    rng = random.Random(seed)
    tok = CharTokenizer(list(" xyz"))
    ids = [rng.randint(1, tok.vocab_size - 1) for _ in range(rng.randint(0, 30))]  # unk included
    frames = sorted(rng.sample(range(100), len(ids)))
    confs = [rng.random() for _ in ids]
    res = to_result(Hypothesis(ids, frames, confs, 0.0), tok, SHIFT)
    assert [w.text for w in res.words] == res.text.split()
    for w, (i, j) in zip(res.words, word_spans(ids, tok)):
        assert tok.decode(ids[i:j]) == w.text
        assert (w.start_s, w.end_s) == pytest.approx((frames[i] * SHIFT, (frames[j - 1] + 1) * SHIFT))
        assert w.confidence == min(confs[i:j])


def test_bpe_words_follow_word_start_pieces(bpe):
    text = "the old cat sat on the red mat"
    ids = bpe.encode(text)
    assert len(ids) > len(text.split())  # some words span several pieces
    frames = [3 * i for i in range(len(ids))]
    hyp = Hypothesis(ids, frames, [0.5 + 0.01 * i for i in range(len(ids))], -1.0)
    res = to_result(hyp, bpe, SHIFT)
    assert res.text == text
    assert [w.text for w in res.words] == text.split()
    starts = [i for i, t in enumerate(ids) if bpe.id_to_piece(t).startswith("\u2581")]
    ends = [*(s - 1 for s in starts[1:]), len(ids) - 1]
    assert [w.start_s for w in res.words] == pytest.approx([frames[i] * SHIFT for i in starts])
    assert [w.end_s for w in res.words] == pytest.approx([(frames[i] + 1) * SHIFT for i in ends])
    assert [w.confidence for w in res.words] == pytest.approx([0.5 + 0.01 * i for i in starts])


def test_tdt_durations_set_token_ends_and_nbest_is_converted():
    tok = CharTokenizer(list(" ab"))
    a, b = tok.encode("ab")
    hyp = Hypothesis([a, b], [2, 2], [0.9, 0.6], -1.0, durations=[0, 3])
    res = to_result(hyp, tok, 0.08, nbest=[hyp, Hypothesis([b], [1], [0.3], -2.0)])
    assert [t for pair in res.token_times for t in pair] == pytest.approx([0.16, 0.24, 0.16, 0.40])
    assert [(w.text, w.start_s, w.end_s) for w in res.words] == [("ab", 0.16, pytest.approx(0.40))]
    assert [r.text for r in res.nbest] == ["ab", "b"] and res.nbest[1].confidence == 0.3
    empty = to_result(Hypothesis(), tok, 0.08)
    assert (empty.text, empty.words, empty.confidence) == ("", [], 1.0)


def test_hypothesis_checks_and_extend_leaves_the_original():
    with pytest.raises(ValueError, match="disagree"):
        Hypothesis([1, 2], [0], [1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="frame_shift_s"):
        to_result(Hypothesis(), CharTokenizer(list("a")), 0.0)
    h = Hypothesis([2], [0], [0.5], -1.0)
    g = h.extend([3], [4], [0.25], -2.0)
    assert (h.tokens, h.score) == ([2], -1.0)
    assert (g.tokens, g.frames, g.confidences, g.score) == ([2, 3], [0, 4], [0.5, 0.25], -3.0)
