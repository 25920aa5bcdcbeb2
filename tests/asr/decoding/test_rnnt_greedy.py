"""Greedy RNN-T: label looping == frame looping == a per-stream oracle; chunked == whole; scores,
timestamps and the max-symbols cap checked against independent recomputations."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from decoding_helpers import (
    ENC_DIM,
    assert_same_hyp,
    decode_in_chunks,
    greedy_oracle,
    ragged,
    tiny_transducer,
)
from transduce.asr.decoding import DecodingError, RNNTGreedyDecoder, TransducerGreedyState

KINDS = ["lstm", "stateless"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("blank_bias", [1.0, -1.0])
def test_label_looping_equals_frame_looping_and_oracle(kind, blank_bias):
    pred, joiner = tiny_transducer(kind, blank_bias=blank_bias, seed=1)
    x, lens = ragged(4, 16, ENC_DIM)
    frame = RNNTGreedyDecoder(pred, joiner, 3, frame_looping=True).decode(x, lens)
    label = [RNNTGreedyDecoder(pred, joiner, 3, rows=rows, window=w).decode(x, lens)
             for rows in ("subset", "masked") for w in (1, 3, 8)]
    assert sum(len(h.tokens) for h in frame) > 10
    for b in range(4):
        want = greedy_oracle(pred, joiner, x[b, :lens[b]], 3)
        for got in (frame[b], *(hyps[b] for hyps in label)):
            assert_same_hyp(got, want)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_chunked_equals_whole_with_rebatching(kind, seed):
    pred, joiner = tiny_transducer(kind, blank_bias=1.0, seed=seed)
    x, lens = ragged(4, 20, ENC_DIM)
    decoders = RNNTGreedyDecoder(pred, joiner, 2), RNNTGreedyDecoder(pred, joiner, 2, frame_looping=True)
    for decoder in decoders:
        whole = decoder.decode(x, lens)
        chunked = decode_in_chunks(decoder, [x[b, :lens[b]] for b in range(4)], seed=seed)
        for got, want in zip(chunked, whole):
            assert_same_hyp(got, want)


@torch.no_grad()
def _path_logprob(pred, joiner, enc, hyp, max_symbols):
    """Log-prob of the greedy path from the teacher-forced lattice (T, U+1, V): labels at their
    frames, then a blank on every frame that did not reach the symbol cap."""
    tokens = torch.tensor(hyp.tokens, dtype=torch.long)
    lp = torch.log_softmax(joiner(enc[None], pred(tokens[None])).double(), -1)[0]
    per_frame = Counter(hyp.frames)
    total, u = 0.0, 0
    for f in range(enc.shape[0]):
        for _ in range(per_frame[f]):
            total += float(lp[f, u, tokens[u]])
            u += 1
        if per_frame[f] < max_symbols:
            total += float(lp[f, u, 0])
    return total


@pytest.mark.parametrize("kind", KINDS)
def test_score_is_the_path_logprob_and_times_are_inside(kind):
    pred, joiner = tiny_transducer(kind, blank_bias=0.5, seed=3)
    x, lens = ragged(5, 20, ENC_DIM)
    for b, hyp in enumerate(RNNTGreedyDecoder(pred, joiner, 2).decode(x, lens)):
        n = int(lens[b])
        assert hyp.score == pytest.approx(_path_logprob(pred, joiner, x[b, :n], hyp, 2), rel=1e-5, abs=1e-4)
        assert hyp.frames == sorted(hyp.frames)
        assert all(0 <= f < n for f in hyp.frames)
        assert all(0 < c <= 1 for c in hyp.confidences)
        assert all(t != 0 for t in hyp.tokens)


@pytest.mark.parametrize("max_symbols", [1, 2, 4])
def test_max_symbols_cap_holds_and_is_reached(max_symbols):
    pred, joiner = tiny_transducer("lstm", blank_bias=-4.0, seed=2)  # labels nearly always win
    x, lens = ragged(4, 15, ENC_DIM)
    hyps = RNNTGreedyDecoder(pred, joiner, max_symbols).decode(x, lens)
    counts = [c for h in hyps for c in Counter(h.frames).values()]
    assert max(counts) == max_symbols
    assert sum(len(h.tokens) for h in hyps) == pytest.approx(max_symbols * int(lens.sum()), rel=0.2)


def test_state_select_stack_round_trip_and_empty_chunks():
    pred, joiner = tiny_transducer("lstm", blank_bias=1.0)
    decoder = RNNTGreedyDecoder(pred, joiner)
    x, lens = ragged(3, 10, ENC_DIM)
    state = decoder.decode_chunk(x, lens, decoder.init_state(3))
    again = TransducerGreedyState.stack([state.select([2]), state.select([0, 1])]).select([1, 2, 0])
    assert again.hyps == state.hyps
    torch.testing.assert_close(again.dec, state.dec, rtol=0, atol=0)
    same = decoder.decode_chunk(torch.zeros(3, 0, ENC_DIM), None, state)
    assert same.hyps == state.hyps and torch.equal(same.offset, state.offset)
    assert decoder.decode(torch.zeros(0, 4, ENC_DIM)) == []


def test_bad_input_is_refused_with_a_clear_error():
    pred, joiner = tiny_transducer("lstm")
    decoder = RNNTGreedyDecoder(pred, joiner)
    state = decoder.init_state(2)
    with pytest.raises(DecodingError, match="width"):
        decoder.decode_chunk(torch.zeros(2, 3, ENC_DIM + 1), None, state)
    with pytest.raises(DecodingError, match="streams"):
        decoder.decode_chunk(torch.zeros(3, 3, ENC_DIM), None, state)
    with pytest.raises(DecodingError, match="x_lens"):
        decoder.decode_chunk(torch.zeros(2, 3, ENC_DIM), torch.tensor([4, 1]), state)
    with pytest.raises(DecodingError, match="TDTGreedyDecoder"):
        RNNTGreedyDecoder(*tiny_transducer("lstm", durations=(0, 1)))
    with pytest.raises(DecodingError, match="max_symbols"):
        RNNTGreedyDecoder(pred, joiner, 0)


@pytest.mark.gpu
@pytest.mark.filterwarnings("error:CUDA graph capture failed")
def test_cuda_graph_path_equals_eager_paths():
    pred, joiner = tiny_transducer("lstm", blank_bias=1.0)
    pred, joiner = pred.cuda(), joiner.cuda()
    x, lens = ragged(6, 70, ENC_DIM)
    x, lens = x.cuda(), lens.cuda()
    graph = RNNTGreedyDecoder(pred, joiner, 3)
    eager = RNNTGreedyDecoder(pred, joiner, 3, cuda_graphs=False)
    frame = RNNTGreedyDecoder(pred, joiner, 3, frame_looping=True)
    for _ in range(2):  # the second run replays the cached graphs
        want = eager.decode(x, lens)
        for hyps in (graph.decode(x, lens), frame.decode(x, lens)):
            for got, w in zip(hyps, want):
                assert_same_hyp(got, w)
    chunked = decode_in_chunks(graph, [x[b, :lens[b]] for b in range(6)], seed=0, max_chunk=9)
    for got, w in zip(chunked, want):
        assert_same_hyp(got, w)
