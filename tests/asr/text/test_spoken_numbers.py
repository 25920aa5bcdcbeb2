"""write_numbers: the formatting draft's guess at written numbers.

- the conventions table's spoken forms come back in its written forms (the cases the rules cover);
- on random amounts the project's verbaliser speaks (cardinals, money, percents, decimals, years,
  dates, clock times), the guess is the written form they were spoken from;
- words that are not numbers, and small numbers in running text, are left alone.
"""

import random

import pytest
from transduce.asr.data import verbalize
from transduce.asr.text.spoken_numbers import write_numbers

CONVENTIONS = [
    ("twenty five", "25"),
    ("one hundred and twelve", "112"),
    ("two thousand five hundred", "2,500"),
    ("nineteen ninety eight", "1998"),
    ("twenty twenty four", "2024"),
    ("two thousand and five", "2005"),
    ("three point five", "3.5"),
    ("zero point two five", "0.25"),
    ("five percent", "5%"),
    ("twelve point five percent", "12.5%"),
    ("five dollars", "$5"),
    ("twelve dollars fifty", "$12.50"),
    ("twelve dollars and fifty cents", "$12.50"),
    ("three pounds", "£3"),
    ("forty euros", "€40"),
    ("fifty cents", "50 cents"),
    ("twenty first birthday", "21st birthday"),
    ("march third", "March 3"),
    ("march third twenty twenty four", "March 3, 2024"),
    ("the third of march", "the 3rd of March"),
    ("ten thirty", "10:30"),
    ("seven a m", "7 a.m."),
    ("seven oh five p m", "7:05 p.m."),
    ("half past seven", "half past seven"),
    ("three apples", "three apples"),
]


@pytest.mark.parametrize(("spoken", "written"), CONVENTIONS)
def test_conventions_table(spoken: str, written: str) -> None:
    assert write_numbers(spoken) == written


def test_words_around_numbers_are_kept() -> None:
    assert write_numbers("it cost twelve dollars fifty on may the fifth") == "it cost $12.50 on May 5"
    assert write_numbers("one of the first two men") == "one of the first two men"
    assert write_numbers("the eleventh hour and the second coming") == "the 11th hour and the second coming"
    assert write_numbers("") == ""


def test_random_amounts_spoken_by_the_verbaliser() -> None:
    r = random.Random(0)
    for _ in range(300):
        n = r.choice([r.randrange(10, 100), r.randrange(100, 2000), r.randrange(2100, 10**9)])
        spoken = verbalize.cardinal(n, british=r.random() < 0.5)
        assert write_numbers(f"about {spoken} people") == f"about {n:,} people"
        cents = r.randrange(100, 10**6)
        currency = r.choice(["dollar", "pound", "euro"])
        written = {"dollar": "$", "pound": "£", "euro": "€"}[currency] + f"{cents // 100:,}"
        written += f".{cents % 100:02d}" if cents % 100 else ""
        assert write_numbers(verbalize.money(cents, currency, short=r.random() < 0.5)) == written
        whole, fraction = r.randrange(0, 1000), str(r.randrange(1, 100))
        assert write_numbers(f"{verbalize.decimal(whole, fraction)} percent") == f"{whole:,}.{fraction}%"
        y = r.randrange(1300, 2100)
        assert write_numbers(f"in {verbalize.year(y)}") == f"in {y}"
        day, month = r.randrange(1, 29), r.randrange(1, 13)
        name = verbalize.MONTHS[month - 1].capitalize()
        assert write_numbers(verbalize.date(day, month, y, style="plain")) == f"{name} {day}, {y}"
        suffix = "th" if 10 <= day <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        assert write_numbers(verbalize.date(day, month, style="of")) == f"the {day}{suffix} of {name}"
        hour, minute = r.randrange(1, 13), r.randrange(1, 60)
        meridiem = r.choice(["a", "p"])
        spoken = f"{verbalize.clock_time(hour, minute, 'digital')} {meridiem} m"
        assert write_numbers(spoken) == f"{hour}:{minute:02d} {meridiem}.m."
