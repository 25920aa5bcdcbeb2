"""merge_equal: candidates with equal sequence keys are log-added into the best of them, checked against a
plain Python grouping on random scores (with ties and -inf slots)."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transduce.asr.decoding._beam_common import merge_equal

NEG_INF = float("-inf")


def _grouped(scores: list[float], keys: list[int]) -> list[float]:
    """Oracle for one row: per key, the best candidate (first among equal scores) gets the log-sum of the
    finite scores of its key; every other candidate gets -inf."""
    out = [NEG_INF] * len(scores)
    for key in set(keys):
        members = [i for i in range(len(scores)) if keys[i] == key and scores[i] > NEG_INF]
        if members:
            best = max(members, key=lambda i: (scores[i], -i))
            out[best] = math.log(sum(math.exp(scores[i]) for i in members))
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_merge_equal_matches_grouping(batch, candidates, distinct_keys, seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, candidates, generator=g, dtype=torch.float64).mul(3).round().div(2)  # ties
    scores[torch.rand(batch, candidates, generator=g) < 0.25] = NEG_INF
    keys = torch.randint(0, distinct_keys, (batch, candidates), generator=g) * 1_000_003 + (1 << 40)
    merged = merge_equal(scores, keys)
    for b in range(batch):
        expected = _grouped(scores[b].tolist(), keys[b].tolist())
        got = merged[b].tolist()
        assert [x == NEG_INF for x in got] == [x == NEG_INF for x in expected], (scores[b], keys[b])
        assert all(math.isclose(x, y, abs_tol=1e-9) for x, y in zip(got, expected) if y > NEG_INF)


def test_merge_equal_is_linear_in_memory_for_a_wide_beam():
    """A (1, 200k) candidate row (pairwise comparison would need 40 G entries) merges in one pass."""
    scores = torch.randn(1, 200_000)
    keys = torch.randint(0, 1000, (1, 200_000))
    merged = merge_equal(scores, keys)
    assert int((merged > NEG_INF).sum()) == len(set(keys[0].tolist()))
