"""The bundled formatting model: size, written form of sentences written for this test (not from its
training corpus), and aggressive decoding == greedy on it with fewer sequential passes.

The inputs are the canonical spoken forms of WRITTEN (asr.data.verbalize), so the oracle is the
written sentence itself; the thresholds are what the bundled model is measured at (its MODEL_CARD.md),
less a margin: a worse model fails.
"""

from __future__ import annotations

import pytest
import torch
from transduce.asr.checkpoint import bundled_models
from transduce.asr.data.verbalize import verbalize
from transduce.asr.text.rewriter import TextRewriter
from transduce.asr.text.scoring import loose, score

pytestmark = pytest.mark.skipif("format" not in bundled_models(), reason="no formatting model is bundled")
# measured 2026-12-06 on the bundled model: exact 48/60, case/punctuation-insensitive 55/60 (MODEL_CARD.md)
EXACT_AT_LEAST, LOOSE_AT_LEAST = 0.7, 0.85

WRITTEN = [
    "The meeting is on March 3 at 10:30. It costs $12.50.",
    "I think the store opens at 9 a.m. on Mondays.",
    "We raised $2,500 for the school in 2019.",
    "Her flight lands at 6:45 p.m. on July 21.",
    "Is the rent really 15% higher this year?",
    "My sister turns 30 on the 4th of August.",
    "Can you send me the report by Friday?",
    "Tickets cost €40 each, and children go free.",
    "He was born in 1987 in Chicago.",
    "The population grew by 1.2% to 84,000 people.",
    "We need 12 chairs and three tables.",
    "Don't forget to call Anna before 8 p.m.",
    "What time does the museum close on Sundays?",
    "The 21st century began in 2001.",
    "I paid £7.99 for this book.",
    "Our office is on the 14th floor.",
    "The concert starts at half past seven.",
    "She ran 10 miles on Saturday morning.",
    "Please reply before March 15, 2025.",
    "Paul and I moved to Berlin in 2015.",
    "The bus was 25 minutes late again.",
    "How much is the blue jacket?",
    "Our train leaves at 7:05 a.m. from platform four.",
    "The recipe needs 250 grams of flour and two eggs.",
    "That will be $3.75, please.",
    "We have lived here since 2008.",
    "The school has 1,240 students and 85 teachers.",
    "I'll see you on the 2nd of June.",
    "The interest rate fell to 4.5% in May.",
    "Maria's brother works at the hospital in Toronto.",
    # 30 more, written on 2026-12-06 before any model was run on them
    "Thanks for your email, I'll get back to you tomorrow.",
    "The package weighs 12 kilograms and costs $45.99 to ship.",
    "Our flight was delayed by three hours in Frankfurt.",
    "Do you know if the pharmacy is open after 6 p.m.?",
    "The final score was 28 to 14.",
    "I've been waiting here since 11:15.",
    "About 40% of the class passed the exam on the 1st of June.",
    "She bought a used car for £3,200 last summer.",
    "Let's take a break and meet back here in 20 minutes.",
    "The bridge was finished in 1932 after six years of work.",
    "My grandfather was born on October 9, 1941.",
    "Could you turn the music down, please?",
    "We drove 350 kilometres to see the lake.",
    "The temperature dropped to 2.5 degrees overnight.",
    "He spends about €60 a week on groceries.",
    "The library closes at half past five on Saturdays.",
    "This is the 3rd time the printer has broken this month.",
    "I can't believe it's already December!",
    "Their wedding is on May 18 in a small church near Lisbon.",
    "The new stadium holds 62,000 people.",
    "We'll need about 15 volunteers for the event.",
    "Why didn't you tell me the meeting was cancelled?",
    "The shop gave me a 25% discount on the shoes.",
    "My alarm goes off at 5:30 a.m. every weekday.",
    "Grace and Tom celebrated their 10th anniversary in Rome.",
    "The coffee costs $3.50, but the tea is only $2.",
    "Unemployment rose to 7.8% in 2009.",
    "Please call me back when you get this message.",
    "There were 48 people at the party, and nobody left before midnight.",
    "I paid 75 cents for a bottle of water.",
]


@pytest.fixture(scope="module")
def spoken() -> list[str]:
    return [verbalize(w) for w in WRITTEN]


@pytest.fixture(scope="module")
def greedy(spoken: list[str]):
    return TextRewriter.load("format", method="greedy", batch_size=8).rewrite(spoken)


def test_it_is_small_and_computes_in_float32() -> None:
    model = TextRewriter.load("format").model
    assert sum(p.numel() for p in model.parameters()) <= 10_000_000
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_sentences_outside_its_corpus_come_out_written(greedy) -> None:
    scores = score(greedy.texts, WRITTEN)
    pairs = list(zip(greedy.texts, WRITTEN))
    assert scores.loose >= LOOSE_AT_LEAST and scores.exact >= EXACT_AT_LEAST, pairs
    assert greedy.texts[0] == WRITTEN[0] or loose(greedy.texts[0]) == loose(WRITTEN[0])


def test_aggressive_is_greedy_in_fewer_passes(spoken: list[str], greedy) -> None:
    for batch_size in (1, 8):
        aggressive = TextRewriter.load("format", batch_size=batch_size).rewrite(spoken)
        assert aggressive.texts == greedy.texts
    one_by_one = [TextRewriter.load("format", method=m, batch_size=1) for m in ("greedy", "aggressive")]
    passes = [sum(r.rewrite([s]).passes for s in spoken) for r in one_by_one]
    assert passes[1] * 2 <= passes[0]
