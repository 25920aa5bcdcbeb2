"""Streaming log-mel features that equal the offline ones by construction.

Each frame is computed by the very function the offline path uses (`fbank._fbank`) on the same
samples, so features of a stream fed in chunks of any size equal `compute_fbank` of the whole
audio (to float64 rounding, cast to float32 the same way). kaldi-native-fbank stays the
independent oracle of the offline math in the tests; it is not used here because its float32
arithmetic differs from any float64 path by up to ~5e-4 in bins 60 dB below a frame's peak,
and streaming must not differ from offline at all.
Only the samples of frames not yet computed (less than one frame) and the frames not yet
popped are kept, so memory does not grow with the length of the stream.
Shapes: see NOTATION.md (N samples, F mel bins); n: frames popped.
"""

from __future__ import annotations

import numpy as np
import torch
from transduce.asr.features.fbank import FbankConfig, _fbank, num_frames

__all__ = ["OnlineFbank"]


class OnlineFbank:
    """Incremental log-mel features of one stream: accept_waveform, pop_frames, input_finished, reset."""

    def __init__(self, cfg: FbankConfig | None = None) -> None:
        self.cfg = cfg or FbankConfig()
        self.reset()

    def reset(self) -> None:
        """Forget all audio and frames; start a new stream."""
        self._pending = np.zeros(0, dtype=np.float32)  # samples from the start of the next frame on
        self._ready: list[torch.Tensor] = []  # computed, not yet popped (each (n_i, F))
        self._num_ready = 0
        self._finished = False

    def accept_waveform(self, samples: np.ndarray) -> None:
        """Append `samples` (N,) float32 in [-1, 1] at cfg.sample_rate and compute every full frame."""
        if self._finished:
            raise RuntimeError("OnlineFbank: accept_waveform() after input_finished(); call reset() first")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"OnlineFbank: samples must be (N,), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("OnlineFbank: samples contain NaN or infinite values")
        self._pending = np.concatenate([self._pending, x]) if self._pending.size else x.copy()
        n = num_frames(self._pending.size, self.cfg)
        if n == 0:
            return
        frames = _fbank(torch.from_numpy(self._pending)[None], self.cfg)[0, :n].to(torch.float32)
        self._ready.append(frames)
        self._num_ready += n
        self._pending = self._pending[n * self.cfg.frame_shift :].copy()

    def input_finished(self) -> None:
        """Declare the end of the stream: with snip_edges the leftover partial frame is dropped."""
        self._finished = True
        self._pending = np.zeros(0, dtype=np.float32)

    @property
    def num_frames_ready(self) -> int:
        """Frames computed and not yet popped."""
        return self._num_ready

    def pop_frames(self, max_frames: int | None = None) -> torch.Tensor:
        """Remove and return up to `max_frames` (all if None) of the ready frames as (n, F) float32."""
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"OnlineFbank.pop_frames: max_frames must be >= 0, got {max_frames}")
        n = self._num_ready if max_frames is None else min(int(max_frames), self._num_ready)
        if n <= 0:
            return torch.zeros(0, self.cfg.num_mel_bins, dtype=torch.float32)
        ready = torch.cat(self._ready) if len(self._ready) > 1 else self._ready[0]
        self._ready = [ready[n:]] if n < ready.shape[0] else []
        self._num_ready -= n
        return ready[:n].clone()
