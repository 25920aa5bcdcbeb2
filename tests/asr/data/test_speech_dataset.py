"""SpeechDataset and collate: segments, shapes and lengths, seeded augmentation, SpecAugment."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch
from transduce.asr.data.augment import AugmentConfig
from transduce.asr.data.dataset import DatasetConfig, SpeechDataset, collate, load_segment
from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.tokenizers import CharTokenizer

SR = 16000
TOK = CharTokenizer(list(" 'abcdefghijklmnopqrstuvwxyz"))


def _frames(n: int) -> int:  # kaldi snip_edges: 25 ms windows every 10 ms
    return 0 if n < 400 else 1 + (n - 400) // 160


def _corpus(tmp_path, lengths=(8000, 12345, 20000, 4000), texts=("one", "two words", "three of them", "x")):
    rng = np.random.default_rng(0)
    entries = []
    for i, (n, text) in enumerate(zip(lengths, texts)):
        path = tmp_path / f"u{i}.wav"
        sf.write(path, 0.2 * rng.standard_normal(n), SR, subtype="PCM_16")
        entries.append(ManifestEntry(str(path), n / SR, text))
    return entries


def test_segments_cut_at_the_file_rate(tmp_path):
    ramp = (np.arange(32000) % 1000 - 500).astype(np.int16)
    sf.write(tmp_path / "r.wav", ramp, SR, subtype="PCM_16")
    seg = load_segment(str(tmp_path / "r.wav"), offset=0.5, duration=0.25)
    assert np.array_equal(np.round(seg * 32768).astype(np.int16), ramp[8000:12000])
    tail = load_segment(str(tmp_path / "r.wav"), offset=1.9, duration=1.0)  # ends at the file's end
    assert len(tail) == 1600
    sf.write(tmp_path / "r8k.wav", np.sin(np.arange(16000) / 5.0) * 0.5, 8000)
    assert abs(len(load_segment(str(tmp_path / "r8k.wav"), 0.5, 1.0)) - SR) <= 1  # resampled to 16 kHz
    with pytest.raises(FileNotFoundError):
        load_segment(str(tmp_path / "none.wav"), 0.5, 1.0)


def test_eval_items_and_collate_shapes(tmp_path):
    entries = _corpus(tmp_path)
    ds = SpeechDataset(entries, TOK, DatasetConfig(), train=False)
    items = [ds[i] for i in range(len(ds))]
    for e, item in zip(entries, items):
        n = round(e.duration * SR)
        assert item.features.shape == (_frames(n), 80) and item.features.dtype == torch.float32
        assert item.tokens.tolist() == [TOK.encode(e.text)[k] for k in range(len(e.text))]
    batch = collate(items)
    b, t_max = len(items), max(_frames(round(e.duration * SR)) for e in entries)
    assert batch.features.shape == (b, t_max, 80)
    assert batch.targets.shape == (b, max(len(e.text) for e in entries))
    assert batch.feature_lengths.tolist() == [_frames(round(e.duration * SR)) for e in entries]
    assert batch.target_lengths.tolist() == [len(e.text) for e in entries]
    assert batch.indices.tolist() == list(range(b)) and batch.texts == [e.text for e in entries]
    for i, item in enumerate(items):
        t, u = item.features.shape[0], len(item.tokens)
        assert torch.equal(batch.features[i, :t], item.features) and not batch.features[i, t:].any()
        assert torch.equal(batch.targets[i, :u], item.tokens) and not batch.targets[i, u:].any()
    # evaluation is deterministic and ignores the epoch
    ds.set_epoch(5)
    assert torch.equal(ds[1].features, items[1].features)


def test_training_speed_perturbation_changes_frames_by_the_factor(tmp_path):
    entries = _corpus(tmp_path, lengths=(32000,), texts=("abc",))
    for factor in (0.9, 1.1):
        cfg = DatasetConfig(augment=AugmentConfig(speed_factors=(factor,), noise_prob=0.0))
        item = SpeechDataset(entries, TOK, cfg, train=True)[0]
        assert item.features.shape[0] == _frames(round(32000 / factor))


def test_training_augmentation_depends_on_seed_epoch_and_index_only(tmp_path):
    entries = _corpus(tmp_path)
    cfg = DatasetConfig(augment=AugmentConfig(noise_prob=1.0), seed=3)
    a, b = SpeechDataset(entries, TOK, cfg, train=True), SpeechDataset(entries, TOK, cfg, train=True)
    b[2], b[0]  # another access order must not change anything
    assert all(torch.equal(a[i].features, b[i].features) for i in range(4))
    a.set_epoch(1)
    assert any(a[i].features.shape != b[i].features.shape or not torch.equal(a[i].features, b[i].features)
               for i in range(4))
    c = SpeechDataset(entries, TOK, dataclasses.replace(cfg, seed=4), train=True)
    assert any(c[i].features.shape != b[i].features.shape or not torch.equal(c[i].features, b[i].features)
               for i in range(4))


def test_training_collate_applies_seeded_specaugment(tmp_path):
    entries = _corpus(tmp_path, lengths=(32000, 24000), texts=("ab", "cd"))
    cfg = DatasetConfig(augment=None)
    ds = SpeechDataset(entries, TOK, cfg, train=True)
    plain = collate([ds[0], ds[1]])
    masked = ds.collate([ds[0], ds[1]])
    again = ds.collate([ds[0], ds[1]])
    assert torch.equal(masked.features, again.features)
    changed = masked.features != plain.features  # (B, T, F)
    assert changed.any()
    for i in range(2):  # masked cells take the row mean of the valid features; padding untouched
        t = int(plain.feature_lengths[i])
        mean = plain.features[i, :t].mean()
        assert torch.allclose(masked.features[i][changed[i]], mean.expand(int(changed[i].sum())), atol=1e-5)
        assert not changed[i, t:].any()
    assert torch.equal(SpeechDataset(entries, TOK, cfg, train=False).collate([ds[0], ds[1]]).features,
                       plain.features)
