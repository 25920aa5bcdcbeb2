"""A tiny streaming model overfits six spoken words: hybrid TDT + CTC (decoded with TDT) and CTC alone.

Each run trains ~50k parameters for 90 steps on the same six utterances and must reach WER 0 with
cache-aware streaming greedy decoding (the trainer's validation), and a loss 10x lower.
"""

from __future__ import annotations

import pytest
from overfit_helpers import check_overfit, overfit
from training_helpers import needs_espeak, write_corpus

pytestmark = needs_espeak


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("words"))


def test_tdt_with_ctc_overfits(corpus, tmp_path):
    check_overfit(*overfit(corpus, tmp_path, "tdt", ctc=True))


def test_ctc_alone_overfits(corpus, tmp_path):
    check_overfit(*overfit(corpus, tmp_path, "none", ctc=True))
