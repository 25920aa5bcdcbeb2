"""Offline kaldi-compatible log-mel filterbank features in vectorised torch.

The same numbers as kaldi-native-fbank's `OnlineFbank` (the streaming path, see `online.py`),
computed for whole utterances or padded batches on any device, so that training (GPU, batched)
and serving (CPU, streaming) see the same features. Samples are taken as they come (float32 in
[-1, 1], no int16 scaling), as icefall/sherpa do.
Shapes: see NOTATION.md (B, N samples, T feature frames, F mel bins); frame_length, fft_length: the
samples of a frame and of its zero-padded FFT (`FbankConfig`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

__all__ = ["FbankConfig", "compute_fbank", "fbank_batch", "num_frames"]

Window = Literal["povey", "hanning", "hamming", "rectangular", "blackman"]


@dataclass(frozen=True)
class FbankConfig:
    """Settings of the log-mel front end, named after kaldi's `FbankOptions` (kaldi defaults, icefall mel)."""

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0  # std of Gaussian noise added to the samples (offline: torch's global RNG)
    preemphasis: float = 0.97
    remove_dc_offset: bool = True
    window: Window = "povey"
    blackman_coeff: float = 0.42
    round_to_power_of_two: bool = True
    low_freq: float = 20.0
    high_freq: float = -400.0  # <= 0: offset from the Nyquist frequency
    snip_edges: bool = True  # only True is supported: frames lie wholly inside the signal
    log_floor: float = float(np.finfo(np.float32).eps)  # mel energies are floored here before the log

    def __post_init__(self) -> None:
        if not self.snip_edges:
            raise ValueError("FbankConfig.snip_edges=False is not supported (frames lie inside the signal)")
        if self.sample_rate <= 0 or self.num_mel_bins <= 0:
            raise ValueError(f"FbankConfig: sample_rate and num_mel_bins must be positive, got {self}")
        if not (self.frame_shift_ms > 0 and self.frame_length_ms > 0):
            raise ValueError(f"FbankConfig: frame length and shift must be positive, got {self}")
        if self.frame_length < 2 or self.frame_shift < 1:
            raise ValueError(f"FbankConfig: frames of {self.frame_length} samples are too short")
        nyquist = self.sample_rate / 2
        high = self.high_freq if self.high_freq > 0 else nyquist + self.high_freq
        if not 0 <= self.low_freq < high <= nyquist:
            raise ValueError(
                f"FbankConfig: need 0 <= low_freq < high_freq <= {nyquist} Hz, got {self.low_freq}, {high}"
            )

    @property
    def frame_length(self) -> int:
        """Samples per frame (kaldi truncates)."""
        return int(self.sample_rate * self.frame_length_ms / 1000 + 1e-6)

    @property
    def frame_shift(self) -> int:
        """Samples between frame starts."""
        return int(self.sample_rate * self.frame_shift_ms / 1000 + 1e-6)

    @property
    def fft_length(self) -> int:
        """Zero-padded FFT size."""
        n = self.frame_length
        return 1 << (n - 1).bit_length() if self.round_to_power_of_two else n


def num_frames(num_samples: int, cfg: FbankConfig = FbankConfig()) -> int:
    """Number of frames kaldi (snip_edges=True) makes from `num_samples` samples."""
    if num_samples < cfg.frame_length:
        return 0
    return 1 + (num_samples - cfg.frame_length) // cfg.frame_shift


def _mel(freq: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(freq / 700.0)


@functools.lru_cache(maxsize=16)
def _mel_matrix(cfg: FbankConfig) -> torch.Tensor:
    """Triangular mel filters on the mel scale, kaldi style: (fft_length // 2, F) float64, no Nyquist bin."""
    n_fft = cfg.fft_length
    nyquist = cfg.sample_rate / 2
    high = cfg.high_freq if cfg.high_freq > 0 else nyquist + cfg.high_freq
    mel_low, mel_high = _mel(np.float64(cfg.low_freq)), _mel(np.float64(high))
    delta = (mel_high - mel_low) / (cfg.num_mel_bins + 1)
    edges = mel_low + delta * np.arange(cfg.num_mel_bins + 2)  # left, center, right of each bin
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    mel = _mel(np.arange(n_fft // 2) * (cfg.sample_rate / n_fft))[None, :]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    weights = np.where((mel > left) & (mel < right), np.where(mel <= center, up, down), 0.0)
    return torch.from_numpy(np.ascontiguousarray(weights.T))


@functools.lru_cache(maxsize=16)
def _window(cfg: FbankConfig) -> torch.Tensor:
    """The analysis window (frame_length,) float64."""
    n = cfg.frame_length
    a = 2 * math.pi * torch.arange(n, dtype=torch.float64) / (n - 1)
    if cfg.window == "povey":
        return (0.5 - 0.5 * torch.cos(a)).pow(0.85)
    if cfg.window == "hanning":
        return 0.5 - 0.5 * torch.cos(a)
    if cfg.window == "hamming":
        return 0.54 - 0.46 * torch.cos(a)
    if cfg.window == "rectangular":
        return torch.ones(n, dtype=torch.float64)
    if cfg.window == "blackman":
        c = cfg.blackman_coeff
        return c - 0.5 * torch.cos(a) + (0.5 - c) * torch.cos(2 * a)
    raise ValueError(f"FbankConfig.window: unknown window {cfg.window!r}")


def _as_tensor(waveform: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(waveform, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(waveform))
    if isinstance(waveform, torch.Tensor):
        return waveform
    raise TypeError(f"expected a numpy array or torch tensor of samples, got {type(waveform).__name__}")


def _fbank(x: torch.Tensor, cfg: FbankConfig) -> torch.Tensor:
    """Log-mel features of every full frame of `x` (B, N) -> (B, T, F) float64."""
    assert x.dim() == 2, f"waveforms must be (B, N), got {tuple(x.shape)}"
    x = x.to(torch.float64)
    if cfg.dither != 0.0:
        x = x + cfg.dither * torch.randn_like(x)
    frames = x.unfold(-1, cfg.frame_length, cfg.frame_shift)  # (B, T, frame_length), a view
    if cfg.remove_dc_offset:
        frames = frames - frames.mean(dim=-1, keepdim=True)
    if cfg.preemphasis != 0.0:
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        frames = frames - cfg.preemphasis * previous
    frames = frames * _window(cfg).to(x.device)
    spectrum = torch.fft.rfft(frames, n=cfg.fft_length, dim=-1)  # (B, T, fft_length // 2 + 1)
    power = spectrum.real.square() + spectrum.imag.square()
    mel = power[..., : cfg.fft_length // 2] @ _mel_matrix(cfg).to(x.device)  # (B, T, F)
    return mel.clamp_min(cfg.log_floor).log()


def compute_fbank(waveform: np.ndarray | torch.Tensor, cfg: FbankConfig = FbankConfig()) -> torch.Tensor:
    """Log-mel features (T, F) float32 of one utterance `waveform` (N,) sampled at cfg.sample_rate.

    Matches kaldi-native-fbank to ~1e-5 (float64 inside); runs on the device of a tensor input.
    Input shorter than one frame gives (0, F).
    """
    x = _as_tensor(waveform)
    assert x.dim() == 1, f"waveform must be (N,), got {tuple(x.shape)}"
    if x.shape[0] < cfg.frame_length:
        return torch.zeros(0, cfg.num_mel_bins, dtype=torch.float32, device=x.device)
    return _fbank(x[None], cfg)[0].to(torch.float32)


def fbank_batch(
    waveforms: Sequence[np.ndarray | torch.Tensor], cfg: FbankConfig = FbankConfig()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of many utterances in one pass: (B, T_max, F) float32, zero-padded, and lengths (B,) int64.

    Each row equals `compute_fbank` of its utterance: with snip_edges a frame never reaches the
    padding, so padding the waveforms with zeros changes no valid frame.
    """
    xs = [_as_tensor(w) for w in waveforms]
    for i, x in enumerate(xs):
        assert x.dim() == 1, f"waveforms[{i}] must be (N,), got {tuple(x.shape)}"
    lengths = torch.tensor([num_frames(len(x), cfg) for x in xs], dtype=torch.int64)
    device = xs[0].device if xs else torch.device("cpu")
    t_max = int(lengths.max()) if xs else 0
    if t_max == 0:
        return torch.zeros(len(xs), 0, cfg.num_mel_bins, device=device), lengths
    padded = torch.nn.utils.rnn.pad_sequence([x.to(device, torch.float64) for x in xs], batch_first=True)
    feats = _fbank(padded, cfg)[:, :t_max]  # (B, T_max, F)
    valid = torch.arange(t_max, device=device)[None, :] < lengths.to(device)[:, None]
    return feats.masked_fill(~valid[..., None], 0.0).to(torch.float32), lengths
