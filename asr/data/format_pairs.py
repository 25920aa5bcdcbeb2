"""Training pairs for the formatting model: (spoken, written) = (what the recogniser emits, the text
written by shared/formatting-conventions.md), as JSONL lines {"src": spoken, "tgt": written}.

Two sources, mixed by `PairsConfig.prose_fraction`:

- Prose: real English sentences from public-domain texts that Debian packages for the SWORD library
  (read here directly, no libsword): the World English Bible (`sword-text-web` 426.0-1, module
  engWEB2015eb, a modern-English translation dedicated to the public domain), Matthew Henry's Concise
  Commentary (`sword-comm-mhcc` 2.0-1, public domain) and C. H. Spurgeon's Treasury of David
  (`sword-comm-tdavid` 2.1-1, 1869-1885, public domain); Debian 12 versions. `apt-get install
  sword-text-web sword-comm-mhcc sword-comm-tdavid` puts them under /usr/share/sword; building needs
  no network. About 100,600 distinct sentences, 25,500 distinct words, survive the filters: 3-40
  words, one sentence, letters and , . ? ! ' only (no quotation marks, colons, hyphens, digits,
  abbreviations, initials or all-caps words), and no number words that the conventions would write as digits
  ("forty days" would be "40 days"; "first" and "second" alone are kept as words). The register is
  religious and partly archaic ("thou hast"): the generated sentences carry the everyday part.
- Generated: templates in written form carrying cardinals, years, decimals, percents, money, ordinals,
  dates and times (plus everyday sentences with names, "I", questions, exclamations, commas and
  apostrophes), and as many again from the compositional grammar of `asr.data.everyday` (number
  phrases in many sentence frames), spoken by `asr.data.verbalize.verbalize` with a seeded choice
  among the variants. A sentence ending in "a.m." or "p.m." takes no second period.

Joined: `PairsConfig.joined_fraction` more rows per split, each two of its sentences in a row (a
transcript often holds several sentences; the model learns where one ends).

Spliced: `PairsConfig.spliced_fraction` (of the split's prose rows) more rows, each a prose sentence
of the split with a number phrase put before its end mark ("... on March 3, 2024.", "... for $12.50?")
or after one of its inner words: numbers, money, dates and times in contexts no template has, so the
model learns the conventions rather than the templates' frames.

Splits: every distinct written sentence goes to one split only, so no dev or test target occurs in
train. The test split is drawn first and does not change when `n_train` or `n_dev` change. Layout:
DIR/{train,dev,test}.jsonl (lines {"src", "tgt", "origin"}) and DIR/format_pairs.json (settings,
counts, prose sources).
`category_labels(DIR)` gives, per test line, the conventions rows that its pair exercises.
"""

from __future__ import annotations

import functools
import html
import json
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transduce.asr.data import verbalize as vb
from transduce.asr.data.everyday import DAYS_IN_MONTH, everyday_written, written_ordinal

__all__ = ["SPLITS", "ORIGINS", "PROSE_MODULES", "CATEGORIES", "ProseSourceMissing", "PairsConfig",
           "prose_available", "prose_sentences", "generate_written", "categories", "build_pairs",
           "read_pairs", "read_origins", "category_labels"]

SPLITS = ("train", "dev", "test")
ORIGINS = ("prose", "generated", "joined", "spliced")  # where a row's written sentence comes from
DEFAULT_SWORD_DIR = "/usr/share/sword"
# SWORD module (the [name] of its mods.d/*.conf) -> the Debian package that installs it.
PROSE_MODULES = {"engWEB2015eb": "sword-text-web", "MHCC": "sword-comm-mhcc", "TDavid": "sword-comm-tdavid"}

# Category label -> the row ("kind") of the conventions table that it exercises.
CATEGORIES = {
    "sentence_case": "sentence case, names", "names": "sentence case, names", "pronoun_i": "pronoun I",
    "statement": "end punctuation", "question": "end punctuation", "exclamation": "end punctuation",
    "comma": "commas, apostrophes", "apostrophe": "commas, apostrophes",
    "small_cardinal": "cardinals 0-9 in running text", "cardinal": "cardinals >= 10", "year": "years",
    "decimal": "decimals", "percent": "percent", "money": "money", "ordinal": "ordinals", "date": "dates",
    "time": "times", "time_words": "times",
}


class ProseSourceMissing(RuntimeError):
    """The public-domain prose (Debian SWORD packages) is not installed."""


@dataclass(frozen=True)
class PairsConfig:
    """prose_fraction: share of each split drawn from prose (0: generated only, no packages needed).
    generated_weights: relative frequency of each generated category."""

    prose_fraction: float = 0.5
    # extra rows per split that join two of its sentences ("A. B?"): transcripts often hold several
    joined_fraction: float = 0.1
    # extra rows per split (a share of its prose rows): a prose sentence + a number phrase ("... for $5.")
    spliced_fraction: float = 0.3
    min_words: int = 3
    max_words: int = 40
    modules: tuple[str, ...] = tuple(PROSE_MODULES)
    # our recognisers emit numbers with and without "and" (the speech corpus speaks both): so do the pairs
    style: vb.SpokenStyle = vb.SpokenStyle(drop_and=True)
    generated_weights: tuple[tuple[str, float], ...] = field(default_factory=lambda: (
        ("cardinal", 0.13), ("year", 0.08), ("decimal", 0.07), ("percent", 0.08), ("money", 0.16),
        ("ordinal", 0.08), ("date", 0.13), ("time", 0.13), ("mixed", 0.06), ("everyday", 0.08),
        ("composed", 1.0)))

    def __post_init__(self) -> None:
        for name in ("prose_fraction", "joined_fraction", "spliced_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        unknown = {name for name, _ in self.generated_weights} - set(_TEMPLATES)
        if unknown:
            raise ValueError(f"unknown generated categories {sorted(unknown)} (known: {sorted(_TEMPLATES)})")


# ---------------------------------------------------------------------------------------------------
# Prose: SWORD zText / zCom modules -> plain paragraphs -> filtered sentences.
# ---------------------------------------------------------------------------------------------------

def _module_dirs(root: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """Module name -> its data folder, for the modules that mods.d/*.conf declares under `root`."""
    found = {}
    for conf in sorted((root / "mods.d").glob("*.conf")):
        text = conf.read_text(encoding="utf-8", errors="replace")
        name, path = re.search(r"^\[(.+)\]", text, re.M), re.search(r"^DataPath=(.+)$", text, re.M)
        if name and path and name.group(1) in names:
            found[name.group(1)] = root / path.group(1).strip()
    return found


def _index_record(idx: bytes, n_blocks: int) -> int:
    """Bytes per verse-index record: 10 (2-byte sizes, zText/zCom) or 12 (4-byte sizes, zCom4)."""
    for rec in (12, 10):
        fmt = "<IIH" if rec == 10 else "<III"
        if len(idx) % rec == 0 and all(size == 0 or block < n_blocks
                                       for block, _, size in struct.iter_unpack(fmt, idx)):
            return rec
    raise ValueError("unrecognised SWORD verse index")


def _sword_entries(data_dir: Path) -> Iterator[str]:
    """The entries (verses, commentary sections) of a compressed SWORD module, each once, in order."""
    for index in (i for testament in ("ot", "nt") for i in sorted(data_dir.glob(f"{testament}.?zv"))):
        stem = index.suffix[:3]  # ".bz" (blocks per book) or ".cz" (per chapter)
        blocks, data = index.with_suffix(stem + "s").read_bytes(), index.with_suffix(stem + "z").read_bytes()
        idx = index.read_bytes()
        if not blocks:
            continue
        rec = _index_record(idx, len(blocks) // 12)
        cache: dict[int, bytes] = {}
        seen = set()
        for block, offset, size in struct.iter_unpack("<IIH" if rec == 10 else "<III", idx):
            if size == 0 or (block, offset) in seen:
                continue
            seen.add((block, offset))
            if block not in cache:
                start, length, _ = struct.unpack_from("<III", blocks, block * 12)
                cache = {block: zlib.decompress(data[start:start + length])}
            yield cache[block][offset:offset + size].decode("utf-8", errors="replace")


_DROPPED_ELEMENTS = re.compile(r"<(note|title|table|reference)\b[^>]*?(?<!/)>.*?</\1>", re.S)
_PARAGRAPH_TAGS = re.compile(r"<(?:div|p|lg|list|item|chapter)\b[^>]*>|</(?:p|div|item)>|<lb\b[^>]*/>")
_TAG = re.compile(r"<[^>]*>")
_SPACE_BEFORE_PUNCT = re.compile(r" ([,.;:!?])")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]*[A-Z])")
_ABBREVIATION_END = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Messrs|Rev|Ver|ver|vs|viz|cf|ch|Ps|vol|etc|"
                               r"[B-HJ-Z])\.$")


def _sentences(paragraph: str) -> list[str]:
    """A paragraph cut after . ? ! before a capital; not after "Mr." or "etc." (the pieces stay joined,
    and the filter then drops the sentence for its inner full stop)."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(paragraph):
        if out and _ABBREVIATION_END.search(out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


def _paragraphs(markup: str) -> list[str]:
    """OSIS markup -> plain paragraphs: notes, headings and tables dropped, word tags unwrapped."""
    text = _TAG.sub("", _PARAGRAPH_TAGS.sub("\n", _DROPPED_ELEMENTS.sub(" ", markup)))
    paragraphs = (" ".join(p.split()) for p in html.unescape(text).split("\n"))
    return [_SPACE_BEFORE_PUNCT.sub(r"\1", p) for p in paragraphs if p]


_WRITTEN_PROSE = re.compile(r"[A-Z][A-Za-z ,'\u2019]*[A-Za-z][.?!]")
_LOOSE_APOSTROPHE = re.compile(r"(?<![A-Za-z])'|(?<![sS])'(?![A-Za-z])")  # quote marks, not "don't", "sons'"
_ABBREVIATED = re.compile(r"\b(?:[A-Z]{2,}|[B-HJ-NP-Z]|etc)\b")  # "LORD", "P Lange", "etc"
_DIGIT_WORDS = re.compile(r"\b(?:ten|eleven|twelve|\w+teen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
                          r"ninety|hundred|thousand|million|billion|third|fourth|fifth|sixth|seventh|eighth|"
                          r"ninth|tenth|eleventh|twelfth|\w+teenth|\w+tieth|hundredth|thousandth|percent|"
                          r"o'clock)\b")
_AMOUNTS = re.compile(r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine) (?:dollars?|pounds?|euros?|"
                      r"cents?|pence|penny|point)\b")


def _prose_written(sentence: str, min_words: int, max_words: int) -> str | None:
    """The sentence as a written target if the conventions can express it exactly, else None."""
    s = sentence.replace("\u2019", "'")
    if not _WRITTEN_PROSE.fullmatch(s) or not min_words <= len(s.split()) <= max_words:
        return None
    if _LOOSE_APOSTROPHE.search(s) or _ABBREVIATED.search(s):
        return None
    spoken = vb.speak_words(s)
    if _DIGIT_WORDS.search(spoken) or _AMOUNTS.search(spoken):
        return None
    return s


def prose_available(source_dir: str | Path | None = None, cfg: PairsConfig | None = None) -> bool:
    """Whether every prose module of `cfg` is installed under `source_dir` (default /usr/share/sword)."""
    modules, root = (cfg or PairsConfig()).modules, Path(source_dir or DEFAULT_SWORD_DIR)
    return root.is_dir() and set(modules) <= set(_module_dirs(root, modules))


def prose_sentences(source_dir: str | Path | None = None, cfg: PairsConfig | None = None) -> tuple[str, ...]:
    """The distinct prose sentences usable as written targets, in module order (cached per settings).

    ProseSourceMissing (with the apt-get line to run) when a module of `cfg.modules` is not installed."""
    cfg = cfg or PairsConfig()
    root = str(Path(source_dir or DEFAULT_SWORD_DIR))
    return _prose_sentences(root, cfg.modules, cfg.min_words, cfg.max_words)


@functools.lru_cache(maxsize=4)
def _prose_sentences(root_dir: str, modules: tuple[str, ...], min_words: int,
                     max_words: int) -> tuple[str, ...]:
    root = Path(root_dir)
    dirs = _module_dirs(root, modules) if root.is_dir() else {}
    missing = [m for m in modules if m not in dirs]
    if missing:
        packages = " ".join(PROSE_MODULES.get(m, m) for m in missing)
        raise ProseSourceMissing(
            f"prose modules {missing} not found under {root}: install them with "
            f"`apt-get install {packages}`, pass source_dir, or build generated-only pairs with "
            "PairsConfig(prose_fraction=0)")
    kept: dict[str, None] = {}
    for name in modules:  # entries (verses) joined: a sentence may run over several; paragraphs bound it
        for paragraph in _paragraphs(" ".join(_sword_entries(dirs[name]))):
            for sentence in _sentences(paragraph):
                written = _prose_written(sentence, min_words, max_words)
                if written:
                    kept[written] = None
    return tuple(kept)


# ---------------------------------------------------------------------------------------------------
# Generated sentences, in written form.
# ---------------------------------------------------------------------------------------------------

_NAMES = ("Anna Ben Chloe Daniel Emma Frank Grace Harry Isla Jack Kate Liam Mia Noah Olivia Peter Rosa Sam "
          "Tom Una Victor Will Zoe Sarah James Priya Omar Lucy").split()
_CITIES = "London Leeds Bristol Glasgow Dublin Boston Denver Chicago York Oxford Paris Madrid".split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_PLACES = ("the shop|the park|the station|the library|the office|the beach|the market|school|work|"
           "the doctor's|the bank|the gym|the cinema|the airport").split("|")
_WHEN = "today|tomorrow|yesterday|this morning|last night|next week|after lunch|at the weekend".split("|")
_OBJECTS = "umbrella phone wallet coat bag ticket laptop notebook scarf charger camera watch".split()
_PLURALS = "people chairs books apples students cars birds windows rooms tickets boxes cups trees".split()
_NOUNS = "hall library warehouse garden kitchen stadium school office village".split()
_UNITS = "kilometres miles metres kilograms litres hours".split()
_SMALL = "zero one two three four five six seven eight nine".split()


def _count(r: random.Random) -> str:
    """A cardinal >= 10 as written: 25, 112, 2,500."""
    n = r.choice((r.randint(10, 99), r.randint(100, 999), r.randint(1000, 99999), r.randint(10**5, 10**7)))
    return f"{n:,}"


def _year(r: random.Random) -> str:
    return str(r.randint(1000, 1899) if r.random() < 0.1 else r.randint(1900, 2039))


def _decimal(r: random.Random) -> str:
    whole = r.choice((r.randint(0, 9), r.randint(10, 99), r.randint(100, 2000)))
    return f"{whole:,}.{r.randint(1, 99)}"


def _percent(r: random.Random) -> str:
    return r.choice((f"{r.randint(1, 100)}%", f"{r.randint(0, 99)}.{r.randint(1, 9)}%"))


def _money(r: random.Random) -> str:
    if r.random() < 0.12:
        return f"{r.randint(1, 99)} cents"
    units = r.choice((r.randint(1, 9), r.randint(10, 99), r.randint(100, 999), r.randint(1000, 99999)))
    cents = f".{r.randint(1, 99):02d}" if r.random() < 0.4 else ""
    return f"{r.choice('$£€')}{units:,}{cents}"


def _ordinal(r: random.Random, low: int = 3) -> str:
    n = r.choice((r.randint(low, 31), r.randint(low, 120)))
    return written_ordinal(n)


def _date(r: random.Random, with_year: bool | None = None) -> str:
    month = r.randint(1, 12)
    day = r.randint(1, DAYS_IN_MONTH[month - 1])
    name = vb.MONTHS[month - 1].capitalize()
    if r.random() < 0.3:
        return f"the {written_ordinal(day)} of {name}"
    with_year = r.random() < 0.5 if with_year is None else with_year
    return f"{name} {day}, {_year(r)}" if with_year else f"{name} {day}"


def _digit_time(r: random.Random) -> str:
    h, m = r.randint(1, 12), r.randint(1, 59)
    return r.choice((f"{h}:{m:02d}", f"{h} {r.choice('ap')}.m.", f"{h}:{m:02d} {r.choice('ap')}.m."))


def _time(r: random.Random) -> str:
    """Mostly digits ("10:30", "7 a.m.", "7:05 p.m."); sometimes words that stay words ("half past seven")."""
    if r.random() < 0.2:
        return f"{r.choice(('half past', 'a quarter past', 'a quarter to'))} {_SMALL[r.randint(1, 9)]}"
    return _digit_time(r)


def _small(r: random.Random) -> str:
    return r.choice(_SMALL[2:])


_TEMPLATES: dict[str, tuple[Callable[[random.Random], str], ...]] = {
    "cardinal": (
        lambda r: f"There are {_count(r)} {r.choice(_PLURALS)} in the {r.choice(_NOUNS)}.",
        lambda r: f"Please turn to page {r.randint(10, 950)}.",
        lambda r: f"We sold {_count(r)} tickets in {r.choice(_CITIES)} last year.",
        lambda r: f"How many of the {_count(r)} {r.choice(_PLURALS)} did {r.choice(_NAMES)} count?",
        lambda r: f"The {r.choice(_NOUNS)} holds {_count(r)} people!",
        lambda r: f"I counted {_count(r)} {r.choice(_PLURALS)}, not {_small(r)}.",
    ),
    "year": (
        lambda r: f"We moved to {r.choice(_CITIES)} in {_year(r)}.",
        lambda r: f"{r.choice(_NAMES)} was born in {_year(r)}.",
        lambda r: f"Was the bridge built in {_year(r)}?",
        lambda r: f"The company was founded in {_year(r)}, I think.",
        lambda r: f"Between {_year(r)} and {_year(r)}, prices doubled.",
    ),
    "decimal": (
        lambda r: f"The distance is {_decimal(r)} {r.choice(_UNITS)}.",
        lambda r: f"Is the ratio really {_decimal(r)}?",
        lambda r: f"The average score rose to {_decimal(r)} this term.",
        lambda r: f"{r.choice(_NAMES)} ran {_decimal(r)} miles on {r.choice(_WEEKDAYS)}!",
    ),
    "percent": (
        lambda r: f"About {_percent(r)} of the {r.choice(_PLURALS)} were new.",
        lambda r: f"Prices went up by {_percent(r)} last month.",
        lambda r: f"Only {_percent(r)} of voters in {r.choice(_CITIES)} agreed!",
        lambda r: f"Is the interest rate {_percent(r)}?",
    ),
    "money": (
        lambda r: f"The ticket costs {_money(r)}.",
        lambda r: f"That will be {_money(r)}, please.",
        lambda r: f"I paid {_money(r)} for a new {r.choice(_OBJECTS)}.",
        lambda r: f"Can you lend me {_money(r)}?",
        lambda r: f"{r.choice(_NAMES)} owes me {_money(r)}!",
        lambda r: f"The total in {r.choice(_CITIES)} came to {_money(r)}.",
    ),
    "ordinal": (
        lambda r: f"Room {r.choice((r.randint(10, 999), _small(r)))} is on the {_ordinal(r)} floor.",
        lambda r: f"It was {r.choice(_NAMES)}'s {_ordinal(r, 1)} birthday.",
        lambda r: f"{r.choice(_NAMES)} finished in {_ordinal(r)} place!",
        lambda r: f"Is this your {_ordinal(r)} visit to {r.choice(_CITIES)}?",
    ),
    "date": (
        lambda r: f"My birthday is on {_date(r, False)}.",
        lambda r: f"The meeting was moved to {r.choice(_WEEKDAYS)}, {_date(r)}.",
        lambda r: f"{r.choice(_NAMES)} was born on {_date(r, True)}.",
        lambda r: f"Is the deadline {_date(r)}?",
        lambda r: f"The shop in {r.choice(_CITIES)} opens again on {_date(r)}!",
    ),
    "time": (
        lambda r: f"The train leaves at {_time(r)}.",
        lambda r: f"Let's meet at {_time(r)} on {r.choice(_WEEKDAYS)}.",
        lambda r: f"I woke up at {_time(r)} this morning.",
        lambda r: f"Can you call me back at {_time(r)}?",
        lambda r: f"It's {_time(r)} already!",
    ),
    "mixed": (
        lambda r: f"On {_date(r)}, {r.choice(_NAMES)} paid {_money(r)} for {_small(r)} tickets.",
        lambda r: f"The {_digit_time(r)} train to {r.choice(_CITIES)} is {_percent(r)} full.",
        lambda r: f"In {_year(r)}, the {_ordinal(r)} edition sold {_count(r)} copies.",
        lambda r: f"Did you really spend {_money(r)} on {_date(r)}?",
    ),
    "everyday": (
        lambda r: f"{r.choice(_NAMES)} went to {r.choice(_PLACES)} {r.choice(_WHEN)}.",
        lambda r: f"Have you seen my {r.choice(_OBJECTS)}?",
        lambda r: f"I think I left my {r.choice(_OBJECTS)} at {r.choice(_PLACES)}.",
        lambda r: f"Don't forget your {r.choice(_OBJECTS)} when you go to {r.choice(_CITIES)}!",
        lambda r: f"{r.choice(_NAMES)} and {r.choice(_NAMES)} bought {_small(r)} {r.choice(_PLURALS)}.",
        lambda r: f"However, {r.choice(_NAMES)} didn't want to go to {r.choice(_CITIES)}.",
        lambda r: f"Where's {r.choice(_NAMES)}'s {r.choice(_OBJECTS)}?",
    ),
    # sentences of a compositional grammar (asr.data.everyday): number phrases in many frames
    "composed": (everyday_written,),
}


def generate_written(r: random.Random, cfg: PairsConfig | None = None) -> tuple[str, str]:
    """One (category, written sentence) drawn with `cfg.generated_weights` from `r`."""
    cfg = cfg or PairsConfig()
    names = [name for name, _ in cfg.generated_weights]
    category = r.choices(names, weights=[w for _, w in cfg.generated_weights])[0]
    written = r.choice(_TEMPLATES[category])(r)
    return category, written[:-1] if written.endswith("..") else written  # "at 7 p.m." ends a sentence


# ---------------------------------------------------------------------------------------------------
# Category labels, splits, files.
# ---------------------------------------------------------------------------------------------------

_ONE_NOT_COUNT = re.compile(r"\b(?:no|every|any|some|the|this|that|which|each|little|loved) one\b", re.I)
_SMALL_WORD = re.compile(r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine)\b", re.I)
_TIME_WORDS = re.compile(r"\b(?:half|a quarter) (?:past|to) (?:one|two|three|four|five|six|seven|eight|nine|"
                         r"ten|eleven|twelve)\b")
_PRONOUN_I = {"I", "I'm", "I'll", "I've", "I'd"}


def categories(written: str) -> tuple[str, ...]:
    """The category labels (keys of `CATEGORIES`) that a written target exercises, sorted. Commas,
    capitals and apostrophes count in the words around number forms, not inside them ("2,500")."""
    labels = {"sentence_case", {"?": "question", "!": "exclamation"}.get(written[-1:], "statement")}
    parts = vb.segments(written)
    for segment in parts:
        labels.update(segment.kinds)
    plain = " | ".join(s.written for s in parts if not s.kinds)
    words = [w.strip(",.?!'") for w in plain.split()]
    if any(w[:1].isupper() and w not in _PRONOUN_I for w in words[1:]):
        labels.add("names")
    checks = {"pronoun_i": r"\bI\b", "comma": ",", "apostrophe": "[A-Za-z]'[A-Za-z]",
              "time_words": _TIME_WORDS}
    labels.update(label for label, pattern in checks.items() if re.search(pattern, plain))
    if _SMALL_WORD.search(_ONE_NOT_COUNT.sub("", _TIME_WORDS.sub("", plain))):
        labels.add("small_cardinal")
    return tuple(sorted(labels))


def _split_sizes(n: dict[str, int], fraction: float) -> dict[str, int]:
    return {s: round(n[s] * fraction) for s in SPLITS}


def _draw_prose(n_prose: dict[str, int], seed: int, source_dir, cfg: PairsConfig) -> dict[str, list[str]]:
    pool = list(prose_sentences(source_dir, cfg))
    random.Random(f"{seed}:prose").shuffle(pool)
    if sum(n_prose.values()) > len(pool):
        raise ValueError(f"asked for {sum(n_prose.values())} prose sentences, only {len(pool)} exist")
    out, start = {}, 0
    for split in ("test", "dev", "train"):
        out[split], start = pool[start:start + n_prose[split]], start + n_prose[split]
    return out


def _draw_generated(n_gen: dict[str, int], seed: int, taken: set[str], cfg: PairsConfig) -> dict[str, list]:
    r, out = random.Random(f"{seed}:generated"), {}
    for split in ("test", "dev", "train"):
        items, attempts = [], 0
        while len(items) < n_gen[split]:
            attempts += 1
            if attempts > 50 * n_gen[split] + 1000:
                raise ValueError(f"could not draw {n_gen[split]} distinct generated sentences for {split}")
            _, written = generate_written(r, cfg)
            if written not in taken:
                taken.add(written)
                items.append(written)
        out[split] = items
    return out


def build_pairs(out_dir: str | Path, n_train: int, n_dev: int, n_test: int, seed: int,
                source_dir: str | Path | None = None, cfg: PairsConfig | None = None,
                exclude: Iterable[str] = ()) -> dict[str, int]:
    """Write DIR/{train,dev,test}.jsonl ({"src": spoken, "tgt": written}) and DIR/format_pairs.json.
    Generated sentences in `exclude` (e.g. the written side of an earlier training set that a model to
    be fine-tuned has seen) are not drawn, so no dev or test target is one the model was trained on.

    Returns the counts: per split, and per split and origin ("train_prose", "train_generated", ...).
    ProseSourceMissing when cfg.prose_fraction > 0 and the prose packages are not installed."""
    cfg = cfg or PairsConfig()
    n = {"train": n_train, "dev": n_dev, "test": n_test}
    n_prose = _split_sizes(n, cfg.prose_fraction)
    prose = _draw_prose(n_prose, seed, source_dir, cfg) if sum(n_prose.values()) else {s: [] for s in SPLITS}
    taken = {w for split in prose.values() for w in split} | set(exclude)
    generated = _draw_generated({s: n[s] - n_prose[s] for s in SPLITS}, seed, taken, cfg)
    out, counts = Path(out_dir), {}
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        rows = [(w, "prose") for w in prose[split]] + [(w, "generated") for w in generated[split]]
        rows += (_joined(rows, cfg.joined_fraction, random.Random(f"{seed}:joined:{split}"))
                 + _spliced(prose[split], cfg.spliced_fraction, random.Random(f"{seed}:spliced:{split}")))
        random.Random(f"{seed}:order:{split}").shuffle(rows)
        speak = random.Random(f"{seed}:spoken:{split}")
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for written, origin in rows:
                spoken = vb.verbalize(written, speak, cfg.style)
                row = {"src": spoken, "tgt": written, "origin": origin}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts[split] = len(rows)
        counts.update({f"{split}_{origin}": sum(o == origin for _, o in rows) for origin in ORIGINS})
    used = {m: PROSE_MODULES.get(m, "?") for m in cfg.modules} if any(prose.values()) else {}
    summary = {"seed": seed, "counts": counts, "config": asdict(cfg), "prose_modules": used}
    (out / "format_pairs.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return counts


def _joined(rows: list[tuple[str, str]], fraction: float, rng: random.Random) -> list[tuple[str, str]]:
    """round(fraction * len(rows)) extra rows, each two sentences of `rows` one after the other."""
    if len(rows) < 2:
        return []
    return [(f"{a} {b}", "joined") for (a, _), (b, _) in
            (rng.sample(rows, 2) for _ in range(round(fraction * len(rows))))]


# A phrase put before a prose sentence's end mark: (preposition, the written number phrase).
_SPLICES: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    ("on", _date), ("in", _year), ("at", _digit_time), ("for", _money), ("by", _percent),
    ("with", lambda r: f"{_count(r)} others"), ("until the", lambda r: _ordinal(r)))


def _spliced(prose: list[str], fraction: float, rng: random.Random) -> list[tuple[str, str]]:
    """round(fraction * len(prose)) extra rows: a sentence of `prose` with a number phrase before its
    end mark or, half the time, after one of its inner words ("He went out on March 3 and wept."). A
    phrase ending in "." goes only before "." ("7 a.m.?" is not written) and a year-dated date only at
    the end (inside, edited prose would need a comma after the year)."""
    out = []
    for _ in range(round(fraction * len(prose)) if prose else 0):
        words = rng.choice(prose).split()
        body, mark = " ".join(words)[:-1], words[-1][-1]
        preposition, make = rng.choice(_SPLICES)
        inside = len(words) > 3 and rng.random() < 0.5
        phrase = make(rng)
        while re.search(r", \d{4}$", phrase) if inside else mark != "." and phrase.endswith("."):
            phrase = make(rng)
        if inside:
            at = rng.randint(1, len(words) - 2)
            written = " ".join(words[:at + 1] + [preposition, phrase] + words[at + 1:])
        else:
            written = f"{body} {preposition} {phrase}{'' if phrase.endswith('.') else mark}"
        out.append((written, "spliced"))
    return out


def read_pairs(out_dir: str | Path, split: str) -> list[tuple[str, str]]:
    """The (spoken, written) pairs of one split, in file order."""
    with open(Path(out_dir) / f"{split}.jsonl", encoding="utf-8") as f:
        return [(row["src"], row["tgt"]) for row in map(json.loads, f)]


def read_origins(out_dir: str | Path, split: str = "test") -> list[str]:
    """Per line of a split, where its written side comes from (one of ORIGINS)."""
    with open(Path(out_dir) / f"{split}.jsonl", encoding="utf-8") as f:
        return [row["origin"] for row in map(json.loads, f)]


def category_labels(out_dir: str | Path, split: str = "test") -> list[tuple[str, ...]]:
    """Per line of DIR/<split>.jsonl, the category labels its pair exercises (see `CATEGORIES` for the
    conventions row of each), so a model card can report accuracy by category."""
    return [categories(written) for _, written in read_pairs(out_dir, split)]
