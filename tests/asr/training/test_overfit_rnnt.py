"""A tiny streaming model overfits six spoken words with an RNN-T head: full loss, and pruned loss.

Each run trains ~50k parameters for 90 steps and must reach WER 0 with cache-aware streaming greedy
decoding (the trainer's validation), and a loss 10x lower.
"""

from __future__ import annotations

import pytest
from overfit_helpers import STEPS, overfit, overfit_summary
from training_helpers import needs_espeak, write_corpus

pytestmark = needs_espeak


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("words"))


def test_rnnt_overfits(corpus, tmp_path):
    s = overfit_summary(*overfit(corpus, tmp_path, "rnnt", ctc=False))
    assert s["steps"] == STEPS and s["utterances"] == 6
    assert s["last"] < s["first"] / 10, f"loss only went from {s['first']:.2f} to {s['last']:.2f}"
    assert s["wer"] == 0.0, f"streaming (reference, hypothesis): {s['decoded']}"


def test_pruned_rnnt_overfits(corpus, tmp_path):
    s = overfit_summary(*overfit(corpus, tmp_path, "rnnt", ctc=False, loss="pruned"))
    assert s["steps"] == STEPS and s["utterances"] == 6
    assert s["last"] < s["first"] / 10, f"loss only went from {s['first']:.2f} to {s['last']:.2f}"
    assert s["wer"] == 0.0, f"streaming (reference, hypothesis): {s['decoded']}"
