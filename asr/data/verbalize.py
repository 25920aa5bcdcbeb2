"""Numbers, dates, times, amounts and whole written sentences turned into spoken English words.

Two uses. The synthetic speech corpus builds transcripts from the word functions (`cardinal`,
`ordinal`, `year`, `date`, `clock_time`, `money`, `digits`, `decimal`); `british=True` puts "and"
after hundreds ("one hundred and five"). The formatting model's training data goes the other way:
`verbalize` takes a sentence written by the conventions of shared/formatting-conventions.md
("It costs $12.50 on March 3, 2024.") and returns what a recogniser emits for it ("it costs twelve
dollars fifty on march third twenty twenty four"), picking among the spoken variants that the
conventions list with a seeded random source. Written forms outside the conventions ("2500",
"$0.50", "3 apples", "March 3rd") raise ValueError, so a sentence either has one convention-true
spoken form family or is rejected. Output is always lowercase letters, apostrophes and single spaces.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass

__all__ = [
    "MONTHS",
    "cardinal",
    "ordinal",
    "year",
    "date",
    "clock_time",
    "money",
    "digits",
    "decimal",
    "SpokenStyle",
    "Segment",
    "speak_words",
    "segments",
    "verbalize",
    "spoken_variants",
]

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}
MONTHS = ("january february march april may june july august september october november "
          "december").split()


def _below_hundred(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] if ones == 0 else f"{_TENS[tens]} {_ONES[ones]}"


def _below_thousand(n: int, british: bool) -> str:
    hundreds, rest = divmod(n, 100)
    if hundreds == 0:
        return _below_hundred(rest)
    head = f"{_ONES[hundreds]} hundred"
    if rest == 0:
        return head
    return f"{head} {'and ' if british else ''}{_below_hundred(rest)}"


def cardinal(n: int, british: bool = False) -> str:
    """`n` in words: 23 -> "twenty three", 105 -> "one hundred (and) five", -4 -> "minus four"."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"cardinal needs an int, got {type(n).__name__}")
    if abs(n) >= 10**12:
        raise ValueError(f"cardinal: |n| must be below a trillion, got {n}")
    if n < 0:
        return "minus " + cardinal(-n, british)
    if n == 0:
        return "zero"
    words = []
    for scale, name in _SCALES:
        count, n = divmod(n, scale)
        if count:
            words.append(f"{_below_thousand(count, british)} {name}")
    if n:
        # British English says "two thousand and five" when the last group has no hundreds.
        joiner = "and " if british and words and n < 100 else ""
        words.append(joiner + _below_thousand(n, british))
    return " ".join(words)


def ordinal(n: int, british: bool = False) -> str:
    """`n` as an ordinal: 1 -> "first", 23 -> "twenty third", 100 -> "one hundredth"."""
    if n < 1:
        raise ValueError(f"ordinal needs n >= 1, got {n}")
    words = cardinal(n, british).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(y: int, british: bool = False) -> str:
    """A year said aloud: 1984 "nineteen eighty four", 1905 "nineteen oh five", 2010 "twenty ten"."""
    if not 1000 <= y <= 2099:
        raise ValueError(f"year: supported years are 1000..2099, got {y}")
    if 2000 <= y <= 2009 or y % 1000 == 0:
        return cardinal(y, british)
    century, rest = divmod(y, 100)
    if rest == 0:
        return f"{cardinal(century)} hundred"
    if rest < 10:
        return f"{cardinal(century)} oh {_ONES[rest]}"
    return f"{cardinal(century)} {_below_hundred(rest)}"


def date(day: int, month: int, y: int | None = None, style: str = "of", british: bool = False) -> str:
    """A date: style "of" -> "the fifth of march", "the" -> "march the fifth", "plain" -> "march fifth"."""
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise ValueError(f"date: day {day} / month {month} out of range")
    name, nth = MONTHS[month - 1], ordinal(day)
    if style == "of":
        text = f"the {nth} of {name}"
    elif style == "the":
        text = f"{name} the {nth}"
    elif style == "plain":
        text = f"{name} {nth}"
    else:
        raise ValueError(f"date: unknown style {style!r} (of, the, plain)")
    return text if y is None else f"{text} {year(y, british)}"


def _hour_word(h: int) -> str:
    return cardinal(12 if h % 12 == 0 else h % 12)


def clock_time(hour: int, minute: int, style: str = "past") -> str:
    """A time of day (24-hour input): "past" -> "half past seven" / "ten to nine" / "seven o'clock",
    "digital" -> "seven thirty" / "eight oh five"; noon and midnight by name in "past" style."""
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"clock_time: {hour}:{minute} is not a time of day")
    if style == "digital":
        if minute == 0:
            return f"{_hour_word(hour)} o'clock"
        tail = f"oh {_ONES[minute]}" if minute < 10 else _below_hundred(minute)
        return f"{_hour_word(hour)} {tail}"
    if style != "past":
        raise ValueError(f"clock_time: unknown style {style!r} (past, digital)")
    if minute == 0:
        return {0: "midnight", 12: "noon"}.get(hour, f"{_hour_word(hour)} o'clock")
    if minute <= 30:
        amount, rel, h = minute, "past", hour
    else:
        amount, rel, h = 60 - minute, "to", hour + 1
    if amount == 15:
        spoken = "a quarter"
    elif amount == 30:
        spoken = "half"
    elif amount % 5 == 0:
        spoken = cardinal(amount)
    else:
        spoken = f"{cardinal(amount)} minute{'s' if amount != 1 else ''}"
    return f"{spoken} {rel} {_hour_word(h)}"


_CURRENCIES = {
    "dollar": ("dollar", "dollars", "cent", "cents"),
    "euro": ("euro", "euros", "cent", "cents"),
    "pound": ("pound", "pounds", "penny", "pence"),
}


def money(cents: int, currency: str = "dollar", short: bool = False, british: bool = False) -> str:
    """An amount in words: 1250 -> "twelve dollars and fifty cents"; `short` -> "twelve dollars fifty"."""
    if cents < 0:
        raise ValueError(f"money: amount must be >= 0 cents, got {cents}")
    if currency not in _CURRENCIES:
        raise ValueError(f"money: unknown currency {currency!r} ({', '.join(_CURRENCIES)})")
    one, many, sub_one, sub_many = _CURRENCIES[currency]
    units, sub = divmod(cents, 100)
    main = f"{cardinal(units, british)} {one if units == 1 else many}"
    if sub == 0:
        return main if units else f"zero {many}"
    small = f"{cardinal(sub)} {sub_one if sub == 1 else sub_many}"
    if units == 0:
        return small
    return f"{main} {cardinal(sub)}" if short else f"{main} and {small}"


def digits(s: str, zero: str = "oh") -> str:
    """A digit string read digit by digit: "4071" -> "four oh seven one" (`zero` is "oh" or "zero")."""
    if not s.isdigit() or not s.isascii():
        raise ValueError(f"digits: expected a string of digits 0-9, got {s!r}")
    return " ".join(zero if c == "0" else _ONES[int(c)] for c in s)


def decimal(whole: int, fraction: str) -> str:
    """A decimal number: (3, "14") -> "three point one four"."""
    return f"{cardinal(whole)} point {digits(fraction, zero='zero')}" if fraction else cardinal(whole)


# ---------------------------------------------------------------------------------------------------
# Written sentence -> spoken form (the formatting model's source side).
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpokenStyle:
    """Which spoken variants `verbalize` may pick. The defaults give exactly the variants listed in
    shared/formatting-conventions.md: "and" after hundreds and thousands ("one hundred and twelve",
    "two thousand and five"), as every number in its table is spoken.

    drop_and: also offer the American form without "and" ("one hundred twelve", "two thousand five").
    """

    drop_and: bool = False


@dataclass(frozen=True)
class Segment:
    """One stretch of a written sentence: `kinds` empty for plain words, else the conventions rows it
    exercises ("cardinal", "year", "decimal", "percent", "money", "ordinal", "date", "time");
    `variants` are its spoken forms, the first one canonical."""

    written: str
    kinds: tuple[str, ...]
    variants: tuple[str, ...]


_MONTH_RE = "|".join(m.capitalize() for m in MONTHS)
_NUM = r"\d{1,3}(?:,\d{3})+|\d+"
_SEGMENT_RE = re.compile("|".join((
    rf"(?P<md_ord>(?:{_MONTH_RE}) \d+(?:st|nd|rd|th))\b",
    rf"(?P<dy_m>{_MONTH_RE}) (?P<dy_d>\d{{1,2}}), (?P<dy_y>\d{{4}})\b",
    rf"(?P<d_m>{_MONTH_RE}) (?P<d_d>\d{{1,2}})\b(?![.:,]\d)",
    rf"\bthe (?P<do_n>\d+)(?P<do_s>st|nd|rd|th) of (?P<do_m>{_MONTH_RE})\b",
    r"\b(?P<ta_h>\d+)(?::(?P<ta_m>\d\d))? (?P<ta_p>[ap])\.m\.",
    r"\b(?P<t_h>\d+):(?P<t_m>\d\d)\b",
    rf"(?P<cur>[$£€])(?P<m_int>{_NUM})(?:\.(?P<m_frac>\d\d))?(?!\d|[.,]\d)",
    rf"\b(?P<pc>(?:{_NUM})(?:\.\d+)?)%",
    rf"\b(?P<c_n>{_NUM}) (?P<c_w>cents?)\b",
    r"\b(?P<o_n>\d+)(?P<o_s>st|nd|rd|th)\b",
    rf"\b(?P<dec>(?:{_NUM})\.\d+)\b",
    rf"\b(?P<num>{_NUM})\b(?![.,]\d)",
)))
_CURRENCY_OF = {"$": "dollar", "£": "pound", "€": "euro"}
_DIGIT_OR_SYMBOL = re.compile(r"[0-9$£€%]")
_INITIALISM = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_PUNCT = re.compile(r"[-\u2010-\u2015.,;:!?\"\u201c\u201d\u2018()\[\]\u2026]")
_LOOSE_APOSTROPHE = re.compile(r"(?<![a-z])'|'(?![a-z])")
_NOT_SPOKEN = re.compile(r"[^a-z' ]")


def _int(text: str) -> int:
    """A written integer: "25", "2,500"; leading zeros are not a written cardinal."""
    if len(text) > 1 and text[0] == "0":
        raise ValueError(f"{text!r}: a number with a leading zero is not a conventions form")
    return int(text.replace(",", ""))


def _cardinals(n: int, style: SpokenStyle) -> tuple[str, ...]:
    forms = [cardinal(n, british=True)]
    if style.drop_and and cardinal(n) != forms[0]:
        forms.append(cardinal(n))
    return tuple(forms)


def _number(text: str, style: SpokenStyle) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A bare written number: cardinals >= 10 (commas from 1,000 up) or a year 1000..2099."""
    n = _int(text)
    if "," not in text and n >= 1000:
        if len(text) == 4 and n <= 2099:
            return ("year",), _years(n, style)
        raise ValueError(f"{text!r}: cardinals from 1,000 up are written with commas")
    if n < 10:
        raise ValueError(f"{text!r}: cardinals 0-9 in running text are written as words")
    return ("cardinal",), _cardinals(n, style)


def _years(y: int, style: SpokenStyle) -> tuple[str, ...]:
    forms = [year(y, british=True)]
    if style.drop_and and year(y) != forms[0]:
        forms.append(year(y))
    return tuple(forms)


def _ordinal_of(digits_: str, suffix: str) -> str:
    n = _int(digits_)
    expected = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    if n < 1 or suffix != expected:
        raise ValueError(f"{digits_}{suffix!r} is not a well-formed ordinal")
    return ordinal(n, british=True)


def _day(month: str, day: str) -> str:
    d = _int(day)
    if not 1 <= d <= 31:
        raise ValueError(f"{month} {day}: no such day")
    return f"{month.lower()} {ordinal(d)}"


def _minutes(m: str) -> str:
    value = int(m)
    if not 1 <= value <= 59:
        raise ValueError(f":{m}: minutes must be 01..59 (a whole hour is written '7 a.m.')")
    return f"oh {_ONES[value]}" if value < 10 else _below_hundred(value)


def _time(hour: str, minute: str | None, half: str | None) -> str:
    h = _int(hour)
    if not (1 <= h <= 12 if half else 1 <= h <= 23) or (minute is None and not half):
        raise ValueError(f"{hour}:{minute}: not a conventions time")
    words = cardinal(h) + ("" if minute is None else f" {_minutes(minute)}")
    return words + (f" {half} m" if half else "")


def _money(cur: str, whole: str, frac: str | None, style: SpokenStyle) -> tuple[str, ...]:
    units, sub = _int(whole), int(frac) if frac else 0
    if "," not in whole and units >= 1000:
        raise ValueError(f"{cur}{whole}: amounts from 1,000 up are written with commas")
    if units == 0 or (frac is not None and sub == 0):
        raise ValueError(f"{cur}{whole}.{frac}: write cents alone as '50 cents', whole amounts as '$5'")
    cents, currency = units * 100 + sub, _CURRENCY_OF[cur]
    british = [True, False] if style.drop_and and units >= 100 else [True]
    forms = [money(cents, currency, short=False, british=b) for b in british]
    if sub >= 10:
        forms = [money(cents, currency, short=True, british=b) for b in british] + forms
    return tuple(dict.fromkeys(forms))


def _decimal(text: str, style: SpokenStyle) -> tuple[str, ...]:
    whole, fraction = text.split(".")
    return tuple(f"{w} point {digits(fraction, zero='zero')}" for w in _cardinals(_int(whole), style))


def _match_segment(m: re.Match, style: SpokenStyle) -> Segment:
    g, text = m.groupdict(), m.group(0)
    if g["md_ord"]:
        raise ValueError(f"{text!r}: a date is written 'March 3' or 'the 3rd of March'")
    if g["dy_m"]:
        day = _day(g["dy_m"], g["dy_d"])
        return Segment(text, ("date", "year"), tuple(f"{day} {y}" for y in _years(_int(g["dy_y"]), style)))
    if g["d_m"]:
        return Segment(text, ("date",), (_day(g["d_m"], g["d_d"]),))
    if g["do_n"]:
        day = _ordinal_of(g["do_n"], g["do_s"])
        return Segment(text, ("date",), (f"the {day} of {g['do_m'].lower()}",))
    if g["ta_h"]:
        return Segment(text, ("time",), (_time(g["ta_h"], g["ta_m"], g["ta_p"]),))
    if g["t_h"]:
        return Segment(text, ("time",), (_time(g["t_h"], g["t_m"], None),))
    if g["cur"]:
        return Segment(text, ("money",), _money(g["cur"], g["m_int"], g["m_frac"], style))
    if g["pc"]:
        spoken = _decimal(g["pc"], style) if "." in g["pc"] else _cardinals(_int(g["pc"]), style)
        return Segment(text, ("percent",), tuple(f"{s} percent" for s in spoken))
    if g["c_n"]:
        return Segment(text, ("money",), tuple(f"{s} {g['c_w']}" for s in _cardinals(_int(g["c_n"]), style)))
    if g["o_n"]:
        return Segment(text, ("ordinal",), (_ordinal_of(g["o_n"], g["o_s"]),))
    if g["dec"]:
        return Segment(text, ("decimal",), _decimal(g["dec"], style))
    kinds, forms = _number(g["num"], style)
    return Segment(text, kinds, forms)


def speak_words(text: str) -> str:
    """Written words without numbers as the recogniser emits them: lowercase, punctuation dropped
    (hyphens and dashes become spaces, "U.S." becomes "u s"), apostrophes kept inside words."""
    if _DIGIT_OR_SYMBOL.search(text):
        raise ValueError(f"{text!r}: digits or symbols outside a conventions number form")
    t = _INITIALISM.sub(lambda m: " ".join(m.group(0).replace(".", "")), text.replace("\u2019", "'"))
    t = _LOOSE_APOSTROPHE.sub(" ", _PUNCT.sub(" ", t.lower()))
    bad = sorted(set(_NOT_SPOKEN.findall(t)))
    if bad:
        raise ValueError(f"{text!r}: characters the recogniser cannot emit: {bad}")
    return " ".join(t.split())


def segments(text: str, style: SpokenStyle = SpokenStyle()) -> list[Segment]:
    """`text` cut into plain-word stretches and number forms, each with its spoken variants.
    ValueError where a digit or symbol is not part of a conventions form."""
    out, pos = [], 0
    for m in _SEGMENT_RE.finditer(text):
        if m.start() > pos:
            out.append(Segment(text[pos:m.start()], (), (speak_words(text[pos:m.start()]),)))
        out.append(_match_segment(m, style))
        pos = m.end()
    if pos < len(text):
        out.append(Segment(text[pos:], (), (speak_words(text[pos:]),)))
    return out


def verbalize(text: str, rng: random.Random | None = None, style: SpokenStyle = SpokenStyle()) -> str:
    """A written sentence as the recogniser emits it: "I paid $12.50 at 7:05 p.m." -> "i paid twelve
    dollars fifty at seven oh five p m". Where the conventions list several spoken forms, `rng` picks
    one (None: the first, canonical one). ValueError for written forms outside the conventions."""
    parts = [s.variants[0] if rng is None else rng.choice(s.variants) for s in segments(text, style)]
    spoken = " ".join(" ".join(parts).split())
    if not spoken:
        raise ValueError(f"{text!r} has no words to speak")
    return spoken


def spoken_variants(text: str, style: SpokenStyle = SpokenStyle(), limit: int = 256) -> set[str]:
    """Every spoken form `verbalize` can give for `text` (ValueError past `limit` combinations)."""
    choices = [s.variants for s in segments(text, style)]
    total = 1
    for c in choices:
        total *= len(c)
    if total > limit:
        raise ValueError(f"{text!r} has {total} spoken forms, more than {limit}")
    return {" ".join(" ".join(p).split()) for p in itertools.product(*choices)}
