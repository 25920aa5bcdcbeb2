"""Greedy CTC: batched decoding == a plain-python best-path oracle; chunked == whole, including
token runs that cross chunk borders; re-batched streams."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from decoding_helpers import assert_same_hyp, decode_in_chunks
from transduce.asr.decoding import CTCGreedyDecoder, CTCGreedyState, DecodingError, Hypothesis

V = 6


def _oracle(logits: torch.Tensor, blank: int = 0) -> Hypothesis:
    """Best path of (T, V) logits: argmax per frame, runs collapsed, blanks dropped."""
    logp = torch.log_softmax(logits.double(), -1).tolist()
    best = [max(range(V), key=row.__getitem__) for row in logp]
    tokens, frames, confs, t = [], [], [], 0
    for k, run in itertools.groupby(best):
        n = len(list(run))
        if k != blank:
            tokens.append(k), frames.append(t)
            confs.append(max(math.exp(logp[f][k]) for f in range(t, t + n)))
        t += n
    return Hypothesis(tokens, frames, confs, sum(logp[f][k] for f, k in enumerate(best)))


def _runny_logits(batch: int, t_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose argmax follows runs of 1-5 frames (blank included), with noisy confidences."""
    ids = torch.zeros(batch, t_max, dtype=torch.long)
    for b in range(batch):
        t = 0
        while t < t_max:
            n = int(torch.randint(1, 6, ()))
            ids[b, t:t + n] = int(torch.randint(0, V, ()))
            t += n
    logits = torch.randn(batch, t_max, V) + 4 * torch.nn.functional.one_hot(ids, V)
    lens = torch.randint(0, t_max + 1, (batch,))
    lens[0] = t_max
    return logits, lens


@pytest.mark.parametrize("blank", [0, 3])
def test_batched_equals_oracle(blank):
    logits, lens = _runny_logits(6, 40)
    hyps = CTCGreedyDecoder(blank).decode(logits, lens)
    assert sum(len(h.tokens) for h in hyps) > 20
    for b, hyp in enumerate(hyps):
        assert_same_hyp(hyp, _oracle(logits[b, :lens[b]], blank))
        assert all(0 <= f < lens[b] for f in hyp.frames) and hyp.frames == sorted(hyp.frames)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_chunked_equals_whole_across_runs_and_rebatching(seed):
    torch.manual_seed(seed)
    logits, lens = _runny_logits(5, 50)
    decoder = CTCGreedyDecoder()
    whole = decoder.decode(logits, lens)
    chunked = decode_in_chunks(decoder, [logits[b, :lens[b]] for b in range(5)], seed=seed, max_chunk=4)
    for got, want in zip(chunked, whole):
        assert_same_hyp(got, want)


def test_a_run_split_by_a_chunk_border_is_one_token_with_the_best_confidence():
    decoder = CTCGreedyDecoder()
    logits = torch.full((1, 4, V), -5.0)
    logits[0, :, 2] = torch.tensor([1.0, 3.0, 5.0, 2.0])
    state = decoder.decode_chunk(logits[:, :2], None, decoder.init_state(1))
    state = decoder.decode_chunk(logits[:, 2:], None, state)
    (hyp,) = decoder.best(state)
    assert hyp.tokens == [2] and hyp.frames == [0]
    assert hyp.confidences == pytest.approx([torch.softmax(logits[0, 2], -1)[2].item()])
    assert state.offset.tolist() == [4] and state.last.tolist() == [2]


def test_state_select_stack_and_errors():
    decoder = CTCGreedyDecoder()
    logits, lens = _runny_logits(3, 10)
    state = decoder.decode_chunk(logits, lens, decoder.init_state(3))
    again = CTCGreedyState.stack([state.select([1, 2]), state.select([0])]).select([2, 0, 1])
    assert again.hyps == state.hyps and torch.equal(again.last, state.last)
    with pytest.raises(DecodingError, match=r"\(B, T', D\|V\)"):
        decoder.decode_chunk(logits[0], None, state)
    with pytest.raises(DecodingError, match="blank id 7"):
        CTCGreedyDecoder(7).decode(logits)
    with pytest.raises(DecodingError, match="x_lens"):
        decoder.decode(logits, torch.tensor([1, 2]))
    with pytest.raises(DecodingError, match="empty"):
        CTCGreedyState.stack([])
