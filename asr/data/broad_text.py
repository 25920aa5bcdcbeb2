"""Broad English text for the synthetic speech corpus, with held-out sentences.

Three sources, mixed by `BROAD_WEIGHTS`:
- "prose": real English sentences (100k sentences, about 46k distinct words) from the public-domain
  texts of `asr.data.format_pairs.prose_sentences` (Debian packages sword-text-web: the World English
  Bible; sword-comm-mhcc: Matthew Henry's Concise Commentary; sword-comm-tdavid: Spurgeon's Treasury
  of David);
- "everyday": the compositional everyday grammar of `asr.data.everyday` (subjects, verb frames,
  questions, requests, numbers, money, dates and times in many slots);
- the templates of `asr.data.textgen` (numbers, dates, times, money, addresses, everyday phrases and
  its bundled sentences, category "bundled").
Written sentences are spoken with `asr.data.verbalize` (a random spoken variant each time) and
normalised to transcripts. Every sentence belongs to one split by a hash of its written form
(`sentence_split`), and a split only draws its own: no dev or test sentence or template instance is
ever in train, whatever the seed or corpus size.
"""

from __future__ import annotations

import hashlib
import random
from typing import NamedTuple

from transduce.asr.data import verbalize as vb
from transduce.asr.data.everyday import everyday_written
from transduce.asr.data.format_pairs import prose_sentences
from transduce.asr.data.textgen import generate_text, normalize_transcript

__all__ = ["BROAD_WEIGHTS", "BroadSentence", "sentence_split", "broad_text"]

BROAD_WEIGHTS = {"prose": 0.5, "everyday": 0.25, "templates": 0.25}


class BroadSentence(NamedTuple):
    """category; written: the sentence in written form (the transcript itself for templates), which
    decides its split; transcript: what is spoken, in transcript form."""

    category: str
    written: str
    transcript: str


def sentence_split(key: str, dev_share: float, test_share: float) -> str:
    """The split ("train", "dev" or "test") that sentence `key` belongs to: a hash of it, uniform in
    [0, 1), below dev_share is dev, below dev_share + test_share test."""
    u = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") / 2.0**64
    return "dev" if u < dev_share else "test" if u < dev_share + test_share else "train"


def _draw(r: random.Random) -> BroadSentence:
    """One sentence from any source."""
    source = r.choices(list(BROAD_WEIGHTS), weights=list(BROAD_WEIGHTS.values()))[0]
    if source == "templates":
        category, text = generate_text(r)
        return BroadSentence("bundled" if category == "prose" else category, text, text)
    written = r.choice(prose_sentences()) if source == "prose" else everyday_written(r)
    return BroadSentence(source, written, normalize_transcript(vb.verbalize(written, r)))


def broad_text(r: random.Random, split: str, dev_share: float = 0.03,
               test_share: float = 0.03) -> BroadSentence:
    """One sentence for `split`, drawn from `r` until the sentence is one of that split's.

    ProseSourceMissing when the prose packages are not installed.
    """
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split must be train, dev or test, got {split!r}")
    if not (0 < dev_share < 0.5 and 0 < test_share < 0.5):
        raise ValueError(f"dev_share and test_share must be in (0, 0.5), got {dev_share}, {test_share}")
    while True:
        sentence = _draw(r)
        if sentence_split(sentence.written, dev_share, test_share) == split:
            return sentence
