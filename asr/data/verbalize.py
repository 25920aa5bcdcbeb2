"""Numbers, dates, times, amounts and digit strings written out as spoken English words.

The synthetic corpus feeds these words to espeak-ng and uses the same words as the transcript,
so the transcript says exactly what is spoken. Output is lowercase letters, apostrophes and
single spaces only. `british=True` puts "and" after hundreds ("one hundred and five").
"""

from __future__ import annotations

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


def money(cents: int, currency: str = "dollar", short: bool = False) -> str:
    """An amount in words: 1250 -> "twelve dollars and fifty cents"; `short` -> "twelve dollars fifty"."""
    if cents < 0:
        raise ValueError(f"money: amount must be >= 0 cents, got {cents}")
    if currency not in _CURRENCIES:
        raise ValueError(f"money: unknown currency {currency!r} ({', '.join(_CURRENCIES)})")
    one, many, sub_one, sub_many = _CURRENCIES[currency]
    units, sub = divmod(cents, 100)
    main = f"{cardinal(units)} {one if units == 1 else many}"
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
