"""Waveform augmentation for training: speed perturbation, room-like reverberation and additive noise
at a chosen SNR.

Speed perturbation resamples with soxr and plays the result at the original rate, like sox's
`speed` effect: a factor f makes the utterance 1/f as long and shifts its pitch by f.
Noise is white, pink (power ~ 1/frequency) or a random excerpt of a noise recording, scaled so
that 10 log10(P_speech / P_noise) equals the requested SNR, powers being mean squares over the
whole utterance. Reverberation convolves with a synthetic room impulse response: a direct path,
then exponentially decaying noise (Polack's statistical model) whose level falls 60 dB in the drawn
RT60, after a short gap like a first reflection's. N: samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import soxr

__all__ = ["AugmentConfig", "speed_perturb", "white_noise", "pink_noise", "add_noise",
           "room_impulse_response", "reverberate", "augment"]

NoiseKind = Literal["white", "pink", "file"]


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time waveform augmentation; each utterance draws its own factor, noise kind and SNR."""

    speed_factors: tuple[float, ...] = (0.9, 1.0, 1.1)  # drawn uniformly; (1.0,) turns speed off
    noise_prob: float = 0.5  # chance that an utterance gets noise at all
    noise_kinds: tuple[NoiseKind, ...] = ("white", "pink")  # "file" draws from `noise_files`
    noise_files: tuple[str, ...] = ()  # recordings (any rate/channels) decoded with asr.audio
    snr_db: tuple[float, float] = (5.0, 30.0)  # SNR drawn uniformly from this range
    reverb_prob: float = 0.0  # chance that an utterance is reverberated (before any noise)
    rt60_s: tuple[float, float] = (0.15, 0.8)  # reverberation time drawn uniformly from this range

    def __post_init__(self) -> None:
        if not self.speed_factors or any(not 0.3 <= f <= 3.0 for f in self.speed_factors):
            raise ValueError(f"AugmentConfig.speed_factors must be in [0.3, 3], got {self.speed_factors}")
        if not 0.0 <= self.noise_prob <= 1.0:
            raise ValueError(f"AugmentConfig.noise_prob must be in [0, 1], got {self.noise_prob}")
        if not 0.0 <= self.reverb_prob <= 1.0 or not 0.0 < self.rt60_s[0] <= self.rt60_s[1] <= 3.0:
            raise ValueError(f"AugmentConfig: reverb_prob must be in [0, 1] and rt60_s (low, high) in "
                             f"(0, 3] s, got {self.reverb_prob}, {self.rt60_s}")
        if self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"AugmentConfig.snr_db must be (low, high), got {self.snr_db}")
        unknown = set(self.noise_kinds) - {"white", "pink", "file"}
        if unknown or (self.noise_prob > 0 and not self.noise_kinds):
            raise ValueError(f"AugmentConfig.noise_kinds: need white/pink/file, got {self.noise_kinds}")
        if "file" in self.noise_kinds and not self.noise_files:
            raise ValueError("AugmentConfig: noise kind 'file' needs noise_files")


def speed_perturb(x: np.ndarray, factor: float, sample_rate: int = 16000) -> np.ndarray:
    """`x` (N,) played `factor` times faster: (round(N / factor),) float32 at the same sample rate."""
    if factor == 1.0 or len(x) == 0:
        return x
    return soxr.resample(x, sample_rate, sample_rate / factor, quality="HQ").astype(np.float32, copy=False)


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise (n,) float64 with unit variance."""
    return rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise (n,) float64 of unit variance: white noise shaped to power ~ 1/f by an FFT filter."""
    if n < 2:
        return rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0  # keep the DC bin finite; it is removed below
    spectrum = spectrum / np.sqrt(freqs)
    spectrum[0] = 0.0
    y = np.fft.irfft(spectrum, n)
    return y / max(float(y.std()), 1e-12)


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`x` (N,) plus `noise` (N,) scaled to SNR `snr_db` (mean-square powers), as float32.

    Silent speech gets no noise (no SNR is defined), so the result is `x` unchanged.
    """
    assert x.shape == noise.shape, f"x {x.shape} and noise {noise.shape} must both be (N,)"
    p_speech = float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0
    p_noise = float(np.mean(np.square(noise, dtype=np.float64))) if len(x) else 0.0
    if p_speech == 0.0 or p_noise == 0.0:
        return x.astype(np.float32, copy=False)
    scale = np.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (x + scale * noise).astype(np.float32)


def room_impulse_response(rt60_s: float, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """A synthetic room impulse response (M,) float64: 1 at t = 0, then Gaussian noise decaying by 60 dB
    over `rt60_s`, starting 2-10 ms later; M covers the decay to -60 dB."""
    if not 0.0 < rt60_s <= 3.0:
        raise ValueError(f"rt60_s must be in (0, 3] seconds, got {rt60_s}")
    n = max(2, int(rt60_s * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60_s)  # amplitude -60 dB at t = rt60
    tail[: int(rng.uniform(0.002, 0.010) * sample_rate)] = 0.0
    tail *= 0.5 / max(float(np.sqrt(np.sum(tail**2))), 1e-12)  # reverberant energy 1/4 of the direct path's
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """`x` (N,) convolved with `rir` (M,) by FFT, cut to N samples and scaled to x's peak, as float32."""
    if len(x) == 0:
        return x.astype(np.float32, copy=False)
    size = len(x) + len(rir) - 1
    nfft = 1 << (size - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(rir, nfft), nfft)[: len(x)]
    peak_in, peak_out = float(np.abs(x).max()), float(np.abs(y).max())
    return (y * (peak_in / peak_out) if peak_out > 0 else y).astype(np.float32)


def _excerpt(recording: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random stretch of n samples of `recording`, tiled when it is shorter than n."""
    if len(recording) >= n:
        start = int(rng.integers(0, len(recording) - n + 1))
        return recording[start:start + n].astype(np.float64)
    reps = -(-n // len(recording))
    start = int(rng.integers(0, len(recording)))
    return np.roll(np.tile(recording, reps + 1), -start)[:n].astype(np.float64)


def augment(
    x: np.ndarray,
    cfg: AugmentConfig,
    rng: np.random.Generator,
    sample_rate: int = 16000,
    noise_bank: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Speed-perturb, then reverberate (probability cfg.reverb_prob) and add noise (cfg.noise_prob) to
    `x` (N,); returns (N',) float32. With reverb_prob 0 the draws are those of earlier versions.

    `noise_bank` holds the decoded `cfg.noise_files` (loaded once per worker by the dataset).
    """
    factor = float(cfg.speed_factors[int(rng.integers(len(cfg.speed_factors)))])
    y = speed_perturb(x.astype(np.float32, copy=False), factor, sample_rate)
    if cfg.reverb_prob > 0.0 and rng.random() < cfg.reverb_prob:
        rt60 = float(rng.uniform(cfg.rt60_s[0], cfg.rt60_s[1]))
        y = reverberate(y, room_impulse_response(rt60, rng, sample_rate))
    if cfg.noise_prob == 0.0 or rng.random() >= cfg.noise_prob or len(y) == 0:
        return y
    kind = cfg.noise_kinds[int(rng.integers(len(cfg.noise_kinds)))]
    snr = float(rng.uniform(cfg.snr_db[0], cfg.snr_db[1]))
    if kind == "white":
        noise = white_noise(len(y), rng)
    elif kind == "pink":
        noise = pink_noise(len(y), rng)
    else:
        if not noise_bank:
            raise ValueError("augment: noise kind 'file' but no noise recordings were loaded")
        noise = _excerpt(noise_bank[int(rng.integers(len(noise_bank)))], len(y), rng)
    return np.clip(add_noise(y, noise, snr), -1.0, 1.0)
