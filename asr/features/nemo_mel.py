"""NeMo's log-mel front end (`AudioToMelSpectrogramPreprocessor`), offline and streaming.

Models imported from NeMo were trained on the features of NeMo's `FilterbankFeatures` (preemphasis,
a centred zero-padded STFT with a symmetric window, slaney mel filters, log with a zero guard,
optional per-utterance normalisation), which differ from kaldi fbank (`fbank.py`) in every step, so
they need exactly these features: `compute_nemo_mel` gives what NeMo's preprocessor gives in eval mode
(dither is never applied) for one utterance, and `OnlineNemoMel` gives the same frames from a stream
fed in chunks of any size (same interface as `OnlineFbank`). Both compute every frame with the same
float32 function (`_log_mel`) from the same samples, in NeMo's order of operations: the log of bins
far below a frame's peak is so sensitive to rounding that float64 would differ from NeMo by ~1e-4
there, this by ~2e-6. The mel filters are built here from the slaney mel scale (as librosa, which
NeMo calls, does).
Shapes: see NOTATION.md (N samples, T feature frames, F mel bins); n: frames popped; window_length,
fft_length: the samples of the analysis window and of its zero-padded FFT (`NemoMelConfig`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["NemoMelConfig", "compute_nemo_mel", "OnlineNemoMel", "num_frames", "mel_filterbank"]

_WINDOWS = ("hann", "hamming", "blackman", "bartlett")  # NeMo's 'none' crashes in its stft (window None)
_NO_NORMALIZE = ("NA", "none", "None", None)  # NeMo skips normalisation for any other value than below
_NORMALIZE = ("per_feature", "all_features")
_STD_EPS = 1e-5  # NeMo's CONSTANT, added to the standard deviation
_F32 = torch.finfo(torch.float32)  # NeMo's features are float32: "tiny" and "eps" are float32's


@dataclass(frozen=True)
class NemoMelConfig:
    """Settings of NeMo's AudioToMelSpectrogramPreprocessor, named after its config keys.

    Differences: `preemphasis` is NeMo's `preemph`; the defaults are those of NeMo's FastConformer
    models (25 ms window, 80 mels, no padding); NeMo's `n_window_size`/`n_window_stride` (give
    `window_size`/`window_stride` in seconds), `normalize` with fixed means/stds and `frame_splicing`
    other than 1 are not supported. `dither` is kept for the config's sake and never applied (eval
    mode). `pad_to`/`pad_value` only pad NeMo's batch beyond each utterance's length: the valid
    frames returned here do not depend on them.
    """

    sample_rate: int = 16000
    window_size: float = 0.025  # seconds; NeMo takes int(window_size * sample_rate) samples
    window_stride: float = 0.01  # seconds; likewise
    window: str = "hann"
    n_fft: int | None = None  # None: the next power of two >= the window length
    features: int = 80
    lowfreq: float = 0.0
    highfreq: float | None = None  # None (or 0): sample_rate / 2
    log: bool = True
    log_zero_guard_type: str = "add"  # "add": log(x + guard), "clamp": log(max(x, guard))
    log_zero_guard_value: float | str = 2**-24  # or "tiny" / "eps" of float32
    normalize: str | None = "NA"  # "NA" (none), "per_feature" or "all_features" (over one utterance)
    pad_to: int | str = 0
    pad_value: float = 0.0
    preemphasis: float | None = 0.97
    mag_power: float = 2.0
    mel_norm: str | None = "slaney"  # slaney area normalisation, or None (peak 1)
    exact_pad: bool = False  # False: centred STFT (n_fft // 2 zeros each side); True: (n_fft - hop) // 2
    dither: float = 1e-5  # never applied
    frame_splicing: int = 1

    def __post_init__(self) -> None:
        self._check_framing()
        self._check_processing()

    def _bad(self, key: str, why: str) -> ValueError:
        return ValueError(f"NemoMelConfig.{key} = {getattr(self, key)!r} {why}")

    def _number(self, key: str) -> bool:
        v = getattr(self, key)
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def _check_framing(self) -> None:
        """Rate, window, stride, FFT size and mel bins."""
        bad, number = self._bad, self._number
        if not (isinstance(self.sample_rate, int) and not isinstance(self.sample_rate, bool)
                and self.sample_rate > 0):
            raise bad("sample_rate", "must be a positive int")
        for key in ("window_size", "window_stride"):
            if not (number(key) and getattr(self, key) > 0):
                raise bad(key, "must be a positive number of seconds")
        if self.frame_length < 2:
            raise bad("window_size", f"gives a window of {self.frame_length} samples (need >= 2)")
        if self.frame_shift < 1:
            raise bad("window_stride", f"gives a stride of {self.frame_shift} samples (need >= 1)")
        if self.window not in _WINDOWS:
            raise bad("window", f"is not supported (supported: {list(_WINDOWS)})")
        if self.n_fft is not None:
            if not (isinstance(self.n_fft, int) and not isinstance(self.n_fft, bool) and self.n_fft >= 0):
                raise bad("n_fft", "must be None or a non-negative int")
            if self.n_fft and self.n_fft < self.frame_length:
                raise bad("n_fft", f"is shorter than the window ({self.frame_length} samples)")
        if not (isinstance(self.features, int) and not isinstance(self.features, bool) and self.features > 0):
            raise bad("features", "must be a positive int")

    def _check_processing(self) -> None:
        """Frequency range, log, normalisation, padding, preemphasis and the rest."""
        bad, number = self._bad, self._number
        if not (number("lowfreq") and self.lowfreq >= 0):
            raise bad("lowfreq", "must be a number >= 0")
        if self.highfreq is not None and not number("highfreq"):
            raise bad("highfreq", "must be None or a number")
        if not self.lowfreq < self.high_freq <= self.sample_rate / 2:
            raise bad("highfreq", f"must give lowfreq ({self.lowfreq}) < highfreq "
                                  f"<= {self.sample_rate / 2} Hz (None: sample_rate / 2)")
        if not isinstance(self.log, bool):
            raise bad("log", "must be a bool")
        if self.log_zero_guard_type not in ("add", "clamp"):
            raise bad("log_zero_guard_type", "must be 'add' or 'clamp'")
        if isinstance(self.log_zero_guard_value, str):
            if self.log_zero_guard_value not in ("tiny", "eps"):
                raise bad("log_zero_guard_value", "must be a positive number, 'tiny' or 'eps'")
        elif not (number("log_zero_guard_value") and self.log_zero_guard_value > 0):
            raise bad("log_zero_guard_value", "must be a positive number, 'tiny' or 'eps'")
        if self.normalize not in _NO_NORMALIZE + _NORMALIZE:
            raise bad("normalize", f"is not supported (supported: {list(_NO_NORMALIZE[:1] + _NORMALIZE)})")
        if self.pad_to != "max" and not (isinstance(self.pad_to, int) and not isinstance(self.pad_to, bool)
                                         and self.pad_to >= 0):
            raise bad("pad_to", "must be an int >= 0 or 'max'")
        if not number("pad_value"):
            raise bad("pad_value", "must be a number")
        if self.preemphasis is not None and not number("preemphasis"):
            raise bad("preemphasis", "must be None or a number")
        if not (number("mag_power") and self.mag_power > 0):
            raise bad("mag_power", "must be a positive number")
        if self.mel_norm not in ("slaney", None):
            raise bad("mel_norm", "is not supported (supported: 'slaney', None)")
        if not isinstance(self.exact_pad, bool):
            raise bad("exact_pad", "must be a bool")
        if self.exact_pad and self.frame_shift % 2 == 1:
            raise bad("exact_pad", f"needs an even stride, got {self.frame_shift} samples (NeMo refuses it)")
        if not (number("dither") and self.dither >= 0):
            raise bad("dither", "must be a number >= 0")
        if self.frame_splicing != 1:
            raise bad("frame_splicing", "is not supported (only 1)")

    @property
    def num_mel_bins(self) -> int:
        """Mel bins F (NeMo's `features`), as `FbankConfig.num_mel_bins`."""
        return self.features

    @property
    def frame_length(self) -> int:
        """Samples of the analysis window (NeMo's n_window_size: truncated, no rounding)."""
        return int(self.window_size * self.sample_rate)

    @property
    def frame_shift(self) -> int:
        """Samples between frames (NeMo's n_window_stride, hop_length)."""
        return int(self.window_stride * self.sample_rate)

    @property
    def frame_shift_ms(self) -> float:
        """Milliseconds between frames (of the stride in whole samples)."""
        return 1000.0 * self.frame_shift / self.sample_rate

    @property
    def fft_length(self) -> int:
        """The FFT size: n_fft, or the next power of two >= frame_length."""
        return self.n_fft or 1 << (self.frame_length - 1).bit_length()

    @property
    def high_freq(self) -> float:
        """The top of the mel filters in Hz: highfreq, or sample_rate / 2 where it is None or 0."""
        return float(self.highfreq or self.sample_rate / 2)

    @property
    def stft_pad(self) -> int:
        """Zeros NeMo pads on each side of the signal before the STFT."""
        return (self.fft_length - self.frame_shift) // 2 if self.exact_pad else self.fft_length // 2

    @property
    def window_offset(self) -> int:
        """Signal index of the first window sample of frame 0 (negative: in the left padding).

        torch.stft centres the window in the n_fft frame: it starts (n_fft - window) // 2 into it.
        """
        return (self.fft_length - self.frame_length) // 2 - self.stft_pad


def num_frames(num_samples: int, cfg: NemoMelConfig = NemoMelConfig()) -> int:
    """Valid frames of `num_samples` samples: NeMo's `get_seq_len` (0 where that is negative)."""
    return max(0, (num_samples + 2 * cfg.stft_pad - cfg.fft_length) // cfg.frame_shift)


# ---------------------------------------------------------------------------------------------- mel filters

def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic (27 mels per x6.4) above."""
    hz = np.asarray(hz, dtype=np.float64)
    step = 200.0 / 3
    log_step = math.log(6.4) / 27.0
    above = 1000.0 / step + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step
    return np.where(hz >= 1000.0, above, hz / step)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    step = 200.0 / 3
    log_step = math.log(6.4) / 27.0
    knee = 1000.0 / step
    return np.where(mel >= knee, 1000.0 * np.exp(log_step * (mel - knee)), mel * step)


@functools.lru_cache(maxsize=16)
def _filterbank(sample_rate: int, fft_length: int, features: int, low: float, high: float,
                norm: str | None) -> torch.Tensor:
    edges = _mel_to_hz(np.linspace(_hz_to_mel(low), _hz_to_mel(high), features + 2))  # (F + 2,) Hz
    freqs = np.arange(fft_length // 2 + 1) * (sample_rate / fft_length)  # centre of each FFT bin
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - left) / (centre - left)
    falling = (right - freqs[None, :]) / (right - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (F, fft_length // 2 + 1)
    if norm == "slaney":  # scaled by 2 / width in Hz: every filter has the same area
        weights = weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(np.ascontiguousarray(weights))


def mel_filterbank(cfg: NemoMelConfig = NemoMelConfig()) -> torch.Tensor:
    """The mel filters (F, fft_length // 2 + 1) float64: NeMo's `fb` buffer (librosa.filters.mel)."""
    return _filterbank(cfg.sample_rate, cfg.fft_length, cfg.features, float(cfg.lowfreq), cfg.high_freq,
                       cfg.mel_norm)


_TORCH_WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window,
                  "blackman": torch.blackman_window, "bartlett": torch.bartlett_window}


@functools.lru_cache(maxsize=16)
def _padded_window(kind: str, n: int, fft_length: int) -> torch.Tensor:
    """torch's symmetric (periodic=False) float32 window, zero-padded to (fft_length,) as torch.stft does.

    NeMo uses these very float32 values; a window computed otherwise (in float64, say) differs by an
    ulp, which moves the log of bins 60 dB below a frame's peak by up to ~1e-4.
    """
    window = _TORCH_WINDOWS[kind](n, periodic=False, dtype=torch.float32)
    left = (fft_length - n) // 2
    return torch.nn.functional.pad(window, (left, fft_length - n - left))


def _guard(cfg: NemoMelConfig) -> float:
    if cfg.log_zero_guard_value == "tiny":
        return float(_F32.tiny)
    if cfg.log_zero_guard_value == "eps":
        return float(_F32.eps)
    return float(cfg.log_zero_guard_value)


def _preemphasize(x: torch.Tensor, previous: torch.Tensor, coeff: float | None) -> torch.Tensor:
    """y[n] = x[n] - coeff * x[n-1] in x's dtype, x[-1] = `previous` (1,): 0 at the start (y[0] = x[0])."""
    if coeff is None or x.numel() == 0:
        return x
    return x - coeff * torch.cat([previous, x[:-1]])


def _gather(buf: torch.Tensor, buf_start: int, t0: int, t1: int, cfg: NemoMelConfig) -> torch.Tensor:
    """The STFT frames t0..t1-1: (t1 - t0, fft_length), zero outside each frame's window.

    `buf` holds the preemphasised signal from index `buf_start` on; indices before 0 or after the
    end of `buf` are the STFT's zero padding (the caller never asks for samples it dropped). Only the
    samples under the window are read: torch.stft multiplies the others by the window's zero padding.
    """
    win, hop, left = cfg.frame_length, cfg.frame_shift, (cfg.fft_length - cfg.frame_length) // 2
    first = t0 * hop + cfg.window_offset  # signal index of the first window sample of frame t0
    last = (t1 - 1) * hop + cfg.window_offset + win  # one past the last window sample of frame t1 - 1
    assert buf_start == 0 or first >= buf_start, "samples of this frame were already dropped"
    lo, hi = max(first, buf_start), min(last, buf_start + buf.shape[0])
    inner = buf[lo - buf_start : max(hi, lo) - buf_start]
    span = torch.nn.functional.pad(inner, (lo - first, last - max(hi, lo)))  # (last - first,)
    frames = span.unfold(0, win, hop)[: t1 - t0]  # (t1 - t0, window_length)
    return torch.nn.functional.pad(frames, (left, cfg.fft_length - win - left))


def _log_mel(frames: torch.Tensor, cfg: NemoMelConfig) -> torch.Tensor:
    """(T, fft_length) float32 preemphasised frames -> (T, F) float32 log-mel (before any normalisation).

    float32 in NeMo's order of operations (window, rfft, sqrt of the power, ** mag_power, mel, log), so
    that the bins far below a frame's peak round as NeMo's do.
    """
    window = _padded_window(cfg.window, cfg.frame_length, cfg.fft_length).to(frames.device)
    spectrum = torch.view_as_real(torch.fft.rfft(frames * window, dim=-1))  # (T, fft_length // 2 + 1, 2)
    magnitude = spectrum.pow(2).sum(-1).sqrt()
    if cfg.mag_power != 1.0:
        magnitude = magnitude.pow(cfg.mag_power)
    mel = magnitude @ mel_filterbank(cfg).to(frames.device, torch.float32).T  # (T, F)
    if not cfg.log:
        return mel
    if cfg.log_zero_guard_type == "add":
        return torch.log(mel + _guard(cfg))
    return torch.log(torch.clamp(mel, min=_guard(cfg)))


def _tail_zeros(cfg: NemoMelConfig) -> int:
    """Samples at the end of the signal that NeMo zeroes after the preemphasis.

    NeMo masks the preemphasised signal beyond its length *after* padding it for exact_pad, so with
    exact_pad the last `stft_pad` samples become zeros.
    """
    return cfg.stft_pad if cfg.exact_pad and cfg.preemphasis is not None else 0


def _normalize(x: torch.Tensor, kind: str | None) -> torch.Tensor:
    """NeMo's normalize_batch for one utterance (T, F), in float64: unbiased std, + 1e-5."""
    if kind not in _NORMALIZE:
        return x
    y = x.to(torch.float64)
    if kind == "per_feature":
        mean = y.mean(dim=0, keepdim=True)
        std = ((y - mean).square().sum(dim=0, keepdim=True) / (y.shape[0] - 1)).sqrt()
        std = std.nan_to_num(nan=0.0, posinf=0.0) + _STD_EPS  # 1 frame: 0 / 0, NeMo makes std 0
        return ((y - mean) / std).to(x.dtype)
    return ((y - y.mean()) / (y.std() + _STD_EPS)).to(x.dtype)


def _as_tensor(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(audio, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(audio))
    if isinstance(audio, torch.Tensor):
        return audio
    raise TypeError(f"expected a numpy array or torch tensor of samples, got {type(audio).__name__}")


def compute_nemo_mel(audio: np.ndarray | torch.Tensor, cfg: NemoMelConfig = NemoMelConfig()) -> torch.Tensor:
    """NeMo's preprocessor features (T, F) float32 of one utterance `audio` (N,) at cfg.sample_rate.

    T = `num_frames(N, cfg)`, NeMo's processed_length; the frames NeMo pads beyond it are left out.
    Runs on the device of a tensor input; float32 as NeMo.
    """
    x = _as_tensor(audio)
    if x.dim() != 1:
        raise ValueError(f"compute_nemo_mel: audio must be (N,), got shape {tuple(x.shape)}")
    n_t = num_frames(x.shape[0], cfg)
    if n_t == 0:
        return torch.zeros(0, cfg.features, dtype=torch.float32, device=x.device)
    x = x.to(torch.float32)  # NeMo's input
    x = _preemphasize(x, x.new_zeros(1), cfg.preemphasis)
    tail = _tail_zeros(cfg)
    if tail:
        x = torch.cat([x[:-tail], x.new_zeros(min(tail, x.shape[0]))])
    feats = _log_mel(_gather(x, 0, 0, n_t, cfg), cfg)
    return _normalize(feats, cfg.normalize)


class OnlineNemoMel:
    """Incremental NeMo features of one stream: accept_waveform, pop_frames, input_finished, reset.

    Frame t is ready once every sample under its window has arrived (and NeMo's length of the audio
    so far includes it); the frames whose window reaches past the end become ready at
    input_finished(), with the STFT's zero padding. Only the preemphasised samples of frames not yet
    computed and the frames not yet popped are kept.
    """

    def __init__(self, cfg: NemoMelConfig | None = None) -> None:
        self.cfg = cfg or NemoMelConfig()
        if self.cfg.normalize in _NORMALIZE:
            raise ValueError(f"OnlineNemoMel: normalize={self.cfg.normalize!r}: {self.cfg.normalize} "
                             "normalization needs the whole utterance; use compute_nemo_mel")
        self.reset()

    def reset(self) -> None:
        """Forget all audio and frames; start a new stream."""
        self._buf = torch.zeros(0, dtype=torch.float32)  # preemphasised samples from index _buf_start on
        self._buf_start = 0
        self._received = 0  # samples accepted so far (N)
        self._last = torch.zeros(1, dtype=torch.float32)  # the last raw sample, for the next preemphasis
        self._next = 0  # the next frame to compute
        self._ready: list[torch.Tensor] = []  # computed, not yet popped (each (n_i, F))
        self._num_ready = 0
        self._finished = False

    def _compute(self, t1: int) -> None:
        """Compute frames _next..t1-1 and drop the samples no later frame needs."""
        if t1 > self._next:
            frames = _log_mel(_gather(self._buf, self._buf_start, self._next, t1, self.cfg), self.cfg)
            self._ready.append(frames)
            self._num_ready += t1 - self._next
            self._next = t1
        keep_from = max(self._next * self.cfg.frame_shift + self.cfg.window_offset, self._buf_start)
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start :].clone()
            self._buf_start = keep_from

    def accept_waveform(self, samples: np.ndarray) -> None:
        """Append `samples` (N,) float32 at cfg.sample_rate and compute every frame they complete."""
        if self._finished:
            raise RuntimeError("OnlineNemoMel: accept_waveform() after input_finished(); call reset() first")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"OnlineNemoMel: samples must be (N,), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("OnlineNemoMel: samples contain NaN or infinite values")
        if x.size == 0:
            return
        chunk = torch.from_numpy(x.copy())
        pre = _preemphasize(chunk, self._last, self.cfg.preemphasis)
        self._last = chunk[-1:].clone()
        self._buf = torch.cat([self._buf, pre])
        self._received += x.size
        # frame t is complete when its window's last sample has arrived (and is not among the samples
        # that exact_pad zeroes at the end)
        known = self._received - _tail_zeros(self.cfg)
        complete = (known - self.cfg.window_offset - self.cfg.frame_length) // self.cfg.frame_shift + 1
        self._compute(max(self._next, min(complete, num_frames(self._received, self.cfg))))

    def input_finished(self) -> None:
        """Declare the end of the stream: the last frames are computed with the STFT's zero padding."""
        if not self._finished:
            keep = max(self._received - _tail_zeros(self.cfg), self._buf_start) - self._buf_start
            if keep < self._buf.shape[0]:
                self._buf = torch.cat([self._buf[:keep], self._buf.new_zeros(self._buf.shape[0] - keep)])
            self._compute(max(self._next, num_frames(self._received, self.cfg)))
            self._finished = True
            self._buf = torch.zeros(0, dtype=torch.float32)

    @property
    def num_frames_ready(self) -> int:
        """Frames computed and not yet popped."""
        return self._num_ready

    def pop_frames(self, max_frames: int | None = None) -> torch.Tensor:
        """Remove and return up to `max_frames` (all if None) of the ready frames as (n, F) float32."""
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"OnlineNemoMel.pop_frames: max_frames must be >= 0, got {max_frames}")
        n = self._num_ready if max_frames is None else min(int(max_frames), self._num_ready)
        if n <= 0:
            return torch.zeros(0, self.cfg.features, dtype=torch.float32)
        ready = torch.cat(self._ready) if len(self._ready) > 1 else self._ready[0]
        self._ready = [ready[n:]] if n < ready.shape[0] else []
        self._num_ready -= n
        return ready[:n].clone()
