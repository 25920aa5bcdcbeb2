"""Masks against brute-force loops over positions; per-stream contexts."""

from __future__ import annotations

import itertools

import pytest
import torch
from transduce.asr.nn.masks import (
    causal_mask,
    chunked_limited_mask,
    context_mask,
    full_mask,
    lengths_to_valid,
    limited_mask,
)


def _brute(q_pos, k_pos, allowed) -> torch.Tensor:
    return torch.tensor([[allowed(int(i), int(j)) for j in k_pos] for i in q_pos])


@pytest.mark.parametrize("left,right", [(0, 0), (3, 0), (2, 2), (-1, 1), (4, -1), (-1, -1)])
def test_limited_mask_brute_force(left: int, right: int) -> None:
    q, k = torch.arange(5, 12), torch.arange(0, 15)

    def ok(i: int, j: int) -> bool:
        return (left < 0 or j >= i - left) and (right < 0 or j <= i + right)

    assert torch.equal(limited_mask(q, k, left, right)[0], _brute(q, k, ok))


@pytest.mark.parametrize("chunk,left_chunks", [(1, 0), (3, 1), (4, 2), (2, -1)])
def test_chunked_limited_mask_brute_force(chunk: int, left_chunks: int) -> None:
    q, k = torch.arange(0, 13), torch.arange(0, 13)

    def ok(i: int, j: int) -> bool:
        ci, cj = i // chunk, j // chunk
        return cj <= ci and (left_chunks < 0 or ci - cj <= left_chunks)

    assert torch.equal(chunked_limited_mask(q, k, chunk, left_chunks)[0], _brute(q, k, ok))


def test_context_mask_dispatch() -> None:
    p = torch.arange(10)
    assert torch.equal(context_mask(p, p, -1, -1, "chunked_limited"), full_mask(p, p))
    assert torch.equal(context_mask(p, p, 4, 1, "regular"), limited_mask(p, p, 4, 1))
    assert torch.equal(context_mask(p, p, 6, 2, "chunked_limited"), chunked_limited_mask(p, p, 3, 2))
    assert torch.equal(context_mask(p, p, 6, -1, "chunked_limited"), limited_mask(p, p, 6, -1))
    assert torch.equal(causal_mask(p, p), limited_mask(p, p, -1, 0))
    with pytest.raises(ValueError, match="att_context_style"):
        context_mask(p, p, 1, 1, "banded")


def test_per_stream_contexts_equal_single_stream() -> None:
    """(B,) left/right and (B, T) positions give each stream its own mask."""
    lefts, rights = torch.tensor([2, 5, 0]), torch.tensor([1, 0, 3])
    starts = torch.tensor([0, 7, 3])
    q = starts[:, None] + torch.arange(4)[None]
    k = starts[:, None] - 5 + torch.arange(9)[None]
    m = limited_mask(q, k, lefts, rights)
    chunks = rights + 1
    mc = chunked_limited_mask(q, k, chunks, lefts // chunks)
    for b in range(3):
        l_, r_ = int(lefts[b]), int(rights[b])
        assert torch.equal(m[b], limited_mask(q[b], k[b], l_, r_)[0])
        assert torch.equal(mc[b], chunked_limited_mask(q[b], k[b], r_ + 1, l_ // (r_ + 1))[0])


def test_lengths_to_valid() -> None:
    v = lengths_to_valid(torch.tensor([0, 3, 5]), 5)
    for b, n in enumerate([0, 3, 5]):
        assert v[b].tolist() == [t < n for t in range(5)]


def test_masks_are_shift_invariant() -> None:
    """Streaming builds masks at absolute positions: chunked masks only shift by whole chunks."""
    p = torch.arange(12)
    for shift, (left, right) in itertools.product((0, 3, 9), ((3, 0), (4, 1), (6, 2))):
        chunk = right + 1
        s = shift * chunk
        assert torch.equal(
            context_mask(p + s, p + s, left, right, "chunked_limited"),
            context_mask(p, p, left, right, "chunked_limited"),
        )
        assert torch.equal(limited_mask(p + shift, p + shift, left, right), limited_mask(p, p, left, right))
