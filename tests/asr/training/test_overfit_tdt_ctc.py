"""A tiny streaming model overfits six spoken words: hybrid TDT + CTC (decoded with TDT) and CTC alone.

Each run trains ~50k parameters for 90 steps on the same six utterances and must reach WER 0 with
cache-aware streaming greedy decoding (the trainer's validation), and a loss 10x lower.
"""

from __future__ import annotations

import pytest
from overfit_helpers import STEPS, overfit, overfit_summary
from training_helpers import needs_espeak, write_corpus

pytestmark = needs_espeak


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("words"))


def test_tdt_with_ctc_overfits(corpus, tmp_path):
    s = overfit_summary(*overfit(corpus, tmp_path, "tdt", ctc=True))
    assert s["steps"] == STEPS and s["utterances"] == 6
    assert s["last"] < s["first"] / 10, f"loss only went from {s['first']:.2f} to {s['last']:.2f}"
    assert s["wer"] == 0.0, f"streaming (reference, hypothesis): {s['decoded']}"


def test_ctc_alone_overfits(corpus, tmp_path):
    s = overfit_summary(*overfit(corpus, tmp_path, "none", ctc=True))
    assert s["steps"] == STEPS and s["utterances"] == 6
    assert s["last"] < s["first"] / 10, f"loss only went from {s['first']:.2f} to {s['last']:.2f}"
    assert s["wer"] == 0.0, f"streaming (reference, hypothesis): {s['decoded']}"
