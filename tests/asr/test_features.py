"""asr.features: torch fbank vs kaldi-native-fbank (the oracle), online == offline, CMVN, SpecAugment."""

import dataclasses

import kaldi_native_fbank as knf
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transduce.asr.audio import load_audio, sample_path
from transduce.asr.features import (
    FbankConfig,
    FeatureNormalizer,
    FeatureStats,
    OnlineFbank,
    SpecAugment,
    SpecAugmentConfig,
    compute_fbank,
    fbank_batch,
    num_frames,
)

CFG = FbankConfig()


def _knf_offline(x: np.ndarray, cfg: FbankConfig = CFG) -> np.ndarray:
    """Whole-utterance features from kaldi-native-fbank, options set here independently of asr."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = True
    opts.frame_opts.window_type = cfg.window
    opts.frame_opts.frame_length_ms = cfg.frame_length_ms
    opts.frame_opts.frame_shift_ms = cfg.frame_shift_ms
    opts.frame_opts.samp_freq = cfg.sample_rate
    opts.mel_opts.num_bins = cfg.num_mel_bins
    opts.mel_opts.low_freq = cfg.low_freq
    opts.mel_opts.high_freq = cfg.high_freq
    f = knf.OnlineFbank(opts)
    f.accept_waveform(cfg.sample_rate, x.astype(np.float32))
    f.input_finished()
    frames = [f.get_frame(i) for i in range(f.num_frames_ready)]
    return np.stack(frames) if frames else np.zeros((0, cfg.num_mel_bins), np.float32)


def assert_fbank_close(ours, ref, atol: float = 1e-4) -> None:
    """|ours - ref| <= atol in the log domain, except where the difference of the mel energies lies below
    float32 resolution of the frame's loudest bin: knf computes in float32, so bins ~60 dB below a
    frame's peak carry roundoff of ~1e-4 relative (our float64 path is the more accurate one there)."""
    ours = torch.as_tensor(ours, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    if ours.numel() == 0:
        return
    log_ok = (ours - ref).abs() <= atol
    peak = ref.exp().amax(dim=-1, keepdim=True)
    roundoff_ok = (ours.exp() - ref.exp()).abs() <= float(np.finfo(np.float32).eps) * peak
    bad = ~(log_ok | roundoff_ok)
    assert not bad.any(), f"{int(bad.sum())} values differ, max {(ours - ref).abs()[bad].max():.3g}"


# ---- offline fbank vs kaldi-native-fbank ---------------------------------------------------------------


def test_config_sizes_and_validation():
    assert (CFG.frame_length, CFG.frame_shift, CFG.fft_length) == (400, 160, 512)
    with pytest.raises(ValueError, match="snip_edges"):
        FbankConfig(snip_edges=False)
    with pytest.raises(ValueError, match="high_freq"):
        FbankConfig(low_freq=8000.0)


def test_configs_serialise():
    from transduce.asr.config import from_dict, to_dict

    cfg = FbankConfig(window="hamming", num_mel_bins=40)
    assert from_dict(FbankConfig, to_dict(cfg)) == cfg
    spec = SpecAugmentConfig(fill="mean")
    assert from_dict(SpecAugmentConfig, to_dict(spec)) == spec


def test_sample_matches_kaldi_native_fbank():
    audio = load_audio(sample_path())
    ours, ref = compute_fbank(audio), _knf_offline(audio)
    assert ours.dtype == torch.float32 and ours.shape == (num_frames(len(audio)), 80)
    assert_fbank_close(ours, ref)
    # Where energies are not tiny against the frame's peak, the plain 1e-4 bound holds.
    loud = torch.from_numpy(ref) > torch.from_numpy(ref).amax(dim=1, keepdim=True) - 12
    assert (ours - torch.from_numpy(ref)).abs()[loud].max() <= 1e-4


@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_noise_matches_kaldi_native_fbank(scale):
    x = (np.random.default_rng(0).uniform(-1, 1, 8000) * scale).astype(np.float32)
    np.testing.assert_allclose(compute_fbank(x).numpy(), _knf_offline(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "changes",
    [
        dict(window="hamming", num_mel_bins=40),
        dict(window="hanning", high_freq=0.0),
        dict(window="rectangular", low_freq=0.0, high_freq=7000.0),
        dict(window="blackman", frame_length_ms=20.0, frame_shift_ms=12.5),
        dict(sample_rate=8000, num_mel_bins=23),
    ],
)
def test_other_settings_match_kaldi_native_fbank(changes):
    cfg = dataclasses.replace(CFG, **changes)
    x = np.random.default_rng(1).normal(0, 0.1, 5000).astype(np.float32)
    assert_fbank_close(compute_fbank(x, cfg), _knf_offline(x, cfg))


def test_one_frame_and_too_short():
    x = np.random.default_rng(2).uniform(-0.5, 0.5, CFG.frame_length).astype(np.float32)
    one = compute_fbank(x)
    assert one.shape == (1, 80)
    assert_fbank_close(one, _knf_offline(x))
    short = compute_fbank(x[:-1])
    assert short.shape == (0, 80) and _knf_offline(x[:-1]).shape == (0, 80)
    assert compute_fbank(np.zeros(0, np.float32)).shape == (0, 80)


def test_num_frames_matches_kaldi():
    x = np.random.default_rng(3).uniform(-0.5, 0.5, 2000).astype(np.float32)
    for n in [0, 1, 399, 400, 401, 559, 560, 561, 1999]:
        assert num_frames(n) == _knf_offline(x[:n]).shape[0] == compute_fbank(x[:n]).shape[0], n


def test_silence_hits_the_log_floor():
    feats = compute_fbank(np.zeros(1600, np.float32))
    assert torch.allclose(feats, torch.tensor(float(np.log(np.finfo(np.float32).eps))), atol=1e-6, rtol=0)


def test_tensor_input_and_batch_equal_per_utterance():
    rng = np.random.default_rng(4)
    waves = [rng.uniform(-1, 1, n).astype(np.float32) for n in [3000, 100, 401, 5555]]
    waves[1] = torch.from_numpy(waves[1])
    feats, lengths = fbank_batch(waves)
    assert feats.shape == (4, num_frames(5555), 80) and lengths.dtype == torch.int64
    assert lengths.tolist() == [num_frames(len(w)) for w in waves]
    for b, w in enumerate(waves):
        single = compute_fbank(w)
        torch.testing.assert_close(feats[b, : lengths[b]], single, atol=1e-5, rtol=0)
        assert (feats[b, lengths[b] :] == 0).all()


def test_batch_of_short_inputs():
    feats, lengths = fbank_batch([np.zeros(10, np.float32), np.zeros(399, np.float32)])
    assert feats.shape == (2, 0, 80) and lengths.tolist() == [0, 0]


@pytest.mark.gpu
def test_gpu_equals_cpu():
    x = torch.from_numpy(np.random.default_rng(5).uniform(-1, 1, 16000).astype(np.float32))
    torch.testing.assert_close(compute_fbank(x.cuda()).cpu(), compute_fbank(x), atol=1e-5, rtol=0)


# ---- online (streaming) == offline -------------------------------------------------------------------


@st.composite
def _stream(draw):
    """Random audio, chunk sizes from 1 sample to a few frames, and pops (with limits) between accepts."""
    n = draw(st.integers(0, 4000))
    seed = draw(st.integers(0, 2**32 - 1))
    chunks, pops, total = [], [], 0
    while total < n:
        size = draw(st.one_of(st.integers(1, 8), st.integers(1, 3 * CFG.frame_length)))
        chunks.append(min(size, n - total))
        pops.append(draw(st.one_of(st.none(), st.integers(0, 3), st.just(-1))))  # -1: do not pop
        total += chunks[-1]
    return n, seed, chunks, pops


@settings(max_examples=40, deadline=None)
@given(_stream())
def test_online_equals_offline_for_any_chunking(stream):
    n, seed, chunks, pops = stream
    audio = np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)
    online = OnlineFbank(CFG)
    got, start = [], 0
    for size, pop in zip(chunks, pops):
        online.accept_waveform(audio[start : start + size])
        start += size
        if pop != -1:
            ready = online.num_frames_ready
            out = online.pop_frames(pop)
            assert out.shape == (ready if pop is None else min(pop, ready), 80)
            assert online.num_frames_ready == ready - out.shape[0]
            got.append(out)
    online.input_finished()
    got.append(online.pop_frames())
    assert online.num_frames_ready == 0
    frames = torch.cat(got)
    offline = compute_fbank(audio)
    assert frames.shape == offline.shape == (num_frames(n), 80)
    torch.testing.assert_close(frames, offline, atol=1e-5, rtol=0)  # same math: no knf rounding allowance


def test_online_sample_in_chunks_and_reset():
    audio = load_audio(sample_path())
    online = OnlineFbank()
    for start in range(0, len(audio), 2560):
        online.accept_waveform(audio[start : start + 2560])
    online.input_finished()
    first = online.pop_frames()
    torch.testing.assert_close(first, compute_fbank(audio), atol=1e-5, rtol=0)
    with pytest.raises(RuntimeError, match="input_finished"):
        online.accept_waveform(audio[:100])
    online.reset()
    online.accept_waveform(audio)
    torch.testing.assert_close(online.pop_frames(), first, atol=0, rtol=0)


def test_online_memory_stays_bounded():
    """A long stream keeps under one frame of audio plus the unpopped frames."""
    online = OnlineFbank(CFG)
    chunk = np.random.default_rng(0).uniform(-1, 1, 1600).astype(np.float32)
    for _ in range(200):
        online.accept_waveform(chunk)
        online.pop_frames()
        assert online._pending.size < CFG.frame_length


def test_online_rejects_bad_input():
    online = OnlineFbank()
    with pytest.raises(ValueError, match=r"\(N,\)"):
        online.accept_waveform(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        online.accept_waveform(np.array([0.0, np.nan], np.float32))
    with pytest.raises(ValueError, match="max_frames"):
        online.pop_frames(-1)


# ---- normalisation ---------------------------------------------------------------------------------------


def test_feature_stats_match_torch_on_concatenated_data():
    gen = torch.Generator().manual_seed(0)
    chunks = [torch.randn(t, 6, generator=gen) * torch.arange(1, 7) + 100 for t in [1, 50, 0, 333, 7]]
    stats = FeatureStats(6)
    for c in chunks:
        stats.update(c)
    data = torch.cat(chunks).double()
    assert stats.count == data.shape[0]
    torch.testing.assert_close(stats.mean, data.mean(0), atol=1e-10, rtol=0)
    torch.testing.assert_close(stats.std, data.std(0, unbiased=False), atol=1e-10, rtol=0)


def test_normalizer_whitens_and_round_trips_state_dict():
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 20, 4, generator=gen) * 3 - 7
    stats = FeatureStats(4)
    stats.update(feats.reshape(-1, 4))
    norm = FeatureNormalizer.from_stats(stats)
    out = norm(feats)
    torch.testing.assert_close(out.reshape(-1, 4).mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.reshape(-1, 4).std(0, unbiased=False), torch.ones(4), atol=1e-5, rtol=0)
    fresh = FeatureNormalizer(4)
    torch.testing.assert_close(fresh(feats), feats)  # identity until fitted
    fresh.load_state_dict(norm.state_dict())
    torch.testing.assert_close(fresh(feats), out)
    masked = norm(feats, torch.tensor([20, 5, 0]))
    torch.testing.assert_close(masked[0], out[0])
    assert (masked[1, 5:] == 0).all() and (masked[2] == 0).all()
    torch.testing.assert_close(masked[1, :5], out[1, :5])


def test_normalizer_refuses_empty_stats_and_floors_std():
    with pytest.raises(ValueError, match="no frames"):
        FeatureNormalizer.from_stats(FeatureStats(3))
    stats = FeatureStats(3)
    stats.update(torch.ones(10, 3))
    assert (stats.std == stats.min_std).all()


# ---- SpecAugment -----------------------------------------------------------------------------------------


def _feats(b=4, t=200, f=80):
    gen = torch.Generator().manual_seed(2)
    return torch.rand(b, t, f, generator=gen) + 1.0  # never zero, so masked cells are visible


def test_specaugment_is_identity_in_eval():
    aug = SpecAugment().eval()
    x = _feats()
    assert torch.equal(aug(x, torch.tensor([200, 100, 50, 1])), x)


@pytest.mark.parametrize("fill", ["zero", "mean"])
def test_specaugment_masks_only_inside_lengths(fill):
    cfg = SpecAugmentConfig(fill=fill)
    aug = SpecAugment(cfg).train()
    x = _feats()
    lengths = torch.tensor([200, 120, 37, 0])
    y = aug(x, lengths, generator=torch.Generator().manual_seed(3))
    changed = y != x
    valid = torch.arange(200)[None, :] < lengths[:, None]
    assert not changed[~valid].any(), "a mask reached into the padding"
    assert changed[0].any() and changed[1].any()
    for b, n in enumerate(lengths.tolist()):
        if n == 0:
            continue
        expected = 0.0 if fill == "zero" else x[b, :n].mean().item()
        assert torch.allclose(y[b][changed[b]], torch.tensor(expected), atol=1e-6)
        full_rows = changed[b, :n].all(dim=1).sum().item()  # frames under a time mask
        full_cols = changed[b, :n].all(dim=0).sum().item()  # bins under a frequency mask
        assert full_cols <= cfg.num_freq_masks * cfg.freq_mask_width or full_rows == n
        assert full_rows <= cfg.num_time_masks * int(n * cfg.time_mask_ratio) or full_cols == 80


def test_specaugment_is_reproducible_with_a_generator():
    aug = SpecAugment().train()
    x, lengths = _feats(), torch.tensor([200, 150, 100, 50])
    a = aug(x, lengths, generator=torch.Generator().manual_seed(7))
    b = aug(x, lengths, generator=torch.Generator().manual_seed(7))
    c = aug(x, lengths, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert aug(x).shape == x.shape  # lengths default to the full rows


# ---- `transduce features` ----------------------------------------------------------------------------------


def test_cli_summarises_the_sample(capsys):
    from transduce.cli import main

    assert main(["features", str(sample_path())]) == 0
    out = capsys.readouterr().out
    assert "4.78 s" in out and "476 frames" in out and "(476, 80)" in out


def test_cli_json(capsys):
    import json

    from transduce.cli import main

    assert main(["features", str(sample_path()), str(sample_path()), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    info = json.loads(lines[0])
    assert info["duration_s"] == pytest.approx(4.7775) and info["shape"] == [476, 80]
    assert info["sample_rate"] == 16000 and info["min"] <= info["mean"] <= info["max"]


def test_cli_missing_and_unreadable_files_exit_2(tmp_path, capsys):
    from transduce.cli import main

    missing = tmp_path / "missing.wav"
    assert main(["features", str(missing)]) == 2
    assert "missing.wav" in capsys.readouterr().err
    text = tmp_path / "text.wav"
    text.write_text("hello " * 100)
    assert main(["features", str(text)]) == 2
    err = capsys.readouterr().err
    assert "text.wav" in err and "cannot decode" in err
