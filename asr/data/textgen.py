"""English text for the synthetic corpus: bundled sentences and templates with spoken-form numbers.

Categories: "prose" (sentences bundled in assets/sentences.txt), "everyday" (templates),
"number", "date", "time", "money" and "address" (templates filled by `asr.data.verbalize`).
Every text is a transcript as well as the synthesiser's input, so it holds only lowercase
letters, apostrophes and single spaces (`normalize_transcript` enforces this).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from importlib import resources

from transduce.asr.data import verbalize as vb

__all__ = ["CATEGORY_WEIGHTS", "TRANSCRIPT_ALPHABET", "normalize_transcript", "bundled_sentences",
           "generate_text"]

TRANSCRIPT_ALPHABET = " '" + "abcdefghijklmnopqrstuvwxyz"
_BAD = re.compile(r"[^a-z' ]")

CATEGORY_WEIGHTS = {"prose": 0.3, "everyday": 0.2, "number": 0.15, "date": 0.1, "time": 0.1,
                    "money": 0.1, "address": 0.05}

_NAMES = ("anna ben chloe daniel emma frank grace harry isla jack kate liam mia noah olivia peter "
          "rosa sam tom una victor will zoe").split()
_PLACES = ("the shop|the park|the station|the library|the office|the beach|the market|school|work|"
           "the doctor's|the bank|the gym|the cinema|the airport|the garden centre").split("|")
_WHEN = ("today|tomorrow|yesterday|this morning|this evening|last night|next week|on monday|"
         "on tuesday|on wednesday|on thursday|on friday|at the weekend|after lunch|before dinner").split("|")
_OBJECTS = ("keys|umbrella|phone|wallet|glasses|coat|bag|ticket|laptop|notebook|scarf|charger|"
            "passport|camera|hat").split("|")
_ADJS = "new old red blue small big heavy broken clean empty quiet noisy warm cold lovely".split()
_NOUNS = "kettle car window door chair table lamp clock fridge bicycle garden kitchen printer".split()
_PLURALS = ("people chairs books apples students cars birds windows rooms tickets boxes cups "
            "trees houses").split()
_ACTIVITIES = ("go for a walk|have lunch together|call your mother|fix the fence|clean the kitchen|"
               "book the tickets|visit the museum|paint the hall|water the plants").split("|")
_STREETS = ("baker|church|mill|station|high|park|queen|king|victoria|oak|elm|bridge|market|north|"
            "river|meadow|forest|green").split("|")
_STREET_TYPES = "street road lane avenue drive close way crescent gardens place".split()
_CITIES = "london leeds bristol glasgow dublin boston denver chicago york oxford cambridge".split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_PERIODS = ("in the morning|in the afternoon|in the evening|at night|tonight|tomorrow").split("|")
_UNITS = "kilometres miles metres kilograms litres hours minutes".split()


def normalize_transcript(text: str) -> str:
    """Lowercase; hyphens and punctuation to spaces; single spaces. ValueError on digits or other symbols."""
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"[-,.;:!?\"()]", " ", t)
    t = " ".join(t.split())
    bad = sorted(set(_BAD.findall(t)))
    if bad or not t:
        raise ValueError(f"transcript {text!r} holds characters outside a-z, apostrophe and space: {bad}")
    return t


@functools.lru_cache(maxsize=1)
def bundled_sentences() -> tuple[str, ...]:
    """The bundled everyday sentences, normalised to transcripts."""
    raw = resources.files("transduce.asr.data").joinpath("assets/sentences.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in raw.splitlines())
    return tuple(normalize_transcript(line) for line in lines if line and not line.startswith("#"))


def _prose(r: random.Random) -> str:
    return r.choice(bundled_sentences())


def _everyday(r: random.Random) -> str:
    templates = (
        lambda: f"{r.choice(_NAMES)} went to {r.choice(_PLACES)} {r.choice(_WHEN)}",
        lambda: f"have you seen my {r.choice(_OBJECTS)}",
        lambda: f"i think i left my {r.choice(_OBJECTS)} at {r.choice(_PLACES)}",
        lambda: f"the {r.choice(_ADJS)} {r.choice(_NOUNS)} is in the {r.choice(_NOUNS)}",
        lambda: f"we should {r.choice(_ACTIVITIES)} {r.choice(_WHEN)}",
        lambda: f"{r.choice(_NAMES)} said the {r.choice(_NOUNS)} was too {r.choice(_ADJS)}",
        lambda: f"could you ask {r.choice(_NAMES)} to {r.choice(_ACTIVITIES)}",
        lambda: f"i'll see you at {r.choice(_PLACES)} {r.choice(_WHEN)}",
        lambda: f"{r.choice(_NAMES)} and {r.choice(_NAMES)} are meeting at {r.choice(_PLACES)}",
        lambda: f"don't forget your {r.choice(_OBJECTS)} when you go to {r.choice(_PLACES)}",
    )
    return r.choice(templates)()


def _count(r: random.Random) -> int:
    """Mostly small numbers, sometimes large ones."""
    return r.choice((r.randint(0, 20), r.randint(21, 99), r.randint(100, 999), r.randint(1000, 99999),
                     r.randint(100000, 9999999)))


def _number(r: random.Random) -> str:
    british = r.random() < 0.5
    n = lambda: vb.cardinal(_count(r), british)
    templates = (
        lambda: f"there are {n()} {r.choice(_PLURALS)} in the {r.choice(_NOUNS)}",
        lambda: f"please turn to page {vb.cardinal(r.randint(1, 700), british)}",
        lambda: f"the score was {vb.cardinal(r.randint(0, 9))} to {vb.cardinal(r.randint(0, 9))}",
        lambda: f"it's {vb.cardinal(r.randint(-15, 40))} degrees outside",
        lambda: f"about {vb.cardinal(r.randint(1, 100))} percent of the {r.choice(_PLURALS)} were new",
        lambda: f"the distance is {vb.decimal(r.randint(0, 99), str(r.randint(1, 9)))} {r.choice(_UNITS)}",
        lambda: f"my phone number is {vb.digits(str(r.randint(10**6, 10**11)).zfill(r.randint(7, 11)))}",
        lambda: f"flight {vb.digits(str(r.randint(100, 9999)), r.choice(('oh', 'zero')))} is delayed",
        lambda: f"{r.choice(_NAMES)} is {vb.cardinal(r.randint(2, 99))} years old",
        lambda: f"we sold {n()} tickets last year",
        lambda: f"room {n()} is on the {vb.ordinal(r.randint(1, 30))} floor",
        lambda: f"she finished in {vb.ordinal(r.randint(1, 120), british)} place",
    )
    return r.choice(templates)()


def _random_date(r: random.Random, with_year: bool) -> str:
    month = r.randint(1, 12)
    day = r.randint(1, (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1])
    y = r.randint(1900, 2040) if with_year else None
    return vb.date(day, month, y, r.choice(("of", "the", "plain")), british=r.random() < 0.5)


def _date(r: random.Random) -> str:
    templates = (
        lambda: f"my birthday is on {_random_date(r, False)}",
        lambda: f"the meeting was moved to {r.choice(_WEEKDAYS)} {_random_date(r, False)}",
        lambda: f"{r.choice(_NAMES)} was born on {_random_date(r, True)}",
        lambda: f"the shop opens again on {_random_date(r, False)}",
        lambda: f"we moved here in {vb.year(r.randint(1950, 2030), r.random() < 0.5)}",
        lambda: f"the deadline is {_random_date(r, r.random() < 0.5)}",
        lambda: f"it happened in {vb.MONTHS[r.randint(0, 11)]} {vb.year(r.randint(1900, 2030))}",
    )
    return r.choice(templates)()


def _time(r: random.Random) -> str:
    h, m = r.randint(0, 23), r.choice((0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, r.randint(0, 59)))
    t = vb.clock_time(h, m, r.choice(("past", "digital")))
    templates = (
        lambda: f"the train leaves at {t}",
        lambda: f"let's meet at {t} {r.choice(_PERIODS)}",
        lambda: f"i woke up at {t} this morning",
        lambda: f"it's {t}",
        lambda: f"the film starts at {t} on {r.choice(_WEEKDAYS)}",
        lambda: f"can you call me back at {t}",
    )
    return r.choice(templates)()


def _money(r: random.Random) -> str:
    cents = r.choice((r.randint(1, 99) * 100, r.randint(1, 9999), r.randint(100, 99999), r.randint(1, 99)))
    amount = vb.money(cents, r.choice(("dollar", "euro", "pound")), short=r.random() < 0.3)
    templates = (
        lambda: f"that will be {amount} please",
        lambda: f"the ticket costs {amount}",
        lambda: f"i paid {amount} for a new {r.choice(_OBJECTS)}",
        lambda: f"can you lend me {amount}",
        lambda: f"the total comes to {amount}",
        lambda: f"{r.choice(_NAMES)} owes me {amount}",
    )
    return r.choice(templates)()


def _address(r: random.Random) -> str:
    number = vb.cardinal(r.randint(1, 999), r.random() < 0.5)
    street = f"{r.choice(_STREETS)} {r.choice(_STREET_TYPES)}"
    templates = (
        lambda: f"i live at {number} {street}",
        lambda: f"send it to {number} {street} apartment {vb.cardinal(r.randint(1, 40))}",
        lambda: f"the office is at number {number} {street} {r.choice(_CITIES)}",
        lambda: f"turn right onto {street} and stop at number {number}",
        lambda: f"the parcel went to {number} {street} by mistake",
    )
    return r.choice(templates)()


_GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "prose": _prose, "everyday": _everyday, "number": _number, "date": _date, "time": _time,
    "money": _money, "address": _address,
}


def generate_text(r: random.Random) -> tuple[str, str]:
    """One (category, transcript) drawn with `CATEGORY_WEIGHTS` from the random source `r`."""
    names = list(CATEGORY_WEIGHTS)
    category = r.choices(names, weights=[CATEGORY_WEIGHTS[k] for k in names])[0]
    return category, normalize_transcript(_GENERATORS[category](r))
