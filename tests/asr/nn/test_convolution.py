"""Convolution module: causal streaming == offline, receptive field = context, padding never leaks."""

from __future__ import annotations

import random

import pytest
import torch
from transduce.asr.nn.convolution import ConvolutionModule


def _conv(kernel: int, context, norm: str = "batch_norm") -> ConvolutionModule:
    conv = ConvolutionModule(8, kernel, context, norm).eval()
    if norm == "batch_norm":
        conv.batch_norm.running_mean.uniform_(-1, 1)
        conv.batch_norm.running_var.uniform_(0.5, 2)
    return conv


@pytest.mark.parametrize("context", ["causal", "symmetric", (3, 1), (0, 4)])
@torch.no_grad()
def test_receptive_field(context) -> None:
    conv = _conv(5, context)
    left, right = conv.left, conv.right
    x = torch.randn(1, 20, 8)
    valid = torch.ones(1, 20, dtype=torch.bool)
    base, _ = conv(x, valid)
    for j in (0, 9, 19):
        bumped = x.clone()
        bumped[0, j] += 2.0
        out, _ = conv(bumped, valid)
        for i in range(20):
            assert (not torch.equal(out[0, i], base[0, i])) == (i - left <= j <= i + right), (i, j)


@pytest.mark.parametrize("norm", ["batch_norm", "layer_norm"])
@torch.no_grad()
def test_stream_equals_offline(norm: str) -> None:
    conv = _conv(7, "causal", norm)
    rng = random.Random(0)
    x = torch.randn(2, 40, 8)
    lengths = torch.tensor([40, 23])
    ref, _ = conv(x, torch.arange(40)[None] < lengths[:, None])
    cache, pos, outs = torch.zeros(2, 8, conv.cache_size), torch.zeros(2, dtype=torch.long), [[], []]
    while bool((pos < lengths).any()):
        n = torch.tensor([rng.randint(0, 6) for _ in range(2)]).minimum(lengths - pos)
        chunk = torch.randn(2, 6, 8)
        for b in range(2):
            chunk[b, : n[b]] = x[b, pos[b] : pos[b] + n[b]]
        out, cache = conv(chunk, torch.arange(6)[None] < n[:, None], cache)
        for b in range(2):
            outs[b].append(out[b, : n[b]])
        pos += n
    for b in range(2):
        torch.testing.assert_close(torch.cat(outs[b]), ref[b, : lengths[b]], atol=1e-5, rtol=0)


def test_errors() -> None:
    with pytest.raises(ValueError, match="odd"):
        ConvolutionModule(8, 4, "symmetric")
    with pytest.raises(ValueError, match="l \\+ r \\+ 1"):
        ConvolutionModule(8, 5, (1, 1))
    with pytest.raises(ValueError, match="conv_norm_type"):
        ConvolutionModule(8, 5, "causal", "group_norm")
    sym = ConvolutionModule(8, 5, "symmetric")
    with pytest.raises(ValueError, match="causal"):
        sym(torch.randn(1, 3, 8), torch.ones(1, 3, dtype=torch.bool), torch.zeros(1, 8, 4))
