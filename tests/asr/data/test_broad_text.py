"""Broad corpus text: sentences split by a hash of their written form, each split drawing only its own;
the prose source holds at least 20,000 distinct words."""

import random
import re
from collections import Counter

import pytest
from transduce.asr.data.broad_text import BROAD_WEIGHTS, broad_text, sentence_split
from transduce.asr.data.format_pairs import prose_available, prose_sentences
from transduce.asr.data.textgen import TRANSCRIPT_ALPHABET

needs_prose = pytest.mark.skipif(not prose_available(),
                                 reason="the prose packages are not installed (make system-deps)")


def test_sentence_split_gives_the_asked_shares() -> None:
    keys = [f"sentence number {i}" for i in range(40000)]
    splits = Counter(sentence_split(k, 0.03, 0.05) for k in keys)
    assert splits["dev"] / len(keys) == pytest.approx(0.03, abs=0.004)
    assert splits["test"] / len(keys) == pytest.approx(0.05, abs=0.004)


@needs_prose
def test_each_split_draws_only_its_own_sentences() -> None:
    r = random.Random(0)
    drawn = {split: [broad_text(r, split) for _ in range(400 if split == "train" else 150)]
             for split in ("train", "dev", "test")}
    for split, sentences in drawn.items():
        assert all(sentence_split(s.written, 0.03, 0.03) == split for s in sentences)
        assert all(set(s.transcript) <= set(TRANSCRIPT_ALPHABET) and s.transcript for s in sentences)
    train = {s.transcript for s in drawn["train"]}
    assert not train & {s.transcript for s in drawn["test"] + drawn["dev"]}
    categories = Counter(s.category for s in drawn["train"])
    assert categories["prose"] / 400 == pytest.approx(BROAD_WEIGHTS["prose"], abs=0.1)
    templates = sum(categories.values()) - categories["prose"] - categories["everyday"]
    assert categories["everyday"] > 50 and templates > 50


@needs_prose
def test_the_prose_has_at_least_20000_distinct_words() -> None:
    words = {w for s in prose_sentences() for w in re.findall(r"[a-z']+", s.lower())}
    assert len(words) >= 20000


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="split"):
        broad_text(random.Random(0), "validation")
    with pytest.raises(ValueError, match="share"):
        broad_text(random.Random(0), "test", test_share=0.0)
