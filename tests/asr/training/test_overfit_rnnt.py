"""A tiny streaming model overfits six spoken words with an RNN-T head: full loss, and pruned loss.

Each run trains ~50k parameters for 90 steps and must reach WER 0 with cache-aware streaming greedy
decoding (the trainer's validation), and a loss 10x lower.
"""

from __future__ import annotations

import pytest
from overfit_helpers import check_overfit, overfit
from training_helpers import needs_espeak, write_corpus

pytestmark = needs_espeak


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("words"))


def test_rnnt_overfits(corpus, tmp_path):
    check_overfit(*overfit(corpus, tmp_path, "rnnt", ctc=False))


def test_pruned_rnnt_overfits(corpus, tmp_path):
    check_overfit(*overfit(corpus, tmp_path, "rnnt", ctc=False, loss="pruned"))
