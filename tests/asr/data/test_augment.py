"""Waveform augmentation: speed perturbation scales duration and frequency; noise lands at the asked SNR."""

import numpy as np
import pytest
import soundfile as sf
from transduce.asr.data.augment import (
    AugmentConfig,
    add_noise,
    augment,
    pink_noise,
    speed_perturb,
    white_noise,
)

SR = 16000


def _peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * SR / len(x))


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.1, 1.25])
def test_speed_perturbation_scales_duration_and_pitch_by_the_factor(factor):
    n = 2 * SR
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(n) / SR).astype(np.float32)
    y = speed_perturb(tone, factor, SR)
    assert abs(len(y) - n / factor) <= 1
    assert y.dtype == np.float32
    assert _peak_hz(y) == pytest.approx(1000.0 * factor, abs=2.0)


def test_speed_factor_one_is_the_identity():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    assert speed_perturb(x, 1.0) is x


@pytest.mark.parametrize("make", [white_noise, pink_noise])
def test_noise_is_added_at_the_requested_snr(make):
    rng = np.random.default_rng(1)
    for _ in range(10):
        n = int(rng.integers(100, 40000))
        x = (rng.standard_normal(n) * rng.uniform(0.01, 0.3)).astype(np.float32)
        snr = float(rng.uniform(-5, 40))
        y = add_noise(x, make(n, rng), snr)
        noise = y.astype(np.float64) - x.astype(np.float64)
        measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2))
        assert measured == pytest.approx(snr, abs=0.05)


def _loglog_slope(x: np.ndarray) -> float:
    """Slope of log power against log frequency, from 50 Hz to 5 kHz, on an averaged periodogram."""
    segs = x[: len(x) // 4096 * 4096].reshape(-1, 4096)
    power = np.mean(np.abs(np.fft.rfft(segs * np.hanning(4096), axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(4096, 1 / SR)
    keep = (freqs > 50) & (freqs < 5000)
    return float(np.polyfit(np.log10(freqs[keep]), np.log10(power[keep]), 1)[0])


def test_pink_noise_power_falls_as_one_over_f_and_white_is_flat():
    rng = np.random.default_rng(2)
    assert _loglog_slope(pink_noise(SR * 20, rng)) == pytest.approx(-1.0, abs=0.1)
    assert _loglog_slope(white_noise(SR * 20, rng)) == pytest.approx(0.0, abs=0.1)
    assert pink_noise(SR, rng).std() == pytest.approx(1.0, rel=1e-6)


def test_silent_speech_gets_no_noise():
    x = np.zeros(500, dtype=np.float32)
    assert np.array_equal(add_noise(x, np.ones(500), 10.0), x)


def test_augment_is_a_function_of_the_rng_and_uses_noise_files(tmp_path):
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    cfg = AugmentConfig(speed_factors=(1.0,), noise_prob=1.0, noise_kinds=("file",),
                        noise_files=(str(tmp_path / "n.wav"),), snr_db=(10.0, 10.0))
    hum = 0.5 * np.sin(2 * np.pi * 50 * np.arange(3000) / SR)  # shorter than x: tiled
    sf.write(tmp_path / "n.wav", hum, SR)
    bank = [sf.read(tmp_path / "n.wav", dtype="float32")[0]]
    a = augment(x, cfg, np.random.default_rng(7), SR, bank)
    b = augment(x, cfg, np.random.default_rng(7), SR, bank)
    assert np.array_equal(a, b) and len(a) == len(x)
    noise = a.astype(np.float64) - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(10, abs=0.05)
    assert _peak_hz(noise) == pytest.approx(50, abs=2)  # the noise is the recording, not white noise
    c = augment(x, AugmentConfig(), np.random.default_rng(8), SR)
    d = augment(x, AugmentConfig(), np.random.default_rng(9), SR)
    assert len(c) != len(d) or not np.array_equal(c, d)


@pytest.mark.parametrize("kwargs", [
    {"speed_factors": ()}, {"speed_factors": (0.1,)}, {"noise_prob": 1.5}, {"snr_db": (20.0, 5.0)},
    {"noise_kinds": ("brown",)}, {"noise_kinds": ("file",)},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="AugmentConfig"):
        AugmentConfig(**kwargs)
