"""The everyday sentence grammar of the formatting pairs: seeded, varied, and every sentence written by
the conventions (the verbaliser, which refuses forms outside them, speaks each one)."""

import random
import re

from transduce.asr.data import format_pairs as fp
from transduce.asr.data import verbalize as vb
from transduce.asr.data.everyday import everyday_written

SPOKEN = re.compile(r"[a-z']+( [a-z']+)*")
NUMBER_KINDS = {"cardinal", "year", "decimal", "percent", "money", "ordinal", "date", "time", "time_words",
                "small_cardinal"}


def _draw(n: int, seed: int) -> list[str]:
    r = random.Random(seed)
    return [everyday_written(r) for _ in range(n)]


def test_seeded_and_varied() -> None:
    sentences = _draw(3000, 0)
    assert sentences == _draw(3000, 0) and sentences != _draw(3000, 1)
    assert len(set(sentences)) >= 0.98 * len(sentences)
    frames = {" ".join(re.sub(r"\d[\d,.:%]*", "N", s).split()[:2]) for s in sentences}
    assert len(frames) > 300  # not a handful of templates


def test_every_sentence_is_written_by_the_conventions() -> None:
    r = random.Random(2)
    marks, labels = set(), set()
    for written in _draw(3000, 3):
        assert written[0].isupper() and written[-1] in ".?!" and ".." not in written, written
        plain = " ".join(seg.written for seg in vb.segments(written) if not seg.kinds)
        assert not re.search(r"\d", plain), written  # digits only inside number forms; 0-9 else words
        spoken = vb.verbalize(written, r, fp.PairsConfig().style)
        assert SPOKEN.fullmatch(spoken), (written, spoken)
        marks.add(written[-1])
        labels.update(fp.categories(written))
    assert marks == {".", "?", "!"}
    assert NUMBER_KINDS - {"time_words"} <= labels and {"comma", "names", "pronoun_i", "apostrophe"} <= labels
