"""Waveform augmentation: speed perturbation scales duration and frequency; noise lands at the asked SNR;
reverberation decays at the drawn RT60 and leaves a tail after the sound stops."""

import numpy as np
import pytest
import soundfile as sf
from transduce.asr.data.augment import (
    AugmentConfig,
    add_noise,
    augment,
    pink_noise,
    reverberate,
    room_impulse_response,
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
    {"noise_kinds": ("brown",)}, {"noise_kinds": ("file",)}, {"reverb_prob": -0.1}, {"rt60_s": (0.5, 0.2)},
    {"rt60_s": (0.0, 0.5)},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="AugmentConfig"):
        AugmentConfig(**kwargs)


@pytest.mark.parametrize("rt60", [0.2, 0.5, 1.0])
def test_room_impulse_response_decays_60_db_in_rt60(rt60):
    rir = room_impulse_response(rt60, np.random.default_rng(0), SR)
    assert rir[0] == 1.0 and len(rir) == int(rt60 * SR)
    # Schroeder integration: energy left after t, in dB; fit its slope between -5 and -35 dB
    left = 10 * np.log10(np.cumsum(rir[1:][::-1] ** 2)[::-1] + 1e-30)
    left -= left[0]
    t5, t35 = np.argmax(left < -5) / SR, np.argmax(left < -35) / SR
    assert 60 * (t35 - t5) / 30 == pytest.approx(rt60, rel=0.15)


def test_reverberation_keeps_length_and_peak_and_adds_a_tail():
    t = np.arange(SR) / SR
    tone = np.where(t < 0.5, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    wet = reverberate(tone, room_impulse_response(0.6, np.random.default_rng(1), SR))
    assert wet.shape == tone.shape and wet.dtype == np.float32
    assert float(np.abs(wet).max()) == pytest.approx(0.5, rel=1e-5)
    after = slice(int(0.52 * SR), int(0.6 * SR))  # the tone has stopped; its echo has not
    assert np.sqrt(np.mean(wet[after] ** 2)) > 0.01 > np.sqrt(np.mean(tone[after] ** 2))
    impulse = np.zeros(SR // 2, dtype=np.float32)
    impulse[0] = 1.0
    rir = room_impulse_response(0.3, np.random.default_rng(2), SR)
    np.testing.assert_allclose(reverberate(impulse, rir)[: len(rir)], rir / np.abs(rir).max(), atol=1e-6)


def test_augment_reverberates_only_when_asked():
    x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(SR) / SR)).astype(np.float32)
    dry = AugmentConfig(speed_factors=(1.0,), noise_prob=0.0)
    wet = AugmentConfig(speed_factors=(1.0,), noise_prob=0.0, reverb_prob=1.0)
    np.testing.assert_array_equal(augment(x, dry, np.random.default_rng(3)), x)
    assert not np.allclose(augment(x, wet, np.random.default_rng(3)), x, atol=1e-3)
