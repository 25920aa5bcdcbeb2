"""Modified beam search: exhaustive oracle, beam 1 == greedy, chunked == whole, hotwords, errors."""

import random

import pytest
import torch
from beam_oracles import (
    TransducerOracle,
    decode_in_chunks,
    logsumexp,
    modified_rnnt_sequences,
    random_splits,
    rnnt_greedy_one_symbol,
    tiny_transducer,
)
from transduce.asr.decoding import RNNTGreedyDecoder
from transduce.asr.decoding.base import DecodingError
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.decoding.rnnt_beam import ModifiedBeamConfig, ModifiedBeamSearch
from transduce.asr.heads import Joiner, JoinerConfig, Predictor, PredictorConfig
from transduce.kernels._dispatch import triton_interpreted, use_backend


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
@pytest.mark.parametrize("n_t,vocab,seed", [(4, 3, 0), (4, 3, 1), (3, 4, 2), (5, 2, 3)])
def test_unpruned_search_is_exact_over_all_alignments(kind, n_t, vocab, seed):
    pred, joiner = tiny_transducer(vocab, kind, seed=seed)
    enc = torch.randn(1, n_t, 5)
    oracle = modified_rnnt_sequences(TransducerOracle(pred, joiner, enc[0]), n_t, vocab)
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=len(oracle)))
    nbest = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(1)))[0]
    assert sorted(tuple(h.tokens) for h in nbest) == sorted(oracle)
    for h in nbest:
        assert h.score == pytest.approx(oracle[tuple(h.tokens)], abs=1e-4)
    assert tuple(nbest[0].tokens) == max(oracle, key=oracle.get)


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
@pytest.mark.parametrize("seed", range(4))
def test_beam_one_equals_greedy_with_one_symbol_per_frame(kind, seed):
    pred, joiner = tiny_transducer(6, kind, seed=seed)
    enc = torch.randn(3, 9, 5)
    lens = torch.tensor([9, 4, 7])
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=1))
    hyps = dec.decode(enc, lens)
    for b in range(3):
        tokens, frames, confs, score = rnnt_greedy_one_symbol(TransducerOracle(pred, joiner, enc[b]),
                                                              int(lens[b]))
        assert (hyps[b].tokens, hyps[b].frames) == (tokens, frames)
        assert hyps[b].confidences == pytest.approx(confs, rel=1e-4)
        assert hyps[b].score == pytest.approx(score, abs=1e-4)


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
def test_beam_one_equals_the_greedy_decoder_with_one_symbol_per_frame(kind):
    pred, joiner = tiny_transducer(8, kind, seed=9)
    enc = torch.randn(4, 20, 5)
    lens = torch.tensor([20, 11, 0, 17])
    beam = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=1)).decode(enc, lens)
    greedy = RNNTGreedyDecoder(pred, joiner, max_symbols_per_frame=1).decode(enc, lens)
    for b, g in zip(beam, greedy):
        assert (b.tokens, b.frames) == (g.tokens, g.frames)
        assert b.confidences == pytest.approx(g.confidences, rel=1e-5)
        assert b.score == pytest.approx(g.score, abs=1e-4)


@pytest.mark.parametrize("kind", ["lstm", "stateless"])
@pytest.mark.parametrize("seed", range(4))
def test_chunked_equals_whole_on_ragged_batches(kind, seed):
    rng = random.Random(seed)
    pred, joiner = tiny_transducer(7, kind, seed=seed)
    n_t = 14
    enc = torch.randn(3, n_t, 5)
    lens = torch.tensor([n_t, rng.randint(0, n_t), rng.randint(1, n_t)])
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=4))
    whole = dec.nbest(dec.decode_chunk(enc, lens, dec.init_state(3)))
    chunked = dec.nbest(decode_in_chunks(dec, enc, lens, random_splits(rng, n_t)))
    for w, c, n in zip(whole, chunked, lens.tolist()):
        assert [h.tokens for h in c] == [h.tokens for h in w]
        assert [h.frames for h in c] == [h.frames for h in w]
        assert [h.score for h in c] == pytest.approx([h.score for h in w], abs=1e-5)
        for h in w:
            assert h.frames == sorted(set(h.frames)) and all(0 <= f < n for f in h.frames)
            assert all(0 < c <= 1 for c in h.confidences)


def test_select_and_stack_regroup_streams():
    pred, joiner = tiny_transducer(6, "lstm", seed=5)
    enc = torch.randn(3, 10, 5)
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=3))
    state = dec.decode_chunk(enc[:, :4], None, dec.init_state(3))
    regrouped = type(state).stack([state.select([2]), state.select([0, 1])])
    out = dec.nbest(dec.decode_chunk(enc[[2, 0, 1], 4:], None, regrouped))
    whole = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(3)))
    for got, want in zip(out, [whole[2], whole[0], whole[1]]):
        assert [h.tokens for h in got] == [h.tokens for h in want]


def _frame_wise_transducer(vocab: int):
    """A joiner whose logits are relu(encoder frame): the predictor has no say (for crafted cases)."""
    pred = Predictor(PredictorConfig(vocab, embed_dim=4, kind="stateless", dropout=0.0)).eval()
    joiner = Joiner(JoinerConfig(vocab, pred.out_dim, vocab, joint_dim=vocab)).eval()
    with torch.no_grad():
        for lin in (joiner.enc_proj, joiner.out):
            lin.weight.copy_(torch.eye(vocab))
            lin.bias.zero_()
        joiner.pred_proj.weight.zero_()
        joiner.pred_proj.bias.zero_()
    return pred, joiner


def _near_miss_frames(vocab: int = 7):
    """Frames whose best path is 2 3 5 while 2 3 4 is close behind (4 slightly below 5)."""
    rows = [(2, None), (0, None), (3, None), (0, None), (5, 4), (0, None)]
    x = torch.zeros(1, len(rows), vocab)
    for t, (top, second) in enumerate(rows):
        x[0, t, top] = 4.0
        if second is not None:
            x[0, t, second] = 3.2
    return x


def _frame_wise_logprob(x, seq):
    """log P(seq) under the frame-wise model (logits relu(x) (T, V)), <= 1 symbol per frame (a DP)."""
    lp = torch.log_softmax(x.double().relu(), -1).tolist()
    alpha = [0.0] + [float("-inf")] * len(seq)
    for t in range(len(lp)):
        alpha = [logsumexp([alpha[u] + lp[t][0], alpha[u - 1] + lp[t][seq[u - 1]] if u else float("-inf")])
                 for u in range(len(seq) + 1)]
    return alpha[-1]


def test_hotword_turns_the_near_miss_into_the_phrase():
    pred, joiner = _frame_wise_transducer(7)
    x = _near_miss_frames()
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=4))
    plain = dec.decode(x)[0]
    assert plain.tokens == [2, 3, 5]
    graph = ContextGraph([[2, 3, 4]], 1.0)
    best = dec.best(dec.decode_chunk(x, None, dec.init_state(1, contexts=[graph])))[0]
    assert best.tokens == [2, 3, 4] and best.frames == [0, 2, 4]
    # the completed phrase keeps its boost (3 x 1.0); the beam keeps most (never more) of its alignments
    exact = _frame_wise_logprob(x[0], [2, 3, 4]) + 3.0
    assert exact - 1e-2 < best.score <= exact + 1e-5
    lp4 = torch.log_softmax(x[0, 4], -1)[4]
    assert best.confidences[2] == pytest.approx(float(lp4.exp()), rel=1e-5)  # boost not in confidence


def test_hotwords_absent_or_empty_change_nothing():
    pred, joiner = tiny_transducer(6, "lstm", seed=7)
    enc = torch.randn(2, 12, 5)
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=4))
    plain = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(2)))
    biased = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(2, contexts=[ContextGraph([]), None])))
    assert biased == plain


def test_hotwords_only_touch_their_own_stream():
    pred, joiner = _frame_wise_transducer(7)
    x = _near_miss_frames().expand(2, -1, -1).contiguous()
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=4))
    graph = ContextGraph([[2, 3, 4]], 1.0)
    best = dec.best(dec.decode_chunk(x, None, dec.init_state(2, contexts=[None, graph])))
    assert [h.tokens for h in best] == [[2, 3, 5], [2, 3, 4]]


@pytest.mark.skipif(not (torch.cuda.is_available() or triton_interpreted()), reason="needs Triton")
def test_triton_topk_path_gives_the_same_beams():
    pred, joiner = tiny_transducer(9, "lstm", seed=11)
    enc = torch.randn(2, 6, 5)
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=3))
    with use_backend("cpu"):
        want = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(2)))
    with use_backend("triton"):
        got = dec.nbest(dec.decode_chunk(enc, None, dec.init_state(2)))
    for g, w in zip(got, want):
        assert [h.tokens for h in g] == [h.tokens for h in w]
        assert [h.score for h in g] == pytest.approx([h.score for h in w], abs=1e-5)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    pred, joiner = tiny_transducer(30, "lstm", seed=12)
    enc = torch.randn(4, 40, 5)
    lens = torch.tensor([40, 33, 1, 20])
    dec = ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=4))
    want = dec.best(dec.decode_chunk(enc, lens, dec.init_state(4)))
    dec_gpu = ModifiedBeamSearch(pred.cuda(), joiner.cuda(), ModifiedBeamConfig(beam=4))
    got = dec_gpu.best(dec_gpu.decode_chunk(enc.cuda(), lens.cuda(), dec_gpu.init_state(4, "cuda")))
    assert [h.tokens for h in got] == [h.tokens for h in want]


def test_bad_input_is_rejected():
    pred, joiner = tiny_transducer(5, "lstm")
    dec = ModifiedBeamSearch(pred, joiner)
    with pytest.raises(DecodingError, match="width"):
        dec.decode_chunk(torch.randn(1, 3, 4), None, dec.init_state(1))
    with pytest.raises(DecodingError, match="streams"):
        dec.decode_chunk(torch.randn(2, 3, 5), None, dec.init_state(1))
    with pytest.raises(DecodingError, match="hotword graphs"):
        dec.init_state(2, contexts=[None])
    with pytest.raises(ValueError, match="beam"):
        ModifiedBeamSearch(pred, joiner, ModifiedBeamConfig(beam=0))
    _, tdt_joiner = tiny_transducer(5, "lstm", durations=(0, 1, 2))
    with pytest.raises(ValueError, match="durations"):
        ModifiedBeamSearch(pred, tdt_joiner)
