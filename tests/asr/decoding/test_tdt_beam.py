"""TDT beam search: exhaustive oracle, beam 1 == greedy, chunked == whole (skips across chunk
borders), frame skipping, hotwords, errors."""

import random

import pytest
import torch
from beam_oracles import (
    TransducerOracle,
    decode_in_chunks,
    random_splits,
    tdt_greedy,
    tdt_sequences,
    tiny_transducer,
)
from transduce.asr.decoding.base import DecodingError
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.decoding.tdt_beam import TDTBeamConfig, TDTBeamSearch
from transduce.asr.heads import Joiner, JoinerConfig, Predictor, PredictorConfig


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
@pytest.mark.parametrize("n_t,vocab,durations,max_sym,seed", [
    (3, 3, (0, 1, 2), 1, 0),
    (2, 3, (0, 1, 2), 2, 3),
    (4, 3, (1, 2), 1, 1),
    (3, 2, (0, 1, 3), 3, 2),
])
def test_unpruned_search_is_exact_over_all_paths(kind, n_t, vocab, durations, max_sym, seed):
    pred, joiner = tiny_transducer(vocab, kind, durations=durations, seed=seed)
    enc = torch.randn(1, n_t, 5)
    oracle = tdt_sequences(TransducerOracle(pred, joiner, enc[0]), n_t, vocab, durations, max_sym)
    dec = TDTBeamSearch(pred, joiner, TDTBeamConfig(beam=100, max_symbols_per_frame=max_sym))
    nbest = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(1)))[0]
    assert sorted(tuple(h.tokens) for h in nbest) == sorted(oracle)
    for h in nbest:
        assert h.score == pytest.approx(oracle[tuple(h.tokens)], abs=1e-4)
    assert tuple(nbest[0].tokens) == max(oracle, key=oracle.get)


@pytest.mark.parametrize("durations", [(1, 2, 3), (0, 1, 2)])
@pytest.mark.parametrize("seed", range(5))
def test_beam_one_equals_greedy_unless_greedy_takes_blank_with_duration_zero(durations, seed):
    pred, joiner = tiny_transducer(6, "lstm", durations=durations, seed=seed)
    with torch.no_grad():
        joiner.out.bias[6] -= 0.5  # duration 0 (when allowed) a little rarer: fewer blank + 0 choices
    enc = torch.randn(3, 10, 5)
    lens = torch.tensor([10, 3, 7])
    dec = TDTBeamSearch(pred, joiner, TDTBeamConfig(beam=1, max_symbols_per_frame=2))
    hyps = dec.decode(enc, lens)
    compared = 0
    for b in range(3):
        tokens, frames, durs, score, blank_zero = tdt_greedy(TransducerOracle(pred, joiner, enc[b]),
                                                             int(lens[b]), durations, 2)
        if blank_zero:
            continue
        compared += 1
        assert (hyps[b].tokens, hyps[b].frames, hyps[b].durations) == (tokens, frames, durs)
        if 0 in durations:  # a token's d = 0 and d = 1 both land on t + 1 in the last round: merged
            assert hyps[b].score >= score - 1e-4
        else:
            assert hyps[b].score == pytest.approx(score, abs=1e-4)
    assert compared >= 1 if 0 in durations else compared == 3


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
@pytest.mark.parametrize("seed", range(4))
def test_chunked_equals_whole_on_ragged_batches(kind, seed):
    rng = random.Random(seed)
    pred, joiner = tiny_transducer(7, kind, durations=(0, 1, 2, 4), seed=seed)
    n_t = 15
    enc = torch.randn(3, n_t, 5)
    lens = torch.tensor([n_t, rng.randint(0, n_t), rng.randint(1, n_t)])
    dec = TDTBeamSearch(pred, joiner, TDTBeamConfig(beam=4))
    whole = dec.nbest(dec.decode_chunk(enc, lens, dec.init_state(3)))
    chunked = dec.nbest(decode_in_chunks(dec, enc, lens, random_splits(rng, n_t, n_max=6)))
    for w, c, n in zip(whole, chunked, lens.tolist()):
        assert [h.tokens for h in c] == [h.tokens for h in w]
        assert [(h.frames, h.durations) for h in c] == [(h.frames, h.durations) for h in w]
        assert [h.score for h in c] == pytest.approx([h.score for h in w], abs=1e-5)
        for h in w:
            assert h.frames == sorted(h.frames) and all(0 <= f < n for f in h.frames)
            assert all(d in (0, 1, 2, 4) for d in h.durations)


def test_select_and_stack_regroup_streams():
    pred, joiner = tiny_transducer(6, "lstm", durations=(0, 1, 2), seed=5)
    enc = torch.randn(3, 11, 5)
    dec = TDTBeamSearch(pred, joiner, TDTBeamConfig(beam=3))
    state = dec.decode_chunk(enc[:, :5], None, dec.init_state(3))
    regrouped = type(state).stack([state.select([2]), state.select([0, 1])])
    out = dec.nbest(dec.decode_chunk(enc[[2, 0, 1], 5:], None, regrouped))
    whole = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(3)))
    for got, want in zip(out, [whole[2], whole[0], whole[1]]):
        assert [h.tokens for h in got] == [h.tokens for h in want]


def _frame_wise_tdt(vocab: int, durations: tuple[int, ...], dur_logits: list[float]):
    """A TDT joiner whose token logits are relu(encoder frame) and duration logits fixed."""
    pred = Predictor(PredictorConfig(vocab, embed_dim=4, kind="stateless", dropout=0.0)).eval()
    joiner = Joiner(JoinerConfig(vocab, pred.out_dim, vocab, joint_dim=vocab, durations=durations)).eval()
    with torch.no_grad():
        joiner.enc_proj.weight.copy_(torch.eye(vocab))
        joiner.enc_proj.bias.zero_()
        joiner.pred_proj.weight.zero_()
        joiner.pred_proj.bias.zero_()
        joiner.out.weight.zero_()
        joiner.out.weight[:vocab].copy_(torch.eye(vocab))
        joiner.out.bias.zero_()
        joiner.out.bias[vocab:] = torch.tensor(dur_logits)
    return pred, joiner


def test_long_durations_skip_frames():
    """Duration 3 always: only frames 0, 3, 6, ... are ever looked at, whatever they hold."""
    pred, joiner = _frame_wise_tdt(5, (1, 3), [-8.0, 8.0])
    x = torch.zeros(1, 9, 5)
    x[0, :, 0] = 3.0
    x[0, 1, 2] = x[0, 4, 2] = 9.0  # strong tokens on frames the path jumps over
    x[0, 6, 4] = 9.0
    dec = TDTBeamSearch(pred, joiner, TDTBeamConfig(beam=2))
    best = dec.decode(x)[0]
    assert best.tokens == [4] and best.frames == [6] and best.durations == [3]


def test_hotword_turns_the_near_miss_into_the_phrase():
    pred, joiner = _frame_wise_tdt(7, (0, 1, 2), [-6.0, 6.0, -6.0])
    rows = [(2, None), (0, None), (3, None), (0, None), (5, 4), (0, None)]
    x = torch.zeros(1, len(rows), 7)
    for t, (top, second) in enumerate(rows):
        x[0, t, top] = 4.0
        if second is not None:
            x[0, t, second] = 3.2
    dec = TDTBeamSearch(pred, joiner, TDTBeamConfig(beam=4))
    assert dec.decode(x)[0].tokens == [2, 3, 5]
    graph = ContextGraph([[2, 3, 4]], 1.0)
    best = dec.best(dec.decode_chunk(x, None, dec.init_state(1, contexts=[graph])))[0]
    assert best.tokens == [2, 3, 4] and best.frames == [0, 2, 4]
    empty = dec.nbest(dec.decode_chunk(x, None, dec.init_state(1, contexts=[ContextGraph([])])))
    assert empty == dec.nbest(dec.decode_chunk(x, None, dec.init_state(1)))


def test_bad_input_is_rejected():
    pred, joiner = tiny_transducer(5, "lstm", durations=(0, 1))
    dec = TDTBeamSearch(pred, joiner)
    with pytest.raises(DecodingError, match="width"):
        dec.decode_chunk(torch.randn(1, 3, 4), None, dec.init_state(1))
    with pytest.raises(DecodingError, match="hotword graphs"):
        dec.init_state(2, contexts=[None])
    with pytest.raises(ValueError, match="max_symbols_per_frame"):
        TDTBeamSearch(pred, joiner, TDTBeamConfig(max_symbols_per_frame=0))
    _, rnnt_joiner = tiny_transducer(5, "lstm")
    with pytest.raises(ValueError, match="durations"):
        TDTBeamSearch(pred, rnnt_joiner)
