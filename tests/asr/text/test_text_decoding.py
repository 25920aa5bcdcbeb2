"""Text decoding invariants on random and trained models.

- greedy: each token is the argmax of the teacher-forced logits given the tokens before it; batched
  (rows leaving the batch as they finish) == one source at a time.
- beam: every hypothesis' logprob is the teacher-forced log-probability of its tokens (+ eos), its
  score that over the length penalty; beam 1 returns greedy's tokens for any length penalty.
- diverse beam: group 0 is a beam search of width W / G; with diversity 0 every group is, token
  for token and score for score; with a large diversity the groups' first tokens differ.
- aggressive decoding returns greedy's tokens exactly (random models, a copy model, inputs it does
  not copy, cut by max_len) in no more passes than greedy's steps, and on inputs the model copies
  in one pass each.
"""

from __future__ import annotations

import pytest
import torch
from text_helpers import (
    COPY_LENGTHS,
    DEVICES,
    POSITIONS,
    batch,
    copy_batch,
    copy_model,
    seq2seq,
    teacher_forced_logprob,
)
from transduce.asr.text.decoding import (
    _realign,
    aggressive_decode,
    beam_search,
    diverse_beam_search,
    greedy,
    length_penalty,
)
from transduce.asr.tokenizers.text_bpe import BOS_ID, EOS_ID

SRC_LENS = [9, 5, 1, 7]
MAX_LEN = 12


def _greedy_steps(tokens: list[list[int]], max_len: int) -> list[int]:
    """Sequential decoder steps greedy takes per source: len + 1 with eos, max_len when cut."""
    return [min(len(t) + 1, max_len) for t in tokens]


@pytest.mark.parametrize("pos", POSITIONS)
def test_greedy_is_argmax_of_teacher_forced_logits(pos: str) -> None:
    model = seq2seq(pos, tie=False)
    src, src_lens = batch(SRC_LENS, seed=1)
    for b, out in enumerate(greedy(model, src, src_lens, MAX_LEN)):
        target = torch.tensor(out + [EOS_ID] * (len(out) < MAX_LEN))
        tgt_in = torch.cat([torch.tensor([BOS_ID]), target])[None, : len(target)]
        with torch.no_grad():
            logits = model(src[b : b + 1], src_lens[b : b + 1], tgt_in, torch.tensor([len(target)]))
        assert logits[0].argmax(-1).tolist() == target.tolist()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("norm", ["gnmt", "power"])
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
@pytest.mark.parametrize("pos", POSITIONS)
def test_beam_one_is_greedy(pos: str, alpha: float, norm: str, device: str) -> None:
    model = seq2seq(pos, device=device)
    src, src_lens = batch(SRC_LENS, seed=2, device=device)
    expected = greedy(model, src, src_lens, MAX_LEN)
    nbest = beam_search(model, src, src_lens, beam=1, max_len=MAX_LEN, length_penalty=alpha, length_norm=norm)
    for b, (hyps, out) in enumerate(zip(nbest, expected)):
        assert len(hyps) == 1 and list(hyps[0].tokens) == out
        logprob = teacher_forced_logprob(model, src, src_lens, out, hyps[0].finished, b)
        assert hyps[0].logprob == pytest.approx(logprob, abs=1e-9)


@pytest.mark.parametrize("pos", POSITIONS)
def test_beam_hypotheses_are_scored_by_the_model(pos: str) -> None:
    model = seq2seq(pos, tie=False, seed=3)
    src, src_lens = batch(SRC_LENS, seed=3)
    alpha = 0.8
    for b, hyps in enumerate(beam_search(model, src, src_lens, beam=4, max_len=8, length_penalty=alpha)):
        assert 1 <= len(hyps) <= 4
        assert len({h.tokens for h in hyps}) == len(hyps)
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert h.finished or len(h.tokens) == 8
            logprob = teacher_forced_logprob(model, src, src_lens, list(h.tokens), h.finished, b)
            assert h.logprob == pytest.approx(logprob, abs=1e-9)
            lp = length_penalty(len(h.tokens) + h.finished, alpha)
            assert h.score == pytest.approx(h.logprob / lp, abs=1e-12)


@pytest.mark.parametrize(("beam", "groups"), [(4, 2), (3, 3), (6, 2)])
def test_diverse_beam_without_diversity_is_beam_search_per_group(beam: int, groups: int) -> None:
    model = seq2seq("rotary", seed=4)
    src, src_lens = batch(SRC_LENS, seed=4)
    plain = beam_search(model, src, src_lens, beam=beam // groups, max_len=MAX_LEN, length_penalty=0.7)
    diverse = diverse_beam_search(model, src, src_lens, beam=beam, groups=groups, diversity=0.0,
                                  max_len=MAX_LEN, length_penalty=0.7)
    for per_group, expected in zip(diverse, plain):
        assert len(per_group) == groups
        for hyps in per_group:
            assert [h.tokens for h in hyps] == [h.tokens for h in expected]
            assert [h.score for h in hyps] == pytest.approx([h.score for h in expected], abs=1e-9)


@pytest.mark.parametrize("diversity", [0.5, 1000.0])
def test_diverse_beam_first_group_is_plain_beam_and_groups_differ(diversity: float) -> None:
    model = seq2seq("absolute", tie=False, seed=5)
    src, src_lens = batch(SRC_LENS, seed=5)
    plain = beam_search(model, src, src_lens, beam=1, max_len=MAX_LEN)
    diverse = diverse_beam_search(model, src, src_lens, beam=3, groups=3, diversity=diversity,
                                  max_len=MAX_LEN)
    for b, (per_group, expected) in enumerate(zip(diverse, plain)):
        assert per_group[0] == expected
        for hyps in per_group:
            h = hyps[0]
            logprob = teacher_forced_logprob(model, src, src_lens, list(h.tokens), h.finished, b)
            assert h.logprob == pytest.approx(logprob, abs=1e-9)
            assert h.score <= h.logprob + 1e-9  # the objective pays the diversity penalties
        if diversity > 100:  # one beam per group: each group's first live token differs from earlier ones
            firsts = [hyps[0].tokens[0] for hyps in per_group if hyps[0].tokens]
            assert len(firsts) == len(set(firsts))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("max_len", [0, 1, 3, MAX_LEN])
@pytest.mark.parametrize(("pos", "tie"), [("absolute", True), ("rotary", True), ("absolute", False)])
def test_aggressive_is_greedy_on_random_models(pos: str, tie: bool, max_len: int, device: str) -> None:
    for seed in range(3):
        model = seq2seq(pos, tie=tie, seed=seed, device=device)
        src, src_lens = batch(SRC_LENS, seed=seed, device=device)
        expected = greedy(model, src, src_lens, max_len)
        for max_draft in (1, 2, 5):
            assert aggressive_decode(model, src, src_lens, max_len, max_draft=max_draft).tokens == expected
        g = torch.Generator().manual_seed(seed)
        drafts = [torch.randint(3, model.cfg.vocab_size, (int(n),), generator=g).tolist() for n in SRC_LENS]
        assert aggressive_decode(model, src, src_lens, max_len, drafts=drafts).tokens == expected
        assert aggressive_decode(model, src, src_lens, max_len, drafts=drafts,
                                 inserted=range(0, model.cfg.vocab_size, 3)).tokens == expected
        result = aggressive_decode(model, src, src_lens, max_len)
        assert result.tokens == expected
        assert all(p <= s for p, s in zip(result.passes, _greedy_steps(expected, max_len)))


@pytest.fixture(scope="module")
def copier():
    return copy_model()


def test_batched_greedy_is_greedy_per_source(copier) -> None:
    """Rows finish at different steps and leave the batch; each source's tokens are its own greedy's."""
    model = copier.double()
    src, src_lens, _, _ = copy_batch(24, torch.Generator().manual_seed(5))
    max_len = COPY_LENGTHS[1] + 5
    batched = greedy(model, src, src_lens, max_len)
    assert len({len(t) for t in batched}) > 3  # rows end at several different steps
    assert batched == [greedy(model, src[b:b + 1], src_lens[b:b + 1], max_len)[0] for b in range(len(src))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_aggressive_on_copied_inputs_needs_one_pass_each(copier, dtype: torch.dtype) -> None:
    model = copier.to(dtype)
    src, src_lens, _, _ = copy_batch(32, torch.Generator().manual_seed(123))
    max_len = COPY_LENGTHS[1] + 5
    expected = greedy(model, src, src_lens, max_len)
    result = aggressive_decode(model, src, src_lens, max_len)
    assert result.tokens == expected
    copied = [out == s[:n].tolist() for out, s, n in zip(expected, src, src_lens)]
    assert sum(copied) >= 28  # the model has learnt to copy
    assert all(p == 1 for p, c in zip(result.passes, copied) if c)
    greedy_steps = _greedy_steps(expected, max_len)
    assert all(p <= s for p, s in zip(result.passes, greedy_steps))
    assert sum(result.passes) * 4 <= sum(greedy_steps)
    capped = aggressive_decode(model, src, src_lens, max_len, max_draft=4)
    assert capped.tokens == expected
    assert all(c == -(-(len(t) + 1) // 5) for c, t, ok in zip(capped.passes, expected, copied) if ok)
    drafts = [out + [9] for out in expected]  # greedy's own output (plus a wrong token) as the draft
    guided = aggressive_decode(model, src, src_lens, max_len, drafts=drafts)
    assert guided.tokens == expected and all(p <= 2 for p in guided.passes)
    with pytest.raises(ValueError, match="one token list per source"):
        aggressive_decode(model, src, src_lens, max_len, drafts=drafts[1:])
    with pytest.raises(ValueError, match="max_draft must be >= 1"):
        aggressive_decode(model, src, src_lens, max_len, max_draft=0)


def test_aggressive_on_inputs_the_model_does_not_copy(copier) -> None:
    """Sources longer than any seen in training: the output departs from the source, so drafts are
    cut, the cache is rolled back and re-drafted; the tokens stay greedy's."""
    model = copier.double()
    g = torch.Generator().manual_seed(7)
    src, src_lens, _, _ = copy_batch(24, g, lo=COPY_LENGTHS[1] + 1, hi=COPY_LENGTHS[1] + 8)
    for max_len in (4, 30):
        expected = greedy(model, src, src_lens, max_len)
        result = aggressive_decode(model, src, src_lens, max_len)
        assert result.tokens == expected
        greedy_steps = _greedy_steps(expected, max_len)
        assert all(p <= s for p, s in zip(result.passes, greedy_steps))
    assert max(result.passes) > 1 and sum(result.passes) < sum(greedy_steps)


def test_inserted_tokens_resume_the_draft_where_it_stopped(copier) -> None:
    """The draft lacks one output token (as a spoken draft lacks a comma): declared as inserted, the
    next draft starts at the token the mismatch stopped at, so the source takes 2 passes instead of 3;
    the tokens are greedy's either way."""
    model = copier.double()
    src, src_lens, _, _ = copy_batch(24, torch.Generator().manual_seed(11))
    max_len = COPY_LENGTHS[1] + 5
    expected = greedy(model, src, src_lens, max_len)
    checked = 0
    for b, out in enumerate(expected):
        unique = [k for k in range(1, len(out) - 2) if out.count(out[k]) == 1]
        if out != src[b, : src_lens[b]].tolist() or not unique:
            continue
        k = unique[0]
        draft = [out[:k] + out[k + 1:]]
        one = (src[b : b + 1], src_lens[b : b + 1], max_len)
        plain = aggressive_decode(model, *one, drafts=draft)
        resumed = aggressive_decode(model, *one, drafts=draft, inserted=[out[k]])
        assert plain.tokens == resumed.tokens == [out]
        assert (plain.passes, resumed.passes) == ([3], [2])
        checked += 1
    assert checked >= 10


def test_realign_after_a_mismatch() -> None:
    source = [5, 6, 7, 8, 9, 10]
    assert _realign(source, [5, 6, 8], expected=3, max_ngram=3) == 4  # 7 deleted: continue after 8
    assert _realign(source, [5, 6, 11], expected=3, max_ngram=3) == 3  # 7 -> 11: substitution
    assert _realign(source, [5, 6, 7, 8, 7], expected=5, max_ngram=3) == 3  # 7 again: go on after 7
    assert _realign([4, 5, 4, 5, 4, 5], [4, 5], expected=4, max_ngram=2) == 4  # nearest occurrence
    assert _realign(source, [11], expected=9, max_ngram=3) == len(source)


def test_arguments_are_checked() -> None:
    model = seq2seq()
    src, src_lens = batch([3])
    with pytest.raises(ValueError, match="multiple"):
        diverse_beam_search(model, src, src_lens, beam=3, groups=2, diversity=1.0, max_len=4)
    with pytest.raises(ValueError, match="max_len"):
        greedy(model, src, src_lens, -1)
    with pytest.raises(ValueError, match="beam"):
        beam_search(model, src, src_lens, beam=0, max_len=4)
