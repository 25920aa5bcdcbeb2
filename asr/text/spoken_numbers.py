"""Spoken numbers back to written form by a few rules: the draft the formatting model is verified against.

Aggressive decoding (asr.text.decoding) keeps the draft's tokens up to its first mismatch with the
model's output, so every number the draft leaves in words costs a pass per token. `write_numbers`
guesses the written form the conventions (shared/formatting-conventions.md) give the commonest
spoken forms: cardinals >= 10 in digits with thousands commas, "point" decimals, percents, dollars /
pounds / euros with cents, cents, ordinals after a month, before "of" or from "tenth" up, dates
("march third twenty twenty four" -> "March 3, 2024"), years and clock times said as two pairs of
digits ("nineteen ninety eight", "ten thirty", "seven oh five p m"). It is a guess, not the model:
a wrong one costs one decoder pass and never changes an output.
"""

from __future__ import annotations

__all__ = ["write_numbers"]

_ONES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
             "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
             "nineteenth": 19, "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50,
             "sixtieth": 60, "seventieth": 70, "eightieth": 80, "ninetieth": 90, "hundredth": 100}
_MONTHS = set("january february march april may june july august september october november "
              "december".split())
_CURRENCIES = {"dollar": "$", "dollars": "$", "pound": "£", "pounds": "£", "euro": "€", "euros": "€"}
_SUBUNITS = {"cent", "cents", "penny", "pence"}
_MERIDIEMS = {"a": "a.m.", "p": "p.m."}
_CONTEXT = {"point", "percent", *_CURRENCIES, *_SUBUNITS}  # words after a cardinal that make it a number


def _below_hundred(words: list[str], i: int) -> tuple[int, int] | None:
    """(value, next index) of "twenty three" / "seventeen" / "six" at words[i], else None."""
    if i < len(words) and words[i] in _TENS:
        if i + 1 < len(words) and words[i + 1] in _ONES and 0 < _ONES[words[i + 1]] < 10:
            return _TENS[words[i]] + _ONES[words[i + 1]], i + 2
        return _TENS[words[i]], i + 1
    if i < len(words) and words[i] in _ONES:
        return _ONES[words[i]], i + 1
    return None


def _below_thousand(words: list[str], i: int) -> tuple[int, int] | None:
    """(value, next index) of "three hundred (and) twelve" and shorter, else None."""
    head = _below_hundred(words, i)
    if head is None:
        return None
    value, j = head
    if 0 < value < 10 and j < len(words) and words[j] == "hundred":
        value, j = value * 100, j + 1
        k = j + 1 if j < len(words) and words[j] == "and" else j
        rest = _below_hundred(words, k)
        if rest is not None and rest[0] > 0:
            value, j = value + rest[0], rest[1]
    return value, j


def _cardinal(words: list[str], i: int) -> tuple[int, int, bool] | None:
    """(value, next index, whether it used a scale word) of a cardinal at words[i], else None."""
    part = _below_thousand(words, i)
    if part is None:
        return None
    total, (value, j), scaled = 0, part, False
    while j < len(words) and words[j] in _SCALES and value:
        total, scaled = total + value * _SCALES[words[j]], True
        j += 1
        k = j + 1 if j < len(words) and words[j] == "and" else j
        part = _below_thousand(words, k)
        value, j = (part[0], part[1]) if part is not None else (0, j)
    return total + value, j, scaled


def _pair_tail(words: list[str], i: int) -> tuple[int, int] | None:
    """(value, next index) of the second half of a year or clock time: "ninety eight", "oh five"."""
    if i + 1 < len(words) and words[i] == "oh" and 0 < _ONES.get(words[i + 1], 0) < 10:
        return _ONES[words[i + 1]], i + 2
    tail = _below_hundred(words, i)
    return tail if tail is not None and tail[0] >= 10 else None


def _meridiem(words: list[str], i: int) -> tuple[str, int] | None:
    """("a.m." or "p.m.", next index) of "a m" / "p m" at words[i], else None."""
    if i + 1 < len(words) and words[i] in _MERIDIEMS and words[i + 1] == "m":
        return _MERIDIEMS[words[i]], i + 2
    return None


def _ordinal(words: list[str], i: int) -> tuple[int, int] | None:
    """(value, next index) of "third" / "twenty first" at words[i], else None."""
    if i < len(words) and words[i] in _ORDINALS:
        return _ORDINALS[words[i]], i + 1
    if i + 1 < len(words) and words[i] in _TENS and _ORDINALS.get(words[i + 1], 10) < 10:
        return _TENS[words[i]] + _ORDINALS[words[i + 1]], i + 2
    return None


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _year(words: list[str], i: int) -> tuple[str, int] | None:
    """("1998", next index) of a year said as two pairs ("nineteen ninety eight"), as "nineteen hundred" or
    as "two thousand (and) five"."""
    head = _below_hundred(words, i)
    if head is not None and 10 <= head[0] <= 20:
        if (tail := _pair_tail(words, head[1])) is not None:
            return f"{head[0]}{tail[0]:02d}", tail[1]
        if head[1] < len(words) and words[head[1]] == "hundred":  # "nineteen hundred"
            return f"{head[0]}00", head[1] + 1
    card = _cardinal(words, i)
    if card is not None and 2000 <= card[0] <= 2099 and card[2]:
        return str(card[0]), card[1]
    return None


def _number(words: list[str], i: int) -> tuple[str, int] | None:
    """(written form, next index) of the number phrase at words[i], else None."""
    card = _cardinal(words, i)
    if card is None:
        return None
    after = words[card[1]] if card[1] < len(words) else ""
    if after not in _CONTEXT and _meridiem(words, card[1]) is None:
        head = _below_hundred(words, i)
        if head is not None and head[0] <= 12 and (tail := _pair_tail(words, head[1])) is not None \
                and tail[0] < 60:  # a clock time "ten thirty", "seven oh five p m"
            time = f"{head[0]}:{tail[0]:02d}"
            mer = _meridiem(words, tail[1])
            return (f"{time} {mer[0]}", mer[1]) if mer else (time, tail[1])
        year = _year(words, i)
        if year is not None:
            return year
    value, j, _ = card
    decimal = j + 1 < len(words) and words[j] == "point" and _ONES.get(words[j + 1], 10) < 10
    if decimal:
        digits = []
        j += 1
        while j < len(words) and words[j] in _ONES and _ONES[words[j]] < 10:
            digits.append(str(_ONES[words[j]]))
            j += 1
        text = f"{value:,}.{''.join(digits)}"
    else:
        text = f"{value:,}"
    if j < len(words) and words[j] == "percent":
        return f"{text}%", j + 1
    if j < len(words) and words[j] in _CURRENCIES:
        symbol, j = _CURRENCIES[words[j]], j + 1
        k = j + 1 if j < len(words) and words[j] == "and" else j
        cents = _below_hundred(words, k)
        if cents is not None and cents[0] > 0:
            j = cents[1] + (cents[1] < len(words) and words[cents[1]] in _SUBUNITS)
            return f"{symbol}{text}.{cents[0]:02d}", j
        return f"{symbol}{text}", j
    if j < len(words) and words[j] in _SUBUNITS:
        return f"{text} {words[j]}", j + 1
    if (mer := _meridiem(words, j)) is not None and value <= 12:
        return f"{text} {mer[0]}", mer[1]
    if value < 10 and not decimal:
        return None  # small numbers in running text stay words
    return text, j


def write_numbers(text: str) -> str:
    """`text` (spoken form: lower case, single spaces) with its number phrases guessed in written form
    and month names capitalised."""
    words, out, i = text.split(" "), [], 0
    while i < len(words):
        word = words[i]
        if word in _MONTHS:
            out.append(word.capitalize())
            j = i + 2 if i + 1 < len(words) and words[i + 1] == "the" else i + 1
            day = _ordinal(words, j)
            if day is not None and day[0] <= 31:
                out[-1] += f" {day[0]}"
                i = day[1]
                year = _year(words, i)
                if year is not None:
                    out[-1] += f", {year[0]}"
                    i = year[1]
                continue
            i += 1
            continue
        nth = _ordinal(words, i)
        if nth is not None and (nth[0] >= 10 or nth[1] - i == 2 or (nth[1] + 1 < len(words)
                                and words[nth[1]] == "of" and words[nth[1] + 1] in _MONTHS)):
            out.append(_nth(nth[0]))
            i = nth[1]
            continue
        number = _number(words, i)
        if number is not None:
            out.append(number[0])
            i = number[1]
            continue
        out.append(word)
        i += 1
    return " ".join(out)
