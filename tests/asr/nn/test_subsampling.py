"""Subsampling: lengths, causal dependence, streaming == offline for any chunking, no padding leak."""

from __future__ import annotations

import random

import pytest
import torch
from transduce.asr.nn._cache import keep_last
from transduce.asr.nn.subsampling import ConvSubsampling


def _sub(kind: str, factor: int, causal: bool) -> ConvSubsampling:
    return ConvSubsampling(feat_in=10, d_model=16, kind=kind, factor=factor, channels=4, causal=causal).eval()


@pytest.mark.parametrize("kind,factor", [("striding", 4), ("dw_striding", 8), ("striding", 2)])
@pytest.mark.parametrize("causal", [False, True])
@torch.no_grad()
def test_lengths_and_padding(kind: str, factor: int, causal: bool) -> None:
    sub = _sub(kind, factor, causal)
    lengths = torch.tensor([37, 5, 1, 16])
    feats = torch.randn(4, 37, 10)
    feats[1, 5:] = 100.0
    out, out_lens = sub(feats, lengths)
    assert out_lens.tolist() == [-(-n // factor) for n in lengths.tolist()]
    assert out.shape == (4, out_lens.max(), 16)
    for b in range(4):
        ref, _ = sub(feats[b : b + 1, : lengths[b]], lengths[b : b + 1])
        torch.testing.assert_close(out[b, : out_lens[b]], ref[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind,factor", [("striding", 4), ("dw_striding", 8)])
@torch.no_grad()
def test_causal_dependence(kind: str, factor: int) -> None:
    """Causal output k depends on raw frames factor*k - 2*(factor-1) .. factor*k and no others."""
    sub = _sub(kind, factor, True)
    feats = torch.randn(1, 48, 10)
    base, _ = sub(feats, torch.tensor([48]))
    for r in (0, 13, 30, 47):
        bumped = feats.clone()
        bumped[0, r] += 3.0
        out, _ = sub(bumped, torch.tensor([48]))
        for k in range(base.shape[1]):
            changed = not torch.equal(out[0, k], base[0, k])
            assert changed == (factor * k - 2 * (factor - 1) <= r <= factor * k), (r, k)


@pytest.mark.parametrize("kind,factor", [("striding", 4), ("dw_striding", 8), ("dw_striding", 2)])
@torch.no_grad()
def test_stream_equals_offline(kind: str, factor: int) -> None:
    sub = _sub(kind, factor, True)
    rng = random.Random(factor)
    for _ in range(3):
        n = rng.randint(1, 60)
        feats = torch.randn(n, 10)
        ref, _ = sub(feats[None], torch.tensor([n]))
        cache, seen, outs = torch.zeros(1, sub.cache_size, 10), torch.zeros(1, dtype=torch.long), []
        while int(seen) < n:
            m = min(rng.randint(0, 11), n - int(seen))
            chunk = torch.randn(1, 12, 10)  # garbage past chunk_lens
            chunk[0, :m] = feats[int(seen) : int(seen) + m]
            out, counts, cache = sub.stream(chunk, torch.tensor([m]), cache, seen)
            outs.append(out[0, : counts[0]])
            seen += m
        torch.testing.assert_close(torch.cat(outs), ref[0], atol=1e-5, rtol=0)


def test_errors() -> None:
    with pytest.raises(ValueError, match="subsampling"):
        _sub("stacking", 4, True)
    with pytest.raises(ValueError, match="power of 2"):
        _sub("striding", 6, True)
    sub = _sub("striding", 4, False)
    with pytest.raises(ValueError, match="causal"):
        sub.stream(
            torch.randn(1, 4, 10), torch.tensor([4]), torch.zeros(1, 6, 10), torch.zeros(1, dtype=torch.long)
        )


def test_keep_last_brute_force() -> None:
    buf = torch.randn(3, 2, 9)
    end = torch.tensor([4, 9, 6])
    got = keep_last(buf, end, 3, dim=-1)
    for b in range(3):
        assert torch.equal(got[b], buf[b, :, end[b] - 3 : end[b]])
    assert keep_last(buf, end, 0, dim=-1).shape == (3, 2, 0)
