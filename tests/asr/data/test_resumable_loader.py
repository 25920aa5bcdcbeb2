"""ResumableLoader: workers give the same batches as the main process; resume after a crash is exact."""

import numpy as np
import soundfile as sf
import torch
from transduce.asr.data.augment import AugmentConfig
from transduce.asr.data.dataset import DatasetConfig, SpeechDataset
from transduce.asr.data.loader import ResumableLoader
from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.data.sampler import BucketingBatchSampler, BucketingConfig
from transduce.asr.tokenizers import CharTokenizer

SR = 16000


def _setup(tmp_path, num_workers):
    rng = np.random.default_rng(0)
    entries = []
    for i in range(14):
        n = int(rng.integers(2000, 9000))
        path = tmp_path / f"u{i}.wav"
        if not path.exists():
            sf.write(path, 0.1 * rng.standard_normal(n), SR, subtype="PCM_16")
        entries.append(ManifestEntry(str(path), sf.info(path).frames / SR, f"utt {i}"))
    cfg = DatasetConfig(augment=AugmentConfig(noise_prob=1.0), seed=11)
    ds = SpeechDataset(entries, CharTokenizer(list(" abcdefghijklmnopqrstuvwxyz0123456789")), cfg, train=True)
    sampler = BucketingBatchSampler(ds.durations, BucketingConfig(max_seconds=1.2, num_buckets=2, seed=4))
    return ResumableLoader(ds, sampler, num_workers=num_workers)


def _key(batch):
    return batch.indices.tolist(), batch.features, batch.targets


def _same(a, b):
    return a[0] == b[0] and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])


def test_workers_and_resume_reproduce_the_uninterrupted_run(tmp_path):
    plain = _setup(tmp_path, 0)
    epochs = [[_key(b) for b in plain] for _ in range(2)]
    assert plain.epoch == 2 and len(epochs[0]) >= 4
    assert [k[0] for k in epochs[0]] != [k[0] for k in epochs[1]]

    crashed = _setup(tmp_path, 2)  # two worker processes that prefetch ahead
    it = iter(crashed)
    got = [_key(next(it)) for _ in range(3)]
    state = crashed.state_dict()
    del it  # the crash: prefetched batches are lost
    assert state["epoch"] == 0 and state["position"] == 3

    resumed = _setup(tmp_path, 2)
    resumed.load_state_dict(state)
    got += [_key(b) for b in resumed]
    got_next = [_key(b) for b in resumed]
    assert len(got) == len(epochs[0]) and all(_same(a, b) for a, b in zip(got, epochs[0]))
    assert len(got_next) == len(epochs[1]) and all(_same(a, b) for a, b in zip(got_next, epochs[1]))


def test_reiterating_after_a_break_continues_where_consumption_stopped(tmp_path):
    loader = _setup(tmp_path, 0)
    reference = [b.indices.tolist() for b in _setup(tmp_path, 0)]
    first = []
    for b in loader:
        first.append(b.indices.tolist())
        if len(first) == 2:
            break
    rest = [b.indices.tolist() for b in loader]
    assert first + rest == reference
