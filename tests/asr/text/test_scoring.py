"""Formatting scores: loose matching keeps the punctuation inside numbers and times, punctuation F1
counts marks on aligned words."""

import pytest
from transduce.asr.text.scoring import loose, punctuation_score, score


def test_loose_drops_case_and_punctuation_but_not_inside_numbers():
    assert loose("It costs $12.50, James.") == "it costs $12.50 james"
    assert loose("At 10:30 a.m. on March 3, 2024!") == "at 10:30 a.m on march 3 2024"
    assert loose("  2,500   people? ") == "2,500 people"
    assert loose("Don't stop; go.") == "don't stop go"


def test_punctuation_score_counts_marks_on_aligned_words():
    perfect = punctuation_score(["Yes, it is. Go!"], ["Yes, it is. Go!"])
    assert (perfect.hits, perfect.predicted, perfect.expected, perfect.f1) == (3, 3, 3, 1.0)
    s = punctuation_score(["Yes it is, go."], ["Yes, it is. Go!"])
    assert (s.hits, s.predicted, s.expected) == (0, 2, 3)
    moved = punctuation_score(["well then, we go."], ["Well, then we go."])
    assert (moved.hits, moved.predicted, moved.expected) == (1, 2, 2)
    assert moved.precision == moved.recall == moved.f1 == 0.5
    extra = punctuation_score(["We go home now."], ["We go."])  # a mark after an unaligned word: a miss
    assert (extra.hits, extra.predicted, extra.expected) == (0, 1, 1)


def test_score_over_a_set():
    s = score(["It costs $5.", "the train leaves", "Hi, Anna."],
              ["It costs $5.", "The train leaves.", "Hi Anna."])
    assert s.sentences == 3 and s.exact == pytest.approx(1 / 3) and s.loose == 1.0
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        score(["a", "b"], ["a"])
