"""CTC prefix beam search: exhaustive oracle, beam 1 == greedy, chunked == whole, hotwords, errors."""

import math
import random

import pytest
import torch
from beam_oracles import ctc_greedy, ctc_sequence_logprobs, decode_in_chunks, random_splits
from transduce.asr.decoding import CTCGreedyDecoder, to_result
from transduce.asr.decoding.base import DecodingError
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.decoding.ctc_beam import CTCBeamConfig, CTCPrefixBeamSearch
from transduce.asr.tokenizers import CharTokenizer


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_t,n_v", [(5, 3), (4, 4)])
def test_unpruned_search_is_exact_over_all_sequences(seed, n_t, n_v):
    torch.manual_seed(seed)
    logits = torch.randn(1, n_t, n_v) * 2
    oracle = ctc_sequence_logprobs(logits[0])
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=len(oracle)))
    nbest = dec.nbest(dec.decode_chunk(logits, None, dec.init_state(1)))[0]
    assert len(nbest) == len(oracle)
    for h in nbest:
        assert h.score == pytest.approx(oracle[tuple(h.tokens)], abs=1e-5)
    assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
    assert tuple(nbest[0].tokens) == max(oracle, key=oracle.get)


@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_finds_the_most_probable_sequence(seed):
    torch.manual_seed(10 + seed)
    logits = torch.randn(2, 6, 3) * 3
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=16))
    hyps = dec.decode(logits)
    for b in range(2):
        oracle = ctc_sequence_logprobs(logits[b])
        assert tuple(hyps[b].tokens) == max(oracle, key=oracle.get)


@pytest.mark.parametrize("seed", range(20))
def test_beam_one_equals_greedy_on_peaked_frames(seed):
    torch.manual_seed(seed)
    n_t, n_v = 30, 6
    peaks = torch.randint(0, n_v, (2, n_t))
    logits = torch.randn(2, n_t, n_v) * 0.5 + 8.0 * torch.nn.functional.one_hot(peaks, n_v)
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=1))
    hyps = dec.decode(logits)
    probs = logits.softmax(-1)
    for b in range(2):
        tokens, frames = ctc_greedy(logits[b])
        assert hyps[b].tokens == tokens and hyps[b].frames == frames
        for tok, f, c in zip(tokens, frames, hyps[b].confidences):
            run_end = f
            while run_end + 1 < n_t and peaks[b, run_end + 1] == tok:
                run_end += 1
            assert c == pytest.approx(float(probs[b, f:run_end + 1, tok].max()), rel=1e-5)


def test_beam_one_equals_the_greedy_decoder_on_peaked_frames():
    torch.manual_seed(4)
    peaks = torch.randint(0, 6, (3, 40))
    logits = torch.randn(3, 40, 6) * 0.5 + 8.0 * torch.nn.functional.one_hot(peaks, 6)
    lens = torch.tensor([40, 25, 9])
    beam = CTCPrefixBeamSearch(CTCBeamConfig(beam=1)).decode(logits, lens)
    greedy = CTCGreedyDecoder().decode(logits, lens)
    for b, g in zip(beam, greedy):
        assert (b.tokens, b.frames) == (g.tokens, g.frames)
        assert b.confidences == pytest.approx(g.confidences, rel=1e-5)


def test_results_have_word_times_inside_the_audio():
    tok = CharTokenizer(list("ab "))
    torch.manual_seed(6)
    logits = torch.randn(1, 30, tok.vocab_size) * 3
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=4))
    nbest = dec.nbest(dec.decode_chunk(logits, None, dec.init_state(1)))[0]
    res = to_result(nbest[0], tok, 0.04, nbest[1:])
    assert len(res.nbest) == len(nbest) - 1
    ends = [e for _, e in res.token_times]
    assert all(0 <= s < e <= 30 * 0.04 + 1e-9 for s, e in res.token_times) and ends == sorted(ends)
    for w in res.words:
        assert 0 <= w.start_s < w.end_s <= 30 * 0.04 + 1e-9 and 0 < w.confidence <= 1


@pytest.mark.parametrize("seed", range(8))
def test_chunked_equals_whole_on_ragged_batches(seed):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    n_b, n_t, n_v = 3, 25, 7
    logits = torch.randn(n_b, n_t, n_v) * 2
    lens = torch.tensor([n_t, rng.randint(0, n_t), rng.randint(1, n_t)])
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=4))
    whole = dec.nbest(dec.decode_chunk(logits, lens, dec.init_state(n_b)))
    chunked = dec.nbest(decode_in_chunks(dec, logits, lens, random_splits(rng, n_t)))
    assert chunked == whole
    for b, hyps in enumerate(whole):
        for h in hyps:
            assert all(0 <= f < int(lens[b]) for f in h.frames)
            assert h.frames == sorted(h.frames)


def test_select_and_stack_regroup_streams():
    torch.manual_seed(1)
    logits = torch.randn(3, 12, 5) * 2
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=3))
    state = dec.decode_chunk(logits[:, :5], None, dec.init_state(3))
    parts = [state.select([2]), state.select([0, 1])]
    regrouped = type(state).stack(parts)
    out = dec.best(dec.decode_chunk(logits[[2, 0, 1], 5:], None, regrouped))
    whole = dec.best(dec.decode_chunk(logits, None, dec.init_state(3)))
    assert out == [whole[2], whole[0], whole[1]]


def _near_miss_logits():
    """Frames whose best path is 2 3 5 while 2 3 4 is close behind (4 slightly below 5)."""
    rows = [(2, None), (0, None), (3, None), (0, None), (5, 4), (0, None)]
    logits = torch.full((1, len(rows), 7), -4.0)
    for t, (top, second) in enumerate(rows):
        logits[0, t, top] = 4.0
        if second is not None:
            logits[0, t, second] = 3.2
    return logits


def test_hotword_turns_the_near_miss_into_the_phrase():
    logits = _near_miss_logits()
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=4))
    assert dec.decode(logits)[0].tokens == [2, 3, 5]
    graph = ContextGraph([[2, 3, 4]], 1.0)
    state = dec.decode_chunk(logits, None, dec.init_state(1, contexts=[graph]))
    best = dec.best(state)[0]
    assert best.tokens == [2, 3, 4]
    # The reported score is the log-probability plus the completed phrase's boost (3 x 1.0); the
    # beam keeps most (never more) of the sequence's alignment mass.
    exact = ctc_sequence_logprobs(logits[0])[(2, 3, 4)] + 3.0
    assert exact - 1e-3 < best.score <= exact + 1e-5


def test_hotwords_absent_or_empty_change_nothing():
    torch.manual_seed(3)
    logits = torch.randn(2, 15, 6) * 2
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=4))
    plain = dec.nbest(dec.decode_chunk(logits, None, dec.init_state(2)))
    empty = ContextGraph([])
    biased = dec.nbest(dec.decode_chunk(logits, None, dec.init_state(2, contexts=[empty, None])))
    assert biased == plain


def test_unfinished_hotword_is_taken_back_in_the_result():
    logits = _near_miss_logits()[:, :4]  # 2 3: a partial match of 2 3 4
    dec = CTCPrefixBeamSearch(CTCBeamConfig(beam=4))
    graph = ContextGraph([[2, 3, 4]], 1.0)
    best = dec.best(dec.decode_chunk(logits, None, dec.init_state(1, contexts=[graph])))[0]
    assert best.tokens == [2, 3]
    exact = ctc_sequence_logprobs(logits[0])[(2, 3)]
    assert exact - 1e-3 < best.score <= exact + 1e-5


def test_bad_input_is_rejected():
    dec = CTCPrefixBeamSearch()
    state = dec.init_state(2)
    with pytest.raises(DecodingError, match="streams"):
        dec.decode_chunk(torch.randn(3, 4, 5), None, state)
    with pytest.raises(DecodingError, match="x_lens"):
        dec.decode_chunk(torch.randn(2, 4, 5), torch.tensor([5, 1]), state)
    with pytest.raises(DecodingError, match="hotword graphs"):
        dec.init_state(2, contexts=[None])
    with pytest.raises(ValueError, match="beam"):
        CTCPrefixBeamSearch(CTCBeamConfig(beam=0))
    assert math.isinf(CTCPrefixBeamSearch(CTCBeamConfig(blank=0)).init_state(1).beams[0][()].pnb)
