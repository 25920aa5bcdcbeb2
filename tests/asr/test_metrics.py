"""WER/CER: hand-worked alignments, and edit distances against a brute-force recursion on random strings."""

import functools
import random

import pytest
from transduce.asr.metrics import ErrorCounts, align, cer, chars, edit_distance, error_report, wer, words


def _brute(a: str | tuple, b: str | tuple) -> int:
    """Levenshtein distance by plain recursion over prefixes (the oracle)."""

    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_hand_worked_alignment():
    a = align(words("the cat sat on the mat"), words("the cat sit on mat"))
    assert a.counts == ErrorCounts(hits=4, substitutions=1, deletions=1, insertions=0)
    assert a.pairs == (("the", "the"), ("cat", "cat"), ("sat", "sit"), ("on", "on"), ("the", None),
                       ("mat", "mat"))
    assert a.format() == "REF: the cat SAT on THE mat\nHYP: the cat SIT on *** mat"
    b = align(words("a b"), words("x a b y"))
    assert b.counts == ErrorCounts(2, 0, 0, 2) and b.pairs[0] == (None, "x") and b.pairs[-1] == (None, "y")


def test_hand_worked_rates():
    refs = ["hello world", "good morning to you", "yes"]
    hyps = ["hello word", "good morning you", "yes yes yes"]
    report = error_report(refs, hyps)
    assert report.total == ErrorCounts(hits=5, substitutions=1, deletions=1, insertions=2)
    assert wer(refs, hyps) == pytest.approx(4 / 7)
    # characters: "hello world"->"hello word" 1 del; "to " deleted: 3; " yes yes" inserted: 8
    assert cer(refs, hyps) == pytest.approx((1 + 3 + 8) / (11 + 19 + 3))
    assert "57.14%" in report.summary() and "3 utterances" in report.summary()


def test_empty_sides():
    assert error_report([""], [""]).total == ErrorCounts() and wer([""], [""]) == 0.0
    assert wer(["a b c"], [""]) == 1.0 and error_report(["a b c"], [""]).total.deletions == 3
    assert wer([""], ["a"]) == float("inf")
    assert chars("  a  b ") == ["a", " ", "b"]
    with pytest.raises(ValueError, match="2 references but 1"):
        wer(["a", "b"], ["a"])


def test_random_strings_match_the_brute_force_distance_and_alignments_are_consistent():
    r = random.Random(0)
    for _ in range(400):
        ref = "".join(r.choice("abc") for _ in range(r.randint(0, 9)))
        hyp = "".join(r.choice("abcd") for _ in range(r.randint(0, 9)))
        expected = _brute(ref, hyp)
        assert edit_distance(list(ref), list(hyp)) == expected
        a = align(list(ref), list(hyp))
        c = a.counts
        assert c.errors == expected and c.ref_length == len(ref)
        assert "".join(x for x, _ in a.pairs if x is not None) == ref  # the path spells both strings
        assert "".join(y for _, y in a.pairs if y is not None) == hyp
        assert c.hits == sum(1 for x, y in a.pairs if x is not None and x == y)


def test_word_rates_equal_brute_force_totals():
    r = random.Random(1)
    vocab = ["one", "two", "three", "four"]
    refs = [" ".join(r.choice(vocab) for _ in range(r.randint(1, 7))) for _ in range(30)]
    hyps = [" ".join(r.choice(vocab) for _ in range(r.randint(0, 7))) for _ in range(30)]
    errors = sum(_brute(tuple(a.split()), tuple(b.split())) for a, b in zip(refs, hyps))
    assert wer(refs, hyps) == pytest.approx(errors / sum(len(a.split()) for a in refs))
    char_errors = sum(_brute(a, b) for a, b in zip(refs, hyps))
    assert cer(refs, hyps) == pytest.approx(char_errors / sum(len(a) for a in refs))
