"""The audio side of a session: input checks, streaming resampling, online log-mel features.

Audio arrives as float32 samples (N,) or (N, C) in [-1, 1], or as little-endian PCM16 bytes
(interleaved channels), at the session's sample rate. It is mixed down to mono, resampled to the
model's rate with soxr's streaming resampler (chunk by chunk it gives the very samples that
resampling the whole signal gives, so the chunking of the input never changes a result), and turned
into log-mel frames by the model's online feature extractor (equal to the offline features). A
chunk that is rejected (odd byte count, NaN, too long a stream) changes nothing, so the stream can
go on.
N: samples, C: channels, n: frames, F: mel bins.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch
from transduce.asr.audio import AudioError, NonFiniteAudioError, decode_pcm16, to_mono
from transduce.asr.features.kinds import FeatureConfig, online_features
from transduce.streaming.errors import SessionClosedError, StreamTooLongError

__all__ = ["AudioFrontend"]


class AudioFrontend:
    """Resampler + online fbank of one stream: accept(audio), finish(), pop_frames(n)."""

    def __init__(self, features: FeatureConfig, sample_rate: int, channels: int = 1,
                 max_duration_s: float | None = None) -> None:
        self.features, self.sample_rate, self.channels = features, sample_rate, channels
        self._max_samples = None if max_duration_s is None else int(round(max_duration_s * sample_rate))
        self._fbank = online_features(features)
        self._resampler = None
        if sample_rate != features.sample_rate:
            self._resampler = soxr.ResampleStream(sample_rate, features.sample_rate, 1, dtype="float32",
                                                  quality="HQ")
        self.samples_in = 0  # input samples (per channel) accepted so far
        self.finished = False

    @property
    def duration_s(self) -> float:
        """Seconds of audio accepted so far."""
        return self.samples_in / self.sample_rate

    @property
    def num_frames_ready(self) -> int:
        """Feature frames computed and not yet popped."""
        return self._fbank.num_frames_ready

    def accept(self, audio: np.ndarray | bytes | bytearray | memoryview) -> None:
        """Append `audio`: float samples (N,) / (N, C) or PCM16 bytes; raises AudioError for bad input."""
        if self.finished:
            raise SessionClosedError("audio after the end of the stream (finish() or close() was called)")
        x = self._mono(audio)
        if self._max_samples is not None and self.samples_in + len(x) > self._max_samples:
            raise StreamTooLongError(
                f"the stream would pass its limit of {self._max_samples / self.sample_rate:g} s "
                f"({self.duration_s:.2f} s accepted, {len(x) / self.sample_rate:.2f} s more sent)")
        self.samples_in += len(x)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        if len(x):
            self._fbank.accept_waveform(x)

    def finish(self) -> None:
        """End of input: flush the resampler; the last partial frame is dropped (snip_edges)."""
        if self.finished:
            return
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                self._fbank.accept_waveform(tail)
        self._fbank.input_finished()
        self.finished = True

    def pop_frames(self, n: int) -> torch.Tensor:
        """Remove and return up to `n` ready frames (n', F) float32."""
        return self._fbank.pop_frames(n)

    def _mono(self, audio: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
        """Checked mono float32 samples (N,) of one chunk of input."""
        if isinstance(audio, (bytes, bytearray, memoryview)):
            # target_rate = the input rate: decode_pcm16 only checks, scales and mixes down here
            return decode_pcm16(bytes(audio), self.sample_rate, self.channels, target_rate=self.sample_rate)
        if isinstance(audio, torch.Tensor):
            audio = audio.detach().cpu().numpy()
        if not isinstance(audio, np.ndarray):
            raise AudioError(f"audio must be a numpy array or PCM16 bytes, got {type(audio).__name__}")
        if audio.dtype.kind != "f":
            raise AudioError(f"audio samples must be floats in [-1, 1] (or PCM16 bytes), got {audio.dtype}")
        if audio.ndim not in (1, 2):
            raise AudioError(f"audio samples must be (N,) or (N, C), got shape {audio.shape}")
        x = np.ascontiguousarray(to_mono(audio), dtype=np.float32)
        if not np.isfinite(x).all():
            bad = int(x.size - np.isfinite(x).sum())
            raise NonFiniteAudioError(f"{bad} of {x.size} audio samples are NaN or infinite")
        return x
