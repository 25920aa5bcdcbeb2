"""Spoken-form numbers, dates, times and amounts: hand-worked cases and a words-to-number oracle."""

import random

import pytest
from transduce.asr.data import verbalize as vb
from transduce.asr.data.textgen import (
    CATEGORY_WEIGHTS,
    bundled_sentences,
    generate_text,
    normalize_transcript,
)

_SMALL = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                     "thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SMALL.update({w: 10 * i for i, w in enumerate(_TENS, 2)})
_BIG = {"thousand": 10**3, "million": 10**6, "billion": 10**9}


def _parse(text: str) -> int:
    """Independent oracle: English number words back to an int."""
    words = [w for w in text.split() if w != "and"]
    sign = -1 if words and words[0] == "minus" else 1
    total = group = 0
    for w in words[1:] if sign < 0 else words:
        if w in _SMALL:
            group += _SMALL[w]
        elif w == "hundred":
            group *= 100
        else:
            total += group * _BIG[w]
            group = 0
    return sign * (total + group)


@pytest.mark.parametrize("n, us, uk", [
    (0, "zero", "zero"), (7, "seven", "seven"), (13, "thirteen", "thirteen"), (20, "twenty", "twenty"),
    (23, "twenty three", "twenty three"), (100, "one hundred", "one hundred"),
    (105, "one hundred five", "one hundred and five"),
    (999, "nine hundred ninety nine", "nine hundred and ninety nine"),
    (1001, "one thousand one", "one thousand and one"), (2005, "two thousand five", "two thousand and five"),
    (12345, "twelve thousand three hundred forty five", "twelve thousand three hundred and forty five"),
    (1000000, "one million", "one million"), (-4, "minus four", "minus four"),
    (3000600, "three million six hundred", "three million six hundred"),
])
def test_cardinal_hand_worked(n, us, uk):
    assert vb.cardinal(n) == us and vb.cardinal(n, british=True) == uk


def test_cardinal_round_trips_through_an_independent_parser():
    r = random.Random(0)
    for _ in range(3000):
        n = r.choice([r.randint(-999, 999), r.randint(0, 10**6), r.randint(0, 10**12 - 1)])
        for british in (False, True):
            text = vb.cardinal(n, british)
            assert _parse(text) == n, text
            assert set(text) <= set(" abcdefghijklmnopqrstuvwxyz") and "  " not in text
    with pytest.raises(ValueError):
        vb.cardinal(10**12)
    with pytest.raises(TypeError):
        vb.cardinal(2.5)


@pytest.mark.parametrize("n, text", [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
    (12, "twelfth"), (20, "twentieth"), (21, "twenty first"), (42, "forty second"), (100, "one hundredth"),
    (103, "one hundred third"),
])
def test_ordinal(n, text):
    assert vb.ordinal(n) == text


@pytest.mark.parametrize("y, text", [
    (1984, "nineteen eighty four"), (1905, "nineteen oh five"), (1900, "nineteen hundred"),
    (2000, "two thousand"), (2005, "two thousand five"), (2010, "twenty ten"), (2021, "twenty twenty one"),
    (1066, "ten sixty six"),
])
def test_year(y, text):
    assert vb.year(y) == text


def test_dates():
    assert vb.date(5, 3) == "the fifth of march"
    assert vb.date(5, 3, style="the") == "march the fifth"
    assert vb.date(31, 12, 1999, style="plain") == "december thirty first nineteen ninety nine"
    assert vb.date(1, 1, 2007, british=True) == "the first of january two thousand and seven"
    with pytest.raises(ValueError):
        vb.date(32, 1)


@pytest.mark.parametrize("h, m, past, digital", [
    (7, 30, "half past seven", "seven thirty"), (20, 45, "a quarter to nine", "eight forty five"),
    (15, 10, "ten past three", "three ten"), (7, 0, "seven o'clock", "seven o'clock"),
    (12, 0, "noon", "twelve o'clock"), (0, 0, "midnight", "twelve o'clock"),
    (11, 35, "twenty five to twelve", "eleven thirty five"), (1, 1, "one minute past one", "one oh one"),
    (8, 5, "five past eight", "eight oh five"), (23, 58, "two minutes to twelve", "eleven fifty eight"),
    (6, 15, "a quarter past six", "six fifteen"),
])
def test_clock_times(h, m, past, digital):
    assert vb.clock_time(h, m) == past and vb.clock_time(h, m, "digital") == digital


@pytest.mark.parametrize("cents, currency, text", [
    (1250, "dollar", "twelve dollars and fifty cents"), (100, "dollar", "one dollar"),
    (1, "dollar", "one cent"), (101, "euro", "one euro and one cent"), (5000, "pound", "fifty pounds"),
    (320, "pound", "three pounds and twenty pence"), (0, "euro", "zero euros"),
])
def test_money(cents, currency, text):
    assert vb.money(cents, currency) == text
    assert vb.money(1250, short=True) == "twelve dollars fifty"


def test_digits_and_decimals():
    assert vb.digits("4071") == "four oh seven one"
    assert vb.digits("100", zero="zero") == "one zero zero"
    assert vb.decimal(3, "14") == "three point one four"
    with pytest.raises(ValueError):
        vb.digits("12a")


def test_generated_texts_are_clean_transcripts_of_every_category():
    r = random.Random(5)
    seen = set()
    for _ in range(2000):
        category, text = generate_text(r)
        seen.add(category)
        assert set(text) <= set(" 'abcdefghijklmnopqrstuvwxyz") and text == " ".join(text.split()) and text
    assert seen == set(CATEGORY_WEIGHTS)
    assert len(set(bundled_sentences())) >= 200
    assert normalize_transcript("Well-known, isn't it?") == "well known isn't it"
    with pytest.raises(ValueError, match="outside a-z"):
        normalize_transcript("room 101")
