"""Greedy TDT: batched frame skipping == a per-stream oracle; chunked == whole with jumps across
chunk borders; with the duration head pinned, TDT reduces to RNN-T greedy on the token head."""

from __future__ import annotations

import copy
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
from transduce.asr.decoding import DecodingError, RNNTGreedyDecoder, TDTGreedyDecoder
from transduce.asr.decoding._label_loop import LoopBuffers, drive
from transduce.asr.decoding._transducer_greedy import _finish
from transduce.asr.heads import Joiner, JoinerConfig

DURATIONS = (0, 1, 2, 3, 4)


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
@pytest.mark.parametrize("rows,window", [("subset", 1), ("subset", 5), ("masked", 1), ("masked", 3)])
def test_batched_equals_oracle(kind, rows, window):
    pred, joiner = tiny_transducer(kind, durations=DURATIONS, blank_bias=-0.5, seed=4)
    x, lens = ragged(5, 20, ENC_DIM)
    hyps = TDTGreedyDecoder(pred, joiner, 3, rows=rows, window=window).decode(x, lens)
    assert sum(len(h.tokens) for h in hyps) > 10
    assert {d for h in hyps for d in h.durations} >= {0, 1}
    for b, hyp in enumerate(hyps):
        n = int(lens[b])
        assert_same_hyp(hyp, greedy_oracle(pred, joiner, x[b, :n], 3))
        assert hyp.frames == sorted(hyp.frames) and all(0 <= f < n for f in hyp.frames)
        assert set(hyp.durations) <= set(DURATIONS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunked_equals_whole_with_jumps_across_chunks(seed):
    pred, joiner = tiny_transducer("lstm", durations=(0, 2, 3, 5), blank_bias=1.0, seed=seed)
    x, lens = ragged(4, 24, ENC_DIM)
    decoder = TDTGreedyDecoder(pred, joiner, 2, window=seed + 1)
    whole = decoder.decode(x, lens)
    chunked = decode_in_chunks(decoder, [x[b, :lens[b]] for b in range(4)], seed=seed, max_chunk=3)
    for got, want in zip(chunked, whole):
        assert_same_hyp(got, want)


def _pinned_tdt(rnnt_joiner: Joiner, durations: tuple[int, ...], pick: int) -> Joiner:
    """A TDT joiner with `rnnt_joiner`'s token head whose duration head always picks `durations[pick]`."""
    cfg = rnnt_joiner.cfg
    tdt = Joiner(JoinerConfig(cfg.enc_dim, cfg.pred_dim, cfg.vocab_size, cfg.joint_dim, durations=durations))
    with torch.no_grad():
        for name in ("enc_proj", "pred_proj"):
            getattr(tdt, name).load_state_dict(getattr(rnnt_joiner, name).state_dict())
        tdt.out.weight.zero_()
        tdt.out.bias.zero_()
        tdt.out.weight[:cfg.vocab_size] = rnnt_joiner.out.weight
        tdt.out.bias[:cfg.vocab_size] = rnnt_joiner.out.bias
        tdt.out.bias[cfg.vocab_size + pick] = 60.0
    return tdt.eval()


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
def test_duration_zero_head_reduces_to_rnnt(kind):
    """Blank with duration 0 counts as 1, a label with 0 stays: exactly RNN-T greedy."""
    pred, rnnt = tiny_transducer(kind, blank_bias=0.5, seed=5)
    tdt = _pinned_tdt(rnnt, (0, 1, 2), pick=0)
    x, lens = ragged(5, 20, ENC_DIM)
    want = RNNTGreedyDecoder(pred, rnnt, 3).decode(x, lens)
    got = TDTGreedyDecoder(pred, tdt, 3).decode(x, lens)
    assert sum(len(h.tokens) for h in want) > 10
    for g, w in zip(got, want):
        assert g.durations == [0] * len(w.tokens)
        assert_same_hyp(type(w)(g.tokens, g.frames, g.confidences, g.score), w)


def test_duration_one_head_reduces_to_one_symbol_per_frame_rnnt():
    pred, rnnt = tiny_transducer("lstm", blank_bias=0.0, seed=6)
    tdt = _pinned_tdt(rnnt, (0, 1), pick=1)
    x, lens = ragged(4, 20, ENC_DIM)
    want = RNNTGreedyDecoder(pred, rnnt, 1).decode(x, lens)
    got = TDTGreedyDecoder(pred, tdt, 5).decode(x, lens)
    for g, w in zip(got, want):
        assert_same_hyp(type(w)(g.tokens, g.frames, g.confidences, g.score), w)


def test_overshoot_carries_into_the_next_chunk():
    pred, rnnt = tiny_transducer("lstm", seed=7)
    with torch.no_grad():
        rnnt.out.bias[0] = 100.0  # always blank
    decoder = TDTGreedyDecoder(pred, _pinned_tdt(rnnt, (1, 4), pick=1), 2)  # ... with duration 4
    state = decoder.init_state(3)
    state = decoder.decode_chunk(torch.randn(3, 6, ENC_DIM), torch.tensor([6, 3, 0]), state)
    assert state.skip.tolist() == [2, 1, 0]  # blanks at 0, 4 -> 8; at 0 -> 4; nothing
    state = decoder.decode_chunk(torch.randn(3, 5, ENC_DIM), torch.tensor([1, 5, 2]), state)
    assert state.skip.tolist() == [1, 0, 2]  # 2 > 1 (no frame read) -> 1; 1 -> 5 = end; 0 -> 4
    assert state.offset.tolist() == [7, 8, 2]


def test_max_symbols_cap_with_zero_durations():
    pred, joiner = tiny_transducer("lstm", durations=(0, 1), blank_bias=-4.0, seed=8)
    with torch.no_grad():
        joiner.out.bias[joiner.vocab_size] += 20.0  # duration 0 nearly always
    x, lens = ragged(3, 12, ENC_DIM)
    hyps = TDTGreedyDecoder(pred, joiner, 3).decode(x, lens)
    counts = [c for h in hyps for c in Counter(h.frames).values()]
    assert max(counts) == 3
    for b, hyp in enumerate(hyps):
        assert_same_hyp(hyp, greedy_oracle(pred, joiner, x[b, :lens[b]], 3))


def test_needs_a_tdt_joiner():
    with pytest.raises(DecodingError, match="RNNTGreedyDecoder"):
        TDTGreedyDecoder(*tiny_transducer("lstm"))


@pytest.mark.gpu
@pytest.mark.filterwarnings("error:CUDA graph capture failed")
def test_cuda_graph_path_equals_eager_paths():
    pred, joiner = tiny_transducer("lstm", durations=DURATIONS, blank_bias=0.5)
    pred, joiner = pred.cuda(), joiner.cuda()
    x, lens = ragged(6, 70, ENC_DIM)
    x, lens = x.cuda(), lens.cuda()
    graph, eager = TDTGreedyDecoder(pred, joiner, 3), TDTGreedyDecoder(pred, joiner, 3, cuda_graphs=False)
    on_cpu = TDTGreedyDecoder(copy.deepcopy(pred).cpu(), copy.deepcopy(joiner).cpu(), 3)
    cpu = on_cpu.decode(x.cpu(), lens.cpu())
    for _ in range(2):
        want = eager.decode(x, lens)
        for got, w, c in zip(graph.decode(x, lens), want, cpu):
            assert_same_hyp(got, w)
            assert_same_hyp(got, c)
    chunked = decode_in_chunks(graph, [x[b, :lens[b]] for b in range(6)], seed=0, max_chunk=9)
    for got, w in zip(chunked, want):
        assert_same_hyp(got, w)


@pytest.mark.parametrize("durations", [(), DURATIONS])
def test_graph_layout_on_cpu_equals_decoder(durations):
    """The CUDA-graph runner's layout (frames padded, masked rows, fixed record rows), run eagerly."""
    pred, joiner = tiny_transducer("lstm", durations=durations, blank_bias=0.0, seed=9)
    cls = TDTGreedyDecoder if durations else RNNTGreedyDecoder
    decoder = cls(pred, joiner, 3)
    x, lens = ragged(4, 21, ENC_DIM)
    state = decoder.init_state(4)
    with torch.no_grad():
        loop = LoopBuffers(pred, joiner, 4, 64, capacity=64 * 3, max_symbols=3, window=4,
                           device=torch.device("cpu"), subset=False)
        loop.load(joiner.enc_proj(x), lens, state)

        def emit_find():
            loop.emit_step()
            loop.find_step()

        steps = drive(loop, loop.find_step, emit_find, fixed_capacity=True)
    got = decoder.best(_finish(state, lens, loop.output(steps), bool(durations)))
    for g, w in zip(got, decoder.decode(x, lens)):
        assert_same_hyp(g, w)
