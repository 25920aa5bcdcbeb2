"""Spoken-form numbers, dates, times and amounts: hand-worked cases and a words-to-number oracle."""

import random
import re
from pathlib import Path

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


# ---------------------------------------------------------------------------------------------------
# Written sentence -> spoken form, against every row of shared/formatting-conventions.md.
# ---------------------------------------------------------------------------------------------------

# (kind, written, the spoken variants listed for it): the conventions table, row by row, literally.
CONVENTIONS = [
    ("sentence case, names", "The train to London leaves soon.", {"the train to london leaves soon"}),
    ("pronoun I", "I think so.", {"i think so"}),
    ("end punctuation", "The train leaves soon.", {"the train leaves soon"}),
    ("end punctuation", "Does the train leave soon?", {"does the train leave soon"}),
    ("end punctuation", "The train leaves soon!", {"the train leaves soon"}),
    ("commas, apostrophes", "However, it works.", {"however it works"}),
    ("commas, apostrophes", "don't", {"don't"}),
    ("commas, apostrophes", "Sarah's", {"sarah's"}),
    ("cardinals 0-9 in running text", "three apples", {"three apples"}),
    ("cardinals >= 10", "25", {"twenty five"}),
    ("cardinals >= 10", "112", {"one hundred and twelve"}),
    ("cardinals >= 10", "2,500", {"two thousand five hundred"}),
    ("years", "1998", {"nineteen ninety eight"}),
    ("years", "2024", {"twenty twenty four"}),
    ("years", "2005", {"two thousand and five"}),
    ("decimals", "3.5", {"three point five"}),
    ("decimals", "0.25", {"zero point two five"}),
    ("percent", "5%", {"five percent"}),
    ("percent", "12.5%", {"twelve point five percent"}),
    ("money", "$5", {"five dollars"}),
    ("money", "$12.50", {"twelve dollars fifty", "twelve dollars and fifty cents"}),
    ("money", "£3", {"three pounds"}),
    ("money", "€40", {"forty euros"}),
    ("money", "50 cents", {"fifty cents"}),
    ("ordinals", "the 3rd floor", {"the third floor"}),
    ("ordinals", "21st birthday", {"twenty first birthday"}),
    ("dates", "March 3", {"march third"}),
    ("dates", "March 3, 2024", {"march third twenty twenty four"}),
    ("dates", "the 3rd of March", {"the third of march"}),
    ("times", "10:30", {"ten thirty"}),
    ("times", "7 a.m.", {"seven a m"}),
    ("times", "7:05 p.m.", {"seven oh five p m"}),
    ("times", "half past seven", {"half past seven"}),
]
_SPOKEN = re.compile(r"[a-z']+( [a-z']+)*")


@pytest.mark.parametrize("kind, written, variants", CONVENTIONS, ids=[c[1] for c in CONVENTIONS])
def test_every_conventions_row_round_trips(kind, written, variants):
    picked = {vb.verbalize(written, random.Random(seed)) for seed in range(40)}
    assert picked == variants, f"{kind}: {written!r} gave {picked}, the table lists {variants}"
    assert vb.spoken_variants(written) == variants and vb.verbalize(written) in variants


def _table_pairs(md: str) -> set[tuple[str, str]]:
    """(written, spoken) pairs of the table rows whose two columns quote as many forms."""
    pairs = set()
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("kind", "---"):
            spoken, written = re.findall(r'"([^"]*)"', cells[1]), re.findall(r'"([^"]*)"', cells[2])
            if spoken and len(spoken) == len(written):
                pairs.update(zip(written, spoken))
    return pairs


def test_the_rows_above_are_the_conventions_table():
    md = Path(__file__).resolve().parents[3].parent / "shared" / "formatting-conventions.md"
    if not md.exists():
        pytest.skip(f"{md} is not here (shared/ sits beside the repository)")
    table = _table_pairs(md.read_text(encoding="utf-8"))
    ours = {(w, s) for _, w, variants in CONVENTIONS for s in variants}
    assert len(table) >= 25 and table <= ours, f"rows of the table missing here: {table - ours}"
    assert "Digits in money, percent, time, date and decimal contexts are always digits" in md.read_text()


@pytest.mark.parametrize("written, spoken", [
    ("It cost $1,250.05 on May 31, 1999!",
     "it cost one thousand two hundred and fifty dollars and five cents on may thirty first "
     "nineteen ninety nine"),
    ("We met in the U.S. at 7 a.m. on Monday.", "we met in the u s at seven a m on monday"),
    ("Is it 1,000,000?", "is it one million"),
    ("The well-known café's 13th year", None),
    ("Room 101 is on the 2nd floor, isn't it?", "room one hundred and one is on the second floor isn't it"),
    ("Only 0.5% of 2,005 people paid €3.07.", "only zero point five percent of two thousand and five people "
                                              "paid three euros and seven cents"),
    ("It's 18:45 in London, on the 22nd of December, 2010.",
     "it's eighteen forty five in london on the twenty second of december twenty ten"),
    ("'Go,' she said.", "go she said"),
    ("It happened in March 2024.", "it happened in march twenty twenty four"),
])
def test_sentences_verbalize_to_the_recogniser_alphabet(written, spoken):
    if spoken is None:
        with pytest.raises(ValueError, match="cannot emit"):
            vb.verbalize(written)
        return
    assert vb.verbalize(written) == spoken and _SPOKEN.fullmatch(spoken)


@pytest.mark.parametrize("written", [
    "2500 people", "It cost $0.50.", "I ate 3 apples.", "March 3rd", "7:00 p.m.", "the 21th", "$12.5", "1,23",
    "10:00", "room 05", "R&D", "March 32", "13 p.m.", "£12.00", "-4 degrees", "3,000th", "2150", "50 %",
])
def test_written_forms_outside_the_conventions_are_refused(written):
    with pytest.raises(ValueError):
        vb.verbalize(written)


def test_choices_are_seeded_and_drop_and_is_opt_in():
    text = "On March 3, 2005, I paid $112.50 and £7.25 for 2,005 tickets at 7:05 p.m.!"
    runs = [[vb.verbalize(text, random.Random(seed)) for seed in range(8)] for _ in range(2)]
    assert runs[0] == runs[1] and len(set(runs[0])) > 1
    assert len(vb.spoken_variants(text)) == 4
    american = vb.spoken_variants(text, vb.SpokenStyle(drop_and=True))
    assert vb.spoken_variants(text) < american
    assert ("on march third two thousand five i paid one hundred twelve dollars fifty and seven pounds "
            "twenty five for two thousand five tickets at seven oh five p m") in american
    segments = vb.segments(text)
    assert [s.kinds for s in segments if s.kinds] == [("date", "year"), ("money",), ("money",), ("cardinal",),
                                                       ("time",)]
