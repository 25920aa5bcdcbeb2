"""Bucketing batch sampler: budget, coverage, seeded shuffles, exact mid-epoch resume, disjoint DDP shards."""

import math

import numpy as np
import pytest
from transduce.asr.data.sampler import BucketingBatchSampler, BucketingConfig


def _durations(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(0.3, 12.0, n), 2).tolist()


def _epoch(sampler):
    return [list(b) for b in sampler]


@pytest.mark.parametrize("cfg", [
    BucketingConfig(max_frames=4000, seed=1),
    BucketingConfig(max_seconds=25.0, num_buckets=3, seed=2),
    BucketingConfig(max_seconds=60.0, num_buckets=1, max_batch_size=7, shuffle=False),
])
def test_every_batch_fits_the_budget_and_each_utterance_comes_once(cfg):
    dur = _durations()
    sampler = BucketingBatchSampler(dur, cfg)
    budget = cfg.max_seconds if cfg.max_seconds else cfg.max_frames / 100
    for epoch in range(3):
        batches = _epoch(sampler)
        assert sampler.epoch == epoch + 1
        seen = sorted(i for b in batches for i in b)
        assert seen == list(range(len(dur)))  # every utterance fits: each exactly once
        for b in batches:
            assert b and len(b) * max(dur[i] for i in b) <= budget + 1e-9
            if cfg.max_batch_size:
                assert len(b) <= cfg.max_batch_size


def test_bucketing_keeps_padding_small_compared_with_random_batches():
    dur = _durations(1000)
    sampler = BucketingBatchSampler(dur, BucketingConfig(max_seconds=60.0, num_buckets=20))
    batches = _epoch(sampler)
    padded = sum(len(b) * max(dur[i] for i in b) for b in batches)
    assert padded / sum(dur) < 1.15


def test_too_long_utterances_are_skipped_and_listed():
    dur = [1.0, 50.0, 2.0, 3.0, 31.0]
    sampler = BucketingBatchSampler(dur, BucketingConfig(max_seconds=30.0))
    assert sampler.skipped == [1, 4]
    assert sorted(i for b in _epoch(sampler) for i in b) == [0, 2, 3]


def test_shuffles_follow_seed_and_epoch():
    dur = _durations()
    cfg = BucketingConfig(max_seconds=30.0, seed=5)
    a, b = BucketingBatchSampler(dur, cfg), BucketingBatchSampler(dur, cfg)
    ea0, ea1 = _epoch(a), _epoch(a)
    assert ea0 == _epoch(b) and ea1 == _epoch(b)
    assert ea0 != ea1
    assert _epoch(BucketingBatchSampler(dur, BucketingConfig(max_seconds=30.0, seed=6))) != ea0


@pytest.mark.parametrize("stop", [0, 1, 7, "end"])
def test_resume_mid_epoch_gives_exactly_the_remaining_batches(stop):
    dur = _durations()
    cfg = BucketingConfig(max_seconds=20.0, seed=3)
    reference = BucketingBatchSampler(dur, cfg)
    full = [_epoch(reference) for _ in range(3)]
    first = BucketingBatchSampler(dur, cfg)
    _epoch(first)  # epoch 0 done
    it = iter(first)
    k = len(full[1]) if stop == "end" else stop
    taken = [next(it) for _ in range(k)]
    state = first.state_dict()
    resumed = BucketingBatchSampler(dur, cfg)
    resumed.load_state_dict(state)
    rest = _epoch(resumed)
    if stop == "end":  # every batch taken but the iterator not closed: the rest is empty
        assert rest == [] and resumed.epoch == 2
    else:
        assert taken + rest == full[1]
    assert _epoch(resumed) == full[2]


def test_state_from_other_data_is_refused():
    a = BucketingBatchSampler([1.0, 2.0, 3.0], BucketingConfig(max_seconds=10.0))
    b = BucketingBatchSampler([1.0, 2.0, 3.5], BucketingConfig(max_seconds=10.0))
    with pytest.raises(ValueError, match="other data or settings"):
        b.load_state_dict(a.state_dict())


@pytest.mark.parametrize("world", [2, 3, 4])
def test_ddp_shards_are_disjoint_equal_in_count_and_within_budget(world):
    dur = _durations(257, seed=world)
    cfg = BucketingConfig(max_seconds=30.0, seed=9)
    for epoch in range(2):
        shards = []
        for rank in range(world):
            s = BucketingBatchSampler(dur, cfg, rank=rank, world_size=world)
            s.set_epoch(epoch)
            shards.append(_epoch(s))
        assert len({len(s) for s in shards}) == 1  # same number of steps on every rank
        flat = [i for s in shards for b in s for i in b]
        assert len(flat) == len(set(flat))  # disjoint
        assert len(dur) - len(flat) < world  # at most world-1 left for a later epoch
        for s in shards:
            for b in s:
                assert b and len(b) * max(dur[i] for i in b) <= 30.0 + 1e-9
        step_sizes = [[len(s[k]) for s in shards] for k in range(len(shards[0]))]
        assert all(max(z) - min(z) <= 1 for z in step_sizes)  # a global batch is dealt evenly


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="exactly one"):
        BucketingConfig()
    with pytest.raises(ValueError, match="exactly one"):
        BucketingConfig(max_frames=10, max_seconds=1.0)
    with pytest.raises(ValueError, match="rank"):
        BucketingBatchSampler([1.0], BucketingConfig(max_seconds=5.0), rank=2, world_size=2)
    with pytest.raises(ValueError, match="positive"):
        BucketingBatchSampler([1.0, -1.0], BucketingConfig(max_seconds=5.0))
    with pytest.raises(ValueError, match="positive"):
        BucketingBatchSampler([1.0, math.nan], BucketingConfig(max_seconds=5.0))
