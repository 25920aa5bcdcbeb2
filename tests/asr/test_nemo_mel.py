"""asr.features.nemo_mel: NeMo's mel front end vs NeMo's own outputs (fixture), online == offline, config.

The oracle is `tests/fixtures/nemo/mel_fixture.pt`, written by NeMo itself
(`tests/fixtures/nemo/make_mel_fixture.py`); nothing here needs NeMo. The frame count and the slaney
mel filters are also computed here again from their definitions.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transduce.asr.features import NemoMelConfig, OnlineNemoMel, compute_nemo_mel
from transduce.asr.features.nemo_mel import mel_filterbank, num_frames

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nemo" / "mel_fixture.pt"

ONLINE_CONFIGS = {
    "80": NemoMelConfig(),
    "128": NemoMelConfig(features=128),
    "128_hamming_nfft400": NemoMelConfig(features=128, window="hamming", n_fft=400),
    "80_blackman_20ms_nfft1024": NemoMelConfig(window="blackman", window_size=0.02, n_fft=1024),
    "80_no_preemph_clamp": NemoMelConfig(preemphasis=None, log_zero_guard_type="clamp",
                                         log_zero_guard_value="eps"),
    "40_bartlett_exact_pad": NemoMelConfig(features=40, window="bartlett", exact_pad=True),
    "64_8k_linear": NemoMelConfig(sample_rate=8000, features=64, log=False, mag_power=1.0),
}


def _signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (t < 0.4)  # a tone, then noise, then near silence
    noise = rng.normal(0, 0.05, n) * ((t > 0.3) & (t < 0.8)) + rng.normal(0, 1e-4, n)
    return (tone + noise).astype(np.float32)


def _expected_frames(n: int, cfg: NemoMelConfig) -> int:
    """NeMo's get_seq_len, from its definition: (N + 2 * pad - n_fft) // hop with torch.stft's padding."""
    win = int(cfg.window_size * cfg.sample_rate)
    hop = int(cfg.window_stride * cfg.sample_rate)
    n_fft = cfg.n_fft or 2 ** math.ceil(math.log2(win))
    pad = (n_fft - hop) // 2 if cfg.exact_pad else n_fft // 2
    return max(0, (n + 2 * pad - n_fft) // hop)


def _stream(x: np.ndarray, cfg: NemoMelConfig, rng: np.random.Generator, max_chunk: int) -> torch.Tensor:
    """Feed `x` in random chunks (empty ones too), popping random numbers of frames in between."""
    online = OnlineNemoMel(cfg)
    popped, i = [], 0
    while i < len(x):
        k = int(rng.integers(0, max_chunk + 1))
        online.accept_waveform(x[i : i + k])
        i += k
        if rng.random() < 0.5:
            popped.append(online.pop_frames(int(rng.integers(0, 4)) if rng.random() < 0.5 else None))
    online.input_finished()
    popped.append(online.pop_frames())
    return torch.cat(popped)


# ---------------------------------------------------------------------------------------------- NeMo fixture

@pytest.fixture(scope="module")
def nemo() -> dict:
    return torch.load(FIXTURE, weights_only=True)


def _config(kwargs: dict) -> NemoMelConfig:
    kwargs = dict(kwargs)
    if "preemph" in kwargs:
        kwargs["preemphasis"] = kwargs.pop("preemph")
    return NemoMelConfig(**kwargs)


def test_fixture_is_small_and_complete(nemo):
    assert FIXTURE.stat().st_size < 1.5e6
    assert {"na80", "pf128", "hamming_nfft400", "pad16"} <= set(nemo["settings"])
    assert set(nemo["audio"]) == {"speech", "noise"}


@pytest.mark.parametrize("name", ["na80", "pf128", "hamming_nfft400", "pad16", "blackman_allfeat",
                                  "bartlett_exactpad", "sr8k_linear"])
def test_offline_equals_nemo(nemo, name):
    setting = nemo["settings"][name]
    cfg = _config(setting["kwargs"])
    fb = setting["fb"].to_dense()
    torch.testing.assert_close(mel_filterbank(cfg).to(torch.float32), fb, rtol=1e-5, atol=1e-8)
    for key, audio in nemo["audio"].items():
        ref, length = setting["outputs"][key], setting["lengths"][key]  # (T_nemo, F), NeMo's length
        assert length == num_frames(audio.shape[0], cfg) == _expected_frames(audio.shape[0], cfg)
        ours = compute_nemo_mel(audio, cfg)
        assert ours.dtype == torch.float32 and ours.shape == (length, cfg.features)
        diff = (ours - ref[:length]).abs().max().item()
        assert diff <= 1e-4, f"{name}/{key}: max |ours - NeMo| = {diff:.3g}"
        # beyond its length NeMo pads with pad_value (to a multiple of pad_to): not part of our output
        assert torch.all(ref[length:] == cfg.pad_value)
        if cfg.pad_to:
            assert ref.shape[0] % cfg.pad_to == 0 and ref.shape[0] - length < cfg.pad_to + 2


@pytest.mark.parametrize("name", ["na80", "hamming_nfft400", "pad16", "bartlett_exactpad", "sr8k_linear"])
def test_online_equals_nemo(nemo, name):
    setting = nemo["settings"][name]
    cfg = _config(setting["kwargs"])
    rng = np.random.default_rng(7)
    for key, audio in nemo["audio"].items():
        length = setting["lengths"][key]
        for max_chunk in (1000, 4000):
            got = _stream(audio.numpy(), cfg, rng, max_chunk)
            assert got.shape == (length, cfg.features)
            diff = (got - setting["outputs"][key][:length]).abs().max().item()
            assert diff <= 1e-4, f"{name}/{key}: max |online - NeMo| = {diff:.3g}"


# ---------------------------------------------------------------------------------------------- online

@pytest.mark.parametrize("name", list(ONLINE_CONFIGS))
def test_online_equals_offline_any_chunking(name):
    cfg = ONLINE_CONFIGS[name]
    rng = np.random.default_rng(hash(name) % 2**32)
    for trial in range(4):
        x = _signal(int(rng.integers(cfg.frame_length, 20000)), seed=trial)
        offline = compute_nemo_mel(x, cfg)
        for max_chunk in (7, 333, 5000):
            online = _stream(x, cfg, rng, max_chunk)
            assert online.shape == offline.shape
            assert (online - offline).abs().max().item() <= 1e-5


def test_online_frame_ready_when_its_window_has_arrived():
    cfg = NemoMelConfig()  # window 400 in an FFT of 512, centred: frame t covers [160 t - 200, 160 t + 200)
    x = _signal(4000)
    offline = compute_nemo_mel(x, cfg)
    online = OnlineNemoMel(cfg)
    got = []
    for n in range(1, len(x) + 1):
        online.accept_waveform(x[n - 1 : n])
        expected = min(max(0, (n - 200) // 160 + 1), n // 160)
        assert sum(len(g) for g in got) + online.num_frames_ready == expected, n
        got.append(online.pop_frames())
    assert sum(len(g) for g in got) == 4000 // 160 - 1  # the last frame needs the end's zero padding
    online.input_finished()
    got.append(online.pop_frames())
    torch.testing.assert_close(torch.cat(got), offline, rtol=0, atol=1e-5)
    with pytest.raises(RuntimeError):
        online.accept_waveform(x[:10])
    online.reset()
    online.accept_waveform(x)
    online.input_finished()
    torch.testing.assert_close(online.pop_frames(), offline, rtol=0, atol=1e-5)


def test_online_pop_and_edge_cases():
    cfg = NemoMelConfig()
    online = OnlineNemoMel(cfg)
    assert online.pop_frames().shape == (0, 80)
    online.accept_waveform(np.zeros(100, np.float32))
    online.input_finished()
    assert online.num_frames_ready == 0 and online.pop_frames().shape == (0, 80)  # 100 samples: no frame
    with pytest.raises(ValueError, match="max_frames"):
        online.pop_frames(-1)
    online.reset()
    with pytest.raises(ValueError, match="NaN"):
        online.accept_waveform(np.array([0.0, np.nan], np.float32))
    with pytest.raises(ValueError, match=r"\(N,\)"):
        online.accept_waveform(np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("normalize", ["per_feature", "all_features"])
def test_online_refuses_utterance_normalization(normalize):
    with pytest.raises(ValueError, match=f"{normalize} normalization needs the whole utterance"):
        OnlineNemoMel(NemoMelConfig(normalize=normalize))


# ---------------------------------------------------------------------------------------------- offline

@pytest.mark.parametrize("cfg", [NemoMelConfig(), NemoMelConfig(features=128, n_fft=400, window="hamming"),
                                 NemoMelConfig(exact_pad=True), NemoMelConfig(window_size=0.02, n_fft=1024),
                                 NemoMelConfig(sample_rate=8000, window_stride=0.0125)])
def test_lengths_and_shapes(cfg):
    for n in (0, 1, 159, 160, 161, 255, 256, 399, 400, 401, 16000, 16037):
        feats = compute_nemo_mel(np.zeros(n, np.float32) + 0.01, cfg)
        assert feats.shape == (_expected_frames(n, cfg), cfg.features), n
        assert feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert num_frames(16000, NemoMelConfig()) == 100
    # NeMo's docstring promises N // hop frames with exact_pad; its get_seq_len (and the fixture) give 1 less
    assert num_frames(16000, NemoMelConfig(exact_pad=True)) == 99


def test_per_feature_normalization():
    x = _signal(12345)
    raw = compute_nemo_mel(x, NemoMelConfig()).double()
    feats = compute_nemo_mel(x, NemoMelConfig(normalize="per_feature")).double()
    mean = raw.mean(0)
    std = torch.sqrt(((raw - mean) ** 2).sum(0) / (raw.shape[0] - 1))  # unbiased, then + 1e-5
    torch.testing.assert_close(feats, (raw - mean) / (std + 1e-5), rtol=0, atol=1e-5)
    one = compute_nemo_mel(x[:200], NemoMelConfig(normalize="per_feature"))  # 1 frame: std 0, NeMo gives 0
    assert one.shape == (1, 80) and torch.all(one == 0)
    glob = compute_nemo_mel(x, NemoMelConfig(normalize="all_features")).double()
    torch.testing.assert_close(glob, (raw - raw.mean()) / (raw.std() + 1e-5), rtol=0, atol=1e-5)


def test_dither_never_applied_and_inputs():
    x = _signal(8000)
    ref = compute_nemo_mel(x, NemoMelConfig(dither=0.0))
    assert torch.equal(compute_nemo_mel(x, NemoMelConfig(dither=0.1)), ref)
    assert torch.equal(compute_nemo_mel(torch.from_numpy(x), NemoMelConfig()), ref)
    assert torch.equal(compute_nemo_mel(x.astype(np.float64), NemoMelConfig()), ref)  # NeMo takes float32
    with pytest.raises(ValueError, match=r"\(N,\)"):
        compute_nemo_mel(np.zeros((2, 100), np.float32))
    with pytest.raises(TypeError):
        compute_nemo_mel([0.0] * 1000)


def test_log_zero_guard():
    silence = np.zeros(3200, np.float32)
    assert torch.allclose(compute_nemo_mel(silence), torch.tensor(math.log(2**-24)))
    tiny = compute_nemo_mel(silence, NemoMelConfig(log_zero_guard_type="clamp", log_zero_guard_value="tiny"))
    assert torch.allclose(tiny, torch.tensor(math.log(torch.finfo(torch.float32).tiny)))
    eps = compute_nemo_mel(silence, NemoMelConfig(log_zero_guard_value="eps"))
    assert torch.allclose(eps, torch.tensor(math.log(torch.finfo(torch.float32).eps)))


# ---------------------------------------------------------------------------------------------- mel filters

def _slaney_mel(f: float) -> float:
    """Slaney's Auditory Toolbox mel scale: 3 mels per 200 Hz up to 1 kHz, then 27 mels per factor 6.4."""
    return 3 * f / 200 if f < 1000 else 15 + 27 * math.log(f / 1000, 6.4)


def _slaney_hz(m: float) -> float:
    return 200 * m / 3 if m < 15 else 1000 * 6.4 ** ((m - 15) / 27)


def _slaney_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, area: bool) -> np.ndarray:
    lo, hi = _slaney_mel(fmin), _slaney_mel(fmax)
    edges = [_slaney_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    out = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        a, b, c = edges[m : m + 3]
        for k in range(n_fft // 2 + 1):
            f = k * sr / n_fft
            w = (f - a) / (b - a) if f <= b else (c - f) / (c - b)
            out[m, k] = max(0.0, w) * (2 / (c - a) if area else 1.0)
    return out


@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax,norm", [
    (16000, 512, 80, 0.0, None, "slaney"),
    (16000, 512, 128, 0.0, None, "slaney"),
    (16000, 400, 64, 20.0, 7600.0, "slaney"),
    (8000, 256, 40, 0.0, None, None),
])
def test_slaney_filterbank_from_definition(sr, n_fft, n_mels, fmin, fmax, norm):
    cfg = NemoMelConfig(sample_rate=sr, n_fft=n_fft, features=n_mels, lowfreq=fmin, highfreq=fmax,
                        mel_norm=norm)
    ours = mel_filterbank(cfg).numpy()
    ref = _slaney_filters(sr, n_fft, n_mels, fmin, fmax or sr / 2, norm == "slaney")
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    assert abs(_slaney_mel(1000.0) - 15) < 1e-12 and abs(_slaney_hz(_slaney_mel(3000.0)) - 3000) < 1e-9


# ---------------------------------------------------------------------------------------------- config

def test_config_helpers():
    cfg = NemoMelConfig()
    assert (cfg.sample_rate, cfg.num_mel_bins, cfg.frame_length, cfg.frame_shift) == (16000, 80, 400, 160)
    assert cfg.frame_shift_ms == 10.0 and isinstance(cfg.frame_shift_ms, float)
    assert cfg.fft_length == 512 and NemoMelConfig(n_fft=400).fft_length == 400
    assert NemoMelConfig(window_size=0.02).fft_length == 512
    assert NemoMelConfig(window_size=0.032).fft_length == 512
    assert NemoMelConfig(features=128).num_mel_bins == 128
    assert NemoMelConfig(sample_rate=8000, window_stride=0.0125).frame_shift_ms == 12.5
    assert cfg.high_freq == 8000.0 and NemoMelConfig(highfreq=0).high_freq == 8000.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.features = 64  # type: ignore[misc]


@pytest.mark.parametrize("kwargs,key", [
    ({"sample_rate": 0}, "sample_rate"),
    ({"window_size": 0.0}, "window_size"),
    ({"window_size": 0.00001}, "window_size"),
    ({"window_stride": -0.01}, "window_stride"),
    ({"window": "rectangular"}, "window"),
    ({"window": "none"}, "window"),  # NeMo's 'none' has no window and fails in its stft
    ({"n_fft": 256}, "n_fft"),  # shorter than the 400-sample window
    ({"n_fft": 512.0}, "n_fft"),
    ({"features": 0}, "features"),
    ({"lowfreq": -1.0}, "lowfreq"),
    ({"highfreq": 9000.0}, "highfreq"),
    ({"lowfreq": 4000.0, "highfreq": 3000.0}, "highfreq"),
    ({"log_zero_guard_type": "max"}, "log_zero_guard_type"),
    ({"log_zero_guard_value": "huge"}, "log_zero_guard_value"),
    ({"log_zero_guard_value": 0.0}, "log_zero_guard_value"),
    ({"normalize": "per_features"}, "normalize"),
    ({"normalize": {"fixed_mean": [0.0], "fixed_std": [1.0]}}, "normalize"),
    ({"pad_to": -1}, "pad_to"),
    ({"preemphasis": "0.97"}, "preemphasis"),
    ({"mag_power": 0.0}, "mag_power"),
    ({"mel_norm": "htk"}, "mel_norm"),
    ({"exact_pad": True, "window_stride": 0.0100625}, "exact_pad"),  # 161-sample stride: NeMo refuses
    ({"dither": -1.0}, "dither"),
    ({"frame_splicing": 3}, "frame_splicing"),
    ({"log": 1}, "log"),
])
def test_config_refuses(kwargs, key):
    with pytest.raises(ValueError, match=f"NemoMelConfig.{key} = "):
        NemoMelConfig(**kwargs)


def test_config_accepts_nemo_values():
    NemoMelConfig(normalize="per_feature", pad_to=16, pad_value=0, lowfreq=0, highfreq=None, dither=1e-5)
    NemoMelConfig(normalize="all_features", pad_to="max", log_zero_guard_value="tiny", preemphasis=None)
    NemoMelConfig(window="bartlett", mel_norm=None, exact_pad=True, mag_power=1.0, log=False)
    with pytest.raises(TypeError):
        NemoMelConfig(preemph=0.97)  # NeMo's key is renamed preemphasis
