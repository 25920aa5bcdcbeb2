"""Streaming == offline: every encoder, context style and look-ahead; any chunking; re-batched streams."""

from __future__ import annotations

import random

import pytest
import torch
from _enc_helpers import CONTEXTS, FEAT, conformer, nominal_sizes, offline, stream_chunks, transformer
from transduce.asr.encoders import EncoderState

ATOL = 1e-5

ENCODERS = {
    "conformer-dw8": lambda style: conformer(style, subsampling_factor=8),
    "conformer-striding4-ln-tied": lambda style: conformer(
        style, subsampling="striding", conv_norm_type="layer_norm", untie_biases=False, xscaling=False
    ),
    "transformer-rotary": lambda style: transformer(style, pos_emb="rotary"),
    "transformer-relative": lambda style: transformer(style, pos_emb="relative"),
    "transformer-absolute": lambda style: transformer(style, pos_emb="absolute", subsampling="dw_striding"),
}


@pytest.mark.parametrize("style", ["regular", "chunked_limited"])
@pytest.mark.parametrize("name", sorted(ENCODERS))
@torch.no_grad()
def test_nominal_chunks_equal_offline(name: str, style: str) -> None:
    enc = ENCODERS[name](style)
    for lookahead in range(len(CONTEXTS)):
        feats = torch.randn(53 + 7 * lookahead, FEAT)
        ref = offline(enc, feats, lookahead)
        got = stream_chunks(enc, feats, nominal_sizes(enc, feats.shape[0], lookahead), lookahead)
        assert got.shape == ref.shape
        torch.testing.assert_close(got, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("style", ["regular", "chunked_limited"])
@torch.no_grad()
def test_random_chunking_equals_offline(style: str) -> None:
    enc = conformer(style)
    rng = random.Random(1)
    for trial in range(4):
        feats = torch.randn(rng.randint(20, 70), FEAT)
        sizes, total = [], 0
        while total < feats.shape[0]:
            sizes.append(rng.randint(0, 13))
            total += sizes[-1]
        lookahead = trial % len(CONTEXTS)
        got = stream_chunks(enc, feats, sizes, lookahead)
        torch.testing.assert_close(got, offline(enc, feats, lookahead), atol=ATOL, rtol=0)


@pytest.mark.parametrize("style", ["regular", "chunked_limited"])
@torch.no_grad()
def test_chunk_frames_give_whole_chunks(style: str) -> None:
    """The documented first and later chunk sizes each finish exactly right + 1 encoder frames."""
    enc = conformer(style, subsampling_factor=8)
    for lookahead, (_, right) in enumerate(CONTEXTS):
        first, later = enc.chunk_frames(lookahead)
        state = enc.init_state(1, lookahead=lookahead)
        for n in (first - 1, 1, later - 1, 1, later):
            emitted_before = int(state.frontier[0, -1])
            _, lens, state = enc.stream_step(torch.randn(1, n, FEAT), torch.tensor([n]), state)
            assert int(lens[0]) == int(state.frontier[0, -1]) - emitted_before
        # first - 1 frames: nothing; + 1: one chunk; later - 1 more: nothing new; + 1: the second chunk.
        assert int(state.frontier[0, -1]) == 3 * (right + 1)


@pytest.mark.parametrize("name", ["conformer-dw8", "transformer-rotary"])
@torch.no_grad()
def test_single_chunk_streams(name: str) -> None:
    """A whole utterance in one final chunk, and utterances shorter than the first chunk."""
    enc = ENCODERS[name]("chunked_limited")
    for lookahead in range(len(CONTEXTS)):
        first, _ = enc.chunk_frames(lookahead)
        for n in (1, first - 1 if first > 1 else 1, first, 40):
            feats = torch.randn(n, FEAT)
            got = stream_chunks(enc, feats, [n], lookahead)
            torch.testing.assert_close(got, offline(enc, feats, lookahead), atol=ATOL, rtol=0)


@pytest.mark.parametrize("style", ["regular", "chunked_limited"])
@pytest.mark.parametrize("name", ["conformer-dw8", "transformer-relative"])
@torch.no_grad()
def test_rebatched_streams_equal_offline(name: str, style: str) -> None:
    """Streams of different lengths, look-aheads and start times, re-batched at random every round."""
    enc = ENCODERS[name](style)
    rng = random.Random(7)
    n_streams = 6
    utts = [torch.randn(rng.randint(5, 60), FEAT) for _ in range(n_streams)]
    looks = [rng.randrange(len(CONTEXTS)) for _ in range(n_streams)]
    start = [rng.randint(0, 4) for _ in range(n_streams)]
    states = {i: enc.init_state(1, lookahead=looks[i]) for i in range(n_streams)}
    pos, outs = [0] * n_streams, [[] for _ in range(n_streams)]
    for rnd in range(200):
        live = [i for i in states if start[i] <= rnd and rng.random() < 0.8]
        if not live:
            if not states:
                break
            continue
        rng.shuffle(live)
        sizes = [min(rng.randint(0, 14), utts[i].shape[0] - pos[i]) for i in live]
        chunk = torch.zeros(len(live), max(sizes), FEAT)
        for row, (i, n) in enumerate(zip(live, sizes)):
            chunk[row, :n] = utts[i][pos[i] : pos[i] + n]
        final = torch.tensor([pos[i] + n >= utts[i].shape[0] for i, n in zip(live, sizes)])
        batch = EncoderState.stack([states[i] for i in live])
        out, lens, batch = enc.stream_step(chunk, torch.tensor(sizes), batch, final=final)
        for row, (i, n) in enumerate(zip(live, sizes)):
            outs[i].append(out[row, : lens[row]])
            assert out[row, lens[row] :].abs().sum() == 0, "padding rows of out must be zero"
            pos[i] += n
            states[i] = batch.select([row])
            if bool(final[row]):
                del states[i]
    assert not states, "every stream must have finished"
    for i in range(n_streams):
        torch.testing.assert_close(torch.cat(outs[i]), offline(enc, utts[i], looks[i]), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["conformer-dw8", "transformer-rotary"])
@torch.no_grad()
def test_state_size_constant(name: str) -> None:
    """Every state tensor keeps its shape from init to step 60: per-step cost does not grow."""
    enc = ENCODERS[name]("chunked_limited")
    state = enc.init_state(2, lookahead=[0, 2])
    shapes = {k: v.shape for k, v in vars(state).items()}
    _, later = enc.chunk_frames(0)
    step_frames = []
    for _ in range(60):
        out, lens, state = enc.stream_step(torch.randn(2, later, FEAT), torch.tensor([later, later]), state)
        assert {k: v.shape for k, v in vars(state).items()} == shapes
        step_frames.append(out.shape[1])
    # streams with chunks of 3 and 2 frames fed 3 frames a step: a period-2 pattern, never growing
    assert step_frames[10:20] == step_frames[-10:], f"output frames per step drift: {step_frames}"
